//! Training helpers for the test files that run whole (tiny) trainings on the fixture.
use serde_json::Value;
use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
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

/// `tumorseg train` at 32², 4 images a batch, in `cwd`, with `args` to follow.
pub fn train_in(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = super::bin();
    cmd.current_dir(cwd)
        .arg("train")
        .args(["--size", "32", "--batch", "4"])
        .args(QUIET_CPU)
        .args(args);
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

/// A training command running in a child process, its stderr read line by line.
pub struct Watched {
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
}

impl Watched {
    pub fn spawn(cmd: &mut Command) -> Watched {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Watched { child, lines }
    }

    /// Reads stderr up to a line that starts with `prefix`.
    pub fn until(&mut self, prefix: &str) -> &mut Watched {
        let mut seen = vec![];
        for line in self.lines.by_ref().map(Result::unwrap) {
            if line.starts_with(prefix) {
                return self;
            }
            seen.push(line);
        }
        panic!("stderr ended before a line {prefix:?}: {seen:?}");
    }

    /// Waits (polling, stderr left unread) until `ready` is true.
    pub fn when(&mut self, ready: impl Fn() -> bool) -> &mut Watched {
        while !ready() {
            assert!(self.child.try_wait().unwrap().is_none(), "ended before");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self
    }

    /// Sends `signal` (`libc::SIGINT` …), as `kill` would.
    pub fn send(&mut self, signal: libc::c_int) -> &mut Watched {
        // SAFETY: kill(2) on the child's own pid; the child is not reaped yet, so the pid is its.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
        self
    }

    /// Its exit code once it ends, and the stderr lines not read yet.
    pub fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let rest = self.lines.by_ref().map(Result::unwrap).collect();
        (self.child.wait().unwrap().code(), rest)
    }
}

/// Runs `cmd` until a line of its stderr starts with `after`, sends it `signal`, and returns its exit
/// code and the stderr lines that followed.
pub fn signalled(
    cmd: &mut Command,
    after: &str,
    signal: libc::c_int,
) -> (Option<i32>, Vec<String>) {
    let mut watched = Watched::spawn(cmd);
    watched.until(after).send(signal);
    watched.finish()
}

/// A pseudo-terminal: its master, and the terminal a child writes to. Dropping the master hangs the
/// terminal up, as closing a terminal window or an ssh session does: writes to it then fail (EIO).
pub fn terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // SAFETY: posix_openpt returns a new descriptor, owned by the File made of it; ptsname_r writes
    // a NUL-terminated name into the buffer it is given.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "{}", std::io::Error::last_os_error());
        let master_file = std::fs::File::from_raw_fd(master);
        // Not inherited: a child holding the master too would keep the terminal from hanging up.
        assert_eq!(libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC), 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_str().unwrap();
        let slave = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .unwrap();
        (master_file, slave)
    }
}
