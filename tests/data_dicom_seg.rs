//! `predict --dicom-seg`: objects that highdicom and pydicom (independent readers,
//! tests/py/seg_check.py) read back as exactly the predicted masks, on the right source slices and
//! frames, in the source's patient, study and frame of reference, and that our `from-seg` reads
//! back as the same masks; sparse, dense and fractional SEGs; one SEG per repetition of a position;
//! a file a SEG cannot point back at is named. `from-seg` on highdicom's SEGs is tested in
//! data_dicom_seg_split.rs.
mod common;

use common::dicom::{folder, from_seg, png, predict_at, predict_command, slices, split_masks};
use std::path::Path;

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
