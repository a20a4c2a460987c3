//! Ctrl-C during training: the first press asks the loop to save `last.safetensors` and stop after the
//! current step; a second press exits at once (checkpoints are written atomically, so nothing is torn).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler once per process (a library caller may train several times).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let result = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting without saving");
                std::process::exit(130);
            }
            eprintln!("\nCtrl-C: saving the last checkpoint (press again to abort)");
        });
        if let Err(e) = result {
            eprintln!("warning: Ctrl-C will not save a checkpoint ({e})");
        }
    });
    REQUESTED.store(false, Ordering::SeqCst);
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Asks the running loop to stop as if Ctrl-C had been pressed (tests, embedding callers).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// The error a command ends with when Ctrl-C stopped its training after saving it, with how to
/// continue: `main` exits with 130, as shells report a process that SIGINT ended, so that
/// `tumorseg train … && tumorseg evaluate …` does not go on with a half-trained model.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);
