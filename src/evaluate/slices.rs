//! Splits whose images are slices of volumes (each sample's `volume`: the annotation file's
//! `volume` and `slice_number`, as from-nifti and from-seg write them, else the name
//! `<volume>_f<number>`): a volume's slices are decided together, as `predict` decides a volume
//! (see `postprocess::volume`), so that the scores, and the post-processing tuned on them, are those
//! of what `predict` does with the volume.
use crate::dataset::Sample;
use crate::predict::ProbMap;
use std::collections::HashMap;

/// The volumes of a split, gathering each one's slices as they come (their probabilities, to be
/// decided together, or their masks, to be measured together): each slice as (sample, slice
/// number, `T`).
pub struct Volumes<T = ProbMap> {
    /// Per sample: its volume and slice number.
    slice: Vec<(usize, u32)>,
    /// Per volume: its name, and the slices not come yet.
    names: Vec<String>,
    left: Vec<usize>,
    pending: HashMap<usize, Vec<(usize, u32, T)>>,
}

impl<T> Volumes<T> {
    /// When every sample is a slice of a volume and some volume has several; else None (images are
    /// decided one by one).
    pub fn of(samples: &[Sample]) -> Option<Volumes<T>> {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let (mut slice, mut names, mut left) =
            (Vec::with_capacity(samples.len()), Vec::new(), Vec::new());
        for s in samples {
            let (volume, number) = s.volume.as_ref()?;
            let next = ids.len();
            let id = *ids.entry(volume).or_insert(next);
            if id == left.len() {
                names.push(volume.clone());
                left.push(0);
            }
            left[id] += 1;
            slice.push((id, *number));
        }
        (left.len() < samples.len()).then(|| Volumes {
            slice,
            names,
            left,
            pending: HashMap::new(),
        })
    }

    /// Sample `i`'s volume, numbered from 0 in the order of their first samples.
    pub fn volume(&self, i: usize) -> usize {
        self.slice[i].0
    }

    /// Slices missing from the split between each volume's first and last (a run of numbers skipped).
    pub fn missing(&self) -> usize {
        let mut span: Vec<(u32, u32)> = vec![(u32::MAX, 0); self.names.len()];
        for &(k, number) in &self.slice {
            span[k] = (span[k].0.min(number), span[k].1.max(number));
        }
        let count = |k: usize| self.slice.iter().filter(|s| s.0 == k).count();
        span.iter()
            .enumerate()
            .map(|(k, (first, last))| (last - first + 1) as usize - count(k))
            .sum()
    }

    /// Volume `k`'s name.
    pub fn name(&self, k: usize) -> &str {
        &self.names[k]
    }

    /// Sample `i`'s slice; once the last slice of its volume has come, the volume's slices.
    pub fn add(&mut self, i: usize, item: T) -> Option<Vec<(usize, u32, T)>> {
        let (volume, number) = self.slice[i];
        self.pending
            .entry(volume)
            .or_default()
            .push((i, number, item));
        self.left[volume] -= 1;
        (self.left[volume] == 0).then(|| self.pending.remove(&volume).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::dataset::slice_of;

    fn sample(stem: &str) -> Sample {
        Sample {
            volume: slice_of(stem).map(|(v, n)| (v.to_string(), n)),
            id: 0,
            path: stem.into(),
            stem: stem.into(),
            width: 3,
            height: 1,
            segmentations: Vec::new(),
            spacing: None,
            slice_spacing: None,
        }
    }

    #[test]
    fn stems_name_their_volume_and_slice() {
        assert_eq!(slice_of("sub-01_T1w_f012"), Some(("sub-01_T1w", 12)));
        assert_eq!(slice_of("a_f_f3"), Some(("a_f", 3)));
        assert_eq!(slice_of("scan"), None);
        assert_eq!(slice_of("a_fx"), None);
        assert_eq!(slice_of("a_f"), None);
        let split = |stems: &[&str]| {
            Volumes::<ProbMap>::of(&stems.iter().map(|s| sample(s)).collect::<Vec<_>>())
        };
        assert!(split(&["a_f1", "a_f2", "b_f1"]).is_some());
        // Every volume a single image, or an image that is no slice: one by one.
        assert!(split(&["a_f1", "b_f1"]).is_none());
        assert!(split(&["a_f1", "a_f2", "scan"]).is_none());
    }

    #[test]
    fn a_volume_comes_whole_once_its_last_slice_came() {
        let samples: Vec<Sample> = ["a_f2", "b_f1", "a_f1", "b_f2"].map(sample).to_vec();
        let mut v = Volumes::of(&samples).unwrap();
        assert!(v.add(0, ProbMap::row(&[0.0; 3])).is_none());
        assert!(v.add(1, ProbMap::row(&[0.0; 3])).is_none());
        let a = v.add(2, ProbMap::row(&[1.0; 3])).expect("a is whole");
        let got: Vec<(usize, u32)> = a.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(got, [(0, 2), (2, 1)]);
        assert_eq!(v.add(3, ProbMap::row(&[0.0; 3])).map(|b| b.len()), Some(2));
    }

    #[test]
    fn slices_missing_inside_a_volume_are_counted() {
        let samples: Vec<Sample> = ["a_f2", "a_f5", "b_f1", "a_f3", "b_f2"]
            .map(sample)
            .to_vec();
        assert_eq!(Volumes::<()>::of(&samples).unwrap().missing(), 1);
    }
}
