//! `tumorseg bench <augment|train|infer>`: throughput benchmarks.
use crate::augment::AugmentConfig;
use crate::batches::{self, LoaderConfig, PreparedSplit};
use crate::dataset::{self, SplitOptions};
use anyhow::{bail, Context, Result};
use image::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand, Debug)]
pub enum What {
    /// Images/s of the augmentation pipeline (the seed's: flips, rot90, elastic p=0.5, blur p=0.3,
    /// brightness/contrast p=0.5; or --config's), one thread and all threads,
    /// plus the batch loader.
    Augment(AugmentArgs),
    /// Training-step throughput on random data: the real step (forward, 0.5·Focal+0.5·Dice, backward,
    /// loss scaling, Adam), median ms/step and img/s.
    Train(TrainArgs),
    /// Inference throughput on random data (eval mode, no grad, autocast per --precision).
    Infer(InferArgs),
}

#[derive(clap::Args, Debug)]
pub struct AugmentArgs {
    /// Side of the square images to augment, in pixels.
    #[arg(long, default_value_t = 640)]
    pub size: u32,
    /// Dataset root: benchmark on the first `--images` images of its train split (else synthetic images).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Number of distinct images to cycle through.
    #[arg(long, default_value_t = 64)]
    pub images: usize,
    /// Augmented images per timed run (each run is repeated 3 times; the best is reported).
    #[arg(long, default_value_t = 128)]
    pub iters: usize,
    /// Threads for the all-threads run and the loader (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Batch size of the loader run.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Seed of the augmentation RNG.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training config file whose `[augmentation]` table to time (default: the seed's pipeline).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl AugmentArgs {
    /// A zero would measure nothing, or not what it says: a size of 0 overflows the image
    /// allocation, and 0 threads would run on rayon's default pool while reported as 0.
    fn check(&self) -> Result<()> {
        let counts = [
            ("--size", self.size as usize),
            ("--images", self.images),
            ("--iters", self.iters),
            ("--threads", self.threads.unwrap_or(1)),
            ("--batch", self.batch),
        ];
        match counts.iter().find(|(_, n)| *n == 0) {
            Some((flag, _)) => bail!("{flag} must be positive, got 0"),
            None => Ok(()),
        }
    }
}

/// What both model benchmarks take; each adds its own option, so that neither accepts one it
/// would ignore.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Side of the square input images, in pixels (multiple of 32).
    #[arg(long, default_value_t = 640)]
    pub size: u32,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Precision of the pass.
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: crate::device::Precision,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Timed steps (after 3 untimed warm-up steps).
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// Memory layout: auto (channels-last, the faster on CUDA and on CPUs), nchw or channels-last.
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: crate::device::Layout,
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Also update a weight average of this decay after every step (as `train --ema`).
    #[arg(long, value_name = "DECAY")]
    pub ema: Option<f64>,
}

#[derive(clap::Args, Debug)]
pub struct InferArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Keep each batch norm as a layer of its own, to measure what folding gives (the inference
    /// commands fold every batch norm into the convolution before it).
    #[arg(long)]
    pub unfolded: bool,
}

impl ModelArgs {
    /// The benchmark's settings; `ema` is train's, `fold_batch_norms` infer's.
    fn config(
        &self,
        ema: Option<f64>,
        fold_batch_norms: bool,
    ) -> Result<crate::model::bench::BenchConfig> {
        let device = crate::device::parse_device(&self.device)?;
        Ok(crate::model::bench::BenchConfig {
            size: self.size as i64,
            batch: self.batch as i64,
            precision: self.precision.resolve(device)?,
            device,
            steps: self.steps,
            channels_last: self.layout.channels_last(),
            ema,
            fold_batch_norms,
        })
    }
}

pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Augment(a) => bench_augment(&a),
        What::Train(a) => {
            let cfg = a.model.config(a.ema, true)?;
            println!("{}", crate::model::bench::bench_train(&cfg)?);
            Ok(())
        }
        What::Infer(a) => {
            let cfg = a.model.config(None, !a.unfolded)?;
            println!("{}", crate::model::bench::bench_infer(&cfg)?);
            Ok(())
        }
    }
}

fn bench_augment(a: &AugmentArgs) -> Result<()> {
    a.check()?;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let split = Arc::new(match &a.data {
        Some(root) => real_split(root, a.size, a.images)?,
        None => synthetic_split(a.size, a.images)?,
    });
    let (cfg, pipeline) = match &a.config {
        Some(file) => (
            crate::train::TrainConfig::from_toml_file(file)?.augmentation,
            file.display().to_string(),
        ),
        None => (AugmentConfig::default(), "seed-style pipeline".to_string()),
    };
    let source = a
        .data
        .as_ref()
        .map_or("synthetic".to_string(), |p| p.display().to_string());
    println!(
        "augment bench: {} images {}×{} from {source}, {pipeline}",
        split.len(),
        a.size,
        a.size
    );
    let one = best_of_3(|| timed_pipeline(&split, &cfg, a.iters, a.seed, 1))?;
    println!("  1 thread      : {one:8.1} img/s");
    let all = best_of_3(|| timed_pipeline(&split, &cfg, a.iters, a.seed, threads))?;
    println!(
        "  {threads} threads     : {all:8.1} img/s  ({:.2}× one thread)",
        all / one
    );
    for (name, step) in step_configs() {
        let r = best_of_3(|| timed_pipeline(&split, &step, a.iters / 4 + 1, a.seed, 1))?;
        println!("    only {name:<22}: {r:8.1} img/s (1 thread)");
    }
    let loader = timed_loader(&split, &cfg, a, threads)?;
    println!(
        "  loader {threads} workers: {loader:8.1} img/s  (batch {}, incl. tensor assembly)",
        a.batch
    );
    Ok(())
}

/// One step at p = 1 (everything else off) for a per-step breakdown; "nothing" is the
/// u8→f32 floor.
fn step_configs() -> Vec<(&'static str, AugmentConfig)> {
    let base = AugmentConfig::none();
    let mut out = vec![("nothing", base.clone())];
    let mut c = base.clone();
    c.hflip.p = 1.0;
    c.vflip.p = 1.0;
    c.rot90.p = 1.0;
    out.push(("flips + rot90", c));
    let mut c = base.clone();
    c.elastic.p = 1.0;
    out.push(("elastic", c));
    let mut c = base.clone();
    c.blur.p = 1.0;
    out.push(("blur", c));
    let mut c = base.clone();
    c.brightness_contrast.p = 1.0;
    out.push(("brightness/contrast", c));
    let mut c = base.clone();
    c.rotate.p = 1.0;
    out.push(("rotate (off by default)", c));
    let mut c = base;
    c.zoom.p = 1.0;
    out.push(("zoom (off by default)", c));
    out
}

fn best_of_3(mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    f()?; // warm-up: page in the images, size the allocator
    let mut best = 0f64;
    for _ in 0..3 {
        best = best.max(f()?);
    }
    Ok(best)
}

/// Augment `iters` samples on a pool of `threads` threads; images/s.
fn timed_pipeline(
    split: &PreparedSplit,
    cfg: &AugmentConfig,
    iters: usize,
    seed: u64,
    threads: usize,
) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("build the thread pool")?;
    let px = (split.size() * split.size()) as usize;
    let start = Instant::now();
    pool.install(|| {
        (0..iters).into_par_iter().for_each_init(
            || (vec![0f32; px], vec![0u8; px]),
            |(img, mask), k| {
                split.sample_into(k % split.len(), Some(cfg), seed, k as u64, img, mask);
            },
        )
    });
    Ok(iters as f64 / start.elapsed().as_secs_f64())
}

/// One epoch-worth of batches through the threaded loader (augment + tensors); images/s.
fn timed_loader(
    split: &Arc<PreparedSplit>,
    cfg: &AugmentConfig,
    a: &AugmentArgs,
    threads: usize,
) -> Result<f64> {
    let lcfg = LoaderConfig {
        size: split.size(),
        batch: a.batch,
        workers: threads,
        shuffle: true,
        drop_last: false,
        augment: Some(cfg.clone()),
        seed: a.seed,
    };
    let start = Instant::now();
    let mut n = 0usize;
    for e in 0..a.iters.div_ceil(split.len()).max(1) as u64 {
        for b in batches::epoch(split.clone(), &lcfg, e) {
            n += b.indices.len();
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn real_split(root: &std::path::Path, size: u32, n: usize) -> Result<PreparedSplit> {
    let samples = dataset::load_split(root, "train", &SplitOptions::default())
        .with_context(|| format!("load the train split of {}", root.display()))?;
    if samples.is_empty() {
        bail!("{}: train split has no images", root.display());
    }
    PreparedSplit::new(&samples[..n.min(samples.len())], size, true)
}

/// MRI-like synthetic slices: a bright noisy disc on black, with a blob as the mask.
fn synthetic_split(size: u32, n: usize) -> Result<PreparedSplit> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let c = size as f32 / 2.0;
    let (mut images, mut masks) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (bx, by) = (
            rng.random_range(0.3..0.7) * size as f32,
            rng.random_range(0.3..0.7) * size as f32,
        );
        let br = rng.random_range(0.03..0.1) * size as f32;
        let mut img = GrayImage::new(size, size);
        let mut mask = GrayImage::new(size, size);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let (fx, fy) = (x as f32, y as f32);
            let inside = (fx - c).hypot(fy - c) < 0.42 * size as f32;
            let tumour = (fx - bx).hypot(fy - by) < br;
            let base = if tumour {
                200.0
            } else if inside {
                90.0
            } else {
                0.0
            };
            p.0[0] = (base + rng.random_range(0.0..30.0f32)).min(255.0) as u8;
            if tumour {
                mask.put_pixel(x, y, image::Luma([1]));
            }
        }
        images.push(img);
        masks.push(mask);
    }
    PreparedSplit::from_images(images, masks)
}
