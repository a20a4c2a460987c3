//! Scoring a folder of predicted masks (`evaluate --pred-masks`): another model's, the notebook's.
use super::{distance_unit, row, PerVolume, Scores};
use crate::dataset::Sample;
use anyhow::{bail, Context, Result};
use image::GrayImage;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The prediction file of a sample: `<dir>/<stem>.png`.
pub fn pred_mask_path(dir: &Path, sample: &Sample) -> PathBuf {
    dir.join(format!("{}.png", sample.stem))
}

/// A predicted mask (any non-zero value = tumour) at the sample's size. A mask of another size is
/// resized (nearest) so models that predict at their own resolution can still be scored.
pub fn load_pred_mask(dir: &Path, sample: &Sample) -> Result<GrayImage> {
    let path = pred_mask_path(dir, sample);
    if !path.exists() {
        bail!(
            "missing prediction for image id {} ({}): {} does not exist",
            sample.id,
            sample.stem,
            path.display()
        );
    }
    // Decoded as every image is, so that a mask cut short is refused rather than scored.
    let bytes =
        std::fs::read(&path).with_context(|| format!("read prediction {}", path.display()))?;
    let img = crate::dataset::decode(&bytes, &path)?.to_luma8();
    if img.dimensions() == (sample.width, sample.height) {
        return Ok(img);
    }
    Ok(image::imageops::resize(
        &img,
        sample.width,
        sample.height,
        image::imageops::FilterType::Nearest,
    ))
}

/// Score a folder of predicted masks; every sample must have one, and one of its own.
pub fn score_pred_dir(samples: &[Sample], dir: &Path) -> Result<Scores> {
    if !dir.is_dir() {
        bail!("--pred-masks {}: not a directory", dir.display());
    }
    refuse_shared_stems(samples, dir)?;
    let unit = distance_unit(samples);
    let rows: Vec<_> = samples
        .par_iter()
        .map(|s| Ok(row(s, &load_pred_mask(dir, s)?, unit)))
        .collect::<Result<_>>()?;
    // The masks are read again for the volumes, one volume at a time, rather than all held.
    let mut volumes = PerVolume::of(samples, unit);
    if let Some(v) = volumes.as_mut().filter(|v| v.measures()) {
        for (i, s) in samples.iter().enumerate() {
            v.add(samples, i, load_pred_mask(dir, s)?);
        }
    }
    Ok(Scores {
        volumes: volumes.map_or(Vec::new(), |v| v.finish(&rows)),
        rows,
    })
}

/// Two images of one stem (`a.jpg`, `a.png`, or `A.jpg`, `a.png` on macOS and Windows) would both be
/// scored against one prediction, made for one of them at most.
fn refuse_shared_stems(samples: &[Sample], dir: &Path) -> Result<()> {
    if let Some((images, png)) = crate::names::shared_png(samples) {
        bail!(
            "{images} would both be scored against {png} in {}: predictions are found by the \
             image's stem, so it cannot tell which image it is for; nothing scored (rename one of \
             the images, and its file_name in the annotation file)",
            dir.display()
        );
    }
    Ok(())
}
