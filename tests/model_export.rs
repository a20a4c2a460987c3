//! `tumorseg export`: the TorchScript module, run by PyTorch alone (tests/py/export_ref.py), must
//! give the probabilities `predict` decides with, test-time augmentation included.
mod common;

use common::dicom::predict_command;
use tumorseg::predict::{Inference, Tta};

/// Three of the fixture's test images as 64 × 64 grey PNGs: the fake run's size, so that predict
/// does not resize them and the module sees the same pixels.
fn small_pngs(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dir = d.join("png");
    std::fs::create_dir_all(&dir).unwrap();
    common::test_jpgs()[..3]
        .iter()
        .enumerate()
        .map(|(k, jpg)| {
            let img = image::open(jpg).unwrap().to_luma8();
            let small = image::imageops::resize(&img, 64, 64, image::imageops::Triangle);
            let to = dir.join(format!("slice_{k}.png"));
            small.save(&to).unwrap();
            to
        })
        .collect()
}

#[test]
fn the_exported_module_gives_predicts_probabilities_in_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pngs = small_pngs(d);
    let out = d.join("out");
    // predict_command makes the (untrained, size 64) run in d/run.
    common::run_ok(predict_command(d, &d.join("png"), &out).args(["--tta", "flips"]));
    let run = d.join("run");
    let module = d.join("exported/flips.pt");
    let o = common::run_ok(common::into("export", &run, &module).args(["--tta", "flips"]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("(cpu, TTA flips, trained at 64², threshold 0.5"),
        "{stdout}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("exported/flips.json")).unwrap()).unwrap();
    assert_eq!(
        (
            &manifest["size"],
            &manifest["tta"],
            &manifest["postprocess"]
        ),
        (
            &serde_json::json!(64),
            &serde_json::json!("flips"),
            &serde_json::json!("none")
        )
    );
    let sizes: Vec<u64> = manifest["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [64, 32]);
    // A file that cannot be written is said so in words, not as libtorch's C++ trace.
    let o = common::into("export", &run, std::path::Path::new("/proc/model.pt"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && stderr.contains("cannot create /proc/")
            && !stderr.contains("frame #"),
        "{stderr}"
    );

    let mut args = vec![
        module.to_str().unwrap(),
        d.join("exported/flips.json")
            .to_str()
            .unwrap()
            .to_string()
            .leak() as &str,
    ];
    args.extend(pngs.iter().map(|p| p.to_str().unwrap()));
    let printed = common::run_py("export_ref.py", &args);
    let rows = common::predictions(&out);
    assert_eq!(printed.lines().count(), 3);
    for (line, row) in printed.lines().zip(&rows) {
        let v: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        let pixels: f64 = row["tumour_pixels"].parse().unwrap();
        let highest: f64 = row["max_probability"].parse().unwrap();
        assert!(
            (v[0] - pixels).abs() <= v[2],
            "{line}: predict found {pixels} tumour pixels"
        );
        assert!(
            (v[1] - highest).abs() < 1e-5,
            "{line}: predict's highest is {highest}"
        );
        assert!(0.0 < pixels && pixels < 64.0 * 64.0, "{pixels}");
    }
}

/// A module traced without the TTA the run decides with is caught by the check before it is kept.
#[test]
fn a_module_that_differs_from_tumorseg_is_refused() {
    let _turn = common::seeded_turn();
    tch::manual_seed(3);
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let model = tumorseg::model::unetpp::UnetPlusPlus::new(&vs.root());
    // Frozen, as a loaded run is: tracing keeps the weights as constants.
    vs.freeze();
    let inf = |tta| Inference {
        size: 64,
        batch: 1,
        device: tch::Device::Cpu,
        precision: tumorseg::device::Precision::Fp32,
        tta,
        channels_last: false,
    };
    let module = tumorseg::export::trace(&model, &inf(Tta::None)).unwrap();
    let checked = tumorseg::export::check(&module, &model, &inf(Tta::None)).unwrap();
    assert!(checked.iter().all(|c| c.max_difference <= 1e-6));
    let why = tumorseg::export::check(&module, &model, &inf(Tta::Flips))
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("the exported module's probabilities differ from tumorseg's"),
        "{why}"
    );
}
