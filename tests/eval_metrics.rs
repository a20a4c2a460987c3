//! Metrics on hand-made masks with hand-computed values, and the threshold search on synthetic
//! probabilities whose best threshold is known.
use tumorseg::metrics::{Aggregate, Confusion};
use tumorseg::postprocess::{Decision, Postprocess, PostprocessChoice};
use tumorseg::predict::{ProbMap, Tta};
use tumorseg::threshold::{parse_grid, Curves, ThresholdFile};

const EPS: f64 = 1e-12;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < EPS
}

/// [dice, iou, precision, recall, f1, accuracy]
fn values(pred: &[u8], truth: &[u8]) -> [f64; 6] {
    Confusion::from_masks(pred, truth).metrics().values()
}

fn assert_values(got: [f64; 6], want: [f64; 6]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(*g, w),
            "metric {} = {g}, want {w} (all: {got:?})",
            tumorseg::metrics::NAMES[i]
        );
    }
}

#[test]
fn empty_prediction_empty_truth_scores_one_everywhere() {
    assert_values(values(&[0; 16], &[0; 16]), [1.0; 6]);
}

#[test]
fn empty_prediction_full_truth_scores_zero() {
    assert_values(values(&[0; 16], &[1; 16]), [0.0; 6]);
    // and the other way round
    assert_values(values(&[255; 16], &[0; 16]), [0.0; 6]);
}

#[test]
fn half_overlap() {
    // 4×4 image; truth = left half (8 px), prediction = top half (8 px): overlap 4 px.
    let truth: Vec<u8> = (0..16).map(|i| u8::from(i % 4 < 2)).collect();
    let pred: Vec<u8> = (0..16).map(|i| u8::from(i < 8)).collect();
    let c = Confusion::from_masks(&pred, &truth);
    assert_eq!(
        c,
        Confusion {
            tp: 4,
            fp: 4,
            fn_: 4,
            tn: 4
        }
    );
    // Dice 2·4/(8+8) = 0.5, IoU 4/12, P 4/8, R 4/8, F1 0.5, accuracy 8/16.
    assert_values(c.metrics().values(), [0.5, 1.0 / 3.0, 0.5, 0.5, 0.5, 0.5]);
}

#[test]
fn one_pixel() {
    // 10×10, truth one pixel, prediction that pixel and one more.
    let mut truth = vec![0u8; 100];
    let mut pred = vec![0u8; 100];
    truth[37] = 1;
    pred[37] = 255;
    pred[38] = 255;
    // tp 1, fp 1, fn 0, tn 98: Dice 2/3, IoU 1/2, P 1/2, R 1, F1 2/3, acc 99/100.
    assert_values(
        values(&pred, &truth),
        [2.0 / 3.0, 0.5, 0.5, 1.0, 2.0 / 3.0, 0.99],
    );
    // Missing the single pixel entirely.
    assert_values(values(&[0; 100], &truth), [0.0, 0.0, 0.0, 0.0, 0.0, 0.99]);
}

#[test]
fn mean_and_global_differ_as_computed_by_hand() {
    let mut agg = Aggregate::default();
    agg.push(Confusion {
        tp: 0,
        fp: 0,
        fn_: 0,
        tn: 16,
    }); // empty/empty: Dice 1
    agg.push(Confusion {
        tp: 4,
        fp: 4,
        fn_: 4,
        tn: 4,
    }); // Dice 0.5
    assert!(close(agg.mean().dice, 0.75));
    assert!(close(agg.global().dice, 0.5), "pooled: 8/16");
    assert!(close(agg.global().accuracy, 24.0 / 32.0));
    assert!(close(agg.mean().accuracy, (1.0 + 0.5) / 2.0));
}

#[test]
fn probabilities_binarise_with_strict_greater() {
    let c = Confusion::from_probs(&[0.5, 0.51, 0.2], 0.5, &[1, 1, 0]);
    assert_eq!(
        c,
        Confusion {
            tp: 1,
            fp: 0,
            fn_: 1,
            tn: 1
        }
    );
}

#[test]
fn grid_parsing() {
    let g = parse_grid("0.05:0.95:0.05").unwrap();
    assert_eq!(g.len(), 19);
    assert_eq!(g[0], 0.05);
    assert_eq!(g[2], 0.15);
    assert_eq!(g[18], 0.95);
    assert_eq!(parse_grid("0.3, 0.5,0.7").unwrap(), vec![0.3, 0.5, 0.7]);
    assert!(parse_grid("0.5,0.3").is_err(), "must be ascending");
    assert!(parse_grid("0.1:1.5:0.1").is_err(), "outside [0,1)");
    assert!(parse_grid("a:b").is_err());
}

/// Truth: left half of an 8×8 image. Foreground probabilities 0.72, background 0.68 on a band and
/// 0.1 elsewhere: only thresholds in [0.68, 0.72) are perfect, i.e. 0.70 on the default grid.
fn synthetic_image() -> (Vec<f32>, Vec<u8>) {
    let truth: Vec<u8> = (0..64).map(|i| u8::from(i % 8 < 4)).collect();
    let probs: Vec<f32> = (0..64)
        .map(|i| match i % 8 {
            0..=3 => 0.72,
            4 => 0.68,
            _ => 0.1,
        })
        .collect();
    (probs, truth)
}

#[test]
fn threshold_search_picks_known_best() {
    let grid = parse_grid("0.05:0.95:0.05").unwrap();
    let mut curves = Curves::new(grid.clone());
    let (probs, truth) = synthetic_image();
    curves.add_image(&probs, &truth);
    // A second image with empty truth and low probabilities: perfect (1) at every threshold ≥ 0.3.
    let empty_probs: Vec<f32> = (0..64).map(|i| if i < 10 { 0.25 } else { 0.0 }).collect();
    curves.add_image(&empty_probs, &[0; 64]);
    let (best, dice) = curves.best();
    assert_eq!(best, 0.70);
    assert!(close(dice, 1.0));
    let mean = curves.mean_dice();
    // At 0.65 the band (8 px) is predicted too: Dice 2·32/(64+8) = 8/9 on image 1, 1 on image 2.
    let k65 = grid.iter().position(|&t| t == 0.65).unwrap();
    assert!(close(mean[k65], (8.0 / 9.0 + 1.0) / 2.0), "{}", mean[k65]);
    // At 0.75 nothing is predicted: 0 on image 1, 1 on image 2.
    let k75 = grid.iter().position(|&t| t == 0.75).unwrap();
    assert!(close(mean[k75], 0.5));
    // At 0.20 image 2 has 10 false positives (Dice 0) and image 1 has 8 false positives.
    let k20 = grid.iter().position(|&t| t == 0.2).unwrap();
    assert!(close(mean[k20], 8.0 / 9.0 / 2.0));
    // Every curve point equals a direct count at that threshold.
    for (k, &t) in grid.iter().enumerate() {
        assert_eq!(
            curves.per_image[0][k],
            Confusion::from_probs(&probs, t, &truth),
            "t = {t}"
        );
        assert_eq!(
            curves.per_image[1][k],
            Confusion::from_probs(&empty_probs, t, &[0; 64]),
            "t = {t}"
        );
    }
}

/// The threshold file tuned on `synthetic_image` over 0.1..0.9.
fn tuned_synthetic(tta: Tta) -> ThresholdFile {
    let mut curves = Curves::new(parse_grid("0.1:0.9:0.1").unwrap());
    let (probs, truth) = synthetic_image();
    curves.add_image(&probs, &truth);
    ThresholdFile::from_curves(&[(Postprocess::None, curves)], "valid", tta)
}

#[test]
fn threshold_file_round_trips_and_plots() {
    let file = tuned_synthetic(Tta::None);
    assert_eq!(file.threshold, 0.7);
    assert_eq!(file.postprocess, Postprocess::None);
    let dir = tempfile::tempdir().unwrap();
    file.save(dir.path()).unwrap();
    let back = ThresholdFile::load(dir.path())
        .unwrap()
        .expect("threshold.json written");
    assert_eq!(back.threshold, 0.7);
    assert_eq!(back.curve.len(), 9);
    assert_eq!(back.postprocess, Postprocess::None);
    assert!(file.table().contains("0.70") && file.table().contains("<- best"));
    let png = dir.path().join("threshold.png");
    tumorseg::report::plot_threshold(&file, &png).unwrap();
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (800, 500));
    assert!(ThresholdFile::load(&dir.path().join("nope"))
        .unwrap()
        .is_none());
}

#[test]
fn tta_is_read_from_new_and_old_threshold_files() {
    let mut json = serde_json::to_value(tuned_synthetic(Tta::D4)).unwrap();
    assert_eq!(json["tta"], "d4");
    let back: ThresholdFile = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.tta, Tta::D4);
    // Files written before d4 existed hold a bool.
    for (old, want) in [(true, Tta::Flips), (false, Tta::None)] {
        json["tta"] = serde_json::Value::Bool(old);
        let back: ThresholdFile = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.tta, want);
    }
    json["tta"] = "sideways".into();
    assert!(serde_json::from_value::<ThresholdFile>(json).is_err());
}

/// A 4×4 image whose truth is the 2×2 upper-left square; the model also lights a 1-pixel speck.
fn speck_image() -> (ProbMap, Vec<u8>) {
    #[rustfmt::skip]
    let data = vec![
        0.9, 0.8, 0.0, 0.0,
        0.7, 0.9, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.6,
    ];
    let truth = (0..16).map(|i| u8::from(i % 4 < 2 && i / 4 < 2)).collect();
    let prob = ProbMap {
        width: 4,
        height: 4,
        data,
    };
    (prob, truth)
}

fn both_candidates(grid: &[f32], prob: &ProbMap, truth: &[u8]) -> Vec<(Postprocess, Curves)> {
    candidates(
        &[Postprocess::None, Postprocess::Largest],
        grid,
        prob,
        truth,
    )
}

fn candidates(
    pps: &[Postprocess],
    grid: &[f32],
    prob: &ProbMap,
    truth: &[u8],
) -> Vec<(Postprocess, Curves)> {
    pps.iter()
        .copied()
        .map(|pp| {
            let mut c = Curves::new(grid.to_vec());
            c.add_prob_map(prob, truth, pp);
            (pp, c)
        })
        .collect()
}

#[test]
fn tuning_picks_largest_region_when_it_wins_on_the_tuning_split() {
    let grid = parse_grid("0.5,0.65").unwrap();
    let (prob, truth) = speck_image();
    let tried = both_candidates(&grid, &prob, &truth);
    // none at 0.5: the speck is a false positive, Dice 2·4/(8+1) = 8/9; at 0.65 the speck is gone: 1.
    assert!(close(tried[0].1.mean_dice()[0], 8.0 / 9.0));
    assert!(close(tried[0].1.mean_dice()[1], 1.0));
    // largest drops the speck at either threshold.
    assert!(close(tried[1].1.mean_dice()[0], 1.0));
    // A tie (1.0 both) keeps the earlier candidate, none, at its lowest best threshold.
    let tie = ThresholdFile::from_curves(&tried, "valid", Tta::None);
    assert_eq!((tie.postprocess, tie.threshold), (Postprocess::None, 0.65));
    assert_eq!(tie.candidates.len(), 2);
    // With 0.5 only, largest is strictly better and is chosen.
    let grid = parse_grid("0.5").unwrap();
    let tried = both_candidates(&grid, &prob, &truth);
    let file = ThresholdFile::from_curves(&tried, "valid", Tta::None);
    assert_eq!(
        (file.postprocess, file.threshold),
        (Postprocess::Largest, 0.5)
    );
    assert!(close(file.mean_dice, 1.0));
    assert!(file.table().contains("largest"));
    // The decision the file describes reproduces the tuned score.
    let decision = Decision {
        threshold: file.threshold,
        postprocess: file.postprocess,
    };
    let c = Confusion::from_masks(decision.mask(&prob).as_raw(), &truth);
    assert_eq!((c.tp, c.fp, c.fn_), (4, 0, 0));
}

#[test]
fn tuning_picks_one_region_when_the_model_is_unsure_everywhere() {
    // A faint 2×2 tumour (peak 0.4) below every threshold tried, plus background noise at 0.1.
    #[rustfmt::skip]
    let data = vec![
        0.1, 0.0, 0.0, 0.0,
        0.0, 0.4, 0.3, 0.0,
        0.0, 0.3, 0.25, 0.0,
        0.0, 0.0, 0.0, 0.1,
    ];
    let truth: Vec<u8> = (0..16)
        .map(|i| u8::from((1..3).contains(&(i % 4)) && (1..3).contains(&(i / 4))))
        .collect();
    let prob = ProbMap {
        width: 4,
        height: 4,
        data,
    };
    let grid = parse_grid("0.5,0.6").unwrap();
    let tried = candidates(&PostprocessChoice::Auto.candidates(), &grid, &prob, &truth);
    assert_eq!(tried.len(), 3, "auto tries none, largest and one");
    let file = ThresholdFile::from_curves(&tried, "valid", Tta::None);
    // none and largest predict nothing (Dice 0); one fills in the half-maximum blob: Dice 1.
    assert_eq!((file.postprocess, file.threshold), (Postprocess::One, 0.5));
    assert!(close(file.mean_dice, 1.0));
    assert!(close(file.candidates[0].mean_dice, 0.0) && close(file.candidates[1].mean_dice, 0.0));
}
