//! A tiny COCO dataset for the tests of bad inputs: a `train` split of two 8x8 grey PNGs and the
//! annotation file each test writes.
use image::{GrayImage, Luma};
use std::fs;

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
