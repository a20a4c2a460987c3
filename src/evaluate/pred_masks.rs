//! Scoring a folder of predicted masks (`evaluate --pred-masks`): another model's, the notebook's.
use super::{distance_unit, row, PerVolume, Scores};
use crate::dataset::Sample;
use anyhow::{bail, ensure, Context, Result};
use image::GrayImage;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The prediction file of a sample: `<dir>/<stem>.png`.
pub fn pred_mask_path(dir: &Path, sample: &Sample) -> PathBuf {
    dir.join(format!("{}.png", sample.stem))
}

/// A predicted mask (any non-zero value = tumour) at the sample's size, and whether it was resized
/// to it. A mask of the image's shape at another size (a model's own input size, 256×256 for a
/// 640×640 image, say) is resized nearest-neighbour, so that models predicting at their own
/// resolution can be scored; one of another shape is refused: it cannot be the image's prediction,
/// and stretched it would be scored as one (a 640×100 mask for a 640×640 image scored Dice 0.99).
pub fn load_pred_mask(dir: &Path, sample: &Sample) -> Result<(GrayImage, bool)> {
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
    let (w, h) = (sample.width, sample.height);
    if img.dimensions() == (w, h) {
        return Ok((img, false));
    }
    let (mw, mh) = img.dimensions();
    ensure!(
        same_shape((mw, mh), (w, h)),
        "{}: the mask is {mw}×{mh} but its image (id {}) is {w}×{h}, another shape: give each \
         image's mask at its size",
        path.display(),
        sample.id
    );
    let resized = image::imageops::resize(&img, w, h, image::imageops::FilterType::Nearest);
    Ok((resized, true))
}

/// Whether `mask` is `image` scaled, each side rounded to whole pixels.
fn same_shape((mw, mh): (u32, u32), (w, h): (u32, u32)) -> bool {
    let scaled = |side: u32, by: u32, of: u32| (side as f64 * by as f64 / of as f64).round() as u32;
    scaled(h, mw, w) == mh || scaled(w, mh, h) == mw
}

/// Says how many masks were resized to their image's size, naming the first.
fn note_resized(dir: &Path, samples: &[Sample], resized: &[bool]) {
    let n = resized.iter().filter(|&&r| r).count();
    let Some(first) = resized.iter().position(|&r| r) else {
        return;
    };
    let s = &samples[first];
    eprintln!(
        "note: {n} of the {} masks in {} are not at their image's size (the first, {}, is not \
         {}×{}): resized nearest-neighbour to it to be scored",
        samples.len(),
        dir.display(),
        pred_mask_path(dir, s).display(),
        s.width,
        s.height
    );
}

/// Score a folder of predicted masks; every sample must have one, and one of its own.
pub fn score_pred_dir(samples: &[Sample], dir: &Path) -> Result<Scores> {
    if !dir.is_dir() {
        bail!("--pred-masks {}: not a directory", dir.display());
    }
    refuse_shared_stems(samples, dir)?;
    let unit = distance_unit(samples);
    let (rows, resized): (Vec<_>, Vec<_>) = samples
        .par_iter()
        .map(|s| {
            let (mask, resized) = load_pred_mask(dir, s)?;
            Ok((row(s, &mask, unit), resized))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    note_resized(dir, samples, &resized);
    // The masks are read again for the volumes, one volume at a time, rather than all held.
    let mut volumes = PerVolume::of(samples, unit);
    if let Some(v) = volumes.as_mut().filter(|v| v.measures()) {
        for (i, s) in samples.iter().enumerate() {
            v.add(samples, i, load_pred_mask(dir, s)?.0);
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
