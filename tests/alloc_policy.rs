//! The allocator policy `main` sets first thing (`commands::keep_freed_memory`). Process-wide, so it
//! is tested in a test binary of its own, in one test function.
#![cfg(all(target_os = "linux", target_env = "gnu"))]
use tumorseg::commands::{keep_freed_memory, MALLOC_ENV};

/// Over glibc's 32 MiB mmap threshold ceiling, under the 64 MiB its per-thread heaps can hold (tests run
/// off the main thread; a bigger block there would get an mmap whatever the policy).
const BLOCK: usize = 48 << 20;

/// Bytes glibc holds in separate mmaps while a `BLOCK` is alive.
fn mmapped_while_holding_a_block() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let before = unsafe { libc::mallinfo2() }.hblkhd;
    let block = std::hint::black_box(vec![1u8; BLOCK]);
    let during = unsafe { libc::mallinfo2() }.hblkhd;
    drop(block);
    during.saturating_sub(before)
}

#[test]
fn large_blocks_come_from_the_heap_and_stay_unless_the_user_tuned_glibc() {
    if MALLOC_ENV.iter().any(|v| std::env::var_os(v).is_some()) {
        eprintln!("skipped: glibc's allocator is tuned from the environment ({MALLOC_ENV:?})");
        return;
    }
    // glibc's default: the block is an mmap of its own.
    assert!(mmapped_while_holding_a_block() >= BLOCK);
    // A user's setting wins: with one of the variables present the policy is left alone.
    std::env::set_var(MALLOC_ENV[1], "134217728");
    keep_freed_memory();
    assert!(mmapped_while_holding_a_block() >= BLOCK);
    std::env::remove_var(MALLOC_ENV[1]);
    keep_freed_memory();
    assert_eq!(mmapped_while_holding_a_block(), 0);
    // Freed, the block stays in the allocator for the next step instead of going back to the kernel.
    let free_in_heap = unsafe { libc::mallinfo2() }.fordblks;
    assert!(
        free_in_heap >= BLOCK,
        "{free_in_heap} bytes free in the heap"
    );
}
