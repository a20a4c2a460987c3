//! Ctrl-C (SIGINT) and SIGTERM during training: the first asks the loop to save `last.safetensors`
//! and stop after the current step; a second exits at once (checkpoints are written atomically, so
//! nothing is torn). SIGTERM is how `timeout`, batch schedulers and container runtimes end a job
//! before they kill it: without this, a run with `--save-every N` lost up to N epochs to it.
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the loop to stop (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

const HANDLED: [(libc::c_int, &str); 2] = [(libc::SIGINT, "Ctrl-C"), (libc::SIGTERM, "SIGTERM")];

/// The handlers stay while this lives (the training loop): afterwards Ctrl-C and SIGTERM end the
/// process as before, instead of asking a loop that is no longer running to stop.
pub struct Armed {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

/// Handles Ctrl-C and SIGTERM until the returned guard drops, and clears an earlier request (a
/// library caller may train several times).
pub fn install() -> Armed {
    SIGNAL.store(0, Ordering::SeqCst);
    let mut previous = vec![];
    for (signal, name) in HANDLED {
        match handle(signal) {
            Ok(old) => previous.push((signal, old)),
            Err(e) => eprintln!("warning: {name} will not save a checkpoint ({e})"),
        }
    }
    Armed { previous }
}

impl Drop for Armed {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restores an action sigaction itself returned.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
    }
}

/// Sets `on_signal` for `signal`; returns the action it replaces.
fn handle(signal: libc::c_int) -> std::io::Result<libc::sigaction> {
    // SAFETY: a zeroed sigaction is a valid one (empty mask, no flags) before the handler is set,
    // and `on_signal` makes only async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // Interrupted reads and writes (loader threads, checkpoint files) go on instead of failing.
        action.sa_flags = libc::SA_RESTART;
        let mut old: libc::sigaction = std::mem::zeroed();
        match libc::sigaction(signal, &action, &mut old) {
            0 => Ok(old),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}

/// Runs inside the signal: only an atomic, write(2) and _exit(2), which are async-signal-safe.
extern "C" fn on_signal(signal: libc::c_int) {
    let first = (SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)).is_ok();
    let text: &[u8] = match (first, signal) {
        (true, libc::SIGINT) => b"\nCtrl-C: saving the last checkpoint (press again to abort)\n",
        (true, _) => b"\nSIGTERM: saving the last checkpoint (a second signal aborts)\n",
        (false, _) => b"\nsecond signal: exiting without saving\n",
    };
    // SAFETY: writes a static buffer to stderr; _exit skips the exit handlers no signal may run.
    unsafe {
        libc::write(libc::STDERR_FILENO, text.as_ptr().cast(), text.len());
        if !first {
            libc::_exit(128 + signal);
        }
    }
}

pub fn requested() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// Asks the running loop to stop as if Ctrl-C had been pressed (tests, embedding callers).
pub fn request() {
    let _ = SIGNAL.compare_exchange(0, libc::SIGINT, Ordering::SeqCst, Ordering::SeqCst);
}

/// The error a command ends with when a signal stopped its training after saving it, with how to
/// continue: `main` exits with `status`, 128 + the signal (130 for Ctrl-C, 143 for SIGTERM), as
/// shells report a process that signal ended, so that `tumorseg train … && tumorseg evaluate …`
/// does not go on with a half-trained model.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {how}")]
pub struct Interrupted {
    pub how: String,
    pub status: i32,
}

impl Interrupted {
    /// `how` to continue, with the status of the signal that stopped the training.
    pub fn new(how: String) -> Interrupted {
        let signal = match SIGNAL.load(Ordering::SeqCst) {
            0 => libc::SIGINT,
            s => s,
        };
        Interrupted {
            how,
            status: 128 + signal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_stops_as_ctrl_c_and_a_sigterm_exits_143() {
        let _armed = install();
        assert!(!requested());
        assert_eq!(Interrupted::new(String::new()).status, 130);
        on_signal(libc::SIGTERM);
        assert!(requested());
        // A request after the signal keeps the signal's status.
        request();
        assert_eq!(Interrupted::new("x".into()).status, 143);
        install();
        assert!(!requested());
    }
}
