//! One module per subcommand: argument parsing and orchestration only; the work lives in the library modules.
pub mod bench;
pub mod clean;
pub mod evaluate;
pub mod info;
pub mod masks;
pub mod pack;
pub mod pipeline;
pub mod predict;
pub mod train;
pub mod tune_threshold;
pub mod visualize;

/// An error and its causes on one line, `a: b: c`, as anyhow's `{:#}`, but a cause is left out when the
/// message before it already ends with it (the image crate repeats its source in its own message).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain().map(|c| c.to_string()) {
        let cause = cause.trim_end();
        if out.is_empty() {
            out.push_str(cause);
        } else if !out.trim_end().ends_with(cause) {
            out.push_str(": ");
            out.push_str(cause);
        }
    }
    out
}
