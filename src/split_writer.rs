//! A COCO split made from segmented slices (`from-seg`, `from-nifti`): one image entry per slice, one
//! RLE annotation per slice with tumour, and the rule that nothing already there is overwritten.
use crate::dataset::ORIGINAL;
use anyhow::{ensure, Context, Result};
use image::GrayImage;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct SplitWriter {
    pub images: Vec<Value>,
    pub annotations: Vec<Value>,
}

/// One slice's image entry and annotation, made apart from the split (in parallel, say) and
/// numbered when pushed into it.
pub struct Entry {
    name: String,
    width: u32,
    height: u32,
    /// RLE counts, area and [x, y, width, height] of the tumour, when there is one.
    tumour: Option<(String, usize, [u32; 4])>,
    /// mm between rows and between columns (DICOM's Pixel Spacing, a NIfTI slice's voxel size).
    spacing: Option<(f64, f64)>,
    /// mm between the volume's slices (a NIfTI volume's voxel size across its axial slices).
    slice_spacing: Option<f64>,
    /// The volume it is a slice of, and its slice number, when its name does not say it.
    volume: Option<(String, u32)>,
}

impl Entry {
    /// A slice named `name` in the split, its mask (nonzero is tumour) and pixel spacing.
    pub fn new(name: &str, mask: &GrayImage, spacing: Option<(f64, f64)>) -> Entry {
        let (width, height) = mask.dimensions();
        let area = mask.iter().filter(|&&m| m != 0).count();
        let tumour = (area > 0).then(|| {
            // The tumour's extent, [x, y, width, height] as COCO's bbox.
            let on = mask.enumerate_pixels().filter(|(_, _, p)| p[0] != 0);
            let (x0, y0, x1, y1) = on
                .fold((u32::MAX, u32::MAX, 0, 0), |(a, b, c, d), (x, y, _)| {
                    (a.min(x), b.min(y), c.max(x), d.max(y))
                });
            let counts = crate::mask::rle_to_string(&crate::mask::mask_to_rle(mask));
            (counts, area, [x0, y0, x1 - x0 + 1, y1 - y0 + 1])
        });
        Entry {
            name: name.to_string(),
            width,
            height,
            tumour,
            spacing,
            slice_spacing: None,
            volume: None,
        }
    }

    /// The entry of a volume's slice `between` mm from its neighbours, for 3-D boundary distances.
    pub fn between_slices(self, between: f64) -> Entry {
        Entry {
            slice_spacing: Some(between),
            ..self
        }
    }

    /// The entry of slice `number` (from 1, along the slice normal) of volume `volume`, so that
    /// `evaluate` decides and measures the volume's slices together.
    pub fn in_volume(self, volume: &str, number: u32) -> Entry {
        Entry {
            volume: Some((volume.to_string(), number)),
            ..self
        }
    }
}

impl SplitWriter {
    /// The next image, and its annotation when it has a tumour.
    pub fn push(&mut self, e: Entry) {
        let id = self.images.len() + 1;
        // To the nanometre: NIfTI's voxel sizes are float32, whose 0.6 would read 0.6000000238.
        let tidy = |v: f64| (v * 1e6).round() / 1e6;
        let mut image = json!({
            "id": id, "file_name": e.name, "width": e.width, "height": e.height,
        });
        if let Some((rows, columns)) = e.spacing {
            // Lets `evaluate` give boundary distances in mm.
            image["pixel_spacing"] = json!([tidy(rows), tidy(columns)]);
        }
        if let Some(between) = e.slice_spacing {
            image["slice_spacing"] = json!(tidy(between));
        }
        if let Some((volume, number)) = e.volume {
            image["volume"] = json!(volume);
            image["slice_number"] = json!(number);
        }
        self.images.push(image);
        if let Some((counts, area, bbox)) = e.tumour {
            self.annotations.push(json!({
                "id": self.annotations.len() + 1,
                "image_id": id,
                "category_id": 1,
                "segmentation": {"size": [e.height, e.width], "counts": counts},
                "area": area,
                "bbox": bbox,
                "iscrowd": 0,
            }));
        }
    }

    /// The split's annotation file, `path` (its `_annotations.coco.json`, from [`new_file`] or
    /// [`Written::file`]): written last, so that a split with one is complete.
    pub fn write_annotations(&self, path: &Path, description: &str) -> Result<()> {
        let doc = json!({
            "info": {"description": description, "version": env!("CARGO_PKG_VERSION")},
            "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": 1, "name": "tumour", "supercategory": "none"}],
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))
    }
}

/// What the command prints once the split is written: its slices, those with tumour, and the
/// sentence about the slices `left_out` (none when empty).
pub fn summary(split: &SplitWriter, out: &Path, left_out: &str) -> String {
    format!(
        "{} ({} with tumour) and {ORIGINAL} in {}{}",
        crate::report::count(split.images.len(), "slice"),
        split.annotations.len(),
        out.display(),
        if left_out.is_empty() {
            String::new()
        } else {
            format!("; {left_out}")
        }
    )
}

/// `out/name`, refused when it exists: nothing is overwritten.
pub fn new_file(out: &Path, name: &str) -> Result<PathBuf> {
    let to = out.join(name);
    ensure!(
        !to.exists(),
        "{} exists: choose another --out (nothing is overwritten)",
        to.display()
    );
    Ok(to)
}

/// What a command has written into a split folder, so that a run that fails part way removes it and
/// leaves no half-made split (slices without an annotation file, or with one that misses some).
/// Only what the run made is removed: the folders it created, and files that [`new_file`] found
/// free; whatever the folder held before stays.
pub struct Written {
    out: PathBuf,
    created: crate::atomic::Created,
}

impl Written {
    /// Creates `out` and the folders above it that are missing.
    pub fn create(out: &Path) -> Result<Written> {
        let created = crate::atomic::Created::default();
        created.folder(out)?;
        Ok(Written {
            out: out.to_path_buf(),
            created,
        })
    }

    /// `out/name` to write ([`new_file`]), counted as this run's before it is written, so that one
    /// cut short is removed too.
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        let to = new_file(&self.out, name)?;
        self.created.remember(&to);
        Ok(to)
    }

    /// `e`, once every file and folder this run made is removed, saying so when there were files.
    pub fn undo(self, e: anyhow::Error) -> anyhow::Error {
        // Folders only while empty: one someone filled meanwhile stays.
        match self.created.remove() {
            0 => e,
            n => anyhow::anyhow!(
                "{}; nothing is left of this run: the {} it had written to {} {} removed",
                crate::commands::error_chain(&e),
                crate::report::count(n, "file"),
                self.out.display(),
                if n == 1 { "was" } else { "were" }
            ),
        }
    }
}
