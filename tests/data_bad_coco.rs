//! Every bad or unusual COCO annotation file the loader must survive, each with the message it must
//! give. Inputs are tiny JSON files generated in temporary directories (`common::tiny_coco`); bad
//! image files are in data_bad_images.rs.
mod common;
use common::tiny_coco::{doc, root_with, GOOD_B};
use std::fs;
use std::path::{Path, PathBuf};
use tumorseg::clean::{clean_dataset, CleanOptions};
use tumorseg::coco::{self, IssueKind};
use tumorseg::dataset::{load_split_report, SplitOptions};
use tumorseg::mask::{self, Segmentation};

fn ann_path(root: &Path) -> PathBuf {
    root.join("train/_annotations.coco.json")
}

fn load_err(json: &str) -> String {
    let root = root_with(json);
    format!("{:#}", coco::load(&ann_path(root.path())).unwrap_err())
}

fn issues_of(annotation: &str) -> (coco::CocoFile, Vec<String>) {
    let root = root_with(&doc(&format!("[{annotation}, {GOOD_B}]")));
    let f = coco::load(&ann_path(root.path())).unwrap();
    let msgs = f.issues.iter().map(|i| i.to_string()).collect();
    (f, msgs)
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let e = load_err("{\"images\": [ {\"id\": 1,\n  ]");
    assert!(
        e.contains("_annotations.coco.json: malformed JSON at line 2 column"),
        "{e}"
    );
    let e = load_err("[1, 2]");
    assert!(
        e.contains("top level must be a JSON object, found an array"),
        "{e}"
    );
    let root = root_with("");
    fs::write(ann_path(root.path()), b"{\"images\": \"\xff\xfe\"}").unwrap();
    let e = format!("{:#}", coco::load(&ann_path(root.path())).unwrap_err());
    assert!(
        e.contains("not UTF-8 text (invalid byte at offset 12)"),
        "{e}"
    );
}

#[test]
fn missing_images_is_an_error() {
    let e = load_err(r#"{"annotations": [], "categories": []}"#);
    assert!(
        e.contains("_annotations.coco.json: missing `images` array"),
        "{e}"
    );
}

#[test]
fn bad_image_entry_names_image_id_and_field() {
    let e = load_err(r#"{"images": [{"id": 3, "file_name": "a.png", "height": 8}]}"#);
    assert!(
        e.contains("images[0] (image id 3): field `width` is missing"),
        "{e}"
    );
    let e = load_err(r#"{"images": [{"id": "x", "file_name": "a.png", "width": 8, "height": 8}]}"#);
    assert!(
        e.contains("images[0]: field `id` must be a non-negative integer, found \"x\""),
        "{e}"
    );
    let e = load_err(r#"{"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": 8}]}"#);
    assert!(e.contains("field `width` = 0 is outside"), "{e}");
}

#[test]
fn annotation_pointing_at_missing_image_is_skipped_and_reported() {
    let (f, msgs) = issues_of(
        r#"{"id": 7, "image_id": 99, "category_id": 1, "segmentation": [[1,1,6,1,6,6]]}"#,
    );
    assert_eq!(f.annotations.len(), 1);
    assert_eq!(f.issues[0].kind, IssueKind::UnknownImage);
    assert_eq!(
        msgs[0],
        "annotation id 7 (image id 99), field `annotations[0].image_id`: image id 99 does not exist in `images`: annotation skipped"
    );
}

#[test]
fn polygon_with_fewer_than_three_points_is_dropped() {
    let (f, msgs) =
        issues_of(r#"{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1,1,5,5]]}"#);
    assert_eq!(f.issues[0].kind, IssueKind::Degenerate);
    assert_eq!(
        msgs[0],
        "annotation id 7 (image id 1), field `annotations[0].segmentation[0]`: polygon has 2 point(s), fewer than 3: ring dropped"
    );
    assert_eq!(f.annotations[0].segmentation, None);
    // Only that ring goes; a good ring of the same annotation stays.
    let (f, _) = issues_of(
        r#"{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1,1,5,5],[1,1,6,1,6,6]]}"#,
    );
    assert_eq!(
        f.annotations[0].segmentation,
        Some(Segmentation::Polygons(vec![vec![
            1.0, 1.0, 6.0, 1.0, 6.0, 6.0
        ]]))
    );
}

#[test]
fn all_rings_degenerate_means_no_usable_annotation_for_clean() {
    let root = root_with(&doc(&format!(
        r#"[{{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1,1,5,5]]}}, {GOOD_B}]"#
    )));
    let r = clean_dataset(root.path(), &CleanOptions::default()).unwrap();
    let s = &r.splits[0].1;
    assert_eq!((s.degenerate, s.no_annotation, s.kept), (1, 1, 1));
    assert_eq!(s.removed_ids, vec![1]);
}

#[test]
fn zero_area_and_odd_length_polygons_are_dropped() {
    let (_, msgs) =
        issues_of(r#"{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1,1,2,2,3,3]]}"#);
    assert!(
        msgs[0].ends_with("polygon has zero area: ring dropped"),
        "{}",
        msgs[0]
    );
    let (_, msgs) = issues_of(
        r#"{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1,1,2,2,3,1,4]]}"#,
    );
    assert!(
        msgs[0].ends_with("odd number of coordinates (7): ring dropped"),
        "{}",
        msgs[0]
    );
}

#[test]
fn coordinates_outside_the_image_are_clamped_and_reported() {
    let (f, msgs) = issues_of(
        r#"{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[-3,1,12,1,12,6,-3,6]]}"#,
    );
    assert_eq!(f.issues[0].kind, IssueKind::Clamped);
    assert!(
        msgs[0].ends_with("4 coordinate(s) outside the 8x8 image: clamped to the border"),
        "{}",
        msgs[0]
    );
    let seg = f.annotations[0].segmentation.clone().unwrap();
    assert_eq!(
        seg,
        Segmentation::Polygons(vec![vec![0.0, 1.0, 8.0, 1.0, 8.0, 6.0, 0.0, 6.0]])
    );
    // Rows 1..=5 fully set: the clamped rectangle covers every column.
    let m = mask::rasterize(&seg, 8, 8);
    for (_, y, p) in m.enumerate_pixels() {
        assert_eq!(p[0], (1..=5).contains(&y) as u8);
    }
}

#[test]
fn nan_and_infinity_coordinates_are_dropped_not_fatal() {
    let (f, msgs) = issues_of(
        r#"{"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1,1,NaN,1,5,5], [1,1,6,-Infinity,6,6]]}"#,
    );
    assert!(
        msgs[0].ends_with("coordinate 2 is NaN, infinite or not a number (null): ring dropped"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("segmentation[1]`: coordinate 3 is NaN"),
        "{}",
        msgs[1]
    );
    assert_eq!(f.annotations[0].segmentation, None);
    // NaN inside a string is text, not a number: untouched.
    let root = root_with(&doc("[]").replace("a.png", "NaN Infinity.png"));
    let f = coco::load(&ann_path(root.path())).unwrap();
    assert_eq!(f.images[0].file_name, "NaN Infinity.png");
}

#[test]
fn bbox_only_annotation_is_reported_without_mask() {
    let (f, msgs) =
        issues_of(r#"{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]}"#);
    assert_eq!(f.issues[0].kind, IssueKind::BboxOnly);
    assert_eq!(msgs[0], "annotation id 7 (image id 1), field `annotations[0].segmentation`: bbox-only annotation: no mask");
    assert_eq!(f.annotations[0].bbox, Some([1.0, 1.0, 3.0, 3.0]));
    assert_eq!(f.annotations[0].segmentation, None);
}

#[test]
fn bom_any_formatting_and_non_640_sizes_load() {
    let compact = doc(&format!("[{GOOD_B}]"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("");
    let root = root_with("");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(compact.replace(',', " ,\r\n\t").as_bytes());
    fs::write(ann_path(root.path()), bytes).unwrap();
    let f = coco::load(&ann_path(root.path())).unwrap();
    assert_eq!(
        (f.images.len(), f.annotations.len(), f.images[1].width),
        (2, 1, 8)
    );
    assert!(f.issues.is_empty());
}

#[test]
fn rle_compressed_and_uncompressed_decode_and_bad_rle_is_reported() {
    // 3x2 image (h=3, w=2), column-major: column 0 = 0,1,1 ; column 1 = 1,0,0.
    let counts = [1u32, 3, 2];
    let s = mask::rle_to_string(&counts);
    let json = format!(
        r#"{{"images": [{{"id": 1, "file_name": "a.png", "width": 2, "height": 3}}],
            "annotations": [{{"id": 1, "image_id": 1, "category_id": 0, "segmentation": {{"size": [3, 2], "counts": "{s}"}}}},
                            {{"id": 2, "image_id": 1, "category_id": 0, "segmentation": {{"size": [3, 2], "counts": [1, 3, 2]}}}},
                            {{"id": 3, "image_id": 1, "category_id": 0, "segmentation": {{"size": [3, 2], "counts": [1, 3]}}}},
                            {{"id": 4, "image_id": 1, "category_id": 0, "segmentation": {{"size": [3, 2], "counts": "a!"}}}}]}}"#
    );
    let root = root_with(&json);
    let f = coco::load(&ann_path(root.path())).unwrap();
    let expect = [0u8, 1, 1, 0, 1, 0]; // row-major
    for a in &f.annotations[..2] {
        assert_eq!(
            mask::rasterize(a.segmentation.as_ref().unwrap(), 2, 3).into_raw(),
            expect
        );
    }
    let msgs: Vec<String> = f.issues.iter().map(|i| i.to_string()).collect();
    assert!(
        msgs[0].contains("RLE counts sum to 4, but size 3x2 has 6 pixels: dropped"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("RLE string has an invalid character '!' at byte 1"),
        "{}",
        msgs[1]
    );
}

#[test]
fn categories_select_foreground_and_unknown_category_is_an_error() {
    let root = root_with(&doc(
        r#"[{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1,1,6,1,6,6]]},
            {"id": 2, "image_id": 2, "category_id": 2, "segmentation": [[1,1,6,1,6,6]]}]"#,
    ));
    let dir = root.path().join("train");
    let all = load_split_report(&dir, &SplitOptions::default()).unwrap().0;
    assert_eq!(
        all.iter()
            .map(|s| s.segmentations.len())
            .collect::<Vec<_>>(),
        vec![1, 1]
    );
    let opts = SplitOptions {
        annotations: None,
        categories: Some(vec![2]),
    };
    let only2 = load_split_report(&dir, &opts).unwrap().0;
    assert_eq!(
        only2
            .iter()
            .map(|s| s.segmentations.len())
            .collect::<Vec<_>>(),
        vec![0, 1]
    );
    let opts = SplitOptions {
        annotations: None,
        categories: Some(vec![9]),
    };
    let e = format!("{:#}", load_split_report(&dir, &opts).unwrap_err());
    assert!(
        e.contains("--categories 9: no such category id (the file has: 1 \"tumour\", 2 \"other\")"),
        "{e}"
    );
}

#[test]
fn bad_fixture_files_give_their_documented_results() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let f = coco::load(&dir.join("bom_polygons.json")).unwrap();
    assert!(f.issues.is_empty());
    match &f.annotations[0].segmentation {
        Some(Segmentation::Polygons(r)) => assert_eq!(r.len(), 2),
        other => panic!("{other:?}"),
    }
    let f = coco::load(&dir.join("rle.json")).unwrap();
    assert!(f.issues.is_empty(), "{:?}", f.issues);
    let sums: Vec<u32> = f
        .annotations
        .iter()
        .map(|a| {
            mask::rasterize(a.segmentation.as_ref().unwrap(), 5, 3)
                .iter()
                .map(|&v| v as u32)
                .sum()
        })
        .collect();
    assert_eq!(sums, vec![12, 4]);
    let f = coco::load(&dir.join("degenerate.json")).unwrap();
    let kinds: Vec<(Option<u64>, IssueKind)> =
        f.issues.iter().map(|i| (i.annotation_id, i.kind)).collect();
    use IssueKind::*;
    assert_eq!(
        kinds,
        vec![
            (Some(1), Degenerate),
            (Some(2), Degenerate),
            (Some(3), Clamped),
            (Some(4), UnknownImage),
            (Some(5), BboxOnly),
            (Some(6), Degenerate)
        ]
    );
    let e = format!("{:#}", coco::load(&dir.join("no_images.json")).unwrap_err());
    assert!(
        e.ends_with("no_images.json: missing `images` array (every COCO file lists its images)"),
        "{e}"
    );
    let e = format!("{:#}", coco::load(&dir.join("truncated.json")).unwrap_err());
    assert!(
        e.contains("truncated.json: malformed JSON at line 1 column"),
        "{e}"
    );
}
