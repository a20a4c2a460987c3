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
    spacing: (f64, f64),
) -> Option<Surface> {
    let (w, h) = (width as usize, height as usize);
    let pred_edge = outline(pred, w, h);
    let truth_edge = outline(truth, w, h);
    // Only the box around both outlines matters: every distance is between two pixels inside it.
    let bounds = bounding_box(&pred_edge, w)?.union(bounding_box(&truth_edge, w)?);
    let pred_to_truth = distances(&pred_edge, &truth_edge, w, bounds, spacing);
    let truth_to_pred = distances(&truth_edge, &pred_edge, w, bounds, spacing);
    let hd95 = percentile(pred_to_truth.clone(), 0.95).max(percentile(truth_to_pred.clone(), 0.95));
    let n = (pred_to_truth.len() + truth_to_pred.len()) as f64;
    let assd = pred_to_truth.iter().chain(&truth_to_pred).sum::<f64>() / n;
    Some(Surface { hd95, assd })
}

/// The mask's pixels with a 4-neighbour outside it or on the image's edge.
fn outline(mask: &[u8], w: usize, h: usize) -> Vec<bool> {
    let inside = |x: usize, y: usize| mask[y * w + x] != 0;
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            inside(x, y)
                && (x == 0
                    || y == 0
                    || x + 1 == w
                    || y + 1 == h
                    || !inside(x - 1, y)
                    || !inside(x + 1, y)
                    || !inside(x, y - 1)
                    || !inside(x, y + 1))
        })
        .collect()
}

/// Inclusive pixel bounds (x0, y0, x1, y1).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bounds(usize, usize, usize, usize);

impl Bounds {
    fn union(self, o: Bounds) -> Bounds {
        Bounds(
            self.0.min(o.0),
            self.1.min(o.1),
            self.2.max(o.2),
            self.3.max(o.3),
        )
    }
}

fn bounding_box(set: &[bool], w: usize) -> Option<Bounds> {
    set.iter()
        .enumerate()
        .filter(|(_, &on)| on)
        .map(|(i, _)| Bounds(i % w, i / w, i % w, i / w))
        .reduce(Bounds::union)
}

/// Each `from` pixel's distance to the nearest `to` pixel, both inside `b`, pixels `spacing` apart.
fn distances(from: &[bool], to: &[bool], w: usize, b: Bounds, (dy, dx): (f64, f64)) -> Vec<f64> {
    let (bw, bh) = (b.2 - b.0 + 1, b.3 - b.1 + 1);
    let at = |x: usize, y: usize| (b.1 + y) * w + b.0 + x;
    // Felzenszwalb and Huttenlocher's exact transform, separable: along each row, then each column.
    let mut squared: Vec<f64> = (0..bw * bh)
        .map(|i| {
            if to[at(i % bw, i / bw)] {
                0.0
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let mut envelope = Envelope::default();
    let mut line = vec![0.0; bw.max(bh)];
    for row in squared.chunks_mut(bw) {
        line[..bw].copy_from_slice(row);
        envelope.transform(&line[..bw], dx, row);
    }
    let mut column = vec![0.0; bh];
    for x in 0..bw {
        (0..bh).for_each(|y| line[y] = squared[y * bw + x]);
        envelope.transform(&line[..bh], dy, &mut column);
        (0..bh).for_each(|y| squared[y * bw + x] = column[y]);
    }
    (0..bw * bh)
        .filter(|&i| from[at(i % bw, i / bw)])
        .map(|i| squared[i].sqrt())
        .collect()
}

/// The lower envelope of parabolas, kept between lines so that no line allocates.
#[derive(Default)]
struct Envelope {
    /// The roots of the parabolas on the envelope, and where each starts to be the lowest.
    hull: Vec<usize>,
    from: Vec<f64>,
}

impl Envelope {
    /// The 1-D squared distance transform of `f` with samples `step` apart into `out`: min over q of
    /// f(q) + (step·(p − q))², through the lower envelope of the parabolas rooted at finite f(q).
    fn transform(&mut self, f: &[f64], step: f64, out: &mut [f64]) {
        let s2 = step * step;
        let (hull, from) = (&mut self.hull, &mut self.from);
        hull.clear();
        from.clear();
        // Where the parabolas of q and r (q > r) cross.
        let cross = |q: usize, r: usize| {
            let (qf, rf) = (q as f64, r as f64);
            ((f[q] / s2 + qf * qf) - (f[r] / s2 + rf * rf)) / (2.0 * (qf - rf))
        };
        for q in (0..f.len()).filter(|&q| f[q].is_finite()) {
            let Some(&last) = hull.last() else {
                hull.push(q);
                from.push(f64::NEG_INFINITY);
                continue;
            };
            let mut s = cross(q, last);
            while s <= *from.last().expect("as long as hull") {
                hull.pop();
                from.pop();
                s = cross(q, *hull.last().expect("the first parabola stays"));
            }
            hull.push(q);
            from.push(s);
        }
        if hull.is_empty() {
            out.fill(f64::INFINITY);
            return;
        }
        let mut k = 0;
        for (p, v) in out.iter_mut().enumerate() {
            while k + 1 < hull.len() && from[k + 1] < p as f64 {
                k += 1;
            }
            let d = step * (p as f64 - hull[k] as f64);
            *v = f[hull[k]] + d * d;
        }
    }
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

/// The summary as the report's sentence.
pub fn describe(s: &Summary) -> String {
    format!(
        "Boundary distances in {}, over the {} where both the prediction and the truth have \
         tumour ({} with tumour on one side only are not counted): HD95 mean {:.2}, median {:.2}; \
         average symmetric surface distance mean {:.2}, median {:.2}.",
        s.unit.words(),
        crate::report::count(s.n_images, "image"),
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
    fn the_transform_is_exact_with_unequal_spacing() {
        // Random blobs, distances against a brute-force search over every pair of outline pixels.
        let (w, h, spacing) = (23usize, 17usize, (1.3, 0.7));
        let mut state = 12345u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33).is_multiple_of(5)
        };
        let a: Vec<bool> = (0..w * h).map(|_| noise()).collect();
        let b: Vec<bool> = (0..w * h).map(|_| noise()).collect();
        let all = Bounds(0, 0, w - 1, h - 1);
        let got = distances(&a, &b, w, all, spacing);
        let want: Vec<f64> = (0..w * h)
            .filter(|&i| a[i])
            .map(|i| {
                (0..w * h)
                    .filter(|&j| b[j])
                    .map(|j| {
                        let dy = (i / w) as f64 - (j / w) as f64;
                        let dx = (i % w) as f64 - (j % w) as f64;
                        ((dy * spacing.0).powi(2) + (dx * spacing.1).powi(2)).sqrt()
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
