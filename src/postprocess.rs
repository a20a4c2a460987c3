//! From probabilities to the final mask: the threshold, then optionally "keep the largest
//! connected region".
//!
//! Why the second step exists: after cleaning, every image of this kind of dataset carries exactly one
//! tumour annotation, so a prediction with several blobs has at least one false blob. Whether dropping
//! all but the largest helps is decided on the valid split by `tune-threshold` (it can also cut off
//! a real second lobe), never assumed.
use crate::predict::ProbMap;
use image::{GrayImage, Luma};
use imageproc::region_labelling::{connected_components, Connectivity};
use serde::{Deserialize, Serialize};

/// What happens to the binary mask after thresholding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Postprocess {
    /// The thresholded mask as is.
    #[default]
    None,
    /// Keep only the largest 8-connected foreground region (ties: the one met first in raster order).
    Largest,
}

impl Postprocess {
    pub fn as_str(self) -> &'static str {
        match self {
            Postprocess::None => "none",
            Postprocess::Largest => "largest",
        }
    }

    pub fn apply(self, mask: GrayImage) -> GrayImage {
        match self {
            Postprocess::None => mask,
            Postprocess::Largest => largest_component(&mask),
        }
    }
}

/// `--postprocess` of tune-threshold and pipeline: which candidates the valid split chooses from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PostprocessChoice {
    /// Try both and keep the better mean Dice (ties keep `none`).
    #[default]
    Auto,
    None,
    Largest,
}

impl PostprocessChoice {
    pub fn candidates(self) -> Vec<Postprocess> {
        match self {
            PostprocessChoice::Auto => vec![Postprocess::None, Postprocess::Largest],
            PostprocessChoice::None => vec![Postprocess::None],
            PostprocessChoice::Largest => vec![Postprocess::Largest],
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
        self.postprocess.apply(prob.to_mask(self.threshold))
    }
}

/// 0/1 mask holding only the largest 8-connected region of the non-zero pixels of `mask`.
pub fn largest_component(mask: &GrayImage) -> GrayImage {
    let labels = connected_components(mask, Connectivity::Eight, Luma([0u8]));
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
    let data = labels
        .pixels()
        .map(|px| u8::from(keep > 0 && px[0] as usize == keep))
        .collect();
    GrayImage::from_raw(mask.width(), mask.height(), data).expect("same size as the input")
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
    }
}
