//! Boundary distances of whole volumes: when a split's images are slices of volumes, each volume's
//! predicted and true masks are stacked by slice number and HD95 and ASSD measured between their
//! surfaces in 3-D, as BraTS scores a case. Slices missing from the split (from-nifti leaves out
//! those without tumour unless `--keep-empty`) stand empty on both sides, so that the slices keep
//! their places along the volume.
use super::slices::Volumes;
use crate::dataset::Sample;
use crate::metrics::distance::Grid;
use crate::metrics::surface::{summarize, volume_surface, Summary, Surface, Unit};
use image::GrayImage;

/// A split's volumes, measured each as its last slice's mask comes.
pub struct VolumeDistances {
    volumes: Volumes<GrayImage>,
    unit: Unit,
    /// Per volume measured: its distances (None when either side is empty), and whether exactly one
    /// side has tumour.
    measured: Vec<(Option<Surface>, bool)>,
}

impl VolumeDistances {
    /// When the samples are slices of volumes, and the distances can be measured in `unit` (the
    /// split's in-plane one): in mm, every slice must give the spacing between slices.
    pub fn of(samples: &[Sample], unit: Unit) -> Option<VolumeDistances> {
        let volumes = Volumes::of(samples)?;
        if unit == Unit::Mm && samples.iter().any(|s| s.slice_spacing.is_none()) {
            eprintln!(
                "note: not every slice gives a slice_spacing (from-nifti writes it): no boundary \
                 distances per volume in 3-D"
            );
            return None;
        }
        Some(VolumeDistances {
            volumes,
            unit,
            measured: Vec::new(),
        })
    }

    /// Sample `i`'s predicted mask; its volume is measured once all its slices have come.
    pub fn add(&mut self, samples: &[Sample], i: usize, pred: GrayImage) {
        let Some(slices) = self.volumes.add(i, pred) else {
            return;
        };
        if let Some(m) = measure(samples, slices, self.unit) {
            self.measured.push(m);
        }
    }

    /// HD95 and ASSD over the volumes where both sides have tumour, in 3-D.
    pub fn summary(&self) -> Option<Summary> {
        let per: Vec<Option<Surface>> = self.measured.iter().map(|m| m.0).collect();
        let one_sided = self.measured.iter().filter(|m| m.1).count();
        summarize(&per, one_sided, self.unit)
    }
}

/// A volume's distances and whether one side only has tumour; None when its slices differ in size.
fn measure(
    samples: &[Sample],
    mut slices: Vec<(usize, u32, GrayImage)>,
    unit: Unit,
) -> Option<(Option<Surface>, bool)> {
    slices.sort_by_key(|s| s.1);
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
    let low = slices[0].1;
    let n = (slices.last()?.1 - low + 1) as usize;
    // Slice numbers far apart would ask for a volume larger than any scan (256 MB a side).
    if w * h * n > 1 << 28 {
        return None;
    }
    let (mut pred, mut truth) = (vec![0u8; w * h * n], vec![0u8; w * h * n]);
    for (i, number, mask) in &slices {
        let at = (number - low) as usize * w * h;
        pred[at..at + w * h].copy_from_slice(mask.as_raw());
        truth[at..at + w * h].copy_from_slice(samples[*i].mask().as_raw());
    }
    let grid = Grid { w, h, n, spacing };
    let tumour = |v: &[u8]| v.iter().any(|&m| m != 0);
    let one_sided = tumour(&pred) != tumour(&truth);
    Some((volume_surface(&pred, &truth, grid), one_sided))
}
