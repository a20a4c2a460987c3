//! A tiny COCO dataset for the tests of bad inputs: a `train` split of two 8x8 grey PNGs and the
//! annotation file each test writes; or a split of 8x8 images under the names a test gives.
use image::{GrayImage, Luma};
use serde_json::json;
use std::fs;
use std::path::Path;

/// A dataset root with one `train` split holding `json` and 8x8 grey PNGs `a.png`, `b.png`.
pub fn root_with(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    fs::create_dir_all(&split).unwrap();
    fs::write(split.join("_annotations.coco.json"), json).unwrap();
    for (i, name) in ["a.png", "b.png"].iter().enumerate() {
        GrayImage::from_fn(8, 8, |x, y| Luma([(x * 8 + y) as u8 + i as u8 * 100]))
            .save(split.join(name))
            .unwrap();
    }
    dir
}

/// Two 8x8 images (ids 1, 2) and the given annotations JSON array.
pub fn doc(annotations: &str) -> String {
    format!(
        r#"{{"images": [{{"id": 1, "file_name": "a.png", "width": 8, "height": 8}},
                        {{"id": 2, "file_name": "b.png", "width": 8, "height": 8}}],
            "categories": [{{"id": 1, "name": "tumour"}}, {{"id": 2, "name": "other"}}],
            "annotations": {annotations}}}"#
    )
}

/// A valid polygon annotation of image 2.
pub const GOOD_B: &str =
    r#"{"id": 50, "image_id": 2, "category_id": 1, "segmentation": [[1,1,6,1,6,6,1,6]]}"#;

/// A split folder `split` of 8x8 grey images named `names` (their extension gives their format), each
/// with a square tumour, and its annotation file.
pub fn split_named(split: &Path, names: &[&str]) {
    fs::create_dir_all(split).unwrap();
    let (mut images, mut annotations) = (Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        let id = i + 1;
        super::gradient(8, 8).save(split.join(name)).unwrap();
        images.push(json!({"id": id, "file_name": name, "width": 8, "height": 8}));
        annotations.push(json!({
            "id": id, "image_id": id, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]],
        }));
    }
    let doc = json!({
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "tumour"}],
    });
    fs::write(split.join("_annotations.coco.json"), doc.to_string()).unwrap();
}

/// Two image names (`.first`, `.second`) whose outputs named `<stem>.<out>` would be one file, and
/// that file's name as messages give it: of one stem (`a.jpg`, `a.png`), and of stems that differ
/// only in case (`A.jpg`, `a.png`: one file on macOS and Windows).
pub fn clashing(first: &str, second: &str, out: &str) -> [(String, String, String); 2] {
    let case = format!("A.{out} / a.{out} (one name where case is ignored");
    [
        (
            format!("a.{first}"),
            format!("a.{second}"),
            format!("a.{out}"),
        ),
        (format!("A.{first}"), format!("a.{second}"), case),
    ]
}
