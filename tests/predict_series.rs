//! `predict`'s 3-D post-processing of a DICOM series (tests/py/seg_ref.py's s1…s5, 4 mm apart, each
//! its image shifted 7 columns further): the slices are decided together in their order along the
//! slice normal, whatever order their files come in, and slices missing from the series leave a gap
//! that regions do not cross.
mod common;

use common::dicom::{folder, png, predict_at, predict_command};
use image::GrayImage;
use std::path::{Path, PathBuf};
use tumorseg::postprocess::{largest_component, Decision, Postprocess};
use tumorseg::predict::ProbMap;

/// The series' files in folder `name`, as `a.dcm`, `b.dcm`… in the order of `slices` (`s1`…`s5`).
fn series(d: &Path, name: &str, slices: &[&str]) -> PathBuf {
    let names: Vec<(String, String)> = slices
        .iter()
        .zip('a'..)
        .map(|(s, n)| (format!("in/{s}.dcm"), format!("{n}.dcm")))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|(f, n)| (f.as_str(), n.as_str()))
        .collect();
    folder(d, name, &pairs)
}

/// `out`'s masks of the files named in `order`, as 0/1.
fn masks(out: &Path, order: &[&str]) -> Vec<GrayImage> {
    order
        .iter()
        .map(|s| {
            let mut m = png(&out.join(format!("masks/{s}.png")));
            m.iter_mut().for_each(|v| *v = u8::from(*v > 0));
            m
        })
        .collect()
}

/// The largest 26-connected region of 0/1 slices stacked in order, None standing for an empty slice
/// (a gap), whose mask is left out.
fn largest_of(slices: &[Option<&GrayImage>]) -> Vec<GrayImage> {
    let (w, h) = slices.iter().flatten().next().unwrap().dimensions();
    let probs: Vec<ProbMap> = slices
        .iter()
        .map(|m| ProbMap {
            width: w,
            height: h,
            data: match m {
                Some(m) => m.iter().map(|&v| f32::from(v)).collect(),
                None => vec![0.0; (w * h) as usize],
            },
        })
        .collect();
    let decision = Decision {
        threshold: 0.5,
        postprocess: Postprocess::Largest,
    };
    let masks = decision.volume_masks(&probs).unwrap();
    masks
        .into_iter()
        .zip(slices)
        .filter_map(|(m, s)| s.map(|_| m))
        .collect()
}

/// The series in shuffled files, and with its middle slice left out: `none`'s and `largest`'s masks
/// near the untrained model's highest probability, where the mask falls apart into regions.
struct Decided {
    _dir: tempfile::TempDir,
    /// Each file's `none` mask of the whole series, by slice: s1 … s5.
    none: Vec<GrayImage>,
    /// `largest` on the whole series, by slice.
    largest: Vec<GrayImage>,
    /// `largest` on the series without s3, by slice: s1, s2, s4, s5.
    gapped: Vec<GrayImage>,
}

fn decided() -> Decided {
    let dir = common::dicom::reference_segs();
    let d = dir.path();
    // The files' order is not the slices': a = s4, b = s2, c = s5, d = s1, e = s3.
    let shuffled = series(d, "series", &["s4", "s2", "s5", "s1", "s3"]);
    let along = ["d", "b", "e", "a", "c"];
    let probe = d.join("probe");
    common::run_ok(&mut predict_command(d, &shuffled, &probe));
    let top = common::highest_probability(&probe) - 0.03;
    let run = |input: &Path, how: &str| {
        let out = d.join(format!(
            "{how}_{}",
            input.file_name().unwrap().to_string_lossy()
        ));
        common::run_ok(predict_at(d, input, &out, top).args(["--postprocess", how]));
        out
    };
    // Without s3: a = s1, b = s2, c = s4, d = s5.
    let gapped = series(d, "gapped", &["s1", "s2", "s4", "s5"]);
    Decided {
        none: masks(&run(&shuffled, "none"), &along),
        largest: masks(&run(&shuffled, "largest"), &along),
        gapped: masks(&run(&gapped, "largest"), &["a", "b", "c", "d"]),
        _dir: dir,
    }
}

#[test]
fn a_series_is_post_processed_in_3d_in_slice_order_with_its_gaps() {
    let got = decided();
    let n = &got.none;
    let want = largest_of(&n.iter().map(Some).collect::<Vec<_>>());
    assert!(got.largest == want);
    // What this tells apart: each slice's own largest region, and the slices in file order.
    let per_slice: Vec<_> = n.iter().map(largest_component).collect();
    assert!(per_slice != want);
    let file_order = [&n[3], &n[1], &n[4], &n[0], &n[2]].map(Some);
    let mut in_file_order = largest_of(&file_order);
    let back = [3, 1, 4, 0, 2];
    let in_file_order: Vec<_> = back
        .iter()
        .map(|&k| std::mem::take(&mut in_file_order[k]))
        .collect();
    assert!(in_file_order != want);

    // Without s3, s2 and s4 lie 8 mm apart: a gap, not neighbours.
    let want = largest_of(&[Some(&n[0]), Some(&n[1]), None, Some(&n[3]), Some(&n[4])]);
    assert!(got.gapped == want);
    let adjacent = largest_of(&[&n[0], &n[1], &n[3], &n[4]].map(Some));
    assert!(adjacent != want);
}
