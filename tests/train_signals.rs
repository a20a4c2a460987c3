//! Signals that end a training session: Ctrl-C, SIGTERM (`timeout`, batch schedulers) and SIGHUP (a
//! closed terminal or ssh session) save the run inside its epoch and exit with 128 + the signal; one
//! that comes once the last epoch has trained is said, not swallowed. Tiny CLI runs at 32×32 on the
//! CPU.
mod common;
use common::training::{signalled, terminal, train_in, Watched};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// A long run (50 epochs, one checkpoint at the end) in `dir/r`, to be stopped inside an epoch.
fn long_run(dir: &Path) -> std::process::Command {
    let fixture = common::fixture();
    let args = [fixture.to_str().unwrap(), "--out", "r", "--epochs", "50"];
    let mut cmd = train_in(dir, &args);
    cmd.args(["--save-every", "50"]);
    cmd
}

/// The state of `dir/r` is that of a run saved inside an epoch.
fn saved_inside_an_epoch(dir: &Path) {
    let run = dir.join("r");
    let state: Value = common::json(&run.join("train_state.json"));
    assert_eq!(state["interrupted"], true);
    assert!(
        state["partial"]["batches"].as_u64().unwrap() >= 1,
        "{state}"
    );
    assert!(run.join("last.safetensors").is_file());
}

/// Stops a long run in `dir` with `signal` once the loop has announced itself (its handler is then in
/// place); returns its exit code, having checked what it said and saved.
fn stopped_by(dir: &Path, signal: libc::c_int) -> Option<i32> {
    let (code, rest) = signalled(&mut long_run(dir), "training on", signal);
    let saved = "interrupted: saved last.safetensors in epoch ";
    assert!(rest.iter().any(|l| l.starts_with(saved)), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("--resume")), "{rest:?}");
    saved_inside_an_epoch(dir);
    code
}

/// Before, SIGTERM ended the process with nothing saved: up to --save-every epochs were lost.
#[test]
fn sigterm_saves_inside_the_epoch_as_ctrl_c_does_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(stopped_by(dir.path(), libc::SIGTERM), Some(143));
}

/// Before, SIGHUP was not handled: closing the terminal killed the run unsaved.
#[test]
fn sighup_saves_inside_the_epoch_as_sigterm_does_and_exits_129() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(stopped_by(dir.path(), libc::SIGHUP), Some(129));
}

/// A closed terminal answers every write with an error: the messages after SIGHUP must not end the
/// run (a panic, exit 101) before it is saved and exits with 129.
#[test]
fn a_hung_up_terminal_does_not_keep_sighup_from_saving_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (master, slave) = terminal();
    let mut cmd = long_run(dir.path());
    let mut child = cmd
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    drop(cmd);
    let mut lines = BufReader::new(master).lines();
    // Not at the start of its line: the hashing bars before it draw on a terminal.
    assert!(lines.any(|l| l.unwrap().contains("training on")));
    drop(lines);
    // SAFETY: kill(2) on the child's own pid, not reaped yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(129));
    saved_inside_an_epoch(dir.path());
}

/// `nohup` starts a run with SIGHUP ignored so that it outlives its terminal: it goes on.
#[test]
fn under_nohup_sighup_is_left_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let long = long_run(dir.path());
    let mut cmd = std::process::Command::new("nohup");
    cmd.current_dir(dir.path())
        .arg(long.get_program())
        .args(long.get_args());
    let mut watched = Watched::spawn(&mut cmd);
    // Epoch 2 ends only if the run went on through the whole of epoch 1 after SIGHUP.
    watched.until("training on").send(libc::SIGHUP);
    watched.until("epoch 2/50").send(libc::SIGTERM);
    let (code, rest) = watched.finish();
    assert_eq!(code, Some(143), "{rest:?}");
}

/// Before, a signal that came once the last epoch had trained (its validation, its checkpoint
/// write) was swallowed: the run ended with status 0 and said nothing of it.
#[test]
fn a_signal_after_the_last_epoch_trained_is_said_and_the_run_complete() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::fixture();
    let args = [fixture.to_str().unwrap(), "--out", "r", "--epochs", "1"];
    let run = dir.path().join("r");
    let mut watched = Watched::spawn(&mut train_in(dir.path(), &args));
    // The best checkpoint of the only epoch is written once it is validated; the last checkpoint
    // (model and optimizer, about 300 MB) is written after it.
    let best = run.join("best_model.safetensors");
    watched.when(|| best.is_file()).send(libc::SIGTERM);
    let (code, rest) = watched.finish();
    assert_eq!(code, Some(0), "{rest:?}");
    let said = "interrupted after the last epoch finished; the run is complete";
    assert!(rest.iter().any(|l| l == said), "{rest:?}");
    let state: Value = common::json(&run.join("train_state.json"));
    assert_eq!(
        (&state["epoch"], &state["finished"], &state["interrupted"]),
        (&1.into(), &true.into(), &false.into())
    );
}
