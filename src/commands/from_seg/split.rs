//! The split `from-seg` writes: a COCO document (one image per covered slice, one RLE annotation per
//! slice with tumour), the single-frame slices copied and the frames of multi-frame files as PNG.
use super::slices::Slice;
use crate::dataset::ORIGINAL;
use crate::dicom::{self, plane, Window};
use crate::split_writer::{new_file, Entry, SplitWriter};
use anyhow::{Context, Result};
use image::GrayImage;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct Coco {
    pub split: SplitWriter,
    /// Each image's source (file, frame from 0) and its name in the split.
    files: Vec<(PathBuf, Option<u32>, String)>,
    /// mm between neighbouring slices, per volume (see [`slice_spacings`]).
    between_slices: HashMap<String, f64>,
    /// Each image's volume and slice number.
    volumes: Vec<Option<(String, u32)>>,
}

impl Coco {
    /// The split of `slices`' images, once added.
    pub fn new(slices: &[Slice]) -> Coco {
        Coco {
            between_slices: slice_spacings(slices),
            ..Coco::default()
        }
    }

    /// A slice and its 0/1 mask.
    pub fn add(&mut self, s: &Slice, img: &GrayImage) {
        let spacing = s.plane.as_ref().map(|p| (p.spacing[0], p.spacing[1]));
        let mut entry = Entry::new(&s.name, img, spacing);
        if let Some((volume, number)) = &s.volume {
            entry = entry.in_volume(volume, *number);
            if let Some(&between) = self.between_slices.get(volume) {
                entry = entry.between_slices(between);
            }
        }
        self.volumes.push(s.volume.clone());
        self.split.push(entry);
        self.files
            .push((s.path.clone(), s.frame.map(|(k, _)| k), s.name.clone()));
    }

    /// The volumes of the images, in the order of their first image.
    pub fn volumes(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (volume, _) in self.volumes.iter().flatten() {
            if !names.contains(&volume.as_str()) {
                names.push(volume);
            }
        }
        names
    }

    /// The images placed in no volume.
    pub fn unplaced(&self) -> usize {
        self.volumes.iter().filter(|v| v.is_none()).count()
    }
}

/// mm between neighbouring slices of each volume with placed slices: the median step along the
/// slice normal between slices numbered one apart, as `evaluate` stacks a volume's slices by their
/// numbers, for its boundary distances in 3-D.
fn slice_spacings(slices: &[Slice]) -> HashMap<String, f64> {
    let mut depths: BTreeMap<&str, Vec<(u32, f64)>> = BTreeMap::new();
    for s in slices {
        if let (Some((volume, number)), Some(p)) = (&s.volume, &s.plane) {
            depths.entry(volume).or_default().push((*number, p.depth()));
        }
    }
    let median_step = |mut frames: Vec<(u32, f64)>| {
        frames.sort_by_key(|f| f.0);
        let steps = frames
            .windows(2)
            .filter(|w| w[1].0 == w[0].0 + 1)
            .map(|w| (w[1].1 - w[0].1).abs())
            .filter(|&step| step > 1e-3)
            .collect();
        plane::median_step(steps)
    };
    depths
        .into_iter()
        .filter_map(|(volume, slices)| Some((volume.to_string(), median_step(slices)?)))
        .collect()
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
        .write_annotations(&target(ORIGINAL)?, "from DICOM SEG by tumorseg")
}
