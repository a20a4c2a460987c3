//! Per-sample data augmentation on the CPU, seeded and repeatable.
//!
//! The default pipeline reproduces the seed project's albumentations 2.0.8 pipeline (the version pip
//! installs today; semantics read from its source):
//! `HorizontalFlip(0.5) → VerticalFlip(0.5) → RandomRotate90(0.5) → ElasticTransform(0.5) →
//! GaussianBlur(0.3) → RandomBrightnessContrast(0.5)`, followed by `Normalize` (done by
//! [`crate::batches`], which owns the tensor layout). A small-angle rotation (`A.Rotate`-like) is
//! available but off by default (p = 0) because the seed did not use it; so is a zoom in and out
//! (`zoom`, applied after the photometric steps so that it does not shift their random draws).
//!
//! Geometric steps move image and mask with the same coordinates (image bilinear, mask nearest, so
//! the mask stays exactly 0/1); photometric steps touch only the image.
mod elastic;
mod filter;
mod geometric;
mod photometric;
mod remap;

pub use elastic::{displacement_fields, elastic, ElasticField};
pub use filter::{gaussian_kernel, smooth_replicate};
pub use geometric::{hflip, rot90, rotate, vflip, zoom};
pub use photometric::{brightness_contrast, gaussian_blur};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One grey plane, row-major. Images hold values in [0, 1]; masks hold exactly 0.0 or 1.0.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize) -> Plane {
        Plane {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// u8 image → [0, 1] (the `/255` of albumentations' Normalize with max_pixel_value 255).
    pub fn from_gray(img: &image::GrayImage) -> Plane {
        Plane {
            width: img.width() as usize,
            height: img.height() as usize,
            data: img.as_raw().iter().map(|&v| v as f32 / 255.0).collect(),
        }
    }

    /// u8 0/1 (or 0/255) mask → 0.0/1.0.
    pub fn from_mask(mask: &image::GrayImage) -> Plane {
        Plane {
            width: mask.width() as usize,
            height: mask.height() as usize,
            data: mask
                .as_raw()
                .iter()
                .map(|&v| if v > 0 { 1.0 } else { 0.0 })
                .collect(),
        }
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }
}

/// A step that only has a probability.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prob {
    pub p: f64,
}

/// Rotation by a uniform angle in [-max_deg, max_deg] about the centre, constant-0 border
/// (albumentations 2.x `Rotate` defaults: bilinear image, nearest mask, BORDER_CONSTANT fill 0).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RotateConfig {
    pub p: f64,
    pub max_deg: f32,
}

/// Zoom by a factor drawn log-uniformly in `range` (so 0.8..1.25 zooms in and out equally often),
/// about the centre, constant-0 border (albumentations `Affine(scale=…)`-like). Off in the seed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ZoomConfig {
    pub p: f64,
    pub range: (f32, f32),
}

/// Noise of the elastic displacement field before smoothing.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    /// Standard normal, then divided by the max |value| over both fields (albumentations 2.x default).
    Gaussian,
    /// Uniform in [-1, 1] (albumentations 1.x and `noise_distribution="uniform"`).
    Uniform,
}

/// albumentations `ElasticTransform`: displacement = GaussianBlur(noise, σ, kernel 8σ+1, replicate) · α
/// per axis; image bilinear, mask nearest, constant-0 border. With the defaults (α = 1, σ = 50) the
/// displacement is ~1e-3 px, i.e. almost the identity, exactly as in the seed: raise α (e.g. α = 30..120
/// with σ = 4..10) for a visible effect.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ElasticConfig {
    pub p: f64,
    pub alpha: f32,
    pub sigma: f32,
    pub noise: Noise,
}

/// albumentations 2.x `GaussianBlur` defaults: σ uniform in `sigma`, kernel `int(3.5σ)·2+1`, reflect-101.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BlurConfig {
    pub p: f64,
    pub sigma: (f32, f32),
}

/// `RandomBrightnessContrast`: x·(1+c) + b, c ∈ ±contrast, b ∈ ±brightness (by max), clipped to [0, 1].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BrightnessContrastConfig {
    pub p: f64,
    pub brightness: f32,
    pub contrast: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AugmentConfig {
    pub hflip: Prob,
    pub vflip: Prob,
    /// Rotate by k·90°, k uniform in {0, 1, 2, 3} (so p = 0.5 leaves 5/8 of samples unrotated, as albumentations).
    pub rot90: Prob,
    pub rotate: RotateConfig,
    pub elastic: ElasticConfig,
    pub blur: BlurConfig,
    pub brightness_contrast: BrightnessContrastConfig,
    /// Applied last so that enabling it leaves every earlier step's random draws unchanged.
    pub zoom: ZoomConfig,
}

impl Default for AugmentConfig {
    /// The seed's pipeline (albumentations defaults), plus small-angle rotation disabled (p = 0, ±15° when enabled).
    fn default() -> Self {
        AugmentConfig {
            hflip: Prob { p: 0.5 },
            vflip: Prob { p: 0.5 },
            rot90: Prob { p: 0.5 },
            rotate: RotateConfig {
                p: 0.0,
                max_deg: 15.0,
            },
            elastic: ElasticConfig {
                p: 0.5,
                alpha: 1.0,
                sigma: 50.0,
                noise: Noise::Gaussian,
            },
            blur: BlurConfig {
                p: 0.3,
                sigma: (0.5, 3.0),
            },
            brightness_contrast: BrightnessContrastConfig {
                p: 0.5,
                brightness: 0.2,
                contrast: 0.2,
            },
            zoom: ZoomConfig {
                p: 0.0,
                range: (0.8, 1.25),
            },
        }
    }
}

impl AugmentConfig {
    /// Every probability 0: `augment` leaves image and mask untouched.
    pub fn none() -> Self {
        let mut c = AugmentConfig::default();
        c.hflip.p = 0.0;
        c.vflip.p = 0.0;
        c.rot90.p = 0.0;
        c.rotate.p = 0.0;
        c.elastic.p = 0.0;
        c.blur.p = 0.0;
        c.brightness_contrast.p = 0.0;
        c.zoom.p = 0.0;
        c
    }
}

/// Apply the pipeline in albumentations' order. Every step draws its decision from `rng` whether or
/// not the step is enabled, so changing one probability does not reshuffle the others' draws.
pub fn augment(img: &mut Plane, mask: &mut Plane, cfg: &AugmentConfig, rng: &mut impl Rng) {
    assert_eq!(
        (img.width, img.height),
        (mask.width, mask.height),
        "image and mask sizes differ"
    );
    if hit(rng, cfg.hflip.p) {
        hflip(img);
        hflip(mask);
    }
    if hit(rng, cfg.vflip.p) {
        vflip(img);
        vflip(mask);
    }
    let rot = hit(rng, cfg.rot90.p);
    let k = rng.random_range(0..4u32);
    if rot {
        rot90(img, k);
        rot90(mask, k);
    }
    let rotate_hit = hit(rng, cfg.rotate.p);
    let deg = rng.random::<f32>() * 2.0 - 1.0;
    if rotate_hit {
        rotate(img, mask, deg * cfg.rotate.max_deg);
    }
    if hit(rng, cfg.elastic.p) {
        // The field's own RNG is seeded from ours so that its (large) draw count cannot shift later steps.
        let field_seed = rng.random::<u64>();
        elastic(img, mask, &cfg.elastic, field_seed);
    }
    let blur_hit = hit(rng, cfg.blur.p);
    let sigma = uniform(rng, cfg.blur.sigma.0, cfg.blur.sigma.1);
    if blur_hit {
        gaussian_blur(img, sigma);
    }
    let bc_hit = hit(rng, cfg.brightness_contrast.p);
    let c = uniform(
        rng,
        -cfg.brightness_contrast.contrast,
        cfg.brightness_contrast.contrast,
    );
    let b = uniform(
        rng,
        -cfg.brightness_contrast.brightness,
        cfg.brightness_contrast.brightness,
    );
    if bc_hit {
        brightness_contrast(img, 1.0 + c, b);
    }
    let zoom_hit = hit(rng, cfg.zoom.p);
    let (lo, hi) = cfg.zoom.range;
    let factor = uniform(rng, lo.ln(), hi.ln()).exp();
    if zoom_hit {
        zoom(img, mask, factor);
    }
}

fn hit(rng: &mut impl Rng, p: f64) -> bool {
    // Always draw, even for p = 0 or 1, to keep the stream layout fixed.
    rng.random::<f64>() < p
}

fn uniform(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// The RNG of one sample in one epoch: a pure function of (seed, epoch, index), so results do not
/// depend on which worker thread processes the sample or in which order.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    rng_from_parts(seed, epoch, index, 0)
}

/// Same construction with a distinct tag, for per-epoch draws that are not per-sample (shuffling).
pub fn epoch_rng(seed: u64, epoch: u64) -> ChaCha8Rng {
    rng_from_parts(seed, epoch, 0, 1)
}

fn rng_from_parts(seed: u64, epoch: u64, index: u64, tag: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    for (chunk, v) in key.chunks_exact_mut(8).zip([seed, epoch, index, tag]) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}
