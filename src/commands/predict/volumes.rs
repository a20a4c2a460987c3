//! `predict`'s NIfTI outputs: each input volume's masks gathered slice by slice, then written as one
//! mask volume on the source's grid (`nifti/<stem>.nii.gz`), with its tumour volume in `volumes.csv`.
use super::inputs::Input;
use super::staging::Staging;
use crate::dicom::seg::Bits;
use crate::nifti;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Volumes {
    dir: PathBuf,
    /// `--volume`: which of a 4-D file's volumes was read.
    pick: Option<usize>,
    /// Each NIfTI file in input order, with its slices' predictions (slice from 0).
    volumes: Vec<(PathBuf, Vec<(u32, Slice)>)>,
}

/// One slice's prediction: its mask, and with `--nifti-probabilities` its probabilities in 255ths.
pub struct Slice {
    pub mask: Bits,
    pub probabilities: Option<Vec<u8>>,
}

/// One line of volumes.csv.
#[derive(serde::Serialize)]
struct Row {
    file: String,
    /// The volume read of a 4-D file (empty for a 3-D one).
    volume: Option<usize>,
    mask: String,
    slices: u32,
    slices_with_tumour: u32,
    tumour_voxels: u64,
    /// mm³ / 1000, as radiology reports give tumour volumes.
    tumour_ml: f64,
}

impl Volumes {
    /// Volumes written into `dir`'s nifti/.
    pub fn new(dir: &Path, pick: Option<usize>) -> Volumes {
        Volumes {
            dir: dir.join("nifti"),
            pick,
            volumes: Vec::new(),
        }
    }

    /// A NIfTI slice's prediction (None for other images).
    pub fn add(&mut self, input: &Input, slice: Option<Slice>) {
        let Some(slice) = slice else {
            return;
        };
        // A volume's slices come one after another (inputs are expanded file by file).
        if self.volumes.last().map(|(p, _)| p) != Some(&input.path) {
            self.volumes.push((input.path.clone(), Vec::new()));
        }
        let k = input.frame.map_or(0, |(k, _)| k);
        self.volumes.last_mut().expect("pushed").1.push((k, slice));
    }

    /// Write each volume's mask and volumes.csv (none without NIfTI inputs) into the staging
    /// folder; print a line per volume, naming the mask where it will be.
    pub fn finish(self, staging: &Staging) -> Result<usize> {
        if self.volumes.is_empty() {
            return Ok(0);
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        let description = format!("tumorseg {} tumour mask", crate::provenance::VERSION);
        let mut rows = Vec::new();
        for (source, slices) in &self.volumes {
            let path = self.dir.join(format!("{}.nii.gz", nifti::stem(source)));
            let masks = slices.iter().map(|(s, p)| (*s, p.mask.iter()));
            let m = nifti::write_mask(&path, (source, self.pick), masks, &description)?;
            if slices.iter().any(|(_, p)| p.probabilities.is_some()) {
                let to = self
                    .dir
                    .join(format!("{}_probability.nii.gz", nifti::stem(source)));
                let probabilities = slices
                    .iter()
                    .filter_map(|(s, p)| Some((*s, p.probabilities.as_ref()?.iter().copied())));
                let what = format!("tumorseg {} tumour probability", crate::provenance::VERSION);
                nifti::write_probabilities(&to, (source, self.pick), probabilities, &what)?;
            }
            let ml = (m.mm3 / 10.0).round() / 100.0;
            let path = staging.shown(&path);
            println!(
                "{}: tumour in {} of {} slices, {ml} ml → {}",
                source.display(),
                m.slices_with_tumour,
                m.slices,
                path.display()
            );
            rows.push(Row {
                file: source.display().to_string(),
                volume: m.volume,
                mask: path.display().to_string(),
                slices: m.slices,
                slices_with_tumour: m.slices_with_tumour,
                tumour_voxels: m.voxels,
                tumour_ml: ml,
            });
        }
        let path = staging.dir().join("volumes.csv");
        let mut w =
            csv::Writer::from_path(&path).with_context(|| format!("write {}", path.display()))?;
        for r in &rows {
            w.serialize(r)
                .with_context(|| format!("write {}", path.display()))?;
        }
        w.flush()
            .with_context(|| format!("write {}", path.display()))?;
        Ok(rows.len())
    }
}
