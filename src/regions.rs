//! A mask's tumour regions, as `predict` reports them (predictions.csv's `regions`, one COCO result
//! each): 8-connected, as `--postprocess largest` and `one` count them, so that the one region they
//! keep is reported as one. Each region keeps its exact pixels, holes included, as a COCO RLE.
use crate::mask::Runs;
use crate::postprocess::label_components;
use image::GrayImage;
use imageproc::region_labelling::Connectivity;

/// One 8-connected region of a mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// Its pixels as a column-major COCO RLE of the whole mask (`mask::rle_to_mask` gives it back).
    pub counts: Vec<u32>,
    /// Pixels in the region.
    pub area: u64,
    /// `[x, y, width, height]` of its pixels, as COCO's (and pycocotools' `toBbox`).
    pub bbox: [u32; 4],
    /// Mean probability over the region (1 when no probabilities were given).
    pub score: f64,
}

/// What a region gathers while its pixels are met in column-major order.
struct Gathered {
    runs: Runs,
    /// Its first pixel in raster order (y, x), which orders the regions.
    first: (u32, u32),
    min: (u32, u32),
    max: (u32, u32),
    area: u64,
    prob: f64,
}

/// Every region of the non-zero pixels of `mask`, in raster order of their first pixel; `probs`
/// (row-major, one per pixel) give their scores.
pub fn regions(mask: &GrayImage, probs: Option<&[f32]>) -> Vec<Region> {
    let labels = label_components(mask, Connectivity::Eight);
    let (w, h) = mask.dimensions();
    let mut gathered: Vec<Option<Gathered>> = Vec::new();
    // Column by column, as COCO's RLE runs, so that each region's runs come in order.
    for x in 0..w {
        for y in 0..h {
            let l = labels.get_pixel(x, y)[0] as usize;
            if l == 0 {
                continue;
            }
            if gathered.len() <= l {
                gathered.resize_with(l + 1, || None);
            }
            let g = gathered[l].get_or_insert_with(|| Gathered {
                runs: Runs::default(),
                first: (y, x),
                min: (x, y),
                max: (x, y),
                area: 0,
                prob: 0.0,
            });
            g.runs.on((x * h + y) as usize);
            g.first = g.first.min((y, x));
            g.min = (g.min.0.min(x), g.min.1.min(y));
            g.max = (g.max.0.max(x), g.max.1.max(y));
            g.area += 1;
            g.prob += probs.map_or(1.0, |p| f64::from(p[(y * w + x) as usize]));
        }
    }
    let mut found: Vec<Gathered> = gathered.into_iter().flatten().collect();
    found.sort_by_key(|g| g.first);
    found
        .into_iter()
        .map(|g| Region {
            counts: g.runs.finish((w * h) as usize),
            area: g.area,
            bbox: [
                g.min.0,
                g.min.1,
                g.max.0 - g.min.0 + 1,
                g.max.1 - g.min.1 + 1,
            ],
            score: g.prob / g.area as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::rle_to_mask;

    fn mask(rows: &[&str]) -> GrayImage {
        let w = rows[0].len() as u32;
        let px = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')));
        GrayImage::from_raw(w, rows.len() as u32, px.collect()).unwrap()
    }

    #[test]
    fn pixels_touching_at_a_corner_are_one_region() {
        // A diagonal chain and a ring around a hole: two regions, as `largest` counts them.
        let m = mask(&[
            "#......", //
            ".#..###", //
            "..#.#.#", //
            "....###", //
        ]);
        let found = regions(&m, None);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].area, found[0].bbox), (3, [0, 0, 3, 3]));
        assert_eq!((found[1].area, found[1].bbox), (8, [4, 1, 3, 3]));
        assert_eq!(found[1].score, 1.0);
        // Each region's RLE gives back its pixels exactly, the ring's hole too, and together they are
        // the mask.
        let (w, h) = m.dimensions();
        let mut union = GrayImage::new(w, h);
        for r in &found {
            let back = rle_to_mask(&r.counts, w, h);
            assert_eq!(back.iter().map(|&v| u64::from(v)).sum::<u64>(), r.area);
            for (u, b) in union.iter_mut().zip(back.iter()) {
                assert!(*u == 0 || *b == 0, "regions do not overlap");
                *u |= b;
            }
        }
        assert_eq!(union, m);
    }

    #[test]
    fn scores_are_mean_probabilities_and_an_empty_mask_has_no_region() {
        let m = mask(&["##.", "..#"]);
        let probs = [0.9, 0.7, 0.0, 0.0, 0.0, 0.5];
        let found = regions(&m, Some(&probs));
        assert_eq!(found.len(), 1);
        assert!((found[0].score - 0.7).abs() < 1e-6, "{found:?}");
        assert!(regions(&mask(&["..."]), None).is_empty());
        assert_eq!(regions(&mask(&["#"]), None)[0].counts, [0, 1]);
    }
}
