//! Mask and probability volumes written back on a source volume's grid (NIfTI-1 `.nii.gz`,
//! little-endian, whatever the source's version or byte order), so they overlay the scan in a viewer.
use super::{orientation, read_header, Orientation};
use ::nifti::NiftiHeader;
use anyhow::{Context, Result};
use std::path::Path;

/// NIFTI_INTENT_LABEL: the written volume holds labels (0 background, 1 tumour), not measurements.
pub(super) const INTENT_LABEL: i16 = 1002;

/// What a written mask volume holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskVolume {
    pub voxels: u64,
    pub slices_with_tumour: u32,
    pub slices: u32,
    /// Which volume of a 4-D file the mask is of (None for a 3-D file).
    pub volume: Option<usize>,
    /// The tumour's volume in mm³.
    pub mm3: f64,
}

/// Write `out` (`.nii.gz`): the mask of `source`'s voxel grid, header and affines (one 3-D volume,
/// whichever of a 4-D file's `volume` was read), 1 where an axial slice's mask (row by row, as
/// [`read_slices`] gives the slice) is set; slices not given are 0.
pub fn write_mask<S, M>(
    out: &Path,
    (source, volume): (&Path, Option<usize>),
    slices: S,
    description: &str,
) -> Result<MaskVolume>
where
    S: IntoIterator<Item = (u32, M)>,
    M: IntoIterator<Item = bool>,
{
    let mut with_tumour = 0;
    let slices = slices.into_iter().map(|(s, mask)| {
        let values: Vec<u8> = mask.into_iter().map(u8::from).collect();
        with_tumour += u32::from(values.contains(&1));
        (s, values)
    });
    let (mut header, o, voxels) = place(source, volume, slices)?;
    let count = voxels.iter().map(|&v| u64::from(v)).sum::<u64>();
    let volume = volume.filter(|_| orientation::volume_count(&header) > 1);
    header.intent_code = INTENT_LABEL;
    write(out, header, &o, voxels, (0.0, 1.0), description)?;
    Ok(MaskVolume {
        voxels: count,
        slices_with_tumour: with_tumour,
        slices: o.slices(),
        volume,
        mm3: count as f64 * o.voxel_mm3(),
    })
}

/// Write `out` (`.nii.gz`): the tumour probability, 0–1 as float32, on `source`'s voxel grid, header
/// and affines (as [`write_mask`]); each axial slice's probabilities given in 255ths (as a
/// fractional DICOM SEG stores them), slices not given 0.
pub fn write_probabilities<S, P>(
    out: &Path,
    (source, volume): (&Path, Option<usize>),
    slices: S,
    description: &str,
) -> Result<()>
where
    S: IntoIterator<Item = (u32, P)>,
    P: IntoIterator<Item = u8>,
{
    let slices = slices
        .into_iter()
        .map(|(s, p)| (s, p.into_iter().map(|v| f32::from(v) / 255.0)));
    let (mut header, o, voxels) = place(source, volume, slices)?;
    header.intent_code = 0;
    write(out, header, &o, voxels, (0.0, 1.0), description)
}

/// `source`'s header and grid, and a volume on it holding each given axial slice's values (row by
/// row) where the slice lies, the default elsewhere.
fn place<T, S, V>(
    source: &Path,
    volume: Option<usize>,
    slices: S,
) -> Result<(NiftiHeader, Orientation, Vec<T>)>
where
    T: Copy + Default,
    S: IntoIterator<Item = (u32, V)>,
    V: IntoIterator<Item = T>,
{
    let (header, o) = read_header(source, volume)?;
    let [d0, d1, d2] = o.dims;
    let (w, _) = o.slice_size();
    let mut voxels = vec![T::default(); d0 * d1 * d2];
    for (s, values) in slices {
        for (k, v) in values.into_iter().enumerate() {
            voxels[o.index(s, k as u32 % w, k as u32 / w)] = v;
        }
    }
    Ok((header, o, voxels))
}

/// `voxels` (stored order) as a NIfTI file with `header`'s geometry, display range `cal`.
fn write<T>(
    out: &Path,
    mut header: NiftiHeader,
    o: &Orientation,
    voxels: Vec<T>,
    cal: (f32, f32),
    description: &str,
) -> Result<()>
where
    T: ::nifti::DataElement + bytemuck::Pod,
{
    (header.cal_min, header.cal_max) = cal;
    // Little-endian, as every current tool writes, whatever order a source (a big-endian pair of an
    // old workstation) was stored in.
    header.endianness = ::nifti::Endianness::Little;
    header.descrip = description.as_bytes().iter().copied().take(79).collect();
    let array = ndarray::Array3::from_shape_vec(ndarray::ShapeBuilder::f(o.dims), voxels)
        .expect("the grid's size");
    ::nifti::writer::WriterOptions::new(out)
        .reference_header(&header)
        .write_nifti(&array)
        .with_context(|| format!("write {}", out.display()))
}
