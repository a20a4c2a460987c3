//! `tumorseg ensemble`: several runs as one model whose probability is the mean of theirs, which every
//! inference command opens as it opens a run; members trained on other data are named in a warning.
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use tch::{Device, Kind, Tensor};
use tumorseg::checkpoint::{load_models, LoadedModels};
use tumorseg::predict::{grey_probabilities, Inference, Tta};

fn inf(tta: Tta) -> Inference {
    Inference {
        size: 64,
        batch: 2,
        device: Device::Cpu,
        precision: tumorseg::device::Precision::Fp32,
        tta,
        channels_last: false,
    }
}

fn ensemble(runs: &[&Path], out: &Path) -> Output {
    let mut cmd = common::bin();
    cmd.arg("ensemble").args(runs).arg("--out").arg(out);
    cmd.output().unwrap()
}

/// Two fake runs of different models at 64², and their ensemble.
fn two_and_their_ensemble(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let a = common::fake_run_with(&d.join("a"), 7, 64);
    let b = common::fake_run_with(&d.join("b"), 8, 64);
    let ens = d.join("ens");
    let out = ensemble(&[&a, &b], &ens);
    assert!(out.status.success(), "{out:?}");
    (a, b, ens)
}

#[test]
fn an_ensemble_predicts_the_mean_of_its_members_probabilities() {
    let d = tempfile::tempdir().unwrap();
    let (a, b, ens) = two_and_their_ensemble(d.path());
    let load = |dir: &Path| load_models(dir, Device::Cpu).unwrap();
    let (la, lb, le) = (load(&a), load(&b), load(&ens));
    assert_eq!((la.models.len(), le.models.len(), le.size), (1, 2, 64));
    let grey = Tensor::rand([2, 1, 64, 64], (Kind::Float, Device::Cpu));
    for tta in [Tta::None, Tta::Flips] {
        let p = |l: &LoadedModels| grey_probabilities(&l.models, &grey, &inf(tta));
        let (pa, pb, pe) = (p(&la), p(&lb), p(&le));
        let largest = |t: Tensor| t.abs().max().double_value(&[]);
        // Members that agreed would prove nothing about the mean.
        assert!(largest(&pa - &pb) > 1e-3, "{tta:?}");
        assert!(largest(pe - (pa + pb) / 2.0) < 1e-6, "{tta:?}");
    }
    // The members are the runs' checkpoints, named after them, their sources absolute.
    let listed = common::json(&ens.join("ensemble.json"));
    let members = listed["members"].as_array().unwrap();
    for (m, run) in members.iter().zip([&a, &b]) {
        let file = ens.join(m["checkpoint"].as_str().unwrap());
        let best = run.join(tumorseg::checkpoint::BEST);
        assert_eq!(m["sha256"], common::sha256(&best));
        assert_eq!(common::sha256(&file), common::sha256(&best));
        assert_eq!(m["source"], run.canonicalize().unwrap().to_str().unwrap());
        // Fake runs have no metrics.jsonl.
        assert!(m["best_valid_dice"].is_null());
    }
    assert_eq!(members[1]["checkpoint"], "members/02-b.safetensors");
}

/// evaluate and export take the ensemble's directory as a run; provenance names every member; an
/// ensemble given to `ensemble` gives its members.
#[test]
fn an_ensemble_is_scored_and_exported_as_a_run_is() {
    let d = tempfile::tempdir().unwrap();
    let (_, _, ens) = two_and_their_ensemble(d.path());
    let listed = common::json(&ens.join("ensemble.json"));
    common::run_ok(
        common::bin()
            .args(["evaluate", "--split", "test", "--threshold", "0.5"])
            .arg(&ens)
            .arg(common::fixture()),
    );
    let report = common::json(&ens.join("report.json"));
    assert_eq!(report["n_images"], 8);
    for k in 0..2 {
        let input = common::input(&report["provenance"], &format!("member {}", k + 1));
        assert_eq!(input["sha256"], listed["members"][k]["sha256"]);
    }

    let onnx_file = d.path().join("ens.onnx");
    common::run_ok(common::into("export", &ens, &onnx_file).args(["--tta", "none"]));
    let model = tumorseg::export::onnx::decode(&std::fs::read(&onnx_file).unwrap()).unwrap();
    let graph = model.graph.as_ref().unwrap();
    let convs = graph.node.iter().filter(|n| n.op_type == "Conv").count();
    // Each member's 59 convolutions, and each member's own weights (2 per convolution) beside the
    // normalisation's and the upsampling's 3 constants.
    assert_eq!(convs, 2 * 59);
    assert_eq!(graph.initializer.len(), 2 * 2 * 59 + 3);
    let members = model.metadata_props.iter().find(|p| p.key == "members");
    assert_eq!(members.map(|p| p.value.as_str()), Some("2"));

    let c = common::fake_run_with(&d.path().join("c"), 9, 64);
    let three = d.path().join("three");
    let out = ensemble(&[&ens, &c], &three);
    assert!(out.status.success(), "{out:?}");
    let sources: Vec<String> = common::json(&three.join("ensemble.json"))["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["source"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(sources, ["a", "b", "c"]);
}

#[test]
fn what_cannot_make_an_ensemble_is_refused_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let a = common::fake_run_with(&d.path().join("a"), 7, 64);
    let wide = common::fake_run_with(&d.path().join("wide"), 8, 96);
    let broken = common::fake_run_with(&d.path().join("broken"), 9, 64);
    std::fs::write(broken.join(tumorseg::checkpoint::BEST), b"not tensors").unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = d.path().join("out");
    let cases: [(&[&Path], &str); 4] = [
        (&[&a, &a], "hold the same model"),
        (&[&a, &wide], "trained at 64² and"),
        (&[&a, &broken], "is not a tumorseg model"),
        (
            &[&a, &empty],
            "is neither a training run (no config.toml) nor an ensemble",
        ),
    ];
    for (runs, why) in cases {
        let o = ensemble(runs, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && stderr.contains(why),
            "{why}: {stderr}"
        );
        assert!(!out.exists(), "{why}: nothing is written");
    }
    let b = common::fake_run_with(&d.path().join("b"), 10, 64);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = ensemble(&[&a, &b], &out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists and is not empty"));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn members_trained_on_other_data_are_named_in_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let at = |name: &str| d.path().join(name);
    let a = common::fake_run_with(&at("a"), 7, 64);
    let b = common::fake_run_with(&at("b"), 8, 64);
    let other = at("other-data");
    let c = common::fake_run_on(&at("c"), 9, 64, &other);
    let warning = "warning: the members were trained on different data";
    let o = ensemble(&[&a, &b], &at("same"));
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success() && !stderr.contains(warning), "{stderr}");
    let o = ensemble(&[&a, &b, &c], &at("mixed"));
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{stderr}");
    let group = |runs: &[&Path], data: &Path| {
        let runs: Vec<String> = (runs.iter())
            .map(|r| r.canonicalize().unwrap().display().to_string())
            .collect();
        format!("  {}: {}\n", runs.join(", "), data.display())
    };
    assert!(
        stderr.contains(warning)
            && stderr.contains(&group(&[&a, &b], &common::fixture()))
            && stderr.contains(&group(&[&c], &other)),
        "{stderr}"
    );
}

#[test]
fn a_member_changed_since_its_ensemble_was_made_is_noted_and_none_is_resumed() {
    let d = tempfile::tempdir().unwrap();
    let (_, _, ens) = two_and_their_ensemble(d.path());
    let c = common::fake_run_with(&d.path().join("c"), 9, 64);
    let first = std::fs::read_dir(ens.join("members")).unwrap().next();
    let first = first.unwrap().unwrap().path();
    std::fs::copy(c.join(tumorseg::checkpoint::BEST), &first).unwrap();
    let d2 = common::fake_run_with(&d.path().join("d"), 10, 64);
    let o = ensemble(&[&ens, &d2], &d.path().join("again"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let note = format!("note: {} changed since", first.display());
    assert!(stderr.contains(&note), "{stderr}");
    // Nothing was trained in an ensemble's directory: neither way of training there offers a
    // --resume of it.
    let train = |how: &str| {
        let mut cmd = common::training::train_cli();
        let o = cmd.arg(how).arg(&ens).output().unwrap();
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let resumed = train("--resume");
    assert!(
        resumed.contains("ensemble.json lists their sources"),
        "{resumed}"
    );
    let over = train("--out");
    assert!(
        over.contains("already holds a trained model") && !over.contains("--resume"),
        "{over}"
    );
}

/// `pipeline --members 2`: two seeds trained in the run's member folders, the run itself their
/// ensemble, tuned and scored with it.
#[test]
fn a_pipeline_of_two_members_decides_with_their_ensemble() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("run");
    let mut cmd = common::bin();
    cmd.arg("pipeline")
        .arg(common::fixture())
        .arg("--out")
        .arg(&run);
    cmd.args([
        "--members",
        "2",
        "--epochs",
        "1",
        "--size",
        "64",
        "--batch",
        "4",
    ]);
    cmd.args(["--seed", "11", "--figures", "1"]);
    common::run_ok(cmd.args(common::training::QUIET_CPU));
    let listed = common::json(&run.join("ensemble.json"));
    let members = listed["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    for (k, m) in members.iter().enumerate() {
        let dir = run.join(format!("member-{}", k + 1));
        assert_eq!(
            m["checkpoint"],
            format!("member-{}/best_model.safetensors", k + 1)
        );
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        assert!(config.contains(&format!("seed = {}", 11 + k)), "{config}");
        let best = common::training::records(&dir)
            .iter()
            .map(|r| r["valid_dice"].as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert_eq!(m["best_valid_dice"].as_f64(), Some(best));
    }
    let report = common::json(&run.join("report.json"));
    assert_eq!(report["split"], "test");
    let model = common::input(&report["provenance"], "member 2");
    assert_eq!(model["sha256"], members[1]["sha256"]);
    let tuned = common::json(&run.join("threshold.json"));
    assert_eq!(tuned["provenance"]["inputs"][1]["role"], "member 2");

    // Resumed with one more epoch and a third member, member 2's state lost (as when a run is
    // killed before a member's first epoch): member 1 continues (a second session, epoch 2),
    // member 2 and the new member 3 (seed 13) train from the start, and the ensemble has all three.
    std::fs::remove_file(run.join("member-2/train_state.json")).unwrap();
    let resume = |members: &str| {
        let mut cmd = common::bin();
        cmd.arg("pipeline")
            .arg(common::fixture())
            .arg("--resume")
            .arg(&run);
        cmd.args(["--members", members, "--epochs", "2", "--figures", "0"]);
        cmd.args(common::training::QUIET_CPU).output().unwrap()
    };
    let o = resume("3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed = common::json(&run.join("ensemble.json"));
    assert_eq!(listed["members"].as_array().unwrap().len(), 3);
    for (k, sessions, seed) in [(1, 2, 11), (2, 1, 12), (3, 1, 13)] {
        let dir = run.join(format!("member-{k}"));
        let epochs: Vec<_> = common::training::records(&dir)
            .iter()
            .map(|r| r["epoch"].as_u64().unwrap())
            .collect();
        assert_eq!(epochs, [1, 2], "member {k}");
        let prov = common::json(&dir.join("provenance.json"));
        assert_eq!(prov.as_array().unwrap().len(), sessions, "member {k}");
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        assert!(config.contains(&format!("seed = {seed}")), "{config}");
    }
    assert_eq!(common::json(&run.join("report.json"))["split"], "test");
    // Fewer members than it holds would drop one; the ensemble has no training of its own.
    let stderr = String::from_utf8_lossy(&resume("2").stderr).to_string();
    assert!(stderr.contains("holds 3 members"), "{stderr}");
    let o = common::training::train_cli()
        .arg("--resume")
        .arg(&run)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("is an ensemble"), "{stderr}");

    // One model trained into the same directory is what inference opens there afterwards.
    let mut cmd = common::training::train_cli();
    cmd.arg("--out")
        .arg(&run)
        .args(["--epochs", "1", "--size", "64", "--overwrite"]);
    let o = common::run_ok(cmd.args(common::training::QUIET_CPU));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let note = "3 members of an earlier pipeline stay in";
    assert!(
        stderr.contains(note) && stderr.contains("member-1 … member-3"),
        "{stderr}"
    );
    assert!(!run.join("ensemble.json").exists());
    assert_eq!(load_models(&run, Device::Cpu).unwrap().models.len(), 1);
    // New members are not started beside that run's files.
    let mut cmd = common::bin();
    cmd.arg("pipeline")
        .arg(common::fixture())
        .arg("--out")
        .arg(&run);
    let o = cmd.args(["--members", "2"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("holds a training run"), "{stderr}");
}
