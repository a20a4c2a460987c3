//! A volume's slices as they are decided together: stacked by slice number, with a gap where slices
//! are missing. `evaluate` stacks a split's volume slices so; `predict` a NIfTI volume's
//! slices and a DICOM series' (a slice missing from the series or unreadable is a gap).
use super::Decision;
use crate::predict::ProbMap;
use image::GrayImage;

/// A slice on its way to its volume: its index (a sample's, an input's), its slice number, its
/// probabilities.
pub type Slice = (usize, u32, ProbMap);

/// A volume's slices stacked by slice number, one empty slice standing for each run of missing
/// numbers (a split from labelled slices lacks the ones without tumour, a series may come in part),
/// so that regions do not join across a gap. Slices of different sizes cannot be stacked: they are
/// decided one by one.
pub struct Stack {
    probs: Vec<ProbMap>,
    /// Per stacked slice: its index, None for a gap.
    indices: Vec<Option<usize>>,
    together: bool,
}

impl Stack {
    pub fn new(mut slices: Vec<Slice>) -> Stack {
        slices.sort_by_key(|s| s.1);
        let size = |p: &ProbMap| (p.width, p.height);
        let together = slices.windows(2).all(|w| size(&w[0].2) == size(&w[1].2));
        let mut stack = Stack {
            probs: Vec::with_capacity(slices.len()),
            indices: Vec::with_capacity(slices.len()),
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
                stack.indices.push(None);
            }
            last = Some(number);
            stack.probs.push(prob);
            stack.indices.push(Some(i));
        }
        stack
    }

    /// Each slice's mask under `decision` (index, mask), by slice number.
    pub fn masks(&self, decision: Decision) -> Vec<(usize, GrayImage)> {
        let masks = match self.together {
            true => decision
                .volume_masks(&self.probs)
                .expect("a stack's slices share one size"),
            false => self.probs.iter().map(|p| decision.mask(p)).collect(),
        };
        self.indices
            .iter()
            .zip(masks)
            .filter_map(|(i, m)| Some(((*i)?, m)))
            .collect()
    }

    /// The slices' probabilities by slice number, the gaps left out.
    pub fn into_probs(self) -> Vec<ProbMap> {
        self.indices
            .into_iter()
            .zip(self.probs)
            .filter_map(|(i, p)| i.map(|_| p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::Postprocess;

    #[test]
    fn regions_do_not_join_across_missing_slices() {
        // Slices 1, 2 and 4 (3 missing): 1–2 hold a region of 2 voxels, 4 one of 3. Without the
        // gap, slice 2's voxel would touch slice 4's region and join it.
        let slices = vec![
            (0, 4, ProbMap::row(&[0.9, 0.9, 0.9])),
            (1, 1, ProbMap::row(&[0.9, 0.0, 0.0])),
            (2, 2, ProbMap::row(&[0.9, 0.0, 0.0])),
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
        // The probabilities come back by slice number, without the gap.
        let probs: Vec<f32> = Stack::new(slices.clone())
            .into_probs()
            .iter()
            .map(|p| p.data[2])
            .collect();
        assert_eq!(probs, [0.0, 0.0, 0.9]);
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
