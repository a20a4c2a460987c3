//! NIfTI volumes (NIfTI-1 `.nii`, `.nii.gz`, or a `.hdr` with its voxels in `.img` beside it, the
//! pair SPM-era pipelines write; NIfTI-2 `.nii`, `.nii.gz`), as research pipelines and public
//! brain-tumour collections hand out MRI, read as axial slices and written back as (NIfTI-1) mask
//! volumes. A volume is turned to the nearest RAS orientation by its sform (or qform), so whatever
//! order its voxels are stored in, each axial slice shows as a viewer shows it in radiological
//! convention, and as DICOM axial slices and their JPEG exports are: anterior at the top, the
//! patient's right on the image's left.
use crate::window::{self, Window};
use ::nifti::{IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions, ReaderStreamedOptions};
use anyhow::{bail, ensure, Context, Result};
use image::GrayImage;
pub use orientation::Orientation;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a NIfTI file's name ends with: a single file, or the header of a pair (nifti-rs finds the
/// `.img` or `.img.gz` beside it).
const SUFFIXES: [&str; 3] = [".nii.gz", ".nii", ".hdr"];

/// What the voxels of a pair are named by, beside its `.hdr`.
const PAIR_DATA: [&str; 2] = [".img.gz", ".img"];

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A file named `.nii`, `.nii.gz` or `.hdr` (any case).
pub fn is_nifti_path(path: &Path) -> bool {
    let name = file_name(path).to_lowercase();
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The voxels of a pair (`.img`, `.img.gz`) whose `.hdr` lies beside them: read through the header,
/// not on their own.
pub fn is_pair_data(path: &Path) -> bool {
    header_beside(path).flatten().is_some()
}

/// For the voxels of a pair (`.img`, `.img.gz`), the `.hdr` beside them, when there is one; None for
/// another file.
fn header_beside(path: &Path) -> Option<Option<PathBuf>> {
    let name = file_name(path);
    let lower = name.to_lowercase();
    let suffix = PAIR_DATA.iter().find(|s| lower.ends_with(*s))?;
    let stem = &name[..name.len() - suffix.len()];
    let beside = ["hdr", "HDR"]
        .iter()
        .map(|e| path.with_file_name(format!("{stem}.{e}")))
        .find(|h| h.is_file());
    Some(beside)
}

/// What to give instead of a pair's voxels, which hold no header.
fn pair_hint(path: &Path) -> Option<String> {
    Some(match header_beside(path)? {
        Some(header) => format!(
            "{} holds the voxels of an Analyze/NIfTI pair: give its header, {}",
            path.display(),
            header.display()
        ),
        None => format!(
            "{} looks like the voxels of an Analyze/NIfTI pair: give the pair's .hdr file, which \
             is not beside it",
            path.display()
        ),
    })
}

/// The file's name without `.nii`, `.nii.gz` or `.hdr`: `sub-01_T1w.nii.gz` → `sub-01_T1w`.
pub fn stem(path: &Path) -> String {
    let name = file_name(path);
    let lower = name.to_lowercase();
    let cut = SUFFIXES
        .iter()
        .find(|s| lower.ends_with(*s))
        .map_or(0, |s| s.len());
    name[..name.len() - cut].to_string()
}

/// nifti-rs's error as a sentence: its I/O errors print as Rust debug output.
fn readable(e: ::nifti::NiftiError) -> anyhow::Error {
    match e {
        ::nifti::NiftiError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            anyhow::anyhow!("the file ends early (cut short in a copy or download?): {io}")
        }
        ::nifti::NiftiError::Io(io) => io.into(),
        other => other.into(),
    }
}

/// What `predict` needs of a NIfTI file before reading its voxels: its header, and the orientation
/// of `volume`, which of its 3-D volumes is read (None for a file that holds one; from 0 for a 4-D
/// file's, e.g. the Medical Segmentation Decathlon's FLAIR, T1w, T1gd and T2w).
pub fn read_header(path: &Path, volume: Option<usize>) -> Result<(NiftiHeader, Orientation)> {
    let (header, _) = header_of(path)?;
    let (orientation, _) =
        usable(&header, volume).with_context(|| format!("{} as NIfTI", path.display()))?;
    Ok((header, orientation))
}

/// A file's header: NIfTI-1 through nifti-rs, else NIfTI-2 as the NIfTI-1 header it amounts to
/// ([`nifti2`]), with where a NIfTI-2 file's voxels start.
fn header_of(path: &Path) -> Result<(NiftiHeader, Option<u64>)> {
    match NiftiHeader::from_file(path) {
        Ok(header) => Ok((header, None)),
        Err(e) => match nifti2::read_header(path) {
            Ok(Some((header, offset))) => Ok((header, Some(offset))),
            Ok(None) => Err(readable(e)),
            Err(e) => Err(e),
        },
    }
    .with_context(|| format!("cannot read {} as NIfTI", path.display()))
    .map_err(|e| match pair_hint(path) {
        Some(hint) => anyhow::anyhow!("{e:#} ({hint})"),
        None => e,
    })
}

/// A header's orientation and the index of the volume to read, when its voxels are grey values
/// this module reads (real scalars, not RGB or complex ones, which nifti-rs 0.18 cannot turn into
/// numbers and would panic on) and it holds that volume.
fn usable(header: &NiftiHeader, volume: Option<usize>) -> Result<(Orientation, usize)> {
    use ::nifti::NiftiType::*;
    match header.data_type() {
        Ok(Uint8 | Int8 | Uint16 | Int16 | Uint32 | Int32 | Uint64 | Int64 | Float32 | Float64) => {
        }
        Ok(other) => bail!("{other:?} voxels: give a grey volume (one real value per voxel)"),
        Err(_) => bail!("unknown datatype code {}", header.datatype),
    }
    let orientation = Orientation::of(header)?;
    let count = orientation::volume_count(header);
    let rank = usize::from(header.dim[0]).min(7);
    let index = match volume {
        None if count > 1 => bail!(
            "{count} volumes in one file ({:?}): choose one with --volume 0 to {} (or split it with fslsplit)",
            &header.dim[1..=rank],
            count - 1
        ),
        Some(v) if v >= count => bail!(
            "there is no volume {v}: the file holds {} (--volume counts from 0)",
            crate::report::count(count, "volume")
        ),
        v => v.unwrap_or(0),
    };
    Ok((orientation, index))
}

/// A volume's values (after scl_slope and scl_inter) in stored order.
struct Volume {
    values: Vec<f32>,
    orientation: Orientation,
    /// cal_min–cal_max, when the header sets a display range.
    display: Option<(f64, f64)>,
}

impl Volume {
    /// Axial slice `s`'s values, row by row, as the slice shows.
    fn slice(&self, s: u32) -> impl Iterator<Item = f32> + '_ {
        let o = self.orientation;
        let (w, h) = o.slice_size();
        (0..h)
            .flat_map(move |r| (0..w).map(move |c| (c, r)))
            .map(move |(c, r)| self.values[o.index(s, c, r)])
    }
}

/// The volume read last (file, volume index): `predict` asks for a volume's slices a batch at a
/// time, and a `.nii.gz` must be decompressed whole each time it is read.
type Key = (PathBuf, Option<usize>);
static LAST: Mutex<Option<(Key, Arc<Volume>)>> = Mutex::new(None);

fn volume(path: &Path, pick: Option<usize>) -> Result<Arc<Volume>> {
    let key = (path.to_path_buf(), pick);
    let last = || LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = last().as_ref().filter(|(k, _)| *k == key) {
        return Ok(v.clone());
    }
    // Decoded without the lock, so that threads reading other volumes go on meanwhile.
    let (header, orientation, values) = decode(path, pick)?;
    let display = (header.cal_max > header.cal_min)
        .then(|| (f64::from(header.cal_min), f64::from(header.cal_max)));
    let v = Arc::new(Volume {
        values,
        orientation,
        display,
    });
    *last() = Some((key, v.clone()));
    Ok(v)
}

/// The header, orientation and values (after scl_slope and scl_inter, in the order the file stores
/// them, which `Orientation::index` uses) of the volume `pick` of a NIfTI file ([`read_header`]).
fn decode(path: &Path, pick: Option<usize>) -> Result<(NiftiHeader, Orientation, Vec<f32>)> {
    let cannot_decode = || format!("cannot decode the voxels of {}", path.display());
    let (header, nifti2) = header_of(path)?;
    let (orientation, index) =
        usable(&header, pick).with_context(|| format!("{} as NIfTI", path.display()))?;
    let values = match nifti2 {
        Some(offset) => {
            nifti2::read_volume(path, &header, offset, index).with_context(cannot_decode)?
        }
        None => decode_nifti1(path, &header, index)?,
    };
    ensure!(
        values.len() == orientation.dims.iter().product::<usize>(),
        "{}: {} voxels decoded for one volume of {:?}",
        path.display(),
        values.len(),
        orientation.dims
    );
    Ok((header, orientation, values))
}

/// [`decode`]'s values of a NIfTI-1 file, by nifti-rs.
fn decode_nifti1(path: &Path, header: &NiftiHeader, index: usize) -> Result<Vec<f32>> {
    let cannot_read = || format!("cannot read {} as NIfTI", path.display());
    let cannot_decode = || format!("cannot decode the voxels of {}", path.display());
    let array = if orientation::volume_count(header) > 1 {
        // Of a 4-D file (a Decathlon file holds four 36 MB volumes), only the volume read is
        // decoded: the ones before it are streamed past.
        let mut volumes = ReaderStreamedOptions::new()
            .read_file_rank(path, 3)
            .map_err(readable)
            .with_context(cannot_read)?
            .into_volume();
        let mut buffer = Vec::new();
        for _ in 0..index {
            buffer = volumes
                .read_slice_inline(buffer)
                .map_err(readable)
                .with_context(cannot_decode)?
                .into_raw_data();
        }
        volumes
            .read_slice_inline(buffer)
            .map_err(readable)
            .with_context(cannot_decode)?
            .into_ndarray::<f32>()
    } else {
        ReaderOptions::new()
            .read_file(path)
            .map_err(readable)
            .with_context(cannot_read)?
            .into_volume()
            .into_ndarray::<f32>()
    }
    .with_context(cannot_decode)?;
    // Laid out as the file stores it (Fortran order).
    let (values, offset) = array.into_raw_vec_and_offset();
    ensure!(
        offset.unwrap_or(0) == 0,
        "unreachable: a fresh array starts its buffer"
    );
    Ok(values)
}

/// The given axial slices (from 0, lowest first) of a NIfTI file's `volume` (as [`read_header`]),
/// each as 8-bit grey through `window` (`first`: the header's cal_min–cal_max, else the slice's
/// minimum to maximum).
pub fn read_slices(
    path: &Path,
    volume: Option<usize>,
    slices: &[u32],
    window: Window,
) -> Result<Vec<GrayImage>> {
    let v = self::volume(path, volume)?;
    let o = v.orientation;
    let (w, h) = o.slice_size();
    // Slices are gathered in parallel: predict asks for a batch's worth of one volume at a time.
    slices
        .par_iter()
        .map(|&s| {
            if s >= o.slices() {
                bail!("{} has no slice {}", path.display(), s + 1);
            }
            let values: Vec<f32> = v.slice(s).collect();
            let (lo, hi) = window.range(v.display, window::min_max(values.iter().copied()));
            let grey = window::grey(values.into_iter(), lo, hi);
            Ok(GrayImage::from_raw(w, h, grey).expect("one byte per pixel"))
        })
        .collect()
}

/// Each axial slice of a label volume as a 0/1 mask: 1 where the voxel's value, rounded, is one of
/// `labels` (any nonzero value when None).
pub fn read_masks(path: &Path, labels: Option<&[i64]>) -> Result<Vec<GrayImage>> {
    let v = volume(path, None)?;
    let (w, h) = v.orientation.slice_size();
    let set = |x: f32| {
        let x = x.round() as i64;
        u8::from(labels.map_or(x != 0, |l| l.contains(&x)))
    };
    Ok((0..v.orientation.slices())
        .map(|s| {
            let mask = v.slice(s).map(set).collect();
            GrayImage::from_raw(w, h, mask).expect("one byte per pixel")
        })
        .collect())
}

/// How the values of a file's `volume` (as [`read_header`]) look: a label volume's, an image's.
pub fn values(path: &Path, volume: Option<usize>) -> Result<Values> {
    Ok(Values::of(&self::volume(path, volume)?.values))
}

mod nifti2;
mod orientation;
mod values;
mod write;
pub use values::Values;
pub use write::{write_mask, write_probabilities, MaskVolume};
#[cfg(test)]
mod tests;
