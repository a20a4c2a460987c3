//! `tumorseg export`: the TorchScript module, run by PyTorch alone, and the ONNX model, run by ONNX
//! Runtime alone (tests/py/export_ref.py), must give the probabilities `predict` decides with,
//! test-time augmentation included.
mod common;

use common::dicom::predict_command;
use tumorseg::export::onnx;
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
    let (dir, run) = exported_beside_predict("flips", "flips.pt", &[]);
    let d = dir.path();
    let manifest = read_manifest(&d.join("exported/flips.pt.json"));
    assert_eq!(manifest["format"], "torchscript");
    assert_eq!(manifest["device"], "cpu");
    // An ONNX model exported beside it keeps its own manifest; a format the file name contradicts
    // is refused before anything is written.
    let onnx = d.join("exported/flips.onnx");
    common::run_ok(&mut common::into("export", &run, &onnx));
    assert_eq!(
        read_manifest(&d.join("exported/flips.onnx.json"))["format"],
        "onnx"
    );
    assert_eq!(
        read_manifest(&d.join("exported/flips.pt.json"))["format"],
        "torchscript"
    );
    let odd = d.join("exported/odd.onnx");
    let o = common::into("export", &run, &odd)
        .args(["--format", "torchscript"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(!odd.exists());
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
}

/// The ONNX model, run by ONNX Runtime alone, with the 8-view TTA (quarter turns included).
#[test]
fn the_onnx_model_gives_predicts_probabilities_in_onnx_runtime() {
    let (dir, _) = exported_beside_predict("d4", "d4.onnx", &[]);
    let manifest = read_manifest(&dir.path().join("exported/d4.onnx.json"));
    assert_eq!(
        (&manifest["format"], &manifest["device"]),
        (&serde_json::json!("onnx"), &serde_json::json!("any"))
    );
    // --format wins over the file name.
    let (dir, _) = exported_beside_predict("none", "model.bin", &["--format", "onnx"]);
    assert_eq!(
        read_manifest(&dir.path().join("exported/model.bin.json"))["format"],
        "onnx"
    );
}

fn read_manifest(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// predict with `tta` on three small PNGs, export the same run as `exported/<file>` with the same
/// TTA (and `extra` flags), check what export printed and its manifest, then run the export
/// without tumorseg (tests/py/export_ref.py) and compare with predict's rows.
fn exported_beside_predict(
    tta: &str,
    file: &str,
    extra: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pngs = small_pngs(d);
    let out = d.join("out");
    // predict_command makes the (untrained, size 64) run in d/run.
    common::run_ok(predict_command(d, &d.join("png"), &out).args(["--tta", tta]));
    let run = d.join("run");
    let module = d.join("exported").join(file);
    let o = common::run_ok(
        common::into("export", &run, &module)
            .args(["--tta", tta])
            .args(extra),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("TTA {tta}, input 64², threshold 0.5")),
        "{stdout}"
    );
    let manifest_path = tumorseg::export::manifest_path(&module);
    let manifest = read_manifest(&manifest_path);
    assert_eq!(
        (
            &manifest["size"],
            &manifest["tta"],
            &manifest["postprocess"]
        ),
        (
            &serde_json::json!(64),
            &serde_json::json!(tta),
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
    let mut args = vec![module.to_str().unwrap(), manifest_path.to_str().unwrap()];
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
    (dir, run)
}

/// A module traced without the TTA the run decides with is caught by the check before it is kept.
#[test]
fn a_module_that_differs_from_tumorseg_is_refused() {
    let _turn = common::seeded_turn();
    tch::manual_seed(3);
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let model = [tumorseg::model::unetpp::UnetPlusPlus::new(&vs.root())];
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

    // The same for ONNX, whose check runs the graph read back from the file's bytes.
    let graph = onnx::build(&model, Tta::None, "", &[]);
    let bytes = onnx::encode(&graph).unwrap();
    let checked = tumorseg::export::check_onnx(&bytes, &model, &inf(Tta::None)).unwrap();
    assert!(
        checked.iter().all(|c| c.max_difference <= 1e-5),
        "{checked:?}"
    );
    let why = tumorseg::export::check_onnx(&bytes, &model, &inf(Tta::Flips))
        .unwrap_err()
        .to_string();
    assert!(why.contains("differ from tumorseg's"), "{why}");
    // Truncated bytes, and an operator the checker does not know, are refused, never "checked".
    let why = tumorseg::export::check_onnx(&bytes[..bytes.len() / 2], &model, &inf(Tta::None))
        .unwrap_err()
        .to_string();
    assert!(why.contains("not an ONNX model"), "{why}");
    let mut odd = graph.clone();
    let relu = odd
        .graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type == "Relu");
    relu.unwrap().op_type = "Elu".into();
    let why = tumorseg::export::check_onnx(&onnx::encode(&odd).unwrap(), &model, &inf(Tta::None))
        .unwrap_err();
    assert!(
        format!("{why:#}").contains("operator Elu is not one tumorseg writes"),
        "{why:#}"
    );
}

/// Each weight is written once, however many TTA views use it: d4's graph has 8 times the nodes
/// of the plain one, but the same initializers and for the views only a few small constants more.
#[test]
fn onnx_weights_are_shared_by_the_tta_views() {
    let _turn = common::seeded_turn();
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut model = tumorseg::model::unetpp::UnetPlusPlus::new(&vs.root());
    vs.freeze();
    model.fold_batch_norms();
    let graph = |tta| {
        onnx::build(std::slice::from_ref(&model), tta, "", &[])
            .graph
            .unwrap()
    };
    let (plain, d4) = (graph(Tta::None), graph(Tta::D4));
    let convs = |g: &tumorseg::export::onnx::OnnxGraph| {
        g.node.iter().filter(|n| n.op_type == "Conv").count()
    };
    // ResNet34: 36 convolutions (3 downsamples); U-Net++: 11 blocks of 2, and the head.
    assert_eq!(convs(&plain), 36 + 22 + 1);
    assert_eq!(convs(&d4), 8 * convs(&plain));
    let size = |g: &tumorseg::export::onnx::OnnxGraph| -> usize {
        g.initializer.iter().map(|t| t.raw_data.len()).sum()
    };
    assert!(
        size(&d4) - size(&plain) < 200,
        "{} {}",
        size(&d4),
        size(&plain)
    );
    // Folded: one weight and one bias per convolution, plus the normalisation's two constants and
    // the upsampling scales.
    assert_eq!(plain.initializer.len(), 2 * convs(&plain) + 3);
    let params: usize = vs.trainable_variables().iter().map(|t| t.numel()).sum();
    assert!(size(&plain) / 4 < params, "batch norms are folded away");
}

/// `export --out RUN/best_model.safetensors` destroyed the trained model, and any other file was
/// replaced silently: now only an earlier export (its manifest beside it) is replaced, another file
/// with --overwrite, the run's own files never; all before the model is traced.
#[test]
fn an_export_replaces_only_an_earlier_export_and_never_the_run() {
    let d = tempfile::tempdir().unwrap();
    let run = common::fake_run(&d.path().join("run"));
    let best = run.join("best_model.safetensors");
    let model = std::fs::read(&best).unwrap();
    let notes = d.path().join("notes.pt");
    std::fs::write(&notes, "mine").unwrap();
    let export = |out: &std::path::Path, extra: &[&str]| {
        let o = common::bin()
            .args(["export", run.to_str().unwrap(), "--out"])
            .arg(out)
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    for extra in [&[][..], &["--overwrite"]] {
        let e = export(&best, extra);
        assert!(e.contains("is the run's own best_model.safetensors"), "{e}");
    }
    // Its manifest would be threshold.json.
    let e = export(&run.join("threshold"), &["--overwrite"]);
    assert!(e.contains("is the run's own threshold.json"), "{e}");
    let e = export(&notes, &[]);
    assert!(
        e.contains("exists and is not an earlier export (no ") && e.contains("--overwrite"),
        "{e}"
    );
    assert_eq!(std::fs::read(&best).unwrap(), model);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
}
