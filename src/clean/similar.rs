//! Near-identical images in different splits. A slice-level split of MRI scans puts neighbouring
//! slices of one scan into train and test; byte hashes cannot see that, a thumbnail correlation can.
//! On the brain-tumour dataset (2026-11-27) 274 images have a match at 0.97 or more, and for 265 of
//! them the two source numbers are at most 3 apart (neighbouring slices); the bundled fixture's
//! closest pair across splits is at 0.93.
use super::files::{FileState, SplitData};
use super::SplitStats;
use image::{imageops::FilterType, DynamicImage};
use rayon::prelude::*;

/// Side of the grey thumbnails compared.
const SIDE: u32 = 32;

/// The correlation from which two images count as near-identical, unless `--similar-above` says otherwise.
pub const DEFAULT_THRESHOLD: f32 = 0.97;

/// A grey thumbnail with zero mean and unit norm: the dot product of two is their Pearson
/// correlation, blind to brightness and contrast (and to JPEG re-encoding, which only adds noise).
#[derive(Clone, Debug)]
pub struct Thumb(Vec<f32>);

impl Thumb {
    /// None for a flat image (a blank slice), which correlates with nothing.
    pub fn new(img: &DynamicImage) -> Option<Thumb> {
        let small = image::imageops::resize(&img.to_luma8(), SIDE, SIDE, FilterType::Triangle);
        let mut v: Vec<f32> = small.into_raw().into_iter().map(f32::from).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        v.iter_mut().for_each(|x| *x -= mean);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        (norm > 1e-3).then(|| {
            v.iter_mut().for_each(|x| *x /= norm);
            Thumb(v)
        })
    }

    pub fn correlation(&self, other: &Thumb) -> f32 {
        // Eight running sums, so that the compiler can keep them in one vector register.
        let mut acc = [0f32; 8];
        for (a, b) in self.0.chunks_exact(8).zip(other.0.chunks_exact(8)) {
            for k in 0..8 {
                acc[k] += a[k] * b[k];
            }
        }
        acc.iter().sum()
    }
}

/// An image's closest image in another split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    pub split: usize,
    pub index: usize,
    pub correlation: f32,
}

/// For every image (`thumbs[split][image]`), its most correlated image in another split, when that
/// correlation reaches `threshold` (ties: the later image); pairs for which `exclude(a, b)` holds
/// (byte-identical copies, reported as leaks already; it must be symmetric) are passed over. Every
/// pair is correlated once: quadratic in the image count.
pub fn best_matches(
    thumbs: &[Vec<Option<&Thumb>>],
    threshold: f32,
    exclude: impl Fn((usize, usize), (usize, usize)) -> bool + Sync,
) -> Vec<Vec<Option<Match>>> {
    let all: Vec<(usize, usize, &Thumb)> = thumbs
        .iter()
        .enumerate()
        .flat_map(|(s, v)| {
            v.iter()
                .enumerate()
                .filter_map(move |(i, t)| t.map(|t| (s, i, t)))
        })
        .collect();
    let n = all.len();
    // best[k]: (correlation, index into `all`) of k's best partner so far. A pair (a, b), a < b, is
    // correlated once and offered to both; (correlation, index) order keeps the later of equal ones.
    type Best = Vec<Option<(f32, usize)>>;
    let offer = |best: &mut Best, k: usize, c: f32, other: usize| {
        if best[k].is_none_or(|cur| (c, other) > cur) {
            best[k] = Some((c, other));
        }
    };
    let best: Best = (0..n)
        .into_par_iter()
        .fold(
            || vec![None; n],
            |mut best: Best, a| {
                let (sa, ia, ta) = all[a];
                for (b, &(sb, ib, tb)) in all.iter().enumerate().skip(a + 1) {
                    if sa == sb || exclude((sa, ia), (sb, ib)) {
                        continue;
                    }
                    let c = ta.correlation(tb);
                    if c >= threshold {
                        offer(&mut best, a, c, b);
                        offer(&mut best, b, c, a);
                    }
                }
                best
            },
        )
        .reduce(
            || vec![None; n],
            |mut x, y| {
                for (k, found) in y.into_iter().enumerate() {
                    if let Some((c, other)) = found {
                        offer(&mut x, k, c, other);
                    }
                }
                x
            },
        );
    let mut out: Vec<Vec<Option<Match>>> = thumbs.iter().map(|v| vec![None; v.len()]).collect();
    for (&(s, i, _), found) in all.iter().zip(best) {
        out[s][i] = found.map(|(correlation, k)| Match {
            split: all[k].0,
            index: all[k].1,
            correlation,
        });
    }
    out
}

/// Per split and image, its closest image in another split when the thumbnails correlate at least
/// `threshold`; byte-identical copies are leaks, reported as such, not here.
pub(super) fn near_identical(data: &[SplitData], threshold: f32) -> Vec<Vec<Option<Match>>> {
    let thumbs: Vec<Vec<Option<&Thumb>>> = data
        .iter()
        .map(|d| {
            d.states
                .iter()
                .map(|st| match st {
                    FileState::Ok(_, t) => t.as_ref(),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let hash = |(s, i): (usize, usize)| match &data[s].states[i] {
        FileState::Ok(h, _) => Some(*h),
        _ => None,
    };
    best_matches(&thumbs, threshold, |a, b| hash(a) == hash(b))
}

/// Count and list the images of split `split` that `found` a near-identical image elsewhere.
pub(super) fn record(
    data: &[SplitData],
    split: usize,
    found: &[Option<Match>],
    s: &mut SplitStats,
) {
    let images = &data[split].file.images;
    for (img, m) in images.iter().zip(found) {
        if let Some(m) = m {
            let other = &data[m.split];
            s.similar += 1;
            s.similar_files.push((
                img.file_name.clone(),
                format!("{}/{}", other.name, other.file.images[m.index].file_name),
                (m.correlation * 1e4).round() / 1e4,
            ));
        }
    }
}

/// Stems of `split`'s images that `clean` found near-identical to an image of another split, from
/// `<root>/clean_report.json`; None when there is no such report (or it predates the check).
pub fn similar_stems(
    root: &std::path::Path,
    split: &str,
) -> Option<std::collections::HashSet<String>> {
    let text = std::fs::read_to_string(root.join(super::REPORT)).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    let split = report.get(split)?;
    // Byte-identical copies (leaked) are no more independent than near-identical ones.
    let files = split.get("similar_files")?.as_array()?;
    let leaked = split.get("leaked_files").and_then(|l| l.as_array());
    Some(
        (files.iter().chain(leaked.into_iter().flatten()))
            .filter_map(|f| f.get(0)?.as_str())
            .map(|name| {
                std::path::Path::new(name)
                    .file_stem()
                    .map_or(name.into(), |s| s.to_string_lossy().into_owned())
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    fn pattern(f: impl Fn(u32, u32) -> u8) -> DynamicImage {
        DynamicImage::ImageLuma8(GrayImage::from_fn(64, 64, |x, y| Luma([f(x, y)])))
    }

    #[test]
    fn correlation_ignores_brightness_and_contrast_and_sees_inversion() {
        let base = |x: u32, y: u32| ((x * 3 + y * 2) % 120) as u8;
        let a = Thumb::new(&pattern(base)).unwrap();
        let brighter = Thumb::new(&pattern(|x, y| 2 * base(x, y) + 10)).unwrap();
        let inverted = Thumb::new(&pattern(|x, y| 255 - base(x, y))).unwrap();
        assert!((a.correlation(&a) - 1.0).abs() < 1e-5);
        assert!((a.correlation(&brighter) - 1.0).abs() < 1e-3);
        assert!((a.correlation(&inverted) + 1.0).abs() < 1e-3);
        assert!(
            Thumb::new(&pattern(|_, _| 77)).is_none(),
            "a flat image has no thumbnail"
        );
    }

    #[test]
    fn best_matches_look_across_splits_only_and_skip_exclusions() {
        let t = |f: fn(u32, u32) -> u8| Thumb::new(&pattern(f));
        let stripes = |x: u32, _y: u32| (x % 16 * 16) as u8;
        let nearly = |x: u32, y: u32| (x % 16 * 16) as u8 + (y % 3) as u8;
        let other = |x: u32, y: u32| ((x * y) % 251) as u8;
        // Split 0 holds the stripes twice (a same-split pair is never reported) and another picture;
        // split 1 a near copy of the stripes and a flat image.
        let owned = [
            vec![t(stripes), t(stripes), t(other)],
            vec![t(nearly), Thumb::new(&pattern(|_, _| 9))],
        ];
        let thumbs: Vec<Vec<Option<&Thumb>>> = owned
            .iter()
            .map(|v| v.iter().map(Option::as_ref).collect())
            .collect();
        let m = best_matches(&thumbs, 0.97, |_, _| false);
        assert_eq!(m[0][0].map(|m| (m.split, m.index)), Some((1, 0)));
        // (0,0) and (0,1) are the same picture, equally close: the later one wins the tie.
        assert_eq!(m[1][0].map(|m| (m.split, m.index)), Some((0, 1)));
        assert_eq!(m[0][1].map(|m| (m.split, m.index)), Some((1, 0)));
        assert!(m[1][0].unwrap().correlation > 0.97);
        assert_eq!((m[0][2], m[1][1]), (None, None));
        // Excluding the pair (0,0)–(1,0) leaves (0,1) as the near copy's match.
        let m = best_matches(&thumbs, 0.97, |a, b| {
            [a, b].contains(&(0, 0)) && [a, b].contains(&(1, 0))
        });
        assert_eq!(m[1][0].map(|m| (m.split, m.index)), Some((0, 1)));
        assert_eq!(m[0][0], None);
    }
}
