//! From probabilities to the final mask: the threshold, then optionally "keep the largest
//! connected region" or "exactly one region".
//!
//! Why the second step exists: after cleaning, every image of this kind of dataset carries exactly one
//! tumour annotation, so a prediction with several blobs has at least one false blob, and an empty
//! prediction is a certain miss. Whether dropping all but the largest, or also filling an empty
//! prediction, helps is decided on the valid split by `tune-threshold` (either can also cut off a
//! real second lobe or invent a tumour), never assumed.
use crate::predict::ProbMap;
use image::{GrayImage, ImageBuffer, Luma};
use imageproc::region_labelling::{connected_components, Connectivity};
use serde::{Deserialize, Serialize};

pub mod stack;
mod volume;

/// What happens to the binary mask after thresholding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Postprocess {
    /// The thresholded mask as is.
    #[default]
    None,
    /// Keep only the largest 8-connected foreground region (ties: the one met first in raster order;
    /// of a volume, the largest 26-connected region of its slices together).
    Largest,
    /// Exactly one region: `largest`, or when no pixel passes the threshold, the region around the
    /// most probable pixel of the pixels above half its probability (the half-maximum blob); of a
    /// volume, one region for the whole volume.
    One,
}

impl Postprocess {
    pub fn as_str(self) -> &'static str {
        match self {
            Postprocess::None => "none",
            Postprocess::Largest => "largest",
            Postprocess::One => "one",
        }
    }

    /// Whether a slice's mask depends on the rest of its volume: regions are found in 3-D there.
    pub fn spans_slices(self) -> bool {
        self != Postprocess::None
    }

    /// The final 0/1 mask of `prob` at `threshold`.
    pub fn apply(self, prob: &ProbMap, threshold: f32) -> GrayImage {
        let mask = prob.to_mask(threshold);
        match self {
            Postprocess::None => mask,
            Postprocess::Largest => largest_component(&mask),
            Postprocess::One if mask.iter().any(|&v| v != 0) => largest_component(&mask),
            Postprocess::One => half_maximum_region(prob),
        }
    }
}

/// `--postprocess` of tune-threshold and pipeline: which candidates the valid split chooses from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PostprocessChoice {
    /// Try none, largest and one; keep the best mean Dice (ties keep the earlier).
    #[default]
    Auto,
    None,
    Largest,
    One,
}

impl PostprocessChoice {
    pub fn candidates(self) -> Vec<Postprocess> {
        match self {
            PostprocessChoice::Auto => {
                vec![Postprocess::None, Postprocess::Largest, Postprocess::One]
            }
            PostprocessChoice::None => vec![Postprocess::None],
            PostprocessChoice::Largest => vec![Postprocess::Largest],
            PostprocessChoice::One => vec![Postprocess::One],
        }
    }
}

/// The complete rule that turns probabilities into a mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub threshold: f32,
    pub postprocess: Postprocess,
}

impl Decision {
    pub fn mask(&self, prob: &ProbMap) -> GrayImage {
        self.postprocess.apply(prob, self.threshold)
    }
}

/// The 8-connected region of the most probable pixel (first in raster order) among the pixels
/// above half its probability; empty when every probability is 0.
pub fn half_maximum_region(prob: &ProbMap) -> GrayImage {
    let (peak, max) =
        prob.data.iter().enumerate().fold(
            (0, 0f32),
            |(i, m), (j, &p)| if p > m { (j, p) } else { (i, m) },
        );
    let mask = prob.to_mask(max / 2.0);
    if max <= 0.0 {
        return mask;
    }
    let labels = label_components(&mask, Connectivity::Eight);
    let keep = labels.as_raw()[peak];
    only_label(&labels, keep)
}

/// Components of the non-zero pixels of `mask` (label 0: background), through imageproc, except for a
/// one-pixel image: imageproc (0.25 to 0.27) sizes its union-find by the pixel count but numbers
/// labels from 1, so a 1×1 foreground image panics there — and `predict` traces masks at the input
/// image's own size, whatever that is.
pub fn label_components(mask: &GrayImage, conn: Connectivity) -> ImageBuffer<Luma<u32>, Vec<u32>> {
    if mask.width() == 1 && mask.height() == 1 {
        let label = u32::from(mask.as_raw()[0] != 0);
        return ImageBuffer::from_raw(1, 1, vec![label]).expect("one pixel");
    }
    connected_components(mask, conn, Luma([0u8]))
}

/// 0/1 mask of the pixels labelled `keep` (label 0 is the background: an empty mask).
fn only_label(labels: &image::ImageBuffer<Luma<u32>, Vec<u32>>, keep: u32) -> GrayImage {
    let data = labels
        .pixels()
        .map(|px| u8::from(keep > 0 && px[0] == keep))
        .collect();
    GrayImage::from_raw(labels.width(), labels.height(), data).expect("same size as the labels")
}

/// 0/1 mask holding only the largest 8-connected region of the non-zero pixels of `mask`.
pub fn largest_component(mask: &GrayImage) -> GrayImage {
    let labels = label_components(mask, Connectivity::Eight);
    let mut sizes: Vec<u64> = Vec::new();
    for px in labels.pixels() {
        let l = px[0] as usize;
        if l > 0 {
            if sizes.len() <= l {
                sizes.resize(l + 1, 0);
            }
            sizes[l] += 1;
        }
    }
    // First maximum: labels are numbered in raster order, so ties keep the upper-left region.
    let keep = (1..sizes.len()).fold(0, |best, l| if sizes[l] > sizes[best] { l } else { best });
    only_label(&labels, keep as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> GrayImage {
        let (w, h) = (rows[0].len() as u32, rows.len() as u32);
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        GrayImage::from_raw(w, h, data).unwrap()
    }

    #[test]
    fn keeps_only_the_largest_region() {
        let m = mask(&["##...", "##..#", ".....", "..###", "..###"]);
        let want = mask(&[".....", ".....", ".....", "..###", "..###"]);
        assert_eq!(largest_component(&m), want);
    }

    #[test]
    fn diagonal_pixels_are_one_region() {
        let m = mask(&["#....", ".#...", "..#..", "....#", "....#"]);
        let want = mask(&["#....", ".#...", "..#..", ".....", "....."]);
        assert_eq!(largest_component(&m), want);
    }

    #[test]
    fn ties_keep_the_first_region_and_empty_stays_empty() {
        let m = mask(&["#...#", ".....", "....."]);
        assert_eq!(largest_component(&m), mask(&["#....", ".....", "....."]));
        let empty = mask(&["...", "..."]);
        assert_eq!(largest_component(&empty), empty);
    }

    #[test]
    fn a_one_pixel_mask_is_one_region_or_none() {
        assert_eq!(largest_component(&mask(&["#"])), mask(&["#"]));
        assert_eq!(largest_component(&mask(&["."])), mask(&["."]));
        let prob = ProbMap {
            width: 1,
            height: 1,
            data: vec![0.3],
        };
        assert_eq!(half_maximum_region(&prob).into_raw(), vec![1]);
    }

    #[test]
    fn decision_thresholds_then_postprocesses() {
        let prob = ProbMap {
            width: 4,
            height: 1,
            data: vec![0.9, 0.2, 0.6, 0.7],
        };
        let none = Decision {
            threshold: 0.5,
            postprocess: Postprocess::None,
        };
        assert_eq!(none.mask(&prob).into_raw(), vec![1, 0, 1, 1]);
        let largest = Decision {
            postprocess: Postprocess::Largest,
            ..none
        };
        assert_eq!(largest.mask(&prob).into_raw(), vec![0, 0, 1, 1]);
        let one = Decision {
            postprocess: Postprocess::One,
            ..none
        };
        assert_eq!(one.mask(&prob).into_raw(), vec![0, 0, 1, 1]);
    }

    #[test]
    fn one_fills_an_empty_prediction_with_the_half_maximum_blob() {
        // Nothing passes 0.5; the peak 0.4 sits in a blob of values > 0.2 (8-connected through
        // the diagonal); the separate 0.3 on the right is not connected to it.
        #[rustfmt::skip]
        let data = vec![
            0.0, 0.1, 0.0, 0.0, 0.0,
            0.0, 0.4, 0.0, 0.0, 0.3,
            0.0, 0.0, 0.25, 0.0, 0.0,
        ];
        let prob = ProbMap {
            width: 5,
            height: 3,
            data,
        };
        let one = Decision {
            threshold: 0.5,
            postprocess: Postprocess::One,
        };
        let want = mask(&[".....", ".#...", "..#.."]);
        assert_eq!(one.mask(&prob), want);
        let largest = Decision {
            postprocess: Postprocess::Largest,
            ..one
        };
        assert_eq!(largest.mask(&prob), mask(&[".....", ".....", "....."]));
        let zeros = ProbMap {
            width: 2,
            height: 1,
            data: vec![0.0, 0.0],
        };
        assert_eq!(one.mask(&zeros), mask(&[".."]));
    }
}
