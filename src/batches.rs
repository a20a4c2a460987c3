//! Dataset → training tensors. Every image is decoded and resized once ([`PreparedSplit`]); each
//! epoch, worker threads augment, normalise and assemble batches ahead of the consumer ([`Loader`]).
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

    /// Sample `i` augmented for `epoch`, normalised: writes 3·S² image values (CHW) and S² mask values.
    pub fn sample_into(
        &self,
        i: usize,
        augment_cfg: Option<&AugmentConfig>,
        seed: u64,
        epoch: u64,
        image_out: &mut [f32],
        mask_out: &mut [f32],
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
        normalize_plane(&img, image_out);
        mask_out.copy_from_slice(&mask.data);
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

/// A [0, 1] plane → 3 identical channels, each `(v - mean[c]) / std[c]`, CHW.
pub fn normalize_plane(img: &Plane, out: &mut [f32]) {
    let n = img.data.len();
    assert_eq!(out.len(), 3 * n, "output must hold 3 channels");
    for (c, chan) in out.chunks_exact_mut(n).enumerate() {
        let (m, inv) = (IMAGENET_MEAN[c], 1.0 / IMAGENET_STD[c]);
        for (o, v) in chan.iter_mut().zip(&img.data) {
            *o = (v - m) * inv;
        }
    }
}

/// Inference input: resize to size×size and normalise like training, 3·size² values (CHW).
pub fn normalize_gray(img: &GrayImage, size: u32) -> Vec<f32> {
    let plane = Plane::from_gray(&resize_gray(img, size));
    let mut out = vec![0f32; 3 * plane.data.len()];
    normalize_plane(&plane, &mut out);
    out
}

pub struct Batch {
    /// [B, 3, S, S] f32 on the CPU, ImageNet-normalised.
    pub images: tch::Tensor,
    /// [B, 1, S, S] f32, exactly 0 or 1.
    pub masks: tch::Tensor,
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
    let n = split.len();
    let b = cfg.batch.max(1);
    let n_batches = if cfg.drop_last { n / b } else { n.div_ceil(b) };
    let mut order: Vec<usize> = (0..n).collect();
    if cfg.shuffle {
        order.shuffle(&mut epoch_rng(cfg.seed, epoch));
    }
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
    let (px, bsz) = (s * s, idx.len());
    let mut images = vec![0f32; bsz * 3 * px];
    let mut masks = vec![0f32; bsz * px];
    for ((&i, img), mask) in idx
        .iter()
        .zip(images.chunks_exact_mut(3 * px))
        .zip(masks.chunks_exact_mut(px))
    {
        split.sample_into(i, cfg.augment.as_ref(), cfg.seed, epoch, img, mask);
    }
    let (b, s) = (bsz as i64, s as i64);
    Batch {
        images: tch::Tensor::from_slice(&images).view([b, 3, s, s]),
        masks: tch::Tensor::from_slice(&masks).view([b, 1, s, s]),
        indices: idx.to_vec(),
    }
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
