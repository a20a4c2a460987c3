//! The elastic displacement fields: the decimated replicate-border smoother against a direct
//! computation, and the field statistics against theory.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tumorseg::augment::{self, ElasticConfig, Noise};

fn noise(w: usize, h: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..w * h)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect()
}

/// Straightforward separable correlation with clamped (replicate) indices, in f64.
fn direct_replicate(field: &[f32], w: usize, h: usize, k: &[f32]) -> Vec<f64> {
    let r = (k.len() / 2) as isize;
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let mut rows = vec![0f64; w * h];
    for y in 0..h {
        for x in 0..w {
            rows[y * w + x] = (0..k.len())
                .map(|t| k[t] as f64 * field[y * w + clamp(x as isize + t as isize - r, w)] as f64)
                .sum();
        }
    }
    let mut out = vec![0f64; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (0..k.len())
                .map(|t| k[t] as f64 * rows[clamp(y as isize + t as isize - r, h) * w + x])
                .sum();
        }
    }
    out
}

fn smoothed(field: &[f32], w: usize, h: usize, k: &[f32], stride: usize) -> Vec<f32> {
    let coarse = augment::smooth_replicate(w, h, k, stride, |y, row| {
        row.copy_from_slice(&field[y * w..(y + 1) * w])
    });
    let mut out = vec![0f32; w * h];
    let mut scratch = Vec::new();
    for y in 0..h {
        coarse.row(y, &mut scratch, &mut out[y * w..(y + 1) * w]);
    }
    out
}

#[test]
fn stride_one_smoothing_equals_direct_replicate_convolution() {
    // Radius 20 exceeds both sides, so whole windows fall outside and pile onto the edge rows.
    let (w, h) = (23, 17);
    let field = noise(w, h, 3);
    for (sigma, radius) in [(1.5f32, 4usize), (5.0, 20)] {
        let k = augment::gaussian_kernel(sigma, radius);
        let want = direct_replicate(&field, w, h, &k);
        let got = smoothed(&field, w, h, &k, 1);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 2e-6,
                "σ {sigma} pixel {i}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn decimated_smoothing_is_within_one_percent_of_exact() {
    let (w, h) = (90, 70);
    let field = noise(w, h, 4);
    let sigma = 12.0;
    let k = augment::gaussian_kernel(sigma, 48);
    let want = direct_replicate(&field, w, h, &k);
    let got = smoothed(&field, w, h, &k, (sigma / 5.0) as usize);
    let rms = (want.iter().map(|v| v * v).sum::<f64>() / want.len() as f64).sqrt();
    let err = (got
        .iter()
        .zip(&want)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum::<f64>()
        / want.len() as f64)
        .sqrt();
    assert!(err < 0.01 * rms, "rms error {err} vs field rms {rms}");
}

#[test]
fn uniform_field_has_the_theoretical_spread() {
    // Smoothed iid noise of variance 1/3: var = (1/3)·(Σ w_k²)² for a separable kernel.
    let (n, sigma, alpha) = (200, 4.0f32, 3.0f32);
    let cfg = ElasticConfig {
        p: 1.0,
        alpha,
        sigma,
        noise: Noise::Uniform,
    };
    let (dx, dy) = augment::displacement_fields(n, n, &cfg, 9).dense(n, n);
    let k = augment::gaussian_kernel(sigma, 16);
    let s2: f64 = k.iter().map(|v| (*v as f64).powi(2)).sum();
    let want = alpha as f64 * (1.0f64 / 3.0).sqrt() * s2;
    for d in [&dx, &dy] {
        let m = d.iter().map(|v| *v as f64).sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        assert!((sd / want - 1.0).abs() < 0.15, "sd {sd} vs theory {want}");
        assert!(m.abs() < 0.2 * want, "mean {m}");
    }
    assert_ne!(dx, dy, "dx and dy must be independent draws");
}

#[test]
fn gaussian_field_is_bounded_by_alpha_and_linear_in_it() {
    // Noise normalised by its max |value| lies in [-1, 1] and the kernel sums to 1, so |d| ≤ α.
    let n = 64;
    let cfg = ElasticConfig {
        p: 1.0,
        alpha: 5.0,
        sigma: 3.0,
        noise: Noise::Gaussian,
    };
    let (dx, dy) = augment::displacement_fields(n, n, &cfg, 2).dense(n, n);
    assert!(dx.iter().chain(&dy).all(|v| v.abs() <= 5.0));
    assert!(dx.iter().any(|v| v.abs() > 0.05), "field is all but zero");
    let double = ElasticConfig {
        alpha: 10.0,
        ..cfg.clone()
    };
    let (dx2, _) = augment::displacement_fields(n, n, &double, 2).dense(n, n);
    for (a, b) in dx.iter().zip(&dx2) {
        assert!((2.0 * a - b).abs() < 1e-5);
    }
}

#[test]
fn seed_default_is_nearly_the_identity() {
    // albumentations' defaults (α = 1, σ = 50, max-normalised Gaussian noise): measured with
    // albumentations 2.0.8 at 640² over 3 seeds, the interior (240² centre) std is 0.0007–0.0011 px and
    // the max |d| 0.015–0.10 px (replicate borders pile the kernel onto edge pixels). Theory for the
    // interior: Σw² / max|noise| ≈ 0.0056 / 4.9 ≈ 0.0012.
    let n = 640;
    let cfg = augment::AugmentConfig::default().elastic;
    for seed in 0..3 {
        let (dx, dy) = augment::displacement_fields(n, n, &cfg, seed).dense(n, n);
        let max = dx.iter().chain(&dy).fold(0f32, |m, v| m.max(v.abs()));
        let centre: Vec<f64> = (200..440)
            .flat_map(|y| (200..440).map(move |x| (y, x)))
            .map(|(y, x)| dx[y * n + x] as f64)
            .collect();
        let m = centre.iter().sum::<f64>() / centre.len() as f64;
        let sd = (centre.iter().map(|v| (v - m).powi(2)).sum::<f64>() / centre.len() as f64).sqrt();
        eprintln!("seed {seed}: max |d| {max}, centre std {sd}");
        assert!(max > 0.0 && max < 0.3, "max displacement {max}");
        assert!((0.0003..0.003).contains(&sd), "centre std {sd}");
    }
}
