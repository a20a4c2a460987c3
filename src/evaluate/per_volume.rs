//! Each volume's scores, when a split's images are slices of volumes: its slices' confusions pooled,
//! and its boundary distances in 3-D, as BraTS scores a case: the predicted and true masks stacked
//! by slice number and HD95 and ASSD measured between their surfaces. Slices missing from the split
//! (from-nifti leaves out those without tumour unless `--keep-empty`) stand empty on both sides, so
//! that the slices keep their places along the volume. One row per volume, as per_volume.csv.
use super::slices::Volumes;
use crate::dataset::Sample;
use crate::metrics::distance::Grid;
use crate::metrics::surface::{volume_surface, Surface, Unit};
use crate::metrics::Confusion;
use crate::report::ImageRow;
use image::GrayImage;
use std::collections::HashMap;

/// A split's volumes: their distances measured as each one's last mask comes, their rows made
/// from the image rows once all have been scored.
pub struct PerVolume {
    volumes: Volumes<GrayImage>,
    unit: Unit,
    /// Whether distances can be measured: in mm, every slice must give the spacing between slices.
    measures: bool,
    /// Per volume measured: its distances.
    surfaces: HashMap<usize, Option<Surface>>,
}

impl PerVolume {
    /// When the samples are slices of volumes; `unit` is the split's in-plane one.
    pub fn of(samples: &[Sample], unit: Unit) -> Option<PerVolume> {
        let volumes = Volumes::<GrayImage>::of(samples)?;
        if volumes.missing() > 0 {
            eprintln!(
                "note: the split lacks {} between the first and last slices of its volumes \
                 (from-nifti leaves out those without tumour unless --keep-empty): they stand empty \
                 on both sides, so false regions a model draws there are not scored",
                crate::report::count(volumes.missing(), "slice")
            );
        }
        let measures = unit == Unit::Px || samples.iter().all(|s| s.slice_spacing.is_some());
        if !measures {
            eprintln!(
                "note: not every slice gives a slice_spacing (from-nifti and from-seg write it): no \
                 boundary distances per volume in 3-D"
            );
        }
        Some(PerVolume {
            volumes,
            unit,
            measures,
            surfaces: HashMap::new(),
        })
    }

    /// Whether the volumes' distances are measured, and so want the predicted masks.
    pub fn measures(&self) -> bool {
        self.measures
    }

    /// Sample `i`'s predicted mask; its volume is measured once all its slices have come.
    pub fn add(&mut self, samples: &[Sample], i: usize, pred: GrayImage) {
        let volume = self.volumes.volume(i);
        if let Some(mut slices) = self.volumes.add(i, pred) {
            slices.sort_by_key(|s| s.1);
            let surface = distances(samples, &slices, self.unit);
            self.surfaces.insert(volume, surface);
        }
    }

    /// One row per volume, in the order of their first slices and numbered from 1, from the image
    /// rows (in sample order): its name, its slices' size and pooled confusion, its distances.
    pub fn finish(self, rows: &[ImageRow]) -> Vec<ImageRow> {
        let mut volumes: Vec<ImageRow> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let k = self.volumes.volume(i);
            if k == volumes.len() {
                volumes.push(ImageRow {
                    id: k as u64 + 1,
                    stem: self.volumes.name(k).to_string(),
                    confusion: Confusion::default(),
                    surface: self.surfaces.get(&k).copied().flatten(),
                    distance_unit: self.unit,
                    ..r.clone()
                });
            }
            volumes[k].confusion.add(&r.confusion);
        }
        volumes
    }
}

/// A volume's distances (its slices by number), None when either side is empty, its slices differ
/// in size, or their numbers lie too far apart to stack.
fn distances(
    samples: &[Sample],
    slices: &[(usize, u32, GrayImage)],
    unit: Unit,
) -> Option<Surface> {
    let first = &samples[slices.first()?.0];
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
    for (i, number, mask) in slices {
        let at = (number - low) as usize * w * h;
        pred[at..at + w * h].copy_from_slice(mask.as_raw());
        truth[at..at + w * h].copy_from_slice(samples[*i].mask().as_raw());
    }
    volume_surface(&pred, &truth, Grid { w, h, n, spacing })
}
