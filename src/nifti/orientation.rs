//! Where a NIfTI volume's voxels lie: its affine (sform, else qform, else voxel sizes) and how its
//! stored axes pair with the canonical ones (x to the patient's right, y to the front, z up).
use ::nifti::NiftiHeader;
use anyhow::{bail, Result};

/// Where each of the canonical axes (x to the right, y to the front, z up) lies in the file: the
/// stored axis and whether it runs the other way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Orientation {
    pub(super) dims: [usize; 3],
    axes: [(usize, bool); 3],
    /// Voxel size in mm along each stored axis.
    sizes: [f64; 3],
    /// Each stored axis's step in world mm, and where the first voxel lies.
    steps: [[f64; 3]; 3],
    origin: [f64; 3],
}

impl Orientation {
    pub fn of(header: &NiftiHeader) -> Result<Orientation> {
        let dims = volume_dims(header)?;
        let columns = directions(header);
        let unit = unit_mm(header.xyzt_units);
        let sizes = columns.map(|c| unit * c.iter().map(|v| v * v).sum::<f64>().sqrt());
        if sizes.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            bail!("the header gives no usable voxel size ({sizes:?})");
        }
        // The stored axis closest to each world axis: of the 6 ways to pair them, the one whose axes
        // are the most aligned (as nibabel's io_orientation for the usual, nearly square cases).
        let cos = |axis: usize, world: usize| columns[axis][world] / (sizes[axis] / unit);
        let best = PERMUTATIONS
            .iter()
            .max_by(|a, b| {
                let score = |p: &[usize; 3]| (0..3).map(|w| cos(p[w], w).abs()).sum::<f64>();
                score(a).total_cmp(&score(b))
            })
            .expect("six permutations");
        let axes = [0, 1, 2].map(|w| (best[w], cos(best[w], w) < 0.0));
        Ok(Orientation {
            dims,
            axes,
            sizes,
            steps: columns.map(|c| c.map(|v| v * unit)),
            origin: origin(header).map(|v| v * unit),
        })
    }

    /// Whether `other` puts its voxels where this one does, however each is stored (a label volume
    /// written in another axis order than its image, say): the same extents and steps along the
    /// canonical axes and the same first voxel, to a tenth of a voxel.
    pub fn same_grid(&self, other: &Orientation) -> bool {
        let tolerance = 0.1 * self.sizes.iter().copied().fold(f64::MAX, f64::min);
        let close = |a: [f64; 3], b: [f64; 3]| (0..3).all(|i| (a[i] - b[i]).abs() <= tolerance);
        (0..3).all(|w| self.extent(w) == other.extent(w) && close(self.step(w), other.step(w)))
            && close(self.corner(), other.corner())
    }

    /// World mm per canonical step along world axis `w`.
    fn step(&self, w: usize) -> [f64; 3] {
        let (axis, flip) = self.axes[w];
        self.steps[axis].map(|v| if flip { -v } else { v })
    }

    /// Where canonical voxel (0, 0, 0), the left-, back- and lowest-most, lies.
    fn corner(&self) -> [f64; 3] {
        let mut at = self.origin;
        for &(axis, flip) in &self.axes {
            let k = if flip {
                self.dims[axis] as f64 - 1.0
            } else {
                0.0
            };
            for (i, v) in at.iter_mut().enumerate() {
                *v += k * self.steps[axis][i];
            }
        }
        at
    }

    /// Axial slices, from the lowest up.
    pub fn slices(&self) -> u32 {
        self.extent(2) as u32
    }

    /// An axial slice's width and height in pixels.
    pub fn slice_size(&self) -> (u32, u32) {
        (self.extent(0) as u32, self.extent(1) as u32)
    }

    /// Pixel spacing in mm of an axial slice (between rows, between columns), as DICOM gives it.
    pub fn spacing(&self) -> (f64, f64) {
        (self.sizes[self.axes[1].0], self.sizes[self.axes[0].0])
    }

    /// mm between the centres of neighbouring axial slices.
    pub fn slice_spacing(&self) -> f64 {
        self.sizes[self.axes[2].0]
    }

    /// One voxel's volume in mm³.
    pub fn voxel_mm3(&self) -> f64 {
        self.sizes.iter().product()
    }

    fn extent(&self, world: usize) -> usize {
        self.dims[self.axes[world].0]
    }

    /// The stored (Fortran-order) index of pixel (`column`, `row`) of axial slice `slice`: the
    /// column runs from the patient's right to the left, the row from the front to the back.
    pub fn index(&self, slice: u32, column: u32, row: u32) -> usize {
        let canonical = [
            self.extent(0) - 1 - column as usize,
            self.extent(1) - 1 - row as usize,
            slice as usize,
        ];
        let mut stored = [0; 3];
        for (w, &(axis, flip)) in self.axes.iter().enumerate() {
            let n = self.dims[axis];
            stored[axis] = if flip {
                n - 1 - canonical[w]
            } else {
                canonical[w]
            };
        }
        stored[0] + self.dims[0] * (stored[1] + self.dims[1] * stored[2])
    }
}

const PERMUTATIONS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// The three spatial sizes (a 4-D or higher file's volumes share them).
fn volume_dims(header: &NiftiHeader) -> Result<[usize; 3]> {
    let rank = usize::from(header.dim[0]);
    if !(2..=7).contains(&rank) {
        bail!("dim[0] = {rank} is no NIfTI image rank");
    }
    let size = |k: usize| {
        if k <= rank {
            usize::from(header.dim[k].max(1))
        } else {
            1
        }
    };
    Ok([size(1), size(2), size(3)])
}

/// How many 3-D volumes the file holds: the product of its sizes beyond the third (time points,
/// echoes, or modalities as the Medical Segmentation Decathlon stores them), 1 for a 3-D file.
pub fn volume_count(header: &NiftiHeader) -> usize {
    let rank = usize::from(header.dim[0]).min(7);
    (4..=rank)
        .map(|k| usize::from(header.dim[k].max(1)))
        .product()
}

/// The voxel axes' directions and lengths in world mm (columns of the affine): from the sform, else
/// the qform, else the voxel sizes alone (ANALYZE-style "method 1").
fn directions(h: &NiftiHeader) -> [[f64; 3]; 3] {
    let pix = |k: usize| f64::from(h.pixdim[k]);
    if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z];
        return [0, 1, 2].map(|j| [0, 1, 2].map(|i| f64::from(rows[i][j])));
    }
    if h.qform_code > 0 {
        let (b, c, d) = (
            f64::from(h.quatern_b),
            f64::from(h.quatern_c),
            f64::from(h.quatern_d),
        );
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let length = [pix(1), pix(2), qfac * pix(3)];
        return [0, 1, 2].map(|j| [0, 1, 2].map(|i| r[i][j] * length[j]));
    }
    [[pix(1), 0.0, 0.0], [0.0, pix(2), 0.0], [0.0, 0.0, pix(3)]]
}

/// Where the first stored voxel lies, as [`directions`] reads the header.
fn origin(h: &NiftiHeader) -> [f64; 3] {
    if h.sform_code > 0 {
        return [h.srow_x[3], h.srow_y[3], h.srow_z[3]].map(f64::from);
    }
    if h.qform_code > 0 {
        return [h.quatern_x, h.quatern_y, h.quatern_z].map(f64::from);
    }
    [0.0; 3]
}

/// Millimetres per unit of the header's spatial unit (unknown is taken as mm, as viewers do).
fn unit_mm(xyzt_units: u8) -> f64 {
    match xyzt_units & 0x07 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    }
}
