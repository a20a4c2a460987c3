//! Each volume's scores, when a split's images are slices of volumes: its slices' confusions pooled,
//! and its boundary distances in 3-D, as BraTS scores a case: the predicted and true masks stacked
//! by slice number and HD95 and ASSD measured between their surfaces. Slices missing from the split
//! (from-nifti leaves out those without tumour unless `--keep-empty`) stand empty on both sides, so
//! that the slices keep their places along the volume. One row per volume, as per_volume.csv.
use super::slices::{slice_of, Volumes};
use crate::dataset::Sample;
use crate::metrics::distance::Grid;
use crate::metrics::surface::{volume_surface, Surface, Unit};
use crate::metrics::Confusion;
use crate::report::ImageRow;
use image::GrayImage;

/// A split's volumes, each scored as its last slice's mask comes.
pub struct PerVolume {
    volumes: Volumes<GrayImage>,
    unit: Unit,
    /// Whether distances can be measured: in mm, every slice must give the spacing between slices.
    distances: bool,
    /// Per volume scored: the index of its first sample, its row.
    rows: Vec<(usize, ImageRow)>,
}

impl PerVolume {
    /// When the samples are slices of volumes; `unit` is the split's in-plane one.
    pub fn of(samples: &[Sample], unit: Unit) -> Option<PerVolume> {
        let volumes = Volumes::of(samples)?;
        let distances = unit == Unit::Px || samples.iter().all(|s| s.slice_spacing.is_some());
        if !distances {
            eprintln!(
                "note: not every slice gives a slice_spacing (from-nifti and from-seg write it): no \
                 boundary distances per volume in 3-D"
            );
        }
        Some(PerVolume {
            volumes,
            unit,
            distances,
            rows: Vec::new(),
        })
    }

    /// Sample `i`'s predicted mask; its volume is scored once all its slices have come.
    pub fn add(&mut self, samples: &[Sample], i: usize, pred: GrayImage) {
        let Some(mut slices) = self.volumes.add(i, pred) else {
            return;
        };
        slices.sort_by_key(|s| s.1);
        let first = slices.iter().map(|s| s.0).min().unwrap_or(i);
        let row = self.score(samples, &slices);
        self.rows.push((first, row));
    }

    /// The volumes' rows in the order of their first slice, numbered from 1.
    pub fn finish(mut self) -> Vec<ImageRow> {
        self.rows.sort_by_key(|r| r.0);
        (1..)
            .zip(self.rows)
            .map(|(id, (_, row))| ImageRow { id, ..row })
            .collect()
    }

    /// A volume's row: its name, its slices' size, their pooled confusion and its distances.
    fn score(&self, samples: &[Sample], slices: &[(usize, u32, GrayImage)]) -> ImageRow {
        let first = &samples[slices[0].0];
        let truths: Vec<GrayImage> = slices.iter().map(|s| samples[s.0].mask()).collect();
        let mut confusion = Confusion::default();
        for ((_, _, pred), truth) in slices.iter().zip(&truths) {
            confusion.add(&Confusion::from_masks(pred.as_raw(), truth.as_raw()));
        }
        ImageRow {
            id: 0,
            stem: slice_of(&first.stem).map_or(String::new(), |v| v.0.to_string()),
            width: first.width,
            height: first.height,
            confusion,
            surface: self
                .distances
                .then(|| distances(first, slices, &truths, self.unit))
                .flatten(),
            distance_unit: self.unit,
        }
    }
}

/// A volume's distances (its slices by number, their truths; `first` its first slice's sample),
/// None when either side is empty, its slices differ in size, or their numbers lie too far apart to
/// stack.
fn distances(
    first: &Sample,
    slices: &[(usize, u32, GrayImage)],
    truths: &[GrayImage],
    unit: Unit,
) -> Option<Surface> {
    let (w, h) = (first.width as usize, first.height as usize);
    if slices
        .iter()
        .any(|s| s.2.dimensions() != (w as u32, h as u32))
    {
        return None;
    }
    let spacing = match unit {
        Unit::Mm => {
            let (rows, columns) = first.spacing?;
            [first.slice_spacing?, rows, columns]
        }
        Unit::Px => [1.0; 3],
    };
    let low = slices.first()?.1;
    let n = (slices.last()?.1 - low + 1) as usize;
    // Slice numbers far apart would ask for a volume larger than any scan (256 MB a side).
    if w * h * n > 1 << 28 {
        return None;
    }
    let (mut pred, mut truth) = (vec![0u8; w * h * n], vec![0u8; w * h * n]);
    for ((_, number, mask), t) in slices.iter().zip(truths) {
        let at = (number - low) as usize * w * h;
        pred[at..at + w * h].copy_from_slice(mask.as_raw());
        truth[at..at + w * h].copy_from_slice(t.as_raw());
    }
    volume_surface(&pred, &truth, Grid { w, h, n, spacing })
}
