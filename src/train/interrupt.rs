//! Ctrl-C (SIGINT), SIGTERM and SIGHUP: the first asks the running command to stop at its next
//! safe point (training: save `last.safetensors` after the current step; predict: leave the earlier
//! outputs as they were); a second exits at once. SIGTERM is how `timeout`, batch schedulers and
//! container runtimes end a job before they kill it, SIGHUP what a closed terminal or ssh session
//! sends: without this, a run with `--save-every N` lost up to N epochs to either.
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

/// The signal that asked the loop to stop (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// What the handler says: the handling armed last (it is read inside the signal, so it must be
/// `'static` and is only ever swapped whole).
static SAYS: AtomicPtr<Handling> = AtomicPtr::new(&TRAINING as *const Handling as *mut Handling);

/// Which signals a command handles, and what it tells the user it does at the first and at a second.
pub struct Handling {
    /// Each signal with the name messages give it.
    pub signals: &'static [(libc::c_int, &'static str)],
    /// What the command does at the first signal, after its name ("saving the last checkpoint").
    pub first: &'static str,
    /// What a second signal does ("exiting without saving").
    pub second: &'static str,
}

/// The signals that ask a command to stop, with the names its messages give them: Ctrl-C, `timeout`
/// and batch schedulers, a closed terminal or ssh session.
pub const STOP_SIGNALS: &[(libc::c_int, &str)] = &[
    (libc::SIGINT, "Ctrl-C"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
];

/// Training: Ctrl-C, SIGTERM and SIGHUP save the run.
pub static TRAINING: Handling = Handling {
    signals: STOP_SIGNALS,
    first: "saving the last checkpoint",
    second: "exiting without saving",
};

/// `eprintln!` that never panics: once a terminal has hung up, writing to it fails (EIO), and a
/// panic on a message would end the run before it is saved, or with 101 instead of 129.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

/// The handlers stay while this lives (the command's loop): afterwards the signals end the process
/// as before, instead of asking a loop that is no longer running to stop.
pub struct Armed {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

/// Handles `how.signals` until the returned guard drops, and clears an earlier request (a library
/// caller may train several times).
pub fn install(how: &'static Handling) -> Armed {
    SIGNAL.store(0, Ordering::SeqCst);
    SAYS.store((how as *const Handling).cast_mut(), Ordering::SeqCst);
    let mut previous = vec![];
    for &(signal, name) in how.signals {
        match handle(signal) {
            Ok(Some(old)) => previous.push((signal, old)),
            Ok(None) => {}
            Err(e) => {
                eprintln!("warning: {name} cannot be handled ({e}): it ends the command at once")
            }
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

/// Sets `on_signal` for `signal`; returns the action it replaces. None for a SIGHUP the process
/// was started ignoring: `nohup` asks for a run that outlives its terminal, and gets it.
fn handle(signal: libc::c_int) -> std::io::Result<Option<libc::sigaction>> {
    let failed = |status: libc::c_int| match status {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    };
    // SAFETY: a zeroed sigaction is a valid one (empty mask, no flags) before the handler is set,
    // and `on_signal` makes only async-signal-safe calls.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        failed(libc::sigaction(signal, std::ptr::null(), &mut old))?;
        if signal == libc::SIGHUP && old.sa_sigaction == libc::SIG_IGN {
            return Ok(None);
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // Interrupted reads and writes (loader threads, checkpoint files) go on instead of failing.
        action.sa_flags = libc::SA_RESTART;
        failed(libc::sigaction(signal, &action, std::ptr::null_mut()))?;
        Ok(Some(old))
    }
}

/// Runs inside the signal: only atomics, reads of `'static` text, write(2) and _exit(2), which are
/// async-signal-safe.
extern "C" fn on_signal(signal: libc::c_int) {
    let first = (SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)).is_ok();
    // SAFETY: SAYS always points to a `'static` Handling.
    let how = unsafe { &*SAYS.load(Ordering::SeqCst) };
    let name = (how.signals.iter())
        .find(|(s, _)| *s == signal)
        .map_or("signal", |(_, name)| name);
    let parts: [&str; 5] = match (first, signal) {
        (true, libc::SIGINT) => ["\n", name, ": ", how.first, " (press again to abort)\n"],
        (true, _) => ["\n", name, ": ", how.first, " (a second signal aborts)\n"],
        (false, _) => ["\nsecond signal: ", how.second, "\n", "", ""],
    };
    // SAFETY: writes `'static` text to stderr; _exit skips the exit handlers no signal may run.
    unsafe {
        for part in parts {
            libc::write(libc::STDERR_FILENO, part.as_ptr().cast(), part.len());
        }
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
/// continue: `main` exits with `status`, 128 + the signal (130 for Ctrl-C, 143 for SIGTERM, 129 for
/// SIGHUP), as shells report a process that signal ended, so that `tumorseg train … && tumorseg
/// evaluate …` does not go on with a half-trained model.
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
    fn a_request_stops_as_ctrl_c_a_sigterm_exits_143_and_a_sighup_129() {
        let _armed = install(&TRAINING);
        assert!(!requested());
        assert_eq!(Interrupted::new(String::new()).status, 130);
        on_signal(libc::SIGTERM);
        assert!(requested());
        // A request after the signal keeps the signal's status.
        request();
        assert_eq!(Interrupted::new("x".into()).status, 143);
        install(&TRAINING);
        assert!(!requested());
        on_signal(libc::SIGHUP);
        assert_eq!(Interrupted::new(String::new()).status, 129);
    }
}
