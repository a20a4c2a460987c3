//! Splits whose images are slices of volumes (`<volume>_f<number>`, as from-nifti, from-seg and
//! predict name them): a volume's slices are decided together, as `predict` decides a volume (see
//! `postprocess::volume`), so that the scores, and the post-processing tuned on them, are those of
//! what `predict` does with the volume.
use crate::dataset::Sample;
use crate::postprocess::Decision;
use crate::predict::ProbMap;
use image::GrayImage;
use std::collections::HashMap;

/// A stem's volume and slice number: `scan_f012` → (`scan`, 12).
pub fn slice_of(stem: &str) -> Option<(&str, u32)> {
    let (volume, number) = stem.rsplit_once("_f")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((volume, number.parse().ok()?))
}

/// A slice on its way to its volume: its sample's index, its slice number, its probabilities.
pub type Slice = (usize, u32, ProbMap);

/// The volumes of a split, gathering each one's slices as their probabilities come.
pub struct Volumes {
    /// Per sample: its volume and slice number.
    slice: Vec<(usize, u32)>,
    /// Per volume: the slices not come yet.
    left: Vec<usize>,
    pending: HashMap<usize, Vec<Slice>>,
}

impl Volumes {
    /// When every sample is a slice of a volume and some volume has several; else None (images are
    /// decided one by one).
    pub fn of(samples: &[Sample]) -> Option<Volumes> {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let (mut slice, mut left) = (Vec::with_capacity(samples.len()), Vec::new());
        for s in samples {
            let (volume, number) = slice_of(&s.stem)?;
            let next = ids.len();
            let id = *ids.entry(volume).or_insert(next);
            if id == left.len() {
                left.push(0);
            }
            left[id] += 1;
            slice.push((id, number));
        }
        (left.len() < samples.len()).then(|| Volumes {
            slice,
            left,
            pending: HashMap::new(),
        })
    }

    /// Sample `i`'s probabilities; once the last slice of its volume has come, the volume's slices.
    pub fn add(&mut self, i: usize, prob: ProbMap) -> Option<Vec<Slice>> {
        let (volume, number) = self.slice[i];
        self.pending
            .entry(volume)
            .or_default()
            .push((i, number, prob));
        self.left[volume] -= 1;
        (self.left[volume] == 0).then(|| self.pending.remove(&volume).unwrap_or_default())
    }
}

/// A volume's slices stacked by slice number, one empty slice standing for each run of missing
/// numbers (a split from labelled slices lacks the ones without tumour), so that regions do not
/// join across a gap. Slices of different sizes cannot be stacked: they are decided one by one.
pub struct Stack {
    probs: Vec<ProbMap>,
    /// Per stacked slice: its sample, None for a gap.
    samples: Vec<Option<usize>>,
    together: bool,
}

impl Stack {
    pub fn new(mut slices: Vec<Slice>) -> Stack {
        slices.sort_by_key(|s| s.1);
        let size = |p: &ProbMap| (p.width, p.height);
        let together = slices.windows(2).all(|w| size(&w[0].2) == size(&w[1].2));
        let mut stack = Stack {
            probs: Vec::with_capacity(slices.len()),
            samples: Vec::with_capacity(slices.len()),
            together,
        };
        let mut last: Option<u32> = None;
        for (i, number, prob) in slices {
            if together && last.is_some_and(|l| number > l + 1) {
                stack.probs.push(ProbMap {
                    width: prob.width,
                    height: prob.height,
                    data: vec![0.0; prob.data.len()],
                });
                stack.samples.push(None);
            }
            last = Some(number);
            stack.probs.push(prob);
            stack.samples.push(Some(i));
        }
        stack
    }

    /// Each slice's mask under `decision` (sample, mask), by slice number.
    pub fn masks(&self, decision: Decision) -> Vec<(usize, GrayImage)> {
        let masks = match self.together {
            true => decision
                .volume_masks(&self.probs)
                .expect("a stack's slices share one size"),
            false => self.probs.iter().map(|p| decision.mask(p)).collect(),
        };
        self.samples
            .iter()
            .zip(masks)
            .filter_map(|(i, m)| Some(((*i)?, m)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::Postprocess;

    fn sample(stem: &str) -> Sample {
        Sample {
            id: 0,
            path: stem.into(),
            stem: stem.into(),
            width: 3,
            height: 1,
            segmentations: Vec::new(),
            spacing: None,
        }
    }

    fn prob(data: [f32; 3]) -> ProbMap {
        ProbMap {
            width: 3,
            height: 1,
            data: data.to_vec(),
        }
    }

    #[test]
    fn stems_name_their_volume_and_slice() {
        assert_eq!(slice_of("sub-01_T1w_f012"), Some(("sub-01_T1w", 12)));
        assert_eq!(slice_of("a_f_f3"), Some(("a_f", 3)));
        assert_eq!(slice_of("scan"), None);
        assert_eq!(slice_of("a_fx"), None);
        assert_eq!(slice_of("a_f"), None);
        let split =
            |stems: &[&str]| Volumes::of(&stems.iter().map(|s| sample(s)).collect::<Vec<_>>());
        assert!(split(&["a_f1", "a_f2", "b_f1"]).is_some());
        // Every volume a single image, or an image that is no slice: one by one.
        assert!(split(&["a_f1", "b_f1"]).is_none());
        assert!(split(&["a_f1", "a_f2", "scan"]).is_none());
    }

    #[test]
    fn a_volume_comes_whole_once_its_last_slice_came() {
        let samples: Vec<Sample> = ["a_f2", "b_f1", "a_f1", "b_f2"].map(sample).to_vec();
        let mut v = Volumes::of(&samples).unwrap();
        assert!(v.add(0, prob([0.0; 3])).is_none());
        assert!(v.add(1, prob([0.0; 3])).is_none());
        let a = v.add(2, prob([1.0; 3])).expect("a is whole");
        let got: Vec<(usize, u32)> = a.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(got, [(0, 2), (2, 1)]);
        assert_eq!(v.add(3, prob([0.0; 3])).map(|b| b.len()), Some(2));
    }

    #[test]
    fn regions_do_not_join_across_missing_slices() {
        // Slices 1, 2 and 4 (3 missing): 1–2 hold a region of 2 voxels, 4 one of 3. Without the
        // gap, slice 2's voxel would touch slice 4's region and join it.
        let slices = vec![
            (0, 4, prob([0.9, 0.9, 0.9])),
            (1, 1, prob([0.9, 0.0, 0.0])),
            (2, 2, prob([0.9, 0.0, 0.0])),
        ];
        let largest = Decision {
            threshold: 0.5,
            postprocess: Postprocess::Largest,
        };
        let got: Vec<(usize, Vec<u8>)> = Stack::new(slices.clone())
            .masks(largest)
            .into_iter()
            .map(|(i, m)| (i, m.into_raw()))
            .collect();
        assert_eq!(
            got,
            [(1, vec![0, 0, 0]), (2, vec![0, 0, 0]), (0, vec![1, 1, 1])]
        );
        // Slices of two sizes: one by one.
        let mut odd = slices.clone();
        odd[0].2 = ProbMap {
            width: 1,
            height: 1,
            data: vec![0.9],
        };
        let got: Vec<usize> = Stack::new(odd)
            .masks(largest)
            .iter()
            .map(|m| m.1.len())
            .collect();
        // By slice number: 1, 2, then 4 (the one-pixel slice).
        assert_eq!(got, [3, 3, 1]);
    }
}
