//! scripts/gpu_proof.sh rehearsed on the CPU (REQUIRE_CUDA=0, the fixture packed at 64², a few
//! seconds of training): device time is scarce, so a flag the binary no longer takes, or a file the
//! script no longer finds, must fail here and not on the GPU machine.
mod common;

use std::process::Command;

#[test]
fn the_gpu_proof_script_runs_its_pipeline_on_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("repo");
    let gpu = work.join(".gpu");
    std::fs::create_dir_all(&gpu).unwrap();
    for dir in ["scripts", "configs"] {
        std::os::unix::fs::symlink(common::root().join(dir), work.join(dir)).unwrap();
    }
    let binary = std::fs::File::open(env!("CARGO_BIN_EXE_tumorseg")).unwrap();
    let gz = std::fs::File::create(gpu.join("tumorseg.gz")).unwrap();
    common::run_ok(Command::new("gzip").arg("-1").stdin(binary).stdout(gz));
    common::run_ok(
        common::into("pack", &common::fixture(), &gpu.join("data")).args(["--size", "64"]),
    );
    let out = tmp.path().join("out");
    let run = Command::new("bash")
        .arg(common::root().join("scripts/gpu_proof.sh"))
        .arg("pipeline")
        .current_dir(&work)
        // The script's other knobs at their defaults, whatever the caller's environment holds.
        .env_remove("EXTRA")
        .env_remove("AUG")
        .env_remove("EMA")
        .env("REQUIRE_CUDA", "0")
        .env("PY", common::python())
        .env("OUT", &out)
        .env("SCRATCH", tmp.path())
        .envs([("SIZE", "64"), ("BUDGET", "4"), ("EPOCHS", "1")])
        .envs([("TTA", "flips"), ("PIPE_LIMIT", "300")])
        .output()
        .unwrap();
    let log = std::fs::read_to_string(out.join("pipeline.log")).unwrap_or_default();
    assert!(
        run.status.success(),
        "{}\n{log}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = std::fs::read_to_string(out.join("summary.log")).unwrap();
    assert!(summary.contains("exit status 0"), "{summary}");
    assert!(
        log.contains("== evaluate (test)") && log.contains("== visualize"),
        "{log}"
    );
    let report = common::json(&out.join("pipeline/report.json"));
    assert_eq!(report["split"], "test", "{report}");
    for file in ["report.md", "curves.png", "per_image.csv", "figures.png"] {
        assert!(out.join("pipeline").join(file).is_file(), "{file}");
    }
}
