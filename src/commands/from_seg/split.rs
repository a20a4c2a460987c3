//! The split `from-seg` writes: a COCO document (one image per covered slice, one RLE annotation per
//! slice with tumour), the single-frame slices copied and the frames of multi-frame files as PNG.
use super::slices::Slice;
use crate::dicom::{self, Window};
use crate::split_writer::{new_file, SplitWriter};
use anyhow::{Context, Result};
use image::GrayImage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct Coco {
    pub split: SplitWriter,
    /// Each image's source (file, frame from 0) and its name in the split.
    files: Vec<(PathBuf, Option<u32>, String)>,
}

impl Coco {
    /// A slice and its 0/1 mask.
    pub fn add(&mut self, s: &Slice, img: &GrayImage) {
        self.split.add(
            &s.name,
            img,
            s.plane.as_ref().map(|p| (p.spacing[0], p.spacing[1])),
        );
        self.files
            .push((s.path.clone(), s.frame.map(|(k, _)| k), s.name.clone()));
    }
}

/// The split: the images, then the annotation file (last, so a split with one is complete).
pub fn write(out: &Path, coco: &Coco) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let target = |name: &str| new_file(out, name);
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
    coco.split
        .write_annotations(out, "from DICOM SEG by tumorseg")
}
