//! `from-seg`: SEGs written by highdicom (tests/py/seg_ref.py) become a COCO split whose masks are
//! exactly the SEG's, on the right slices: every segment or some by number or label, binary,
//! fractional and label-map SEGs, compressed ones, cropped frames and frames that name no slice;
//! what no SEG refers to is left out and counted. Our own SEGs read back are tested in
//! data_dicom_seg.rs.
mod common;

use common::dicom::{folder, from_seg, png, predict_command, split_masks};
use std::path::Path;

#[test]
fn from_seg_places_a_highdicom_seg_on_its_slices() {
    let dir = common::dicom::reference_segs();
    let d = dir.path();
    // Every segment: s3's only region is segment 2's; s4 is segmented and empty (no annotation); s5
    // is in no SEG and is left out.
    let split = d.join("all");
    let o = from_seg(&[&d.join("in")], &split, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("4 slices (3 with tumour)")
            && stdout.contains("1 slice no SEG refers to left out"),
        "{stdout}"
    );
    assert!(!split.join("s5.dcm").exists() && split.join("s4.dcm").exists());
    // s1's two segments together fill rows 15..50 and columns 5..40 (its band surrounds its rectangle).
    let coco = common::json(&split.join("_annotations.coco.json"));
    let first = &coco["annotations"][0];
    assert_eq!(first["bbox"], serde_json::json!([5, 15, 35, 35]));
    // The slices' Pixel Spacing goes along, for boundary distances in mm.
    assert_eq!(
        coco["images"][0]["pixel_spacing"],
        serde_json::json!([0.5, 0.8])
    );
    assert_eq!(first["area"], 35 * 35);
    let masks = split_masks(&split);
    for k in 1..=4 {
        let got = png(&masks.join(format!("s{k}.png")));
        assert!(
            got == png(&d.join(format!("all_s{k}.png"))),
            "s{k}, all segments"
        );
    }
    // Segment 1 only: s3 is a segmented slice without tumour, an image with no annotation.
    let split = d.join("one");
    let o = from_seg(&[&d.join("in")], &split, &["--segments", "1"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("4 slices (2 with tumour)"), "{stdout}");
    let masks = split_masks(&split);
    for k in 1..=4 {
        let got = png(&masks.join(format!("s{k}.png")));
        assert!(
            got == png(&d.join(format!("one_s{k}.png"))),
            "s{k}, segment 1"
        );
    }
    // A segment by its label, in any case, is the same choice; one that no SEG has is an error that
    // names the segments there are, not a split of empty slices.
    let by_label = d.join("by-label");
    let o = from_seg(&[&d.join("in")], &by_label, &["--segments", "TUMOUR"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let label_masks = split_masks(&by_label);
    for k in 1..=4 {
        let name = format!("s{k}.png");
        assert!(
            png(&label_masks.join(&name)) == png(&masks.join(&name)),
            "s{k}, by label"
        );
    }
    let o = from_seg(&[&d.join("in")], &d.join("none"), &["--segments", "1,3"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no SEG has a segment `3` (they have: 1 Tumour, 2 Oedema)"),
        "{stderr}"
    );
    assert!(!d.join("none").exists());
    // Part of the series forgotten: the slices the SEG refers to but that are not given are counted
    // (s2, s3 with frames, s4 without).
    let o = from_seg(
        &[&d.join("in/s1.dcm"), &d.join("in/seg.dcm")],
        &d.join("part"),
        &[],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 slices the SEG refers to not among the inputs"),
        "{stderr}"
    );
    // An existing split is never overwritten.
    let o = from_seg(&[&d.join("in")], &split, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists"));
}

#[test]
fn from_seg_places_cropped_frames_and_frames_naming_no_slice_by_their_position() {
    let dir = common::dicom::reference_segs();
    let d = dir.path();
    let slices: Vec<_> = (1..=5).map(|k| d.join(format!("in/s{k}.dcm"))).collect();
    let mut inputs: Vec<&Path> = slices.iter().map(|p| p.as_path()).collect();
    let cropped = d.join("cropped");
    inputs.push(&cropped);
    // s1's frame names its slice in a Derivation Image Sequence, s2's in a bare Source Image
    // Sequence; the others name none.
    let seg = tumorseg::dicom::seg::read::read(&cropped.join("seg.dcm")).unwrap();
    let named: Vec<bool> = seg.frames.iter().map(|f| f.source.is_some()).collect();
    assert_eq!(named, [true, true, false, false]);
    let split = d.join("split");
    let o = from_seg(&inputs, &split, &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stderr}");
    // s3's frame names no slice and is placed by its position, not on the other series' slice there
    // (t2_s3); s4 and s5 are in no frame and not referenced; the frame above s5 lies on no input slice.
    assert!(
        stdout.contains("3 slices (3 with tumour)")
            && stdout.contains("3 slices no SEG refers to left out"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 SEG frame without a source image lies on none of the input slices"),
        "{stderr}"
    );
    let masks = split_masks(&split);
    for k in 1..=3 {
        let got = png(&masks.join(format!("s{k}.png")));
        assert!(
            got == png(&d.join(format!("all_s{k}.png"))),
            "s{k}: the cropped frame is misplaced"
        );
    }
}

#[test]
fn from_seg_reads_label_map_and_compressed_segs() {
    let dir = common::dicom::reference_segs();
    let d = dir.path();
    let slices: Vec<_> = (1..=5).map(|k| d.join(format!("in/s{k}.dcm"))).collect();
    // A label map's values are its segments: both as one, or the tumour alone by its label; the RLE
    // fractional SEG gives the same union, and so does the label map as JPEG 2000 or JPEG-LS.
    for (seg, segments, want) in [
        ("labelmap", "1,2", "all"),
        ("labelmap", "tumour", "one"),
        ("fractional", "1,2", "all"),
        ("labelmap_j2k", "1,2", "all"),
        ("labelmap_jls", "tumour", "one"),
    ] {
        let mut inputs: Vec<&Path> = slices.iter().map(|p| p.as_path()).collect();
        let seg_file = d.join(seg).join("seg.dcm");
        inputs.push(&seg_file);
        let split = d.join(format!("{seg}-{want}"));
        let o = from_seg(&inputs, &split, &["--segments", segments]);
        assert!(
            o.status.success(),
            "{seg}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("4 slices"), "{seg}: {stdout}");
        let masks = split_masks(&split);
        for k in 1..=4 {
            let got = png(&masks.join(format!("s{k}.png")));
            assert!(
                got == png(&d.join(format!("{want}_s{k}.png"))),
                "{seg} --segments {segments}: s{k} differs"
            );
        }
    }
    // predict leaves a label-map SEG out of a folder, as it does other SEGs.
    let input = folder(
        d,
        "mixed",
        &[("in/s1.dcm", "s1.dcm"), ("labelmap/seg.dcm", "SEG2")],
    );
    let o = common::run_ok(&mut predict_command(d, &input, &d.join("pred")));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("SEG2 (a DICOM SEG"), "{stderr}");
}

#[test]
fn slices_whose_names_differ_only_in_case_are_refused_before_any_is_written() {
    let dir = common::dicom::reference_segs();
    let d = dir.path();
    // One file on macOS and Windows: one split could not hold both.
    let upper = folder(d, "upper", &[("in/s1.dcm", "S1.dcm")]);
    let lower = folder(d, "lower", &[("in/s2.dcm", "s1.dcm")]);
    let split = d.join("split");
    let o = from_seg(&[&upper, &lower], &split, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    let both = format!(
        "{} and {} both give S1.dcm / s1.dcm (one name where case is ignored",
        upper.join("S1.dcm").display(),
        lower.join("s1.dcm").display()
    );
    assert!(stderr.contains(&both), "{stderr}");
    assert!(!split.exists());
}
