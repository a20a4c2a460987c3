//! Progress bars for work over many files. indicatif draws on stderr only when it is a terminal, so
//! logs, pipes and tests see nothing; on a terminal the bar is cleared when the work is done.
use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` items, labelled with what is being done ("hash", "predict").
pub fn items(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A spinner for a few steps of unknown length (export's trace, check and write), each named by
/// `set_message`.
pub fn steps(first: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("static template"),
    );
    bar.set_message(first.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
