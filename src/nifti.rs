//! NIfTI-1 volumes (`.nii`, `.nii.gz`), as research pipelines and public brain-tumour collections
//! hand out MRI, read as axial slices and written back as mask volumes. A volume is turned to the
//! nearest RAS orientation by its sform (or qform), so whatever order its voxels are stored in, each
//! axial slice shows as a viewer shows it in radiological convention, and as DICOM axial slices and
//! their JPEG exports are: anterior at the top, the patient's right on the image's left.
use crate::window::{self, Window};
use ::nifti::{IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions};
use anyhow::{bail, Context, Result};
use image::GrayImage;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// NIFTI_INTENT_LABEL: the written volume holds labels (0 background, 1 tumour), not measurements.
const INTENT_LABEL: i16 = 1002;

/// A file named `.nii` or `.nii.gz` (any case).
pub fn is_nifti_path(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// The file's name without `.nii` or `.nii.gz`: `sub-01_T1w.nii.gz` → `sub-01_T1w`.
pub fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_lowercase();
    let cut = [".nii.gz", ".nii"]
        .iter()
        .find(|s| lower.ends_with(*s))
        .map_or(0, |s| s.len());
    name[..name.len() - cut].to_string()
}

/// Where each of the canonical axes (x to the right, y to the front, z up) lies in the file: the
/// stored axis and whether it runs the other way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Orientation {
    dims: [usize; 3],
    axes: [(usize, bool); 3],
    /// Voxel size in mm along each stored axis.
    sizes: [f64; 3],
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
        Ok(Orientation { dims, axes, sizes })
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

/// The three spatial sizes; a 4-D (or higher) file must hold one volume.
fn volume_dims(header: &NiftiHeader) -> Result<[usize; 3]> {
    let rank = usize::from(header.dim[0]);
    if !(2..=7).contains(&rank) {
        bail!("dim[0] = {rank} is no NIfTI image rank");
    }
    let dims = |range: std::ops::Range<usize>| range.map(|k| usize::from(header.dim[k].max(1)));
    let extra: usize = dims(4..rank + 1).product();
    if extra > 1 {
        bail!(
            "{extra} volumes in one file ({:?}): give one 3-D volume (e.g. split it with fslsplit)",
            &header.dim[1..=rank]
        );
    }
    let d: Vec<usize> = dims(1..4).collect();
    Ok([
        d[0],
        if rank >= 2 { d[1] } else { 1 },
        if rank >= 3 { d[2] } else { 1 },
    ])
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

/// Millimetres per unit of the header's spatial unit (unknown is taken as mm, as viewers do).
fn unit_mm(xyzt_units: u8) -> f64 {
    match xyzt_units & 0x07 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    }
}

/// What `predict` needs of a NIfTI file before reading its voxels.
pub fn read_header(path: &Path) -> Result<(NiftiHeader, Orientation)> {
    let header = NiftiHeader::from_file(path)
        .with_context(|| format!("cannot read {} as NIfTI", path.display()))?;
    let orientation =
        Orientation::of(&header).with_context(|| format!("{} as NIfTI", path.display()))?;
    Ok((header, orientation))
}

/// A volume's values (after scl_slope and scl_inter) in stored order.
struct Volume {
    values: Vec<f32>,
    orientation: Orientation,
    /// cal_min–cal_max, when the header sets a display range.
    display: Option<(f64, f64)>,
}

/// The volume read last: `predict` asks for a volume's slices a batch at a time, and a `.nii.gz`
/// must be decompressed whole each time it is read.
static LAST: Mutex<Option<(PathBuf, Arc<Volume>)>> = Mutex::new(None);

fn volume(path: &Path) -> Result<Arc<Volume>> {
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = last.as_ref().filter(|(p, _)| p == path) {
        return Ok(v.clone());
    }
    let object = ReaderOptions::new()
        .read_file(path)
        .with_context(|| format!("cannot read {} as NIfTI", path.display()))?;
    let header = object.header().clone();
    let orientation =
        Orientation::of(&header).with_context(|| format!("{} as NIfTI", path.display()))?;
    let array = object
        .into_volume()
        .into_ndarray::<f32>()
        .with_context(|| format!("cannot decode the voxels of {}", path.display()))?;
    // The array is laid out as the file stores it (Fortran order), which `Orientation::index` uses.
    let values = array
        .as_slice_memory_order()
        .context("unreachable: a fresh array is contiguous")?
        .to_vec();
    let display = (header.cal_max > header.cal_min)
        .then(|| (f64::from(header.cal_min), f64::from(header.cal_max)));
    let v = Arc::new(Volume {
        values,
        orientation,
        display,
    });
    *last = Some((path.to_path_buf(), v.clone()));
    Ok(v)
}

/// The given axial slices (from 0, lowest first) of a NIfTI volume, each as 8-bit grey through
/// `window` (`first`: the header's cal_min–cal_max, else the slice's minimum to maximum).
pub fn read_slices(path: &Path, slices: &[u32], window: Window) -> Result<Vec<GrayImage>> {
    let v = volume(path)?;
    let o = v.orientation;
    let (w, h) = o.slice_size();
    slices
        .iter()
        .map(|&s| {
            if s >= o.slices() {
                bail!("{} has no slice {}", path.display(), s + 1);
            }
            let values: Vec<f32> = (0..h)
                .flat_map(|r| (0..w).map(move |c| (c, r)))
                .map(|(c, r)| v.values[o.index(s, c, r)])
                .collect();
            let (lo, hi) = window.range(v.display, window::min_max(values.iter().copied()));
            let grey = window::grey(values.into_iter(), lo, hi);
            Ok(GrayImage::from_raw(w, h, grey).expect("one byte per pixel"))
        })
        .collect()
}

/// What a written mask volume holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskVolume {
    pub voxels: u64,
    pub slices_with_tumour: u32,
    pub slices: u32,
    /// The tumour's volume in mm³.
    pub mm3: f64,
}

/// Write `out` (`.nii.gz`): the mask of `source`'s voxel grid, header and affines, 1 where an axial
/// slice's mask (row by row, as [`read_slices`] gives the slice) is set; slices not given are 0.
pub fn write_mask<S, M>(
    out: &Path,
    source: &Path,
    slices: S,
    description: &str,
) -> Result<MaskVolume>
where
    S: IntoIterator<Item = (u32, M)>,
    M: IntoIterator<Item = bool>,
{
    let (mut header, o) = read_header(source)?;
    let [d0, d1, d2] = o.dims;
    let (w, _) = o.slice_size();
    let mut voxels = vec![0u8; d0 * d1 * d2];
    let mut with_tumour = 0;
    for (s, mask) in slices {
        let mut any = false;
        for (k, set) in mask.into_iter().enumerate() {
            if set {
                voxels[o.index(s, k as u32 % w, k as u32 / w)] = 1;
                any = true;
            }
        }
        with_tumour += u32::from(any);
    }
    let count = voxels.iter().map(|&v| u64::from(v)).sum::<u64>();
    header.cal_min = 0.0;
    header.cal_max = 1.0;
    header.intent_code = INTENT_LABEL;
    header.descrip = description.as_bytes().iter().copied().take(79).collect();
    let array = ndarray::Array3::from_shape_vec(ndarray::ShapeBuilder::f((d0, d1, d2)), voxels)
        .expect("the grid's size");
    ::nifti::writer::WriterOptions::new(out)
        .reference_header(&header)
        .write_nifti(&array)
        .with_context(|| format!("write {}", out.display()))?;
    Ok(MaskVolume {
        voxels: count,
        slices_with_tumour: with_tumour,
        slices: o.slices(),
        mm3: count as f64 * o.voxel_mm3(),
    })
}

#[cfg(test)]
mod tests;
