//! One module per subcommand: argument parsing and orchestration only; the work lives in the library modules.
pub mod bench;
pub mod clean;
pub mod compare;
pub mod ensemble;
pub mod evaluate;
pub mod export;
pub mod from_nifti;
pub mod from_seg;
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

/// Environment variables through which a user tunes glibc's allocator; set, they win over ours.
pub const MALLOC_ENV: [&str; 3] = [
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "GLIBC_TUNABLES",
];

/// glibc serves large blocks (from 128 KiB, adapting up to 32 MiB) with their own mmap and unmaps them
/// on free, so libtorch's CPU activations come back as fresh pages every step, which the kernel faults
/// in and zeroes (perf, 640² CPU inference: 21 % of the time in `clear_page`, ~8 % more in faults).
/// Served from the heap and kept there, they are reused instead. On the 2-core CPU machine: 640²
/// inference 1.6× faster, `predict` of 48 images at 448² 1.3×, 128² training ~1.15×; the peak resident
/// size is higher (3.4 → 5.1 GB at 640², batch 8) but stays level over a run. Process-wide: call it
/// first thing in `main`. (Off the main thread, blocks over 64 MiB, more than glibc's per-thread heaps
/// hold, are still mmapped; libtorch allocates the large activations on the calling, main thread.)
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if MALLOC_ENV.iter().all(|v| std::env::var_os(v).is_none()) {
        // SAFETY: mallopt only changes glibc's allocation policy, under the allocator's own lock.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }
}
