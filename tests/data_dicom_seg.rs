//! `predict --dicom-seg`: DICOM Segmentation objects that highdicom and pydicom (independent readers,
//! tests/py/seg_check.py) read back as exactly the predicted masks, on the right source slices and
//! frames, in the source's patient, study and frame of reference.
mod common;

use common::dicom::{folder, predict_command, slices};

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
