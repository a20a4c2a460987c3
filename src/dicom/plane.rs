//! Where an image plane lies in the patient (Image Plane module, PS3.3 C.7.6.2): its first pixel's
//! position, its row and column directions, and its pixel spacing. It places a SEG frame on a slice
//! when the frame does not name its slice, or covers only part of it.
use anyhow::{ensure, Result};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// The slice spacing of a stack from the steps between its neighbouring slices (mm): their median,
/// which slices missing here and there do not move; None without a step.
pub fn median_step(mut steps: Vec<f64>) -> Option<f64> {
    steps.sort_by(f64::total_cmp);
    steps.get(steps.len() / 2).copied()
}

/// Positions closer than this (mm) are one: writers print positions to a few significant digits.
const CLOSE_MM: f64 = 0.01;

#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    /// Image Position (Patient) of the first pixel, in mm.
    pub position: [f64; 3],
    /// Image Orientation (Patient): the row direction, then the column direction.
    pub orientation: [f64; 6],
    /// Pixel Spacing: between rows, then between columns, in mm.
    pub spacing: [f64; 2],
}

impl Plane {
    /// A plane from the three elements' values; None unless each has its number of values.
    pub fn new(position: &[f64], orientation: &[f64], spacing: &[f64]) -> Option<Plane> {
        Some(Plane {
            position: position.try_into().ok()?,
            orientation: orientation.try_into().ok()?,
            spacing: spacing.try_into().ok()?,
        })
    }

    /// Where the plane lies along its normal, in mm: what orders a stack's slices.
    pub fn depth(&self) -> f64 {
        dot(&self.position, &normal(&self.orientation))
    }

    /// Whether `other` lies in this plane, oriented like it (it may be offset within it).
    pub fn contains(&self, other: &Plane) -> bool {
        let n = normal(&self.orientation);
        let same_orientation = self
            .orientation
            .iter()
            .zip(other.orientation)
            .all(|(a, b)| (a - b).abs() < 1e-4);
        same_orientation && dot(&sub(&other.position, &self.position), &n).abs() < CLOSE_MM
    }

    /// The (row, column) on this plane's pixel grid of `other`'s first pixel: `other` must lie in
    /// this plane with the same orientation and spacing, on whole pixels.
    pub fn offset_of(&self, other: &Plane) -> Result<(i64, i64)> {
        ensure!(self.contains(other), "it does not lie in the slice's plane");
        ensure!(
            self.spacing
                .iter()
                .zip(other.spacing)
                .all(|(a, b)| (a - b).abs() <= 1e-4 * a.abs().max(1.0)),
            "its pixel spacing {:?} is not the slice's {:?} (resampled)",
            other.spacing,
            self.spacing
        );
        let d = sub(&other.position, &self.position);
        let row_dir = [
            self.orientation[0],
            self.orientation[1],
            self.orientation[2],
        ];
        let column_dir = [
            self.orientation[3],
            self.orientation[4],
            self.orientation[5],
        ];
        // Along a row the column index grows, by one per column spacing; down a column, the row.
        let column = dot(&d, &row_dir) / self.spacing[1];
        let row = dot(&d, &column_dir) / self.spacing[0];
        let on_grid =
            |x: f64| (x - x.round()).abs() * self.spacing[0].min(self.spacing[1]) < CLOSE_MM;
        ensure!(
            on_grid(row) && on_grid(column),
            "it starts between pixels (row {row:.3}, column {column:.3})"
        );
        Ok((row.round() as i64, column.round() as i64))
    }
}

/// The plane of frame `frame` (from 0) of a DICOM object: from the top-level Image Plane elements
/// (a single-frame image's position; a classic multi-frame one's is its first frame's only), else from
/// the frame's functional groups (its own, else the shared ones), as enhanced images and SEGs keep
/// them. None when any of the three is missing.
pub fn plane_of(obj: &InMemDicomObject, frame: usize) -> Option<Plane> {
    let single = super::frames_of(obj).ok()? == 1;
    let get = |tag, group, top: bool| {
        top.then(|| super::floats(obj, tag))
            .flatten()
            .or_else(|| super::floats(super::frame_group(obj, frame, group)?, tag))
    };
    Plane::new(
        &get(
            tags::IMAGE_POSITION_PATIENT,
            tags::PLANE_POSITION_SEQUENCE,
            single,
        )?,
        &get(
            tags::IMAGE_ORIENTATION_PATIENT,
            tags::PLANE_ORIENTATION_SEQUENCE,
            true,
        )?,
        &get(tags::PIXEL_SPACING, tags::PIXEL_MEASURES_SEQUENCE, true)?,
    )
}

/// The slice normal: the cross product of the row and column directions.
pub fn normal(o: &[f64; 6]) -> [f64; 3] {
    [
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ]
}

fn sub(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    fn plane(position: [f64; 3], orientation: [f64; 6]) -> Plane {
        Plane {
            position,
            orientation,
            spacing: [0.5, 0.8],
        }
    }

    #[test]
    fn the_normal_is_the_cross_product_of_row_and_column() {
        assert_eq!(normal(&AXIAL), [0.0, 0.0, 1.0]);
        assert_eq!(normal(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0]), [-1.0, 0.0, 0.0]);
    }

    #[test]
    fn a_crop_is_found_on_the_pixel_grid() {
        let slice = plane([-20.0, -30.0, 8.0], AXIAL);
        // 4 columns (x, 0.8 mm each) and 10 rows (y, 0.5 mm each) in, printed as %e does.
        let crop = plane([-1.680000e+01, -2.500000e+01, 8.000001e+00], AXIAL);
        assert_eq!(slice.offset_of(&crop).unwrap(), (10, 4));
        assert_eq!(slice.offset_of(&slice).unwrap(), (0, 0));
        let why = |p: &Plane| format!("{:#}", slice.offset_of(p).unwrap_err());
        assert!(why(&plane([-20.0, -30.0, 12.0], AXIAL)).contains("plane"));
        let sagittal = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        assert!(why(&plane([-20.0, -30.0, 8.0], sagittal)).contains("plane"));
        assert!(why(&plane([-19.6, -30.0, 8.0], AXIAL)).contains("between pixels"));
        let resampled = Plane {
            spacing: [1.0, 1.6],
            ..slice.clone()
        };
        assert!(why(&resampled).contains("resampled"));
    }
}
