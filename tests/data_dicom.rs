//! DICOM slices written by pydicom (tests/py/dicom_ref.py) read as the standard says, and every
//! command that reads images takes them: predict (by extension or by DICOM's magic), clean, pack.
mod common;

use common::dicom::{folder, png, predict, predict_command, slices};
use image::GrayImage;
use serde_json::json;
use std::path::{Path, PathBuf};
use tumorseg::dataset::read_gray;
use tumorseg::dicom::{read_frames, Window};

#[test]
fn slices_read_as_pydicom_and_the_standard_say() {
    let dir = slices();
    let d = dir.path();
    for name in ["plain", "windowed", "inverted"] {
        let got = read_gray(&d.join(format!("{name}.dcm"))).unwrap();
        assert!(
            got == png(&d.join(format!("{name}.png"))),
            "{name}.dcm is not read as expected"
        );
    }
    // Negative values without a window: stretched between their signed minimum and maximum.
    assert!(read_gray(&d.join("signed.dcm")).unwrap() == png(&d.join("plain.png")));
    // Implicit VR, the default transfer syntax, reads as its explicit twin.
    assert!(read_gray(&d.join("implicit.dcm")).unwrap() == png(&d.join("plain.png")));
    // JPEG baseline inside DICOM, against Pillow's decoding of the same stream: two JPEG decoders
    // may round the inverse DCT differently, by a level or two, and no more.
    let (got, want) = (
        read_gray(&d.join("jpeg.dcm")).unwrap(),
        png(&d.join("jpeg.png")),
    );
    assert_eq!(got.dimensions(), want.dimensions());
    let worst = got
        .iter()
        .zip(want.iter())
        .map(|(&a, &b)| a.abs_diff(b))
        .max();
    assert!(worst <= Some(2), "JPEG in DICOM off by {worst:?} levels");

    // windowed.dcm's rescaled values are 16·v − 2024, linear in the same v as plain.dcm's: stretched
    // from minimum to maximum it would read exactly as plain.dcm. It does not, so its window was applied.
    assert!(read_gray(&d.join("windowed.dcm")).unwrap() != png(&d.join("plain.png")));
    assert!(png(&d.join("windowed.png")).contains(&255));

    // The magic decides, not the name: a slice exported as `.jpg` or with no extension is still DICOM.
    for name in ["slice.jpg", "IM0001"] {
        std::fs::copy(d.join("inverted.dcm"), d.join(name)).unwrap();
        assert!(read_gray(&d.join(name)).unwrap() == png(&d.join("inverted.png")));
    }

    let e = read_gray(&d.join("multi.dcm")).unwrap_err();
    let why = format!("{e:#}");
    assert!(
        why.contains("multi.dcm") && why.contains("2 frames"),
        "{why}"
    );
    // JPEG 2000 lossless and High-Throughput JPEG 2000 (pure-Rust openjp2) read exactly as the
    // uncompressed slice.
    for name in ["j2k.dcm", "htj2k.dcm"] {
        assert!(
            read_gray(&d.join(name)).unwrap() == png(&d.join("plain.png")),
            "{name}"
        );
    }
    // A compression without a decoder here (H.264 video): refused with the file and its transfer syntax.
    let why = format!("{:#}", read_gray(&d.join("h264.dcm")).unwrap_err());
    assert!(
        why.contains("h264.dcm")
            && why.contains("unsupported compression")
            && why.contains("1.2.840.10008.1.2.4.102"),
        "{why}"
    );
    // Cut short inside the pixel data: an error naming the file, not a panic or a partial image.
    let bytes = std::fs::read(d.join("plain.dcm")).unwrap();
    std::fs::write(d.join("cut.dcm"), &bytes[..bytes.len() / 2]).unwrap();
    let why = format!("{:#}", read_gray(&d.join("cut.dcm")).unwrap_err());
    assert!(why.contains("cut.dcm") && why.contains("DICOM"), "{why}");
}

/// JPEG-LS (CharLS), as PACS archives store lossless slices, decodes as pydicom encoded it.
#[test]
fn jpeg_ls_slices_read_as_their_uncompressed_twins() {
    let dir = slices();
    let d = dir.path();
    let read = |name: &str| read_gray(&d.join(name)).unwrap();
    assert!(read("jls.dcm") == png(&d.join("plain.png")));
    // Signed values, with their rescale and window: a signed codestream is two's complement in
    // Bits Stored bits, which a decoder that read it as unsigned would turn into a different image.
    assert!(read("jls_signed.dcm") == png(&d.join("windowed.png")));
    // Near-lossless: as pydicom decodes it, and not as the original (else it says nothing).
    let near = read("jls_near.dcm");
    assert!(near == read("jls_near_decoded.dcm"));
    assert!(near != png(&d.join("plain.png")));
    // A multi-frame file holds one codestream per frame.
    let frames = |name: &str| read_frames(&d.join(name), &[1, 0], Window::MinMax).unwrap();
    let (jls, plain) = (frames("jls_multi.dcm"), frames("multi.dcm"));
    assert!(jls == plain && jls[0] != jls[1]);
    // A broken codestream: an error naming the file, not a panic or a partial image.
    let why = format!("{:#}", read_gray(&d.join("jls_bad.dcm")).unwrap_err());
    assert!(
        why.contains("jls_bad.dcm") && why.contains("corrupt pixel data (JPEG-LS Lossless"),
        "{why}"
    );
    // CharLS's reason, once (dicom-rs wraps it in an error that prints it again).
    assert_eq!(why.matches("Invalid JPEG-LS stream").count(), 1, "{why}");
    // An object without pixels says so.
    let why = format!("{:#}", read_gray(&d.join("report.dcm")).unwrap_err());
    assert!(why.contains("no pixel data"), "{why}");
}

#[test]
fn predict_finds_dicom_slices_under_any_name_and_reads_them_as_their_twins() {
    let dir = slices();
    let d = dir.path();
    let input = folder(
        d,
        "in",
        &[
            ("plain.dcm", "plain.dcm"),
            ("plain.png", "plain_twin.png"),
            ("windowed.dcm", "IM0001"),
            ("windowed.png", "IM0001_twin.png"),
            // A DICOM folder's index: DICOM, but no slice, so it is named as not read.
            ("plain.dcm", "DICOMDIR"),
        ],
    );
    let out = d.join("out");
    let o = predict(d, &input, &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("not read") && stderr.contains("DICOMDIR"),
        "{stderr}"
    );
    let mask = |stem: &str| png(&out.join(format!("masks/{stem}.png")));
    for (dicom, twin) in [("plain", "plain_twin"), ("IM0001", "IM0001_twin")] {
        let m = mask(dicom);
        assert_eq!(m.dimensions(), (96, 96));
        assert!(m == mask(twin), "{dicom} differs from its 8-bit twin");
    }
    let all: Vec<u8> = ["plain", "IM0001"]
        .iter()
        .flat_map(|s| mask(s).into_raw())
        .collect();
    assert!(
        all.contains(&0) && all.contains(&255),
        "all-equal masks would make the comparison vacuous"
    );
    assert!(!out.join("masks/DICOMDIR.png").exists());
    // With `--dicom-window minmax`, IM0001 (windowed.dcm, whose values are linear in plain.dcm's) is
    // stretched instead of windowed, and so reads as plain.dcm; its window made a difference.
    let minmax = d.join("minmax");
    common::run_ok(predict_command(d, &input, &minmax).args(["--dicom-window", "minmax"]));
    let m = png(&minmax.join("masks/IM0001.png"));
    assert!(m == mask("plain_twin") && m != mask("IM0001"));
    // predictions.csv gives the tumour's area in mm² where the slice gives its Pixel Spacing
    // (0.5 × 0.8 mm and 0.9 × 0.9 mm), and nothing for the PNG twins.
    let mut rows = csv::Reader::from_path(out.join("predictions.csv")).unwrap();
    let header = rows.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (file, pixels, mm2) = (col("file"), col("tumour_pixels"), col("tumour_mm2"));
    // New columns come last: scripts that read the earlier ones by place keep working.
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        [
            "file",
            "width",
            "height",
            "tumour",
            "tumour_pixels",
            "tumour_percent",
            "regions",
            "max_probability",
            "tumour_mm2",
            "frame"
        ]
    );
    let mut areas = Vec::new();
    for r in rows.records().map(Result::unwrap) {
        let px: f64 = r[pixels].parse().unwrap();
        let want = match Path::new(&r[file]).file_name().unwrap().to_str().unwrap() {
            "plain.dcm" => format!("{}", (px * 0.4 * 100.0).round() / 100.0),
            "IM0001" => format!("{}", (px * 0.81 * 100.0).round() / 100.0),
            _ => String::new(),
        };
        assert_eq!(&r[mm2], want, "{r:?}");
        areas.push(r[mm2].to_string());
    }
    assert!(areas.iter().any(|a| !a.is_empty() && a != "0"), "{areas:?}");
}

#[test]
fn enhanced_frames_take_their_window_and_spacing_from_functional_groups() {
    let dir = slices();
    let path = dir.path().join("enhanced.dcm");
    let header = tumorseg::dicom::read_header(&path).unwrap();
    assert_eq!(header.frames, 2);
    assert_eq!(
        header.spacing,
        Some((0.7, 0.7)),
        "the shared Pixel Measures"
    );
    let read = |window: &str| read_frames(&path, &[0, 1], window.parse().unwrap()).unwrap();
    let frames = read("first");
    // dicom-rs windows to 16 bits and the result is narrowed to 8: against the formula rounded once,
    // a value just above a half level can come out one level lower.
    let off =
        |a: &GrayImage, b: &GrayImage| a.iter().zip(b.iter()).map(|(&x, &y)| x.abs_diff(y)).max();
    for (k, img) in frames.iter().enumerate() {
        let want = png(&dir.path().join(format!("enhanced_{}.png", k + 1)));
        let worst = off(img, &want);
        assert!(
            worst <= Some(1),
            "frame {}: off by {worst:?} from its own window",
            k + 1
        );
    }
    // Stretched from minimum to maximum instead, the first frame would read as plain.png.
    let plain = png(&dir.path().join("plain.png"));
    let stretched = off(&frames[0], &plain);
    assert!(stretched > Some(10), "{stretched:?}");
    // As it does with `minmax`; and a fixed window replaces every frame's own (the second's, on the
    // first frame).
    assert_eq!(off(&read("minmax")[0], &plain), Some(0));
    let fixed = read("1000,1500");
    let want = png(&dir.path().join("enhanced_fixed.png"));
    assert!(off(&fixed[0], &want) <= Some(1) && off(&fixed[1], &frames[1]) == Some(0));
    assert!(off(&fixed[0], &frames[0]) > Some(10));
    for (bad, why) in [
        ("1000", "not first, minmax or CENTER,WIDTH"),
        ("1000,0", "at least 1"),
        ("max", "not first"),
    ] {
        let e = bad.parse::<Window>().unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn predict_reads_every_frame_of_a_multi_frame_file() {
    let dir = slices();
    let d = dir.path();
    // One image per frame, named and numbered in frame order, each read as its twin (the second frame
    // is the first inverted).
    let frames = folder(
        d,
        "frames",
        &[
            ("multi.dcm", "multi.dcm"),
            ("plain.png", "first.png"),
            ("inverted.png", "second.png"),
        ],
    );
    let out = d.join("out-frames");
    predict(d, &frames, &out);
    let mask = |stem: &str| png(&out.join(format!("masks/{stem}.png")));
    assert!(mask("multi_f1") == mask("first"));
    assert!(mask("multi_f2") == mask("second"));
    assert!(
        mask("multi_f1") != mask("multi_f2"),
        "the frames must differ"
    );
    let numbers: Vec<String> = common::predictions(&out)
        .iter()
        .map(|r| r["frame"].clone())
        .collect();
    // Sorted by file: first.png, multi.dcm's two frames, second.png.
    assert_eq!(numbers, ["", "1", "2", ""]);
    for entry in common::json(&out.join("results.json")).as_array().unwrap() {
        let multi = entry["file_name"] == "multi.dcm";
        assert_eq!(entry.get("frame").is_some(), multi, "{entry}");
    }

    // Frames without the UIDs, orientation and position that place them in a series are decided
    // one by one: with `one`, the user is told that every one gets a region.
    let o = common::run_ok(
        predict_command(d, &frames, &d.join("out-one")).args(["--postprocess", "one"]),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "--postprocess one gives each of the 2 DICOM slices that cannot be placed in a series"
        ),
        "{stderr}"
    );

    // Cut short inside its pixel data, each frame is skipped with the reason, and the command fails
    // after writing the others.
    let bytes = std::fs::read(d.join("multi.dcm")).unwrap();
    std::fs::write(d.join("cut.dcm"), &bytes[..bytes.len() - 1000]).unwrap();
    let o = common::bin()
        .args(["predict", d.join("run").to_str().unwrap()])
        .args([d.join("cut.dcm"), d.join("plain.dcm")])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--device",
            "cpu",
            "--overwrite",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let skipped = std::fs::read_to_string(out.join("skipped.txt")).unwrap();
    assert_eq!(skipped.lines().count(), 2, "{skipped}");
    assert!(
        skipped.contains("cut.dcm (frame 1 of 2)") && skipped.contains("cut.dcm (frame 2 of 2)"),
        "{skipped}"
    );
    // stderr says it once, not once per frame (a 200-frame volume would repeat it 200 times).
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.matches("skipped: ").count(), 1, "{stderr}");
}

/// A COCO split whose images are DICOM files: one square tumour on each slice.
fn dicom_split(d: &Path) -> PathBuf {
    let root = d.join("root");
    let split = root.join("test");
    std::fs::create_dir_all(&split).unwrap();
    let names = ["plain.dcm", "windowed.dcm"];
    for n in names {
        std::fs::copy(d.join(n), split.join(n)).unwrap();
    }
    let images: Vec<_> = (0..2)
        .map(|i| json!({"id": i, "file_name": names[i], "width": 96, "height": 96}))
        .collect();
    let square = [20.0, 20.0, 60.0, 20.0, 60.0, 60.0, 20.0, 60.0];
    let annotations: Vec<_> = (0..2)
        .map(|i| {
            json!({"id": i, "image_id": i, "category_id": 1, "segmentation": [square],
                        "bbox": [20, 20, 40, 40], "area": 1600.0, "iscrowd": 0})
        })
        .collect();
    let coco = json!({"images": images, "annotations": annotations,
                      "categories": [{"id": 1, "name": "tumor"}]});
    std::fs::write(
        split.join(tumorseg::dataset::ORIGINAL),
        serde_json::to_vec(&coco).unwrap(),
    )
    .unwrap();
    root
}

#[test]
fn clean_and_pack_take_a_dicom_dataset() {
    let dir = slices();
    let d = dir.path();
    let root = dicom_split(d);
    let o = common::run_ok(common::bin().args(["clean", root.to_str().unwrap()]));
    let report = common::json(&root.join("clean_report.json"));
    let cleaned = common::json(&root.join("test").join(tumorseg::dataset::CLEANED));
    assert_eq!(
        cleaned["images"].as_array().unwrap().len(),
        2,
        "{report}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let packed = d.join("packed");
    common::run_ok(common::into("pack", &root, &packed).args(["--size", "96", "--quality", "95"]));
    for stem in ["plain", "windowed"] {
        let jpg = png(&packed.join(format!("test/{stem}.jpg")));
        let want = png(&d.join(format!("{stem}.png")));
        let err: f64 = jpg
            .iter()
            .zip(want.iter())
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .sum::<f64>()
            / want.len() as f64;
        assert!(
            err < 2.0,
            "{stem}: mean error {err} against its expected grey"
        );
    }
}
