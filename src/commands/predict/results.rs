//! `predict`'s COCO outputs: results.json, a COCO results list (as pycocotools' `loadRes` reads
//! it) with one detection per 8-connected tumour region, its exact pixels as compressed RLE (holes
//! kept), and images.json, the images those detections' ids stand for, so that they can be joined
//! with a dataset's by file name.
use super::inputs::Input;
use crate::regions::regions;
use anyhow::{Context, Result};
use image::GrayImage;
use serde_json::{json, Value};
use std::path::Path;

/// The one category predict finds, tumour (COCO ids start at 1).
pub const CATEGORY: u64 = 1;

/// The image's name, as COCO datasets give it (`file_name`), without its folder.
fn file_name(input: &Input) -> String {
    (input.path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The input's entry in images.json: `image_id` is its place among the inputs, from 1.
pub fn image(image_id: u64, input: &Input, mask: &GrayImage) -> Value {
    let entry = json!({
        "id": image_id,
        "file_name": file_name(input),
        "width": mask.width(),
        "height": mask.height(),
    });
    with_frame(entry, input)
}

/// A frame of a multi-frame file or a slice of a volume shares its file's name: its number tells it.
fn with_frame(mut entry: Value, input: &Input) -> Value {
    if let Some(frame) = input.frame_number() {
        entry["frame"] = json!(frame);
    }
    entry
}

/// One COCO result per region of `mask` (0/1, the input's size), scored by the mean of `probs`
/// over it.
pub fn detections(image_id: u64, input: &Input, mask: &GrayImage, probs: &[f32]) -> Vec<Value> {
    let size = [mask.height(), mask.width()];
    regions(mask, Some(probs))
        .into_iter()
        .map(|r| {
            let entry = json!({
                "image_id": image_id,
                "file_name": file_name(input),
                "category_id": CATEGORY,
                "segmentation": {
                    "size": size,
                    "counts": crate::mask::rle_to_string(&r.counts),
                },
                "score": r.score,
                "area": r.area,
                "bbox": r.bbox,
            });
            with_frame(entry, input)
        })
        .collect()
}

/// results.json (the detections) and images.json (the images, and the category) into `dir`.
pub fn write(dir: &Path, detections: &[Value], images: Vec<Value>) -> Result<()> {
    save(&dir.join("results.json"), &detections)?;
    let listed = json!({
        "images": images,
        "categories": [{"id": CATEGORY, "name": "tumour"}],
    });
    save(&dir.join("images.json"), &listed)
}

fn save(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    std::fs::write(path, serde_json::to_string(value)?)
        .with_context(|| format!("write {}", path.display()))
}
