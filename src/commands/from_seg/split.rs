//! The split `from-seg` writes: a COCO document (one image per covered slice, one RLE annotation per
//! slice with tumour), the single-frame slices copied and the frames of multi-frame files as PNG.
use super::slices::Slice;
use crate::dataset::ORIGINAL;
use crate::dicom::{self, Window};
use anyhow::{ensure, Context, Result};
use image::GrayImage;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct Coco {
    pub images: Vec<Value>,
    pub annotations: Vec<Value>,
    /// Each image's source (file, frame from 0) and its name in the split.
    files: Vec<(PathBuf, Option<u32>, String)>,
}

impl Coco {
    /// A slice and its 0/1 mask.
    pub fn add(&mut self, s: &Slice, img: &GrayImage) {
        let id = self.images.len() + 1;
        self.images.push(json!({
            "id": id, "file_name": s.name, "width": s.width, "height": s.height,
        }));
        self.files
            .push((s.path.clone(), s.frame.map(|(k, _)| k), s.name.clone()));
        let area = img.iter().filter(|&&m| m != 0).count();
        if area == 0 {
            return;
        }
        // The tumour's extent, [x, y, width, height] as COCO's bbox.
        let on = img.enumerate_pixels().filter(|(_, _, p)| p[0] != 0);
        let (x0, y0, x1, y1) = on.fold((u32::MAX, u32::MAX, 0, 0), |(a, b, c, d), (x, y, _)| {
            (a.min(x), b.min(y), c.max(x), d.max(y))
        });
        let counts = crate::mask::mask_to_rle(img);
        self.annotations.push(json!({
            "id": self.annotations.len() + 1,
            "image_id": id,
            "category_id": 1,
            "segmentation": {"size": [s.height, s.width], "counts": crate::mask::rle_to_string(&counts)},
            "area": area,
            "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
            "iscrowd": 0,
        }));
    }
}

/// The split: the images, then the annotation file (last, so a split with one is complete).
pub fn write(out: &Path, coco: &Coco) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let target = |name: &str| -> Result<PathBuf> {
        let to = out.join(name);
        ensure!(
            !to.exists(),
            "{} exists: choose another --out (nothing is overwritten)",
            to.display()
        );
        Ok(to)
    };
    // Frames by file, so that each multi-frame file is decoded once.
    let mut frames: BTreeMap<&Path, Vec<(u32, &str)>> = BTreeMap::new();
    for (from, frame, name) in &coco.files {
        match frame {
            None => {
                let to = target(name)?;
                std::fs::copy(from, &to)
                    .with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
            }
            Some(k) => frames.entry(from).or_default().push((*k, name)),
        }
    }
    for (from, wanted) in frames {
        let ks: Vec<u32> = wanted.iter().map(|(k, _)| *k).collect();
        let images = dicom::read_frames(from, &ks, Window::First)?;
        for ((_, name), img) in wanted.iter().zip(images) {
            let to = target(name)?;
            img.save(&to)
                .with_context(|| format!("write {}", to.display()))?;
        }
    }
    let doc = json!({
        "info": {"description": "from DICOM SEG by tumorseg", "version": env!("CARGO_PKG_VERSION")},
        "images": coco.images,
        "annotations": coco.annotations,
        "categories": [{"id": 1, "name": "tumour", "supercategory": "none"}],
    });
    let path = out.join(ORIGINAL);
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("write {}", path.display()))
}
