//! The batch loader: shapes, normalisation values, ordering, seeding, thread-count independence,
//! and PreparedSplit on the fixture.
mod common;

use image::{GrayImage, Luma};
use std::sync::Arc;
use tumorseg::augment::AugmentConfig;
use tumorseg::batches::{self, LoaderConfig, PreparedSplit};
use tumorseg::dataset::{self, SplitOptions};

/// n samples of s×s: image pixel = (17·i + x + 3·y) mod 256, mask = one moving square.
fn split(n: usize, s: u32) -> Arc<PreparedSplit> {
    let images = (0..n)
        .map(|i| {
            GrayImage::from_fn(s, s, |x, y| {
                Luma([((17 * i as u32 + x + 3 * y) % 256) as u8])
            })
        })
        .collect();
    let masks = (0..n)
        .map(|i| {
            GrayImage::from_fn(s, s, |x, y| {
                Luma([(x >= i as u32 % s && x < i as u32 % s + 4 && y < 5) as u8])
            })
        })
        .collect();
    Arc::new(PreparedSplit::from_images(images, masks).unwrap())
}

fn cfg(workers: usize) -> LoaderConfig {
    let mut aug = AugmentConfig::default();
    aug.elastic.alpha = 20.0;
    aug.elastic.sigma = 3.0;
    LoaderConfig {
        size: 16,
        batch: 3,
        workers,
        shuffle: true,
        drop_last: false,
        augment: Some(aug),
        seed: 42,
    }
}

fn tensors(
    split: &Arc<PreparedSplit>,
    c: &LoaderConfig,
    epoch: u64,
) -> Vec<(Vec<f32>, Vec<u8>, Vec<usize>)> {
    batches::epoch(split.clone(), c, epoch)
        .map(|b| {
            let img = Vec::<f32>::try_from(b.images.flatten(0, -1)).unwrap();
            let mask = Vec::<u8>::try_from(b.masks.flatten(0, -1)).unwrap();
            (img, mask, b.indices)
        })
        .collect()
}

#[test]
fn shapes_and_values_are_hand_computable() {
    let sp = split(2, 8);
    let c = LoaderConfig {
        size: 8,
        batch: 2,
        workers: 1,
        shuffle: false,
        drop_last: true,
        augment: None,
        seed: 0,
    };
    let b: Vec<_> = batches::epoch(sp.clone(), &c, 0).collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].images.size(), vec![2, 1, 8, 8]);
    assert_eq!(b[0].masks.size(), vec![2, 1, 8, 8]);
    assert_eq!(b[0].images.kind(), tch::Kind::Float);
    assert_eq!(b[0].masks.kind(), tch::Kind::Uint8);
    assert_eq!(b[0].indices, vec![0, 1]);
    // Sample 1, pixel (x=2, y=1): (17 + 2 + 3) = 22 → 22/255 = 0.0862745.
    assert_eq!(
        b[0].images.double_value(&[1, 0, 1, 2]),
        f64::from(22f32 / 255.0)
    );
    // Normalised: channel 0 (0.0862745 - 0.485) / 0.229 = -1.741159; channel 2 (0.0862745 - 0.406) / 0.225 = -1.421002.
    let x = batches::normalize(&b[0].images);
    assert_eq!(x.size(), vec![2, 3, 8, 8]);
    let v0 = x.double_value(&[1, 0, 1, 2]);
    let v2 = x.double_value(&[1, 2, 1, 2]);
    assert!((v0 - -1.741159).abs() < 1e-5, "{v0}");
    assert!((v2 - -1.421002).abs() < 1e-5, "{v2}");
    // Mask of sample 1: columns 1..5, rows 0..5.
    assert_eq!(b[0].masks.double_value(&[1, 0, 4, 4]), 1.0);
    assert_eq!(b[0].masks.double_value(&[1, 0, 5, 4]), 0.0);
    assert_eq!(b[0].masks.double_value(&[1, 0, 0, 0]), 0.0);
    assert_eq!(b[0].masks.sum(tch::Kind::Float).double_value(&[]), 40.0);
}

#[test]
fn worker_count_does_not_change_the_batches() {
    let sp = split(10, 16);
    let one = tensors(&sp, &cfg(1), 3);
    let two = tensors(&sp, &cfg(2), 3);
    let four = tensors(&sp, &cfg(4), 3);
    assert_eq!(one.len(), 4);
    assert_eq!(one, two);
    assert_eq!(one, four);
    // Augmentation really happened (not the identity), and masks are 0/1.
    let plain = LoaderConfig {
        augment: None,
        ..cfg(1)
    };
    assert_ne!(tensors(&sp, &plain, 3)[0].0, one[0].0);
    assert!(one.iter().all(|b| b.1.iter().all(|v| *v <= 1)));
}

#[test]
fn epochs_reshuffle_and_drop_last_drops_the_remainder() {
    let sp = split(10, 16);
    let idx = |c: &LoaderConfig, e| {
        tensors(&sp, c, e)
            .into_iter()
            .map(|b| b.2)
            .collect::<Vec<_>>()
    };
    let e0 = idx(&cfg(2), 0);
    let mut all: Vec<usize> = e0.concat();
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "each sample exactly once");
    assert_eq!(
        e0.iter().map(|b| b.len()).collect::<Vec<_>>(),
        vec![3, 3, 3, 1]
    );
    assert_ne!(e0, idx(&cfg(2), 1), "epochs must reshuffle");
    assert_eq!(e0, idx(&cfg(1), 0), "same seed and epoch, same order");
    let dl = LoaderConfig {
        drop_last: true,
        ..cfg(2)
    };
    let kept = idx(&dl, 0);
    assert_eq!(kept.len(), 3);
    assert_eq!(kept, e0[..3].to_vec());
    let ordered = LoaderConfig {
        shuffle: false,
        ..cfg(2)
    };
    assert_eq!(idx(&ordered, 5).concat(), (0..10).collect::<Vec<_>>());
}

/// Before, a stopped epoch went on from a batch index: resumed with another batch size, it skipped
/// images (or trained some twice).
#[test]
fn an_epoch_goes_on_from_an_image_at_any_batch_size() {
    let sp = split(10, 16);
    let idx = |c: &LoaderConfig, first| {
        batches::epoch_from(sp.clone(), c, 4, first)
            .map(|b| b.indices)
            .collect::<Vec<_>>()
    };
    let whole = idx(&cfg(2), 0);
    let order = whole.concat();
    // Two batches of 3 trained, the rest in batches of 4: the 4 images left, once each.
    let rest = idx(&LoaderConfig { batch: 4, ..cfg(2) }, 6);
    assert_eq!(rest, [order[6..].to_vec()]);
    // The same size from a batch boundary: the epoch's own batches.
    assert_eq!(idx(&cfg(2), 6), whole[2..]);
    // drop_last drops what does not fill a batch of the new size.
    let dropping = LoaderConfig {
        batch: 4,
        drop_last: true,
        ..cfg(2)
    };
    assert_eq!(idx(&dropping, 1).concat(), order[1..9]);
    assert!(idx(&cfg(2), 10).is_empty());
}

#[test]
fn loader_reports_wait_time_and_can_be_dropped_early() {
    let sp = split(30, 16);
    let mut l = batches::epoch(sp.clone(), &cfg(2), 0);
    assert_eq!(l.n_batches(), 10);
    assert!(l.next().is_some());
    assert!(l.wait_seconds() >= 0.0 && l.wait_seconds().is_finite());
    drop(l); // must not hang with batches still in flight
    assert_eq!(batches::epoch(sp, &cfg(2), 1).count(), 10);
}

#[test]
fn grey_batch_resizes_and_normalize_makes_three_channels() {
    let img = GrayImage::from_pixel(6, 4, Luma([255]));
    let dark = GrayImage::from_pixel(3, 3, Luma([51]));
    let both = batches::grey_batch(&[img.clone(), dark], 2);
    assert_eq!(both.size(), vec![2, 1, 2, 2]);
    let v = Vec::<f32>::try_from(both.view([-1])).unwrap();
    assert_eq!(v, [[1.0; 4], [0.2; 4]].concat());
    assert_eq!(batches::grey_batch(&[], 2).size(), vec![0, 1, 2, 2]);
    let x = batches::normalize(&batches::grey_batch(&[img], 2));
    assert_eq!(x.size(), vec![1, 3, 2, 2]);
    let x = Vec::<f32>::try_from(x.view([-1])).unwrap();
    // 1.0 → ((1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225)
    let want = [2.248908f32, 2.428571, 2.64];
    for (c, w) in want.iter().enumerate() {
        for v in &x[c * 4..(c + 1) * 4] {
            assert!((v - w).abs() < 1e-5, "channel {c}: {v} vs {w}");
        }
    }
    // Bit for bit the f32 arithmetic of albumentations' Normalize: (v - mean) · (1 / std).
    let g = [0.0f32, 0.3, 0.5019608, 0.99];
    let x = batches::normalize(&tch::Tensor::from_slice(&g).view([1, 1, 2, 2]));
    let x = Vec::<f32>::try_from(x.view([-1])).unwrap();
    for c in 0..3 {
        let inv = 1.0 / batches::IMAGENET_STD[c];
        for (k, v) in g.iter().enumerate() {
            assert_eq!(
                x[c * 4 + k],
                (v - batches::IMAGENET_MEAN[c]) * inv,
                "channel {c}"
            );
        }
    }
}

#[test]
fn prepared_split_from_the_fixture_matches_the_samples() {
    let samples =
        dataset::load_split(&common::fixture(), "valid", &SplitOptions::default()).unwrap();
    assert!(!samples.is_empty());
    let size = 64;
    let sp = PreparedSplit::new(&samples, size, false).unwrap();
    assert_eq!((sp.len(), sp.size()), (samples.len(), size));
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(sp.mask(i), &s.mask_scaled(size, size), "sample {}", s.id);
        assert_eq!(
            sp.image(i),
            &batches::resize_gray(&s.load_gray().unwrap(), size)
        );
        assert!(sp.mask(i).iter().all(|v| *v <= 1));
    }
    assert!(
        (0..sp.len()).any(|i| sp.mask(i).contains(&1)),
        "fixture has tumours"
    );
}

#[test]
fn mismatched_inputs_are_rejected_with_a_located_error() {
    let e = PreparedSplit::from_images(
        vec![GrayImage::new(8, 8), GrayImage::new(8, 6)],
        vec![GrayImage::new(8, 8), GrayImage::new(8, 8)],
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("sample 1"), "{e}");
}

#[test]
fn bench_cli_runs_and_refuses_fp16_on_cpu() {
    let out = common::run_ok(common::bin().args([
        "bench",
        "augment",
        "--size",
        "32",
        "--images",
        "4",
        "--iters",
        "8",
        "--threads",
        "2",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 thread") && text.contains("img/s"),
        "{text}"
    );
    let out = common::bin()
        .args(["bench", "train", "--device", "cpu", "--precision", "fp16"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fp16 is not supported on the CPU"));
}

/// What would measure nothing, or be ignored, is refused with the reason, before anything runs (the
/// model benchmarks' sizes are small so that a regression that runs them still ends soon).
#[test]
fn bench_refuses_zeros_and_options_its_benchmark_ignores() {
    let small_augment = ["--size", "32", "--images", "4", "--iters", "8"];
    let small_model = [
        "--device", "cpu", "--size", "32", "--batch", "1", "--steps", "1",
    ];
    let cases: [(&str, &[&str], &[&str], &str); 6] = [
        (
            "augment",
            &["--size", "0"],
            &[],
            "--size must be positive, got 0",
        ),
        (
            "augment",
            &["--threads", "0"],
            &small_augment,
            "--threads must be positive",
        ),
        (
            "augment",
            &["--batch", "0"],
            &small_augment,
            "--batch must be positive",
        ),
        (
            "train",
            &["--unfolded"],
            &small_model,
            "unexpected argument '--unfolded'",
        ),
        (
            "infer",
            &["--ema", "0.9"],
            &small_model,
            "unexpected argument '--ema'",
        ),
        (
            "infer",
            &["--precision", "xyz"],
            &small_model,
            "[possible values: auto, fp32, fp16, bf16]",
        ),
    ];
    for (what, args, rest, why) in cases {
        let out = common::bin()
            .args(["bench", what])
            .args(args)
            .args(rest)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 101 is a panic's exit status.
        assert!(
            !out.status.success() && out.status.code() != Some(101) && stderr.contains(why),
            "{what} {args:?}: {}\n{stderr}",
            out.status
        );
    }
}
