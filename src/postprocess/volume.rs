//! Post-processing of a volume's slices together. A tumour spans slices, so slice by slice `largest`
//! keeps a false blob on every slice that has one, and `one`, which fills an empty prediction, paints a
//! tumour on every slice of the scan, the tumour-free ones included. On a volume both act in 3-D: the
//! largest 26-connected region of the whole volume (8-connected within a slice, as on images, and
//! through faces, edges and corners to the neighbouring slices), and for `one` on an empty volume, the
//! region around the volume's most probable voxel.
use super::{Decision, Postprocess};
use crate::predict::ProbMap;
use anyhow::{ensure, Result};
use image::GrayImage;

/// A volume's shape: `n` slices of `w` × `h`, voxels indexed slice by slice, then row by row.
#[derive(Clone, Copy, Debug)]
struct Grid {
    w: usize,
    h: usize,
    n: usize,
}

impl Grid {
    fn len(self) -> usize {
        self.w * self.h * self.n
    }

    /// The up to 26 voxels touching voxel `i`.
    fn neighbours(self, i: usize) -> impl Iterator<Item = usize> {
        let (x, y, z) = (i % self.w, i / self.w % self.h, i / (self.w * self.h));
        let near = |v: usize, len: usize| v.saturating_sub(1)..=(v + 1).min(len - 1);
        near(z, self.n)
            .flat_map(move |zz| near(y, self.h).map(move |yy| (zz, yy)))
            .flat_map(move |(zz, yy)| near(x, self.w).map(move |xx| (zz, yy, xx)))
            .map(move |(zz, yy, xx)| (zz * self.h + yy) * self.w + xx)
            .filter(move |&j| j != i)
    }

    /// Whether voxel `i` has all 26 neighbours.
    fn interior(self, i: usize) -> bool {
        let (x, y, z) = (i % self.w, i / self.w % self.h, i / (self.w * self.h));
        let inside = |v: usize, len: usize| v > 0 && v + 1 < len;
        inside(x, self.w) && inside(y, self.h) && inside(z, self.n)
    }

    /// Mark `seed`'s 26-connected region of `on` in `seen`; its size.
    fn flood(self, on: &[bool], seed: usize, seen: &mut [bool]) -> usize {
        // Inside the volume a neighbour is a fixed step away: 4× faster than bounds-checked
        // coordinates on a region of 8 million voxels.
        let (w, plane) = (self.w as isize, (self.w * self.h) as isize);
        let steps: Vec<isize> = (-1..=1)
            .flat_map(|z| (-1..=1).flat_map(move |y| (-1..=1).map(move |x| z * plane + y * w + x)))
            .filter(|&step| step != 0)
            .collect();
        let (mut stack, mut size) = (vec![seed], 0);
        seen[seed] = true;
        let mut visit = |j: usize, stack: &mut Vec<usize>| {
            if on[j] && !seen[j] {
                seen[j] = true;
                stack.push(j);
            }
        };
        while let Some(i) = stack.pop() {
            size += 1;
            if self.interior(i) {
                for &step in &steps {
                    visit(i.wrapping_add_signed(step), &mut stack);
                }
            } else {
                for j in self.neighbours(i) {
                    visit(j, &mut stack);
                }
            }
        }
        size
    }

    /// Only `seed`'s region of `on`.
    fn region(self, on: &[bool], seed: usize) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        self.flood(on, seed, &mut seen);
        seen
    }

    /// Only the largest region of `on`; ties keep the one met first, slice by slice in raster order,
    /// as on images. Two passes over a visited map, not a label per voxel: a 512² × 300 volume would
    /// need 300 MB of labels.
    fn largest(self, on: &[bool]) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut best: Option<(usize, usize)> = None;
        for i in 0..on.len() {
            if on[i] && !seen[i] {
                let size = self.flood(on, i, &mut seen);
                if best.is_none_or(|(s, _)| size > s) {
                    best = Some((size, i));
                }
            }
        }
        match best {
            Some((_, seed)) => self.region(on, seed),
            None => vec![false; self.len()],
        }
    }
}

impl Decision {
    /// The final 0/1 masks of a volume's slices (lowest first, all of one size): thresholded, then
    /// post-processed in 3-D (see the module's notes). For one slice this is [`Decision::mask`].
    pub fn volume_masks(&self, probs: &[ProbMap]) -> Result<Vec<GrayImage>> {
        let Some(first) = probs.first() else {
            return Ok(Vec::new());
        };
        let (w, h) = (first.width, first.height);
        ensure!(
            probs.iter().all(|p| (p.width, p.height) == (w, h)),
            "the slices of a volume must have one size"
        );
        let grid = Grid {
            w: w as usize,
            h: h as usize,
            n: probs.len(),
        };
        let values = || probs.iter().flat_map(|p| p.data.iter().copied());
        let on: Vec<bool> = values().map(|p| p > self.threshold).collect();
        let kept = match self.postprocess {
            Postprocess::None => on,
            Postprocess::Largest => grid.largest(&on),
            Postprocess::One if on.contains(&true) => grid.largest(&on),
            Postprocess::One => {
                // The first most probable voxel, as on images.
                let (peak, max) =
                    values().enumerate().fold(
                        (0, 0f32),
                        |(i, m), (j, p)| if p > m { (j, p) } else { (i, m) },
                    );
                if max <= 0.0 {
                    vec![false; grid.len()]
                } else {
                    let half: Vec<bool> = values().map(|p| p > max / 2.0).collect();
                    grid.region(&half, peak)
                }
            }
        };
        let slice = grid.w * grid.h;
        Ok(kept
            .chunks(slice)
            .map(|s| {
                let data = s.iter().map(|&v| u8::from(v)).collect();
                GrayImage::from_raw(w, h, data).expect("one slice's voxels")
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A volume from its slices drawn as rows of `#` (tumour) and `.`, each voxel's probability
    /// 0.9 or 0.1.
    fn volume(slices: &[&[&str]]) -> Vec<ProbMap> {
        slices
            .iter()
            .map(|rows| ProbMap {
                width: rows[0].len() as u32,
                height: rows.len() as u32,
                data: rows
                    .iter()
                    .flat_map(|r| r.bytes().map(|b| if b == b'#' { 0.9 } else { 0.1 }))
                    .collect(),
            })
            .collect()
    }

    fn drawn(masks: &[GrayImage]) -> Vec<Vec<String>> {
        masks
            .iter()
            .map(|m| {
                m.rows()
                    .map(|r| r.map(|p| if p[0] == 1 { '#' } else { '.' }).collect())
                    .collect()
            })
            .collect()
    }

    fn decide(postprocess: Postprocess, threshold: f32, probs: &[ProbMap]) -> Vec<Vec<String>> {
        let decision = Decision {
            threshold,
            postprocess,
        };
        drawn(&decision.volume_masks(probs).unwrap())
    }

    #[test]
    fn largest_is_the_largest_region_of_the_volume_not_of_each_slice() {
        // A: 3 voxels on slice 0 only. B: 2 + 2 voxels on slices 1 and 2, touching through a face.
        // Slice by slice A would stay on slice 0; in the volume B (4) is larger.
        let v = volume(&[
            &["###...", "......"],
            &["....##", "......"],
            &["....##", "......"],
        ]);
        let want = [
            vec!["......", "......"],
            vec!["....##", "......"],
            vec!["....##", "......"],
        ];
        assert_eq!(decide(Postprocess::Largest, 0.5, &v), want);
        assert_eq!(decide(Postprocess::One, 0.5, &v), want);
        // none keeps all.
        let all = decide(Postprocess::None, 0.5, &v);
        assert_eq!(all[0], ["###...", "......"]);
    }

    #[test]
    fn regions_touch_through_corners_to_the_next_slice_but_not_across_a_gap() {
        // Corner to corner between slices 0 and 1 (26-connected): one region of 2, larger than
        // the single voxel on slice 3, which a blank slice 2 separates from it.
        let v = volume(&[
            &["#..", "..."],
            &["...", ".#."],
            &["...", "..."],
            &["..#", "..."],
        ]);
        let got = decide(Postprocess::Largest, 0.5, &v);
        assert_eq!(got[0], ["#..", "..."]);
        assert_eq!(got[1], ["...", ".#."]);
        assert_eq!(got[3], ["...", "..."]);
    }

    #[test]
    fn one_fills_an_empty_volume_once_around_its_most_probable_voxel() {
        // Nothing passes 0.95. The peak 0.8 is on slice 1; its half-maximum region (> 0.4) goes on
        // to slice 2. Slice 0's 0.35 is below half the volume's maximum: slice by slice it would get
        // a blob of its own, as would every slice of a scan.
        let prob = |data: Vec<f32>| ProbMap {
            width: 3,
            height: 1,
            data,
        };
        let v = vec![
            prob(vec![0.35, 0.0, 0.0]),
            prob(vec![0.0, 0.8, 0.0]),
            prob(vec![0.0, 0.0, 0.5]),
            prob(vec![0.6, 0.0, 0.0]),
        ];
        let got = decide(Postprocess::One, 0.95, &v);
        assert_eq!(got, [["..."], [".#."], ["..#"], ["..."]]);
        assert_eq!(decide(Postprocess::Largest, 0.95, &v), [["..."]; 4]);
        let zeros = vec![prob(vec![0.0; 3]), prob(vec![0.0; 3])];
        assert_eq!(decide(Postprocess::One, 0.5, &zeros), [["..."]; 2]);
    }

    #[test]
    fn one_slice_is_decided_as_an_image() {
        // Against imageproc's 8-connected labelling (Decision::mask), on pseudo-random masks.
        let mut state = 12345u32;
        for _ in 0..50 {
            let data: Vec<f32> = (0..7 * 6)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (state >> 16) as f32 / 65536.0
                })
                .collect();
            let p = ProbMap {
                width: 7,
                height: 6,
                data,
            };
            for postprocess in [Postprocess::None, Postprocess::Largest, Postprocess::One] {
                // 0.99: most masks are empty, so `one` falls back to the half-maximum region.
                for threshold in [0.6, 0.99] {
                    let d = Decision {
                        threshold,
                        postprocess,
                    };
                    let got = d.volume_masks(std::slice::from_ref(&p)).unwrap();
                    assert_eq!(got, [d.mask(&p)], "{postprocess:?} at {threshold}");
                }
            }
        }
    }

    #[test]
    fn regions_are_those_of_a_brute_force_labelling() {
        // 9 × 6 × 5 voxels, so that most have all 26 neighbours, and not square, so that rows and
        // columns cannot be mixed up unseen.
        let grid = Grid { w: 9, h: 6, n: 5 };
        let at = |i: usize| [i % 9, i / 9 % 6, i / 54].map(|v| v as isize);
        let touch = |a: usize, b: usize| at(a).iter().zip(at(b)).all(|(p, q)| (p - q).abs() <= 1);
        let mut state = 99u32;
        for _ in 0..20 {
            let on: Vec<bool> = (0..grid.len())
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (state >> 16) % 100 < 12
                })
                .collect();
            // Each voxel's region by growing it over every pair of touching voxels.
            let mut label: Vec<usize> = (0..on.len()).collect();
            loop {
                let mut changed = false;
                for a in (0..on.len()).filter(|&a| on[a]) {
                    for b in (0..on.len()).filter(|&b| on[b] && touch(a, b)) {
                        if label[b] < label[a] {
                            label[a] = label[b];
                            changed = true;
                        }
                    }
                }
                if !changed {
                    break;
                }
            }
            let size = |l: usize| (0..on.len()).filter(|&i| on[i] && label[i] == l).count();
            // The largest, first met on ties: its label is its first voxel.
            let best = (0..on.len()).filter(|&i| on[i] && label[i] == i).fold(
                None,
                |b: Option<usize>, l| match b {
                    Some(b) if size(b) >= size(l) => Some(b),
                    _ => Some(l),
                },
            );
            let want: Vec<bool> = (0..on.len())
                .map(|i| on[i] && Some(label[i]) == best)
                .collect();
            assert_eq!(grid.largest(&on), want);
        }
    }

    #[test]
    fn slices_of_two_sizes_are_refused() {
        let v = volume(&[&["#."], &["#..", "..."]]);
        let d = Decision {
            threshold: 0.5,
            postprocess: Postprocess::Largest,
        };
        assert!(d.volume_masks(&v).is_err());
        assert!(d.volume_masks(&[]).unwrap().is_empty());
    }
}
