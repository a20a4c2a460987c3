//! Dataset → training tensors. Every image is decoded and resized once ([`PreparedSplit`]); each
//! epoch, worker threads augment and assemble batches ahead of the consumer ([`Loader`]). Batches hold
//! one grey channel and u8 masks; [`normalize`] makes the model's 3-channel input on the model's device,
//! so a fifth of the bytes are assembled, pinned and sent to the GPU (1·4 + 1 instead of 3·4 + 4 per pixel).
//!
//! Determinism: the sample order comes from `epoch_rng(seed, epoch)` and every sample's augmentation
//! from `sample_rng(seed, epoch, index)`, so the batches do not depend on the number of workers.
use crate::augment::{augment, epoch_rng, sample_rng, AugmentConfig, Plane};
use crate::dataset::Sample;
use anyhow::{bail, Result};
use crossbeam_channel::{Receiver, Sender};
use image::imageops::FilterType;
use image::GrayImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tch::kind::Element;
use tch::{Device, Tensor};

/// ImageNet statistics of albumentations' `Normalize` (and of the encoder's pre-training).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

#[derive(Clone, Debug)]
pub struct LoaderConfig {
    /// Side of the square training images (the PreparedSplit's size).
    pub size: u32,
    pub batch: usize,
    /// Background threads (0 is treated as 1).
    pub workers: usize,
    pub shuffle: bool,
    /// Skip the last, incomplete batch.
    pub drop_last: bool,
    /// `None`: no augmentation (validation).
    pub augment: Option<AugmentConfig>,
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            size: 320,
            batch: 16,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            shuffle: true,
            drop_last: true,
            augment: Some(AugmentConfig::default()),
            seed: 0,
        }
    }
}

/// Images resized to size×size and masks rasterised at size×size (0/1), kept in RAM as u8
/// (2 bytes per pixel per sample: 1500 samples at 640² ≈ 1.2 GB, at 320² ≈ 0.3 GB).
pub struct PreparedSplit {
    size: u32,
    images: Vec<GrayImage>,
    masks: Vec<GrayImage>,
}

impl PreparedSplit {
    /// Decode, resize and rasterise every sample in parallel (rayon), with a progress bar if `progress`.
    pub fn new(samples: &[Sample], size: u32, progress: bool) -> Result<PreparedSplit> {
        if size == 0 {
            bail!("--size must be positive");
        }
        let bar = if progress {
            let b = ProgressBar::new(samples.len() as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "preparing {pos}/{len} images at {msg} [{bar:30}] {elapsed} eta {eta}",
            ) {
                b.set_style(style);
            }
            b.set_message(format!("{size}×{size}"));
            b
        } else {
            ProgressBar::hidden()
        };
        let pairs: Vec<(GrayImage, GrayImage)> = samples
            .par_iter()
            .map(|s| {
                let img = resize_gray(&s.load_gray()?, size);
                let mask = s.mask_scaled(size, size);
                bar.inc(1);
                Ok((img, mask))
            })
            .collect::<Result<_>>()?;
        bar.finish_and_clear();
        let (images, masks) = pairs.into_iter().unzip();
        Ok(PreparedSplit {
            size,
            images,
            masks,
        })
    }

    /// From already-sized images and 0/1 masks (synthetic data, benchmarks, tests).
    pub fn from_images(images: Vec<GrayImage>, masks: Vec<GrayImage>) -> Result<PreparedSplit> {
        let size = images.first().map_or(0, |i| i.width());
        if images.len() != masks.len() {
            bail!("{} images but {} masks", images.len(), masks.len());
        }
        for (i, (im, m)) in images.iter().zip(&masks).enumerate() {
            if im.dimensions() != (size, size) || m.dimensions() != (size, size) {
                bail!(
                    "sample {i}: image {:?} / mask {:?}, expected {size}×{size}",
                    im.dimensions(),
                    m.dimensions()
                );
            }
        }
        Ok(PreparedSplit {
            size,
            images,
            masks,
        })
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    pub fn image(&self, i: usize) -> &GrayImage {
        &self.images[i]
    }

    pub fn mask(&self, i: usize) -> &GrayImage {
        &self.masks[i]
    }

    /// Sample `i` augmented for `epoch`: writes S² grey values in [0, 1] and S² mask values (0 or 1).
    pub fn sample_into(
        &self,
        i: usize,
        augment_cfg: Option<&AugmentConfig>,
        seed: u64,
        epoch: u64,
        image_out: &mut [f32],
        mask_out: &mut [u8],
    ) {
        let mut img = Plane::from_gray(&self.images[i]);
        let mut mask = Plane::from_mask(&self.masks[i]);
        if let Some(cfg) = augment_cfg {
            augment(
                &mut img,
                &mut mask,
                cfg,
                &mut sample_rng(seed, epoch, i as u64),
            );
        }
        image_out.copy_from_slice(&img.data);
        for (o, v) in mask_out.iter_mut().zip(&mask.data) {
            *o = u8::from(*v > 0.5);
        }
    }
}

/// Resize a grey image to size×size (Triangle filter, whose support widens with the downscale factor,
/// so it averages like cv2's INTER_AREA); no-op copy at the right size.
pub fn resize_gray(img: &GrayImage, size: u32) -> GrayImage {
    if img.dimensions() == (size, size) {
        return img.clone();
    }
    image::imageops::resize(img, size, size, FilterType::Triangle)
}

/// Grey [B, 1, S, S] in [0, 1] → the model's input [B, 3, S, S]: the plane in each channel as
/// `(v - mean[c]) · (1 / std[c])` in f32 (albumentations' `Normalize`), on the tensor's own device.
pub fn normalize(grey: &Tensor) -> Tensor {
    let channels: Vec<Tensor> = (0..3)
        .map(|c| (grey - f64::from(IMAGENET_MEAN[c])) * f64::from(1.0 / IMAGENET_STD[c]))
        .collect();
    Tensor::cat(&channels, 1)
}

/// Inference input: every image resized to size×size, grey in [0, 1], as one [N, 1, S, S] CPU tensor
/// written in place like the loader's batches (then [`normalize`] on the device).
pub fn grey_batch(images: &[GrayImage], size: u32) -> Tensor {
    let px = (size * size) as usize;
    let mut batch = zeroed_cpu::<f32>(&[images.len() as i64, 1, i64::from(size), i64::from(size)]);
    // SAFETY: `batch` was allocated just above; no other handle refers to its storage.
    let buf = unsafe { elements_mut::<f32>(&mut batch) };
    buf.par_chunks_exact_mut(px.max(1))
        .zip(images)
        .for_each(|(out, img)| {
            out.copy_from_slice(&Plane::from_gray(&resize_gray(img, size)).data)
        });
    batch
}

pub struct Batch {
    /// [B, 1, S, S] f32 on the CPU, grey in [0, 1] (not yet [`normalize`]d).
    pub images: Tensor,
    /// [B, 1, S, S] u8, 0 or 1.
    pub masks: Tensor,
    /// Sample indices into the PreparedSplit, in batch order.
    pub indices: Vec<usize>,
}

/// Iterator over one epoch's batches, in order, produced ahead of time by worker threads.
pub struct Loader {
    jobs: Option<Sender<usize>>,
    results: Receiver<(usize, Batch)>,
    workers: Vec<JoinHandle<()>>,
    pending: BTreeMap<usize, Batch>,
    next: usize,
    next_job: usize,
    n_batches: usize,
    wait: Duration,
}

/// Start the epoch's workers. At most `2·workers` batches are in flight (a ticket per batch), which
/// bounds memory while keeping every worker busy.
pub fn epoch(split: Arc<PreparedSplit>, cfg: &LoaderConfig, epoch: u64) -> Loader {
    epoch_from(split, cfg, epoch, 0)
}

/// The epoch's batches from image `first` of its order on (a run resumed inside an epoch, at any
/// batch size): order and augmentation are drawn per epoch and per sample, not per batch.
pub fn epoch_from(
    split: Arc<PreparedSplit>,
    cfg: &LoaderConfig,
    epoch: u64,
    first: usize,
) -> Loader {
    let n = split.len();
    let b = cfg.batch.max(1);
    let mut order: Vec<usize> = (0..n).collect();
    if cfg.shuffle {
        order.shuffle(&mut epoch_rng(cfg.seed, epoch));
    }
    order.drain(..first.min(n));
    let n = order.len();
    let n_batches = if cfg.drop_last { n / b } else { n.div_ceil(b) };
    let order = Arc::new(order);
    let n_workers = cfg.workers.max(1);
    let in_flight = 2 * n_workers;
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<usize>();
    let (res_tx, res_rx) = crossbeam_channel::bounded(in_flight);
    let workers = (0..n_workers)
        .map(|_| {
            let (job_rx, res_tx) = (job_rx.clone(), res_tx.clone());
            let (split, order, cfg) = (split.clone(), order.clone(), cfg.clone());
            std::thread::spawn(move || {
                while let Ok(k) = job_rx.recv() {
                    let idx = &order[k * b..((k + 1) * b).min(order.len())];
                    let batch = build_batch(&split, idx, &cfg, epoch);
                    if res_tx.send((k, batch)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    let mut loader = Loader {
        jobs: Some(job_tx),
        results: res_rx,
        workers,
        pending: BTreeMap::new(),
        next: 0,
        next_job: 0,
        n_batches,
        wait: Duration::ZERO,
    };
    for _ in 0..in_flight {
        loader.issue_job();
    }
    loader
}

fn build_batch(split: &PreparedSplit, idx: &[usize], cfg: &LoaderConfig, epoch: u64) -> Batch {
    let s = split.size() as usize;
    let shape = [idx.len() as i64, 1, s as i64, s as i64];
    let mut images = zeroed_cpu::<f32>(&shape);
    let mut masks = zeroed_cpu::<u8>(&shape);
    // SAFETY: both tensors were allocated just above; no other handle refers to their storage.
    let (image_buf, mask_buf) = unsafe {
        (
            elements_mut::<f32>(&mut images),
            elements_mut::<u8>(&mut masks),
        )
    };
    for ((&i, img), mask) in idx
        .iter()
        .zip(image_buf.chunks_exact_mut(s * s))
        .zip(mask_buf.chunks_exact_mut(s * s))
    {
        split.sample_into(i, cfg.augment.as_ref(), cfg.seed, epoch, img, mask);
    }
    Batch {
        images,
        masks,
        indices: idx.to_vec(),
    }
}

/// A zeroed contiguous CPU tensor. Workers write batches into these in place rather than build them
/// with `Tensor::from_slice` (libtorch `zeros`, then a copy): no staging buffer, and no libtorch CPU
/// kernel, each of which starts an OpenMP team as wide as the machine in every worker thread.
fn zeroed_cpu<T: Element>(shape: &[i64]) -> Tensor {
    let t = Tensor::empty(shape, (T::KIND, Device::Cpu));
    if t.numel() > 0 {
        // SAFETY: `t` is a fresh contiguous CPU tensor of `numel` (> 0, so its pointer is valid) elements
        // of `T::KIND`, which `Element` guarantees has `T`'s layout; zero bytes are a valid value of
        // every element kind.
        unsafe { std::ptr::write_bytes(t.data_ptr().cast::<T>(), 0, t.numel()) };
    }
    t
}

/// The elements of a contiguous CPU tensor of kind `T`, writable for as long as the tensor is borrowed.
///
/// # Safety
/// `t` must be the only handle to its storage (no `shallow_clone`, view or alias elsewhere).
unsafe fn elements_mut<T: Element>(t: &mut Tensor) -> &mut [T] {
    assert!(
        t.device() == Device::Cpu && t.kind() == T::KIND && t.is_contiguous(),
        "elements_mut needs a contiguous CPU tensor of the element's kind"
    );
    // An empty tensor's data pointer may be null, which a slice must never be.
    if t.numel() == 0 {
        return &mut [];
    }
    std::slice::from_raw_parts_mut(t.data_ptr().cast::<T>(), t.numel())
}

impl Loader {
    /// Seconds the consumer spent blocked in `next()` waiting for a batch (data-loading stall).
    pub fn wait_seconds(&self) -> f64 {
        self.wait.as_secs_f64()
    }

    /// Number of batches this epoch yields.
    pub fn n_batches(&self) -> usize {
        self.n_batches
    }

    fn issue_job(&mut self) {
        if self.next_job < self.n_batches {
            if let Some(tx) = &self.jobs {
                // Workers only stop once `jobs` is dropped, so this send cannot fail.
                let _ = tx.send(self.next_job);
            }
            self.next_job += 1;
        }
    }
}

impl Iterator for Loader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.n_batches {
            return None;
        }
        let start = Instant::now();
        while !self.pending.contains_key(&self.next) {
            match self.results.recv() {
                Ok((k, batch)) => {
                    self.pending.insert(k, batch);
                }
                // Every worker is gone (one panicked): end the epoch rather than hang.
                Err(_) => return None,
            }
        }
        self.wait += start.elapsed();
        let batch = self.pending.remove(&self.next);
        self.next += 1;
        self.issue_job();
        batch
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.n_batches - self.next;
        (left, Some(left))
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the job queue stops the workers after their current batch; draining the results
        // unblocks any worker waiting to send, and the receive fails once they have all exited.
        self.jobs = None;
        while self.results.recv().is_ok() {}
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
