//! DICOM SEG both ways. `predict --dicom-seg`: objects that highdicom and pydicom (independent
//! readers, tests/py/seg_check.py) read back as exactly the predicted masks, on the right source
//! slices and frames, in the source's patient, study and frame of reference. `from-seg`: a SEG written
//! by highdicom (tests/py/seg_ref.py), and our own, become a COCO split whose masks are exactly the
//! SEG's.
mod common;

use common::dicom::{folder, png, predict_at, predict_command, slices};
use std::path::Path;

/// `tumorseg from-seg INPUTS --out OUT [extra]`; its output.
fn from_seg(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    common::bin()
        .arg("from-seg")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// The split's masks as `tumorseg masks` rasterises its annotations.
fn split_masks(split: &Path) -> std::path::PathBuf {
    let out = split.with_extension("masks");
    common::run_ok(
        common::bin()
            .args(["masks", split.to_str().unwrap(), "--out"])
            .arg(&out),
    );
    out
}

#[test]
fn segs_of_a_series_and_a_volume_read_back_as_the_masks() {
    let dir = slices();
    let d = dir.path();
    let input = folder(
        d,
        "in",
        &[
            ("series_1.dcm", "series_1.dcm"),
            // PACS exports name slices without an extension.
            ("series_2.dcm", "series_2"),
            ("volume.dcm", "volume.dcm"),
            ("plain.png", "plain.png"),
        ],
    );
    let out = d.join("out");
    let o = common::run_ok(predict_command(d, &input, &out).arg("--dicom-seg"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(stdout.contains("2 DICOM SEGs"), "{stdout}");
    assert!(
        stderr.contains("no SEG for 1 image that is not DICOM"),
        "{stderr}"
    );
    let summary = common::run_py(
        "seg_check.py",
        &[out.to_str().unwrap(), d.to_str().unwrap()],
    );
    assert!(summary.contains("\"segs\": 2"), "{summary}");

    // A DICOM folder holds more than images: a SEG (whose 1-bit frames would read as pictures) and a
    // structured report are left out with a note, not predicted on nor failed.
    let seg_file = std::fs::read_dir(out.join("seg"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(d.join("report.dcm"), input.join("report.dcm")).unwrap();
    std::fs::copy(&seg_file, input.join("SEG0001")).unwrap();
    let again = d.join("again");
    let o = common::run_ok(&mut predict_command(d, &input, &again));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("2 DICOM files left out, not images")
            && stderr.contains("SEG0001 (a DICOM SEG")
            && stderr.contains("report.dcm (a DICOM object without pixels"),
        "{stderr}"
    );
    assert!(!again.join("masks/SEG0001.png").exists() && !again.join("masks/report.png").exists());
    std::fs::remove_file(input.join("SEG0001")).unwrap();

    // Our own SEGs read back by from-seg: the series' slices get exactly the predicted masks (the
    // second frame begins mid-byte), and so do the volume's frames, each written as the PNG of the
    // grey predict read it as.
    let split = d.join("split");
    let o = from_seg(&[&input, &out.join("seg")], &split, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("4 slices"), "{stdout}");
    let frames = tumorseg::dicom::read_frames(
        &input.join("volume.dcm"),
        &[0, 1],
        tumorseg::dicom::Window::First,
    )
    .unwrap();
    for (k, grey) in frames.iter().enumerate() {
        let written = png(&split.join(format!("volume_f{}.png", k + 1)));
        assert!(written == *grey, "frame {} is not predict's grey", k + 1);
    }
    // The volume's frames and the series' slices are each a volume, 4 mm apart, for evaluate to score
    // by volume with boundary distances in 3-D: the frames by number, the slices along the normal
    // (series_2 the lower).
    let placed = common::dicom::volume_slices(&split);
    assert_eq!(
        placed,
        [
            ("series_1.dcm".into(), "in".into(), 2, 4.0),
            ("series_2".into(), "in".into(), 1, 4.0),
            ("volume_f1.png".into(), "volume".into(), 1, 4.0),
            ("volume_f2.png".into(), "volume".into(), 2, 4.0)
        ]
    );
    let masks = split_masks(&split);
    for stem in ["series_1", "series_2", "volume_f1", "volume_f2"] {
        let (got, want) = (
            png(&masks.join(format!("{stem}.png"))),
            png(&out.join(format!("masks/{stem}.png"))),
        );
        assert!(
            got == want,
            "{stem}: from-seg's mask differs from predict's"
        );
    }
}

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
fn a_dicom_file_a_seg_cannot_point_back_at_is_named_and_fails_the_command() {
    let dir = slices();
    let d = dir.path();
    // plain.dcm has no study, series or frame of reference: a SEG could not be filed with it.
    let input = folder(
        d,
        "in",
        &[("plain.dcm", "plain.dcm"), ("series_1.dcm", "series_1.dcm")],
    );
    let out = d.join("out");
    let o = predict_command(d, &input, &out)
        .arg("--dicom-seg")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plain.dcm: no Study Instance UID"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 file could not be written as DICOM SEG"),
        "{stderr}"
    );
    // The other file's SEG and every mask are still written.
    let segs: Vec<_> = std::fs::read_dir(out.join("seg")).unwrap().collect();
    assert_eq!(segs.len(), 1);
    assert!(out.join("masks/plain.png").exists() && out.join("masks/series_1.png").exists());
}

/// predictions.csv's highest tumour probability of each file (by file name).
fn max_probabilities(out: &Path) -> Vec<(String, f32)> {
    common::predictions(out)
        .iter()
        .map(|r| {
            let name = Path::new(&r["file"]).file_name().unwrap().to_string_lossy();
            (name.into_owned(), r["max_probability"].parse().unwrap())
        })
        .collect()
}

#[test]
fn slices_without_tumour_are_referenced_not_written_and_fractional_segs_hold_probabilities() {
    let dir = slices();
    let d = dir.path();
    let input = folder(
        d,
        "in",
        &[
            ("series_1.dcm", "series_1.dcm"),
            ("series_2.dcm", "series_2.dcm"),
        ],
    );
    // A threshold between the two slices' highest probabilities leaves exactly one of them empty.
    let probe = d.join("probe");
    common::run_ok(&mut predict_command(d, &input, &probe));
    let mut max = max_probabilities(&probe);
    max.sort_by(|a, b| a.1.total_cmp(&b.1));
    let [(empty, low), (full, high)] = [max[0].clone(), max[1].clone()];
    assert!(high - low > 1e-3, "{max:?}: no threshold between them");
    let threshold = (low + high) / 2.0;
    let runs = [
        ("sparse", vec![]),
        ("dense", vec!["--dicom-seg-empty-frames"]),
        ("fractional", vec!["--dicom-seg-type", "fractional"]),
    ];
    for (name, extra) in &runs {
        let o = common::run_ok(
            predict_at(d, &input, &d.join(name), threshold)
                .arg("--dicom-seg")
                .args(extra),
        );
        let want = if *name == "sparse" {
            "1 frame of 2"
        } else {
            "2 frames of 2"
        };
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains(&format!("1 DICOM SEG ({want} slices)")),
            "{name}: {stdout}"
        );
    }
    let summary = common::run_py(
        "seg_check.py",
        &[
            "sparse",
            d.to_str().unwrap(),
            empty.trim_end_matches(".dcm"),
            full.trim_end_matches(".dcm"),
            &threshold.to_string(),
            &high.to_string(),
        ],
    );
    assert!(summary.contains("\"checked\": 3"), "{summary}");

    // The sparse SEG read back: the empty slice is in the split, with no annotation.
    let seg = std::fs::read_dir(d.join("sparse/seg"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let split = d.join("split");
    let o = from_seg(&[&input, &seg], &split, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("2 slices (1 with tumour)"), "{stdout}");
    // Without --dicom-seg the SEG options are refused rather than ignored.
    let o = predict_command(d, &input, &d.join("refused"))
        .args(["--dicom-seg-type", "fractional"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dicom-seg"));
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
fn a_series_that_repeats_a_position_gets_one_seg_per_repetition() {
    let dir = slices();
    let d = dir.path();
    // The second echo's file comes first: the SEGs follow the echoes, not the file order.
    let input = folder(
        d,
        "in",
        &[
            ("series_1_echo2.dcm", "a.dcm"),
            ("series_1.dcm", "b.dcm"),
            ("series_2.dcm", "c.dcm"),
        ],
    );
    let out = d.join("out");
    let o = common::run_ok(
        predict_command(d, &input, &out).args(["--dicom-seg", "--dicom-seg-empty-frames"]),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("2 DICOM SEGs (3 frames of 3 slices)"),
        "{stdout}"
    );
    // The first echo's slices in one SEG, the second echo's slice in the series' second: each SEG
    // has one frame per position.
    let mut segs: Vec<_> = std::fs::read_dir(out.join("seg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort_by_key(|p| p.to_string_lossy().len());
    assert!(segs[1].to_string_lossy().ends_with("_2.dcm"), "{segs:?}");
    let read: Vec<_> = segs
        .iter()
        .map(|p| tumorseg::dicom::seg::read::read(p).unwrap())
        .collect();
    let frames: Vec<usize> = read.iter().map(|s| s.frames.len()).collect();
    assert_eq!(frames, [2, 1]);
    let uid = |name: &str| {
        let obj = dicom_object::open_file(d.join(name)).unwrap();
        obj.meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_string()
    };
    let mut first = read[0].referenced.clone();
    first.sort();
    let mut want = vec![uid("series_1.dcm"), uid("series_2.dcm")];
    want.sort();
    assert_eq!(first, want);
    assert_eq!(read[1].referenced, [uid("series_1_echo2.dcm")]);
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
