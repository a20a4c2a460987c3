//! How far a predicted outline strays from the true one, in mm (or pixels): the 95th-percentile Hausdorff
//! distance (HD95) and the average symmetric surface distance (ASSD), as MONAI computes them and as
//! segmentation challenges (BraTS) report them beside Dice. Overlap scores hide a mask that covers
//! the tumour but spills along one edge, or a stray blob far from it; these do not.
//!
//! An outline is a mask's pixels with a background pixel (or the image's edge) among their four
//! neighbours (the mask minus its erosion). Each outline pixel's distance to the other outline is
//! Euclidean, through an exact distance transform that weighs rows and columns by the pixel spacing
//! (as MONAI's `spacing`, scipy's `sampling`). HD95 is the larger of the two directed 95th percentiles
//! (linear interpolation, as `torch.quantile`), ASSD the mean over both outlines' distances.
use super::distance::{self, Grid};
use serde::{Deserialize, Serialize};

/// What boundary distances are measured in: mm when every image of a split has its pixel spacing
/// (`pixel_spacing` in the annotation file, as `from-nifti` and `from-seg` write it), else pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    #[default]
    Px,
    Mm,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Px => "px",
            Unit::Mm => "mm",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Unit::Px => "pixels",
            Unit::Mm => "mm",
        }
    }
}

/// One image's boundary distances, in the unit of the spacing they were computed with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Surface {
    pub hd95: f64,
    pub assd: f64,
}

/// The boundary distances between two masks (nonzero = tumour) of `width` × `height`, row by row,
/// whose pixels are `spacing` apart (between rows, between columns; (1, 1) for pixels); None when
/// either is empty: the distance to no outline is undefined.
pub fn surface(
    pred: &[u8],
    truth: &[u8],
    (width, height): (u32, u32),
    (rows, columns): (f64, f64),
) -> Option<Surface> {
    let grid = Grid {
        w: width as usize,
        h: height as usize,
        n: 1,
        spacing: [1.0, rows, columns],
    };
    volume_surface(pred, truth, grid)
}

/// The boundary distances between two volumes' masks on `grid` (slice by slice), their outlines and
/// distances in 3-D, as BraTS scores a case; None when either is empty. One slice is an image.
pub fn volume_surface(pred: &[u8], truth: &[u8], grid: Grid) -> Option<Surface> {
    let pred_edge = outline(pred, grid);
    let truth_edge = outline(truth, grid);
    // Only the box around both outlines matters: every distance is between two voxels inside it.
    let bounds = bounding_box(&pred_edge, grid)?.union(bounding_box(&truth_edge, grid)?);
    let (pred_to_truth, truth_to_pred) = rayon::join(
        || distances(&pred_edge, &truth_edge, grid, bounds),
        || distances(&truth_edge, &pred_edge, grid, bounds),
    );
    let hd95 = percentile(pred_to_truth.clone(), 0.95).max(percentile(truth_to_pred.clone(), 0.95));
    let n = (pred_to_truth.len() + truth_to_pred.len()) as f64;
    let assd = pred_to_truth.iter().chain(&truth_to_pred).sum::<f64>() / n;
    Some(Surface { hd95, assd })
}

/// A voxel's coordinates (x, y, z) on `g`.
fn coordinates(i: usize, g: Grid) -> [usize; 3] {
    [i % g.w, i / g.w % g.h, i / (g.w * g.h)]
}

/// The mask's voxels with a face neighbour outside it or on the grid's edge: 4 neighbours in a
/// slice, and the two beside it in the neighbouring slices when there are several.
fn outline(mask: &[u8], g: Grid) -> Vec<bool> {
    let inside = |[x, y, z]: [usize; 3]| mask[(z * g.h + y) * g.w + x] != 0;
    (0..g.voxels())
        .map(|i| {
            let [x, y, z] = coordinates(i, g);
            let in_plane = x == 0
                || y == 0
                || x + 1 == g.w
                || y + 1 == g.h
                || !inside([x - 1, y, z])
                || !inside([x + 1, y, z])
                || !inside([x, y - 1, z])
                || !inside([x, y + 1, z]);
            let across = g.n > 1
                && (z == 0 || z + 1 == g.n || !inside([x, y, z - 1]) || !inside([x, y, z + 1]));
            inside([x, y, z]) && (in_plane || across)
        })
        .collect()
}

/// Inclusive voxel bounds: the lowest (x, y, z), the highest.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bounds([usize; 3], [usize; 3]);

impl Bounds {
    fn union(self, o: Bounds) -> Bounds {
        Bounds(
            [0, 1, 2].map(|k| self.0[k].min(o.0[k])),
            [0, 1, 2].map(|k| self.1[k].max(o.1[k])),
        )
    }
}

fn bounding_box(set: &[bool], g: Grid) -> Option<Bounds> {
    set.iter()
        .enumerate()
        .filter(|(_, &on)| on)
        .map(|(i, _)| Bounds(coordinates(i, g), coordinates(i, g)))
        .reduce(Bounds::union)
}

/// Each `from` voxel's distance to the nearest `to` voxel, both inside `b`.
fn distances(from: &[bool], to: &[bool], g: Grid, b: Bounds) -> Vec<f64> {
    let [w, h, n] = [0, 1, 2].map(|k| b.1[k] - b.0[k] + 1);
    let inner = Grid { w, h, n, ..g };
    let at = |i: usize| {
        let [x, y, z] = coordinates(i, inner);
        ((b.0[2] + z) * g.h + b.0[1] + y) * g.w + b.0[0] + x
    };
    let to_inner: Vec<bool> = (0..inner.voxels()).map(|i| to[at(i)]).collect();
    let squared = distance::squared(&to_inner, inner);
    (0..inner.voxels())
        .filter(|&i| from[at(i)])
        .map(|i| squared[i].sqrt())
        .collect()
}

/// The `q` quantile with linear interpolation between the closest ranks (numpy's and torch's
/// default); `values` is not empty.
fn percentile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    super::bootstrap::quantile(&values, q)
}

/// HD95 and ASSD over a split's images: over those where both masks have tumour, the others
/// counted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Images where both the prediction and the truth have tumour (the distances are defined).
    pub n_images: usize,
    /// Images where exactly one of them has tumour (a missed tumour or a false alarm).
    pub n_one_sided: usize,
    pub hd95_mean: f64,
    pub hd95_median: f64,
    pub assd_mean: f64,
    pub assd_median: f64,
    /// Reports written before mm existed are in pixels.
    #[serde(default)]
    pub unit: Unit,
}

/// The summary of per-image distances (None for an image where they are undefined), and how many
/// images had tumour on one side only; None when no image has both.
pub fn summarize(per_image: &[Option<Surface>], n_one_sided: usize, unit: Unit) -> Option<Summary> {
    let defined: Vec<Surface> = per_image.iter().flatten().copied().collect();
    if defined.is_empty() {
        return None;
    }
    let n = defined.len() as f64;
    let hd95: Vec<f64> = defined.iter().map(|s| s.hd95).collect();
    let assd: Vec<f64> = defined.iter().map(|s| s.assd).collect();
    Some(Summary {
        n_images: defined.len(),
        n_one_sided,
        hd95_mean: hd95.iter().sum::<f64>() / n,
        hd95_median: percentile(hd95, 0.5),
        assd_mean: assd.iter().sum::<f64>() / n,
        assd_median: percentile(assd, 0.5),
        unit,
    })
}

/// The summary as the report's sentence, over images or, in 3-D, over `volumes`.
pub fn describe(s: &Summary, volumes: bool) -> String {
    let (how, what) = match volumes {
        true => ("Boundary distances per volume, in 3-D,", "volume"),
        false => ("Boundary distances", "image"),
    };
    format!(
        "{how} in {}, over the {} where both the prediction and the truth have \
         tumour ({} with tumour on one side only are not counted): HD95 mean {:.2}, median {:.2}; \
         average symmetric surface distance mean {:.2}, median {:.2}.",
        s.unit.words(),
        crate::report::count(s.n_images, what),
        s.n_one_sided,
        s.hd95_mean,
        s.hd95_median,
        s.assd_mean,
        s.assd_median
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` × `h` mask with the rectangle [x0, x1) × [y0, y1) set.
    fn rect(w: usize, h: usize, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> Vec<u8> {
        (0..w * h)
            .map(|i| u8::from((x0..x1).contains(&(i % w)) && (y0..y1).contains(&(i / w))))
            .collect()
    }

    #[test]
    fn a_square_shifted_by_three_pixels_is_three_pixels_off() {
        // 5 × 5 squares, the prediction 3 columns to the right: each outline is 16 pixels. The
        // left column of the truth is 3 from the prediction's outline, its top and bottom rows
        // lie on or beside it (distances 0 or ≤ 3), as computed by hand below.
        let truth = rect(20, 20, (5, 5, 10, 10));
        let pred = rect(20, 20, (8, 5, 13, 10));
        let s = surface(&pred, &truth, (20, 20), (1.0, 1.0)).unwrap();
        // Truth's outline to the prediction's: x = 5 (5 pixels): 3; x = 6, 7 on rows 5 and 9
        // (4 pixels): 2, 1; x = 8, 9 on rows 5 and 9 (4): 0; x = 9, rows 6–8 (3): 1 (to x = 8).
        // The prediction's is the mirror image.
        let one_way = [3.0; 5]
            .iter()
            .chain(&[2.0, 2.0, 1.0, 1.0])
            .chain(&[0.0; 4])
            .chain(&[1.0; 3])
            .copied()
            .collect::<Vec<f64>>();
        let assd = one_way.iter().sum::<f64>() / one_way.len() as f64;
        assert!((s.assd - assd).abs() < 1e-12, "{s:?} {assd}");
        assert!((s.hd95 - 3.0).abs() < 1e-12, "{s:?}");
        assert_eq!(
            surface(&truth, &truth, (20, 20), (1.0, 1.0)),
            Some(Surface {
                hd95: 0.0,
                assd: 0.0
            })
        );
    }

    #[test]
    fn a_far_blob_raises_hd95_though_dice_stays_high() {
        let truth = rect(64, 64, (10, 10, 20, 20));
        let mut pred = truth.clone();
        // A 3 × 3 blob at x 50–52, y 15–17: Dice 200/209 = 0.96.
        for i in 0..9 {
            pred[(15 + i / 3) * 64 + 50 + i % 3] = 1;
        }
        let s = surface(&pred, &truth, (64, 64), (1.0, 1.0)).unwrap();
        // The prediction's outline: the truth's 36 pixels (distance 0) and the blob's 8, at 31 (x 50,
        // 3 pixels), 32 (x 51, 2) and 33 (x 52, 3) from the truth's right column (x 19). Rank
        // 0.95 × 43 = 40.85 lies between 32 and 33; the truth's outline is all at 0.
        assert!((s.hd95 - 32.85).abs() < 1e-9, "{s:?}");
        assert!((s.assd - 256.0 / 80.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn the_transform_is_exact_in_3d_with_unequal_spacing() {
        // Random voxels, distances against a brute-force search over every pair.
        let g = Grid {
            w: 23,
            h: 17,
            n: 5,
            spacing: [2.5, 1.3, 0.7],
        };
        let mut state = 12345u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33).is_multiple_of(7)
        };
        let a: Vec<bool> = (0..g.voxels()).map(|_| noise()).collect();
        let b: Vec<bool> = (0..g.voxels()).map(|_| noise()).collect();
        let all = Bounds([0, 0, 0], [g.w - 1, g.h - 1, g.n - 1]);
        let got = distances(&a, &b, g, all);
        let mm = |i: usize| {
            let [x, y, z] = coordinates(i, g);
            [z as f64 * 2.5, y as f64 * 1.3, x as f64 * 0.7]
        };
        let want: Vec<f64> = (0..g.voxels())
            .filter(|&i| a[i])
            .map(|i| {
                (0..g.voxels())
                    .filter(|&j| b[j])
                    .map(|j| {
                        let (p, q) = (mm(i), mm(j));
                        (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>().sqrt()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "{g} vs {w}");
        }
        // The shifted squares with columns 0.5 mm apart: 3 columns off is 1.5 mm.
        let truth = rect(20, 20, (5, 5, 10, 10));
        let pred = rect(20, 20, (8, 5, 13, 10));
        let s = surface(&pred, &truth, (20, 20), (2.0, 0.5)).unwrap();
        assert!((s.hd95 - 1.5).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn empty_masks_have_no_distance_and_the_summary_counts_them() {
        let empty = vec![0u8; 16];
        let some = rect(4, 4, (1, 1, 3, 3));
        assert_eq!(surface(&empty, &some, (4, 4), (1.0, 1.0)), None);
        assert_eq!(surface(&some, &empty, (4, 4), (1.0, 1.0)), None);
        assert_eq!(surface(&empty, &empty, (4, 4), (1.0, 1.0)), None);
        // A mask on the image's edge is all outline.
        let full = vec![1u8; 16];
        let s = surface(&full, &full, (4, 4), (1.0, 1.0)).unwrap();
        assert_eq!((s.hd95, s.assd), (0.0, 0.0));
        let per = [
            Some(Surface {
                hd95: 1.0,
                assd: 0.5,
            }),
            None,
            Some(Surface {
                hd95: 4.0,
                assd: 1.5,
            }),
            Some(Surface {
                hd95: 2.0,
                assd: 1.0,
            }),
        ];
        let sum = summarize(&per, 1, Unit::Px).unwrap();
        assert_eq!((sum.n_images, sum.n_one_sided), (3, 1));
        assert_eq!((sum.hd95_mean, sum.hd95_median), (7.0 / 3.0, 2.0));
        assert_eq!((sum.assd_mean, sum.assd_median), (1.0, 1.0));
        assert_eq!(summarize(&[None], 1, Unit::Mm), None);
    }
}
