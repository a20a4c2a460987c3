//! albumentations 2.x `ElasticTransform`: two noise fields (dx, dy), each smoothed by a Gaussian of
//! width σ (kernel 8σ+1, replicate border), scaled by α; image and mask resampled at (x+dx, y+dy).
use super::filter::{
    coarse_stride, gaussian_kernel, opencv_auto_radius, smooth_replicate, CoarseField,
};
use super::remap::remap_pair;
use super::{ElasticConfig, Noise, Plane};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// The two displacement fields in pixels, stored on the coarse grid they were evaluated on.
#[derive(Clone, Debug)]
pub struct ElasticField {
    pub dx: CoarseField,
    pub dy: CoarseField,
}

impl ElasticField {
    /// Full-resolution copies (for tests and inspection; the transform itself reads row by row).
    pub fn dense(&self, width: usize, height: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut dx, mut dy) = (vec![0f32; width * height], vec![0f32; width * height]);
        let mut scratch = Vec::new();
        for y in 0..height {
            self.dx
                .row(y, &mut scratch, &mut dx[y * width..(y + 1) * width]);
            self.dy
                .row(y, &mut scratch, &mut dy[y * width..(y + 1) * width]);
        }
        (dx, dy)
    }
}

/// Draw the fields for a width×height plane from `seed` (a fast generator: ~2 values per pixel are
/// drawn, and the per-sample ChaCha stream only supplies the seed).
pub fn displacement_fields(
    width: usize,
    height: usize,
    cfg: &ElasticConfig,
    seed: u64,
) -> ElasticField {
    let mut rng = SmallRng::seed_from_u64(seed);
    let kernel = gaussian_kernel(cfg.sigma, opencv_auto_radius(cfg.sigma));
    let stride = coarse_stride(cfg.sigma);
    let mut max_abs = 0f32;
    let field = |rng: &mut SmallRng, max_abs: &mut f32| {
        smooth_replicate(width, height, &kernel, stride, |_, row| match cfg.noise {
            Noise::Gaussian => {
                for v in row.iter_mut() {
                    *v = rng.sample(StandardNormal);
                    *max_abs = max_abs.max(v.abs());
                }
            }
            Noise::Uniform => row
                .iter_mut()
                .for_each(|v| *v = rng.random::<f32>() * 2.0 - 1.0),
        })
    };
    let mut dx = field(&mut rng, &mut max_abs);
    let mut dy = field(&mut rng, &mut max_abs);
    // Smoothing is linear, so normalising the noise by its max |value| can happen afterwards.
    let scale = match cfg.noise {
        Noise::Gaussian if max_abs > 1e-6 => cfg.alpha / max_abs,
        _ => cfg.alpha,
    };
    dx.scale(scale);
    dy.scale(scale);
    ElasticField { dx, dy }
}

/// Apply the elastic deformation drawn from `seed` to image (bilinear) and mask (nearest).
pub fn elastic(img: &mut Plane, mask: &mut Plane, cfg: &ElasticConfig, seed: u64) {
    let field = displacement_fields(img.width, img.height, cfg, seed);
    let mut scratch = Vec::new();
    let cols = field.dx.columns(img.width);
    remap_pair(img, mask, |y, xs, ys| {
        field.dx.row_with(y, &cols, &mut scratch, xs);
        for (x, v) in xs.iter_mut().enumerate() {
            *v += x as f32;
        }
        field.dy.row_with(y, &cols, &mut scratch, ys);
        for v in ys.iter_mut() {
            *v += y as f32;
        }
    });
}
