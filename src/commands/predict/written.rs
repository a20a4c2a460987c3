//! What `predict` writes of each image: its mask and overlay, its line of predictions.csv, its
//! COCO entries, and what the outputs gathered over all images (DICOM SEGs, NIfTI volumes) need of it.
use super::inputs::{Input, Kind};
use super::{results, volumes, Args};
use crate::dicom::seg::{Bits, Pixels, SegType};
use crate::predict::ProbMap;
use anyhow::{Context, Result};
use image::{GrayImage, Rgb, RgbImage};
use serde_json::Value;
use std::path::Path;

/// One line of predictions.csv: what someone triaging scans wants to see of each image.
#[derive(serde::Serialize)]
pub struct Summary {
    file: String,
    width: u32,
    height: u32,
    tumour: bool,
    tumour_pixels: u64,
    /// Share of the image, in percent.
    tumour_percent: f64,
    regions: usize,
    /// The highest tumour probability anywhere in the image, thresholded or not.
    max_probability: f32,
    /// The tumour's area in mm², for DICOM slices that give their Pixel Spacing and NIfTI slices
    /// (empty otherwise).
    /// New columns come last, so that the earlier ones keep their places.
    tumour_mm2: Option<f64>,
    /// The frame's number from 1 in a multi-frame DICOM file, or the axial slice's in a NIfTI volume
    /// (empty for single images).
    frame: Option<u32>,
}

/// What [`write_outputs`] gives back of one image for the outputs made of all of them.
pub struct Written {
    /// COCO results, one per region.
    pub entries: Vec<Value>,
    /// The image's entry in images.json.
    pub image: Value,
    pub summary: Summary,
    /// With `--dicom-seg`, a DICOM input's frame for its SEG.
    pub seg: Option<Pixels>,
    /// A NIfTI slice's prediction, for its volume's.
    pub volume: Option<volumes::Slice>,
}

/// Mask and overlay PNGs of one image into `dir` (its masks/ and overlays/), and what it adds to the
/// outputs made of all of them.
pub fn write_outputs(
    args: &Args,
    dir: &Path,
    image_id: u64,
    input: &Input,
    img: &GrayImage,
    prob: &ProbMap,
    mask: GrayImage,
) -> Result<Written> {
    let (name, file) = (input.stem(), input.path.as_path());
    let png = GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        image::Luma([mask.get_pixel(x, y)[0] * 255])
    });
    let path = dir.join("masks").join(format!("{name}.png"));
    png.save(&path)
        .with_context(|| format!("write {}", path.display()))?;
    let path = dir.join("overlays").join(format!("{name}.png"));
    overlay(img, &mask)
        .save(&path)
        .with_context(|| format!("write {}", path.display()))?;
    let entries = results::detections(image_id, input, &mask, &prob.data);
    let pixels = mask.iter().filter(|&&v| v != 0).count() as u64;
    let summary = Summary {
        file: file.display().to_string(),
        width: mask.width(),
        height: mask.height(),
        tumour: pixels > 0,
        tumour_pixels: pixels,
        tumour_percent: (1e6 * pixels as f64 / mask.len().max(1) as f64).round() / 1e4,
        regions: entries.len(),
        max_probability: prob.data.iter().copied().fold(0.0, f32::max),
        tumour_mm2: input
            .spacing
            .map(|(row, column)| (100.0 * pixels as f64 * row * column).round() / 100.0),
        frame: input.frame_number(),
    };
    let seg = (args.dicom_seg && input.kind == Kind::Dicom).then(|| match args.dicom_seg_type {
        SegType::Binary => Pixels::Binary(Bits::from_mask(&mask)),
        SegType::Fractional => Pixels::fractional(&prob.data),
    });
    Ok(Written {
        entries,
        image: results::image(image_id, input, &mask),
        summary,
        seg,
        volume: (input.kind == Kind::Nifti).then(|| volumes::Slice {
            mask: Bits::from_mask(&mask),
            probabilities: args
                .nifti_probabilities
                .then(|| crate::dicom::seg::in_255ths(&prob.data)),
        }),
    })
}

/// predictions.csv: one line per image written, in input order.
pub fn write_summaries(out: &Path, rows: &[Summary]) -> Result<()> {
    let path = out.join("predictions.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("write {}", path.display()))?;
    for r in rows {
        w.serialize(r)
            .with_context(|| format!("write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// The MRI in grey with the predicted tumour tinted red.
fn overlay(img: &GrayImage, mask: &GrayImage) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let v = img.get_pixel(x, y)[0];
        if mask.get_pixel(x, y)[0] != 0 {
            Rgb([v / 2 + 127, v / 2, v / 2])
        } else {
            Rgb([v, v, v])
        }
    })
}
