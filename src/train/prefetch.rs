//! Feeding the GPU: a copy from pageable host memory blocks the training thread for the whole transfer
//! (16×640² grey f32 + u8 masks = 33 MB a step). On CUDA a helper thread page-locks ("pins") each batch as the loader
//! produces it, so the step's host→device copy is asynchronous (`non_blocking`) and DMA-fast. On the CPU
//! the loader's batches are used as they are.
use crate::batches::Loader;
use crossbeam_channel::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tch::{Device, Tensor};

/// Batches already resident on (or on their way to) the training device.
pub struct DeviceBatches {
    source: Source,
    device: Device,
    wait: Duration,
    n_batches: usize,
}

enum Source {
    Direct(Loader),
    Pinned(Receiver<(Tensor, Tensor)>, Option<JoinHandle<()>>),
}

/// Batches that can prepare ahead of the consumer.
const PINNED_AHEAD: usize = 2;

impl DeviceBatches {
    pub fn new(loader: Loader, device: Device) -> Self {
        let n_batches = loader.n_batches();
        let source = if device.is_cuda() {
            let (tx, rx) = crossbeam_channel::bounded(PINNED_AHEAD);
            let handle = std::thread::spawn(move || {
                for b in loader {
                    // Pinning can fail (e.g. locked-memory limits): an unpinned batch still works, just slower.
                    // `_pin_memory` directly: the public `pin_memory(device)` warns on every call in libtorch 2.11.
                    let pin = |t: Tensor| t.f_internal_pin_memory(device).unwrap_or(t);
                    if tx.send((pin(b.images), pin(b.masks))).is_err() {
                        break;
                    }
                }
            });
            Source::Pinned(rx, Some(handle))
        } else {
            Source::Direct(loader)
        };
        DeviceBatches {
            source,
            device,
            wait: Duration::ZERO,
            n_batches,
        }
    }

    /// Batches the epoch yields in all.
    pub fn n_batches(&self) -> usize {
        self.n_batches
    }

    /// Seconds the training thread spent waiting for data.
    pub fn wait_seconds(&self) -> f64 {
        match &self.source {
            Source::Direct(l) => l.wait_seconds(),
            Source::Pinned(..) => self.wait.as_secs_f64(),
        }
    }
}

impl Iterator for DeviceBatches {
    /// (images, masks) on the device as the loader made them: f32 grey, u8 masks (`step` and the
    /// validation Dice convert the masks there, 4× fewer bytes to send).
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<(Tensor, Tensor)> {
        match &mut self.source {
            Source::Direct(l) => l.next().map(|b| (b.images, b.masks)),
            Source::Pinned(rx, _) => {
                let t0 = Instant::now();
                let (x, y) = rx.recv().ok()?;
                self.wait += t0.elapsed();
                let to = |t: &Tensor| t.to_device_(self.device, t.kind(), true, false);
                Some((to(&x), to(&y)))
            }
        }
    }
}

impl Drop for DeviceBatches {
    fn drop(&mut self) {
        if let Source::Pinned(rx, handle) = &mut self.source {
            // Unblock the pinning thread (its sends fail once the receiver is gone), then join it.
            let (_, dead) = crossbeam_channel::bounded(0);
            *rx = dead;
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}
