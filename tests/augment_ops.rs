//! The augmentation steps: exact geometry, image/mask alignment, binary masks, seeding, filters.
mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tumorseg::augment::{self, AugmentConfig, ElasticConfig, Noise, Plane};

fn plane(w: usize, h: usize, f: impl Fn(usize) -> f32) -> Plane {
    Plane {
        width: w,
        height: h,
        data: (0..w * h).map(f).collect(),
    }
}

/// A binary blob mask (two discs) of size n×n.
fn blob(n: usize) -> Plane {
    plane(n, n, |i| {
        let (x, y) = ((i % n) as f32, (i / n) as f32);
        let a = (x - 0.35 * n as f32).hypot(y - 0.4 * n as f32) < 0.2 * n as f32;
        let b = (x - 0.7 * n as f32).hypot(y - 0.65 * n as f32) < 0.12 * n as f32;
        (a || b) as u8 as f32
    })
}

#[test]
fn flips_and_rot90_are_exact_on_a_known_array() {
    // 2 rows × 3 columns: [[0 1 2], [3 4 5]]
    let base = plane(3, 2, |i| i as f32);
    let mut p = base.clone();
    augment::hflip(&mut p);
    assert_eq!(p.data, vec![2., 1., 0., 5., 4., 3.]);
    let mut p = base.clone();
    augment::vflip(&mut p);
    assert_eq!(p.data, vec![3., 4., 5., 0., 1., 2.]);
    let mut p = base.clone();
    augment::rot90(&mut p, 1);
    assert_eq!((p.width, p.height), (2, 3));
    assert_eq!(p.data, vec![2., 5., 1., 4., 0., 3.]);
    let mut p = base.clone();
    augment::rot90(&mut p, 4);
    assert_eq!(p, base);
}

#[test]
fn rot90_matches_numpy() {
    let out = common::run_py("augment_ref.py", &["rot90", "3", "5"]);
    for (k, line) in (1..=3).zip(out.lines()) {
        let want: Vec<f32> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        let mut p = plane(5, 3, |i| i as f32);
        augment::rot90(&mut p, k);
        assert_eq!(p.data, want, "k = {k}");
        let (w, h) = if k % 2 == 1 { (3, 5) } else { (5, 3) };
        assert_eq!((p.width, p.height), (w, h), "k = {k}");
    }
}

#[test]
fn geometric_only_config_moves_mask_exactly_with_image() {
    // The image encodes each pixel's original index, so after any flip/rot90 combination every output
    // pixel says where it came from; the mask there must be the original mask at that place.
    let (w, h) = (12, 8);
    let n = (w * h) as f32;
    let image = plane(w, h, |i| i as f32 / n);
    let mask = plane(w, h, |i| ((i * 7) % 5 == 0) as u8 as f32);
    let mut cfg = AugmentConfig::none();
    cfg.hflip.p = 0.5;
    cfg.vflip.p = 0.5;
    cfg.rot90.p = 0.75;
    let mut seen = std::collections::HashSet::new();
    for seed in 0..40 {
        let (mut img, mut m) = (image.clone(), mask.clone());
        augment::augment(&mut img, &mut m, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
        assert_eq!(img.data.len(), m.data.len());
        assert_eq!((img.width, img.height), (m.width, m.height));
        for (v, mv) in img.data.iter().zip(&m.data) {
            let src = (v * n).round() as usize;
            assert_eq!(*mv, mask.data[src], "seed {seed}");
        }
        seen.insert(img.data.iter().map(|v| (v * n) as u32).collect::<Vec<_>>());
    }
    // 8 distinct outcomes exist (the dihedral group); the seeds should reach most of them.
    assert!(
        seen.len() >= 6,
        "only {} distinct geometric outcomes",
        seen.len()
    );
}

/// Image = mask (0/1): after a bilinear/nearest resampling at the same coordinates, a mask pixel of 1
/// has image ≥ 1/4 (its nearest corner weighs at least a quarter) and a 0 has image ≤ 3/4.
fn assert_aligned(img: &Plane, mask: &Plane) -> f64 {
    let mut agree = 0usize;
    for (v, m) in img.data.iter().zip(&mask.data) {
        assert!(*m == 0.0 || *m == 1.0, "mask value {m}");
        if *m == 1.0 {
            assert!(*v >= 0.25 - 1e-5, "mask 1 where image is {v}");
        } else {
            assert!(*v <= 0.75 + 1e-5, "mask 0 where image is {v}");
        }
        agree += ((*v > 0.5) == (*m == 1.0)) as usize;
    }
    agree as f64 / img.data.len() as f64
}

#[test]
fn elastic_and_rotation_keep_image_and_mask_aligned() {
    // One resampling at a time: the quarter-weight bound holds for a single bilinear/nearest pair.
    let n = 64;
    let mask = blob(n);
    let mut elastic = AugmentConfig::none();
    elastic.elastic = ElasticConfig {
        p: 1.0,
        alpha: 60.0,
        sigma: 5.0,
        noise: Noise::Uniform,
    };
    let mut rotate = AugmentConfig::none();
    rotate.rotate.p = 1.0;
    rotate.rotate.max_deg = 30.0;
    for (name, cfg) in [("elastic", elastic), ("rotate", rotate)] {
        for seed in 0..6 {
            let (mut img, mut m) = (mask.clone(), mask.clone());
            augment::augment(&mut img, &mut m, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
            let moved = m
                .data
                .iter()
                .zip(&mask.data)
                .filter(|(a, b)| a != b)
                .count();
            assert!(
                moved > 30,
                "{name} seed {seed}: moved only {moved} mask pixels"
            );
            let agree = assert_aligned(&img, &m);
            assert!(
                agree > 0.98,
                "{name} seed {seed}: image/mask agree on {agree}"
            );
        }
    }
}

#[test]
fn zoom_scales_a_centred_square_about_the_centre() {
    let n = 64;
    // A 16×16 square centred on (31.5, 31.5).
    let square = plane(n, n, |i| {
        ((24..40).contains(&(i % n)) && (24..40).contains(&(i / n))) as u8 as f32
    });
    for (factor, side) in [(2.0f32, 32usize), (0.5, 8), (1.0, 16)] {
        let (mut img, mut m) = (square.clone(), square.clone());
        augment::zoom(&mut img, &mut m, factor);
        let area = m.data.iter().filter(|v| **v == 1.0).count();
        assert_eq!(area, side * side, "factor {factor}");
        assert!(m.data.iter().all(|v| *v == 0.0 || *v == 1.0));
        // Still centred: the mask is symmetric under a half turn.
        let mut turned = m.clone();
        augment::rot90(&mut turned, 2);
        assert_eq!(turned, m, "factor {factor}");
        assert!(assert_aligned(&img, &m) > 0.98);
    }
}

#[test]
fn zoom_draws_come_last_and_stay_in_range() {
    let n = 40;
    let (image, mask) = (plane(n, n, |i| (i % 17) as f32 / 16.0), blob(n));
    let run = |cfg: &AugmentConfig| {
        let (mut img, mut m) = (image.clone(), mask.clone());
        augment::augment(&mut img, &mut m, cfg, &mut augment::sample_rng(7, 1, 2));
        (img, m)
    };
    let base = AugmentConfig::default();
    let mut identity_zoom = base.clone();
    identity_zoom.zoom = augment::ZoomConfig {
        p: 1.0,
        range: (1.0, 1.0),
    };
    // Enabling the last step does not change what the earlier steps drew.
    assert_eq!(run(&base), run(&identity_zoom));
    let mut zoom_in = AugmentConfig::none();
    zoom_in.zoom = augment::ZoomConfig {
        p: 1.0,
        range: (1.5, 2.0),
    };
    let before = mask.data.iter().filter(|v| **v == 1.0).count() as f64;
    for seed in 0..8 {
        let (mut img, mut m) = (image.clone(), mask.clone());
        augment::augment(
            &mut img,
            &mut m,
            &zoom_in,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        let ratio = m.data.iter().filter(|v| **v == 1.0).count() as f64 / before;
        assert!(
            (1.5f64.powi(2) * 0.85..=4.0 * 1.15).contains(&ratio),
            "seed {seed}: area ×{ratio}"
        );
    }
}

#[test]
fn default_pipeline_keeps_mask_binary_and_image_in_range() {
    let n = 48;
    let mask = blob(n);
    let image = plane(n, n, |i| ((i * 31) % 97) as f32 / 96.0);
    let mut cfg = AugmentConfig::default();
    cfg.elastic.alpha = 40.0;
    cfg.elastic.sigma = 4.0;
    cfg.rotate.p = 0.5;
    cfg.zoom.p = 0.5;
    for seed in 0..20 {
        let (mut img, mut m) = (image.clone(), mask.clone());
        augment::augment(&mut img, &mut m, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
        assert!(m.data.iter().all(|v| *v == 0.0 || *v == 1.0), "seed {seed}");
        assert!(
            img.data.iter().all(|v| (0.0..=1.0).contains(v)),
            "seed {seed}"
        );
    }
}

#[test]
fn seeded_runs_are_repeatable_and_seeds_differ() {
    let n = 40;
    let (image, mask) = (plane(n, n, |i| (i % 17) as f32 / 16.0), blob(n));
    let mut cfg = AugmentConfig::default();
    cfg.elastic.p = 1.0;
    cfg.elastic.sigma = 6.0;
    cfg.elastic.alpha = 30.0;
    let run = |seed: u64| {
        let (mut img, mut m) = (image.clone(), mask.clone());
        augment::augment(&mut img, &mut m, &cfg, &mut augment::sample_rng(seed, 3, 5));
        (img, m)
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0);
    // The per-sample stream depends on every part of (seed, epoch, index).
    let first = |s, e, i| augment::sample_rng(s, e, i).random::<u64>();
    assert_eq!(first(1, 2, 3), first(1, 2, 3));
    assert_ne!(first(1, 2, 3), first(1, 2, 4));
    assert_ne!(first(1, 2, 3), first(1, 3, 3));
    assert_ne!(first(1, 2, 3), first(2, 2, 3));
}

#[test]
fn none_config_changes_nothing() {
    let (image, mask) = (
        plane(9, 7, |i| i as f32 / 63.0),
        plane(9, 7, |i| (i % 2) as f32),
    );
    let (mut img, mut m) = (image.clone(), mask.clone());
    augment::augment(
        &mut img,
        &mut m,
        &AugmentConfig::none(),
        &mut ChaCha8Rng::seed_from_u64(1),
    );
    assert_eq!((img, m), (image, mask));
}

#[test]
fn blur_keeps_a_constant_image_constant() {
    for sigma in [0.5, 1.7, 3.0] {
        let mut p = plane(20, 13, |_| 0.37);
        augment::gaussian_blur(&mut p, sigma);
        for v in &p.data {
            assert!((v - 0.37).abs() < 1e-6, "sigma {sigma}: {v}");
        }
    }
}

#[test]
fn blur_matches_numpy_reflect101_reference() {
    // σ = 3 gives radius 10, wider than the 7-row image: the reflection must wrap repeatedly.
    for (h, w, sigma) in [(9usize, 11usize, 1.3f32), (7, 12, 3.0)] {
        let out = common::run_py(
            "augment_ref.py",
            &["blur", &h.to_string(), &w.to_string(), &sigma.to_string()],
        );
        let want: Vec<f32> = out.lines().map(|v| v.parse().unwrap()).collect();
        let mut p = plane(w, h, |i| ((i * 37) % 101) as f32 / 100.0);
        augment::gaussian_blur(&mut p, sigma);
        for (i, (a, b)) in p.data.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() < 2e-6,
                "{h}×{w} σ {sigma} pixel {i}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn brightness_contrast_is_affine_then_clipped() {
    let mut p = plane(4, 1, |i| [0.5, 0.0, 0.95, 0.1][i]);
    augment::brightness_contrast(&mut p, 1.1, 0.05);
    let want = [0.6, 0.05, 1.0, 0.16];
    for (a, b) in p.data.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    augment::brightness_contrast(&mut p, 0.8, -0.2);
    assert_eq!(p.data[1], 0.0);
}

#[test]
fn default_config_is_the_seed_pipeline_and_round_trips_toml() {
    let c = AugmentConfig::default();
    assert_eq!(
        (c.hflip.p, c.vflip.p, c.rot90.p, c.rotate.p),
        (0.5, 0.5, 0.5, 0.0)
    );
    assert_eq!(
        (c.elastic.p, c.elastic.alpha, c.elastic.sigma),
        (0.5, 1.0, 50.0)
    );
    assert_eq!(c.elastic.noise, Noise::Gaussian);
    assert_eq!((c.blur.p, c.blur.sigma), (0.3, (0.5, 3.0)));
    let bc = &c.brightness_contrast;
    assert_eq!((bc.p, bc.brightness, bc.contrast), (0.5, 0.2, 0.2));
    assert_eq!(c.zoom.p, 0.0);
    let text = toml::to_string(&c).unwrap();
    assert_eq!(toml::from_str::<AugmentConfig>(&text).unwrap(), c);
}
