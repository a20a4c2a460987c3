//! Training helpers for the test files that run whole (tiny) trainings on the fixture.
use serde_json::Value;
use std::path::Path;
use tumorseg::train::TrainConfig;

/// Flags every CLI training run here shares: from scratch, one libtorch thread, no bars.
pub const QUIET_CPU: [&str; 5] = [
    "--encoder-weights",
    "none",
    "--threads",
    "1",
    "--no-progress",
];

/// `tumorseg train <fixture>`, flags to follow.
pub fn train_cli() -> std::process::Command {
    let mut cmd = super::bin();
    cmd.arg("train").arg(super::fixture());
    cmd
}

pub fn records(run: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metrics without the timing fields.
pub fn untimed(run: &Path) -> Vec<Value> {
    records(run)
        .into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            o.remove("seconds").unwrap();
            o.remove("data_wait_fraction").unwrap();
            r
        })
        .collect()
}

pub fn tiny(out: &Path, epochs: usize, workers: usize) -> TrainConfig {
    TrainConfig {
        dataset: super::fixture(),
        out: Some(out.to_path_buf()),
        epochs,
        size: 64,
        batch: 4,
        workers,
        device: "cpu".into(),
        seed: 7,
        encoder_weights: "none".into(),
        threads: 1,
        progress: false,
        ..TrainConfig::default()
    }
}

/// Runs `cmd` until a line of its stderr starts with `after`, sends it `signal` (as `kill -INT`
/// would: "INT", "TERM"), and returns its exit code and the stderr lines that followed.
pub fn signalled(
    cmd: &mut std::process::Command,
    after: &str,
    signal: &str,
) -> (Option<i32>, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with(after) {
            break;
        }
    }
    let killed = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    (child.wait().unwrap().code(), rest)
}
