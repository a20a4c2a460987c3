//! NIfTI-2 single files (`.nii`, `.nii.gz`: the 540-byte header with 64-bit dimensions and
//! double-precision fields that nibabel, FreeSurfer and the HCP tools write), read through nifti-rs,
//! which knows NIfTI-1 only. The header is turned into the NIfTI-1 header it amounts to, refused
//! where a value does not fit (a side over 32,767 voxels), and the voxels are decoded by nifti-rs
//! from that header. Double-precision geometry is rounded to float, as NIfTI-1 stores it.
use ::nifti::{Endianness, IntoNdArray, NiftiHeader};
use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, Read};
use std::path::Path;

const HEADER_SIZE: usize = 540;
const MAGIC: &[u8; 4] = b"n+2\0";

/// The file's first `limit` bytes, decompressed when it is gzip (whatever its name).
fn bytes(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut file = std::io::BufReader::new(file);
    let reader: Box<dyn Read> = if file.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut out = Vec::new();
    reader.take(limit).read_to_end(&mut out)?;
    Ok(out)
}

/// Fields at byte offsets of a header in its byte order.
struct Fields<'a> {
    b: &'a [u8],
    little: bool,
}

impl Fields<'_> {
    fn raw<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a: [u8; N] = self.b[at..at + N].try_into().expect("within the header");
        if !self.little {
            a.reverse();
        }
        a
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.raw(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.raw(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.raw(at))
    }
    /// A double, as the float NIfTI-1 stores in its place.
    fn double(&self, at: usize) -> f32 {
        f64::from_le_bytes(self.raw(at)) as f32
    }
    fn doubles<const N: usize>(&self, at: usize) -> [f32; N] {
        std::array::from_fn(|i| self.double(at + 8 * i))
    }
    fn narrow(&self, at: usize, what: &str) -> Result<i16> {
        let v = self.i64(at);
        i16::try_from(v).with_context(|| format!("{what} {v} is beyond what tumorseg reads"))
    }
}

/// The NIfTI-1 header a NIfTI-2 header amounts to, and where its voxels start; None when `head`
/// does not start with a NIfTI-2 header.
pub fn header(head: &[u8]) -> Result<Option<(NiftiHeader, u64)>> {
    if head.len() >= 8 && &head[4..8] == b"ni2\0" {
        bail!("a NIfTI-2 header of a .hdr/.img pair: tumorseg reads NIfTI-2 as one .nii or .nii.gz file");
    }
    if head.len() < HEADER_SIZE || &head[4..8] != MAGIC {
        return Ok(None);
    }
    let size = |le| {
        Fields {
            b: head,
            little: le,
        }
        .i32(0)
            == HEADER_SIZE as i32
    };
    let little = size(true);
    ensure!(
        little || size(false),
        "a NIfTI-2 magic with a header size other than 540"
    );
    let f = Fields { b: head, little };
    let mut dim = [0u16; 8];
    for (i, d) in dim.iter_mut().enumerate() {
        let what = if i == 0 { "the rank" } else { "a dimension" };
        *d = u16::try_from(f.narrow(16 + 8 * i, what)?)
            .with_context(|| format!("a negative dimension in {:?}", &head[16..80]))?;
    }
    let text = |at: usize, n: usize| head[at..at + n].to_vec();
    let h = NiftiHeader {
        dim,
        datatype: f.i16(12),
        bitpix: f.i16(14),
        intent_p1: f.double(80),
        intent_p2: f.double(88),
        intent_p3: f.double(96),
        pixdim: f.doubles(104),
        scl_slope: f.double(176),
        scl_inter: f.double(184),
        cal_max: f.double(192),
        cal_min: f.double(200),
        slice_duration: f.double(208),
        toffset: f.double(216),
        slice_start: f.narrow(224, "slice_start").unwrap_or(0),
        slice_end: f.narrow(232, "slice_end").unwrap_or(0),
        descrip: text(240, 80),
        aux_file: text(320, 24).try_into().expect("24 bytes"),
        qform_code: f.i32(344) as i16,
        sform_code: f.i32(348) as i16,
        quatern_b: f.double(352),
        quatern_c: f.double(360),
        quatern_d: f.double(368),
        quatern_x: f.double(376),
        quatern_y: f.double(384),
        quatern_z: f.double(392),
        srow_x: f.doubles(400),
        srow_y: f.doubles(432),
        srow_z: f.doubles(464),
        slice_code: f.i32(496) as u8,
        xyzt_units: f.i32(500) as u8,
        intent_code: f.i32(504) as i16,
        intent_name: text(508, 16).try_into().expect("16 bytes"),
        dim_info: head[524],
        magic: *b"n+1\0",
        endianness: if little {
            Endianness::Little
        } else {
            Endianness::Big
        },
        ..NiftiHeader::default()
    };
    let offset = u64::try_from(f.i64(168)).context("a negative vox_offset")?;
    Ok(Some((h, offset.max(HEADER_SIZE as u64))))
}

/// A file's NIfTI-2 header, as [`header`]; None when it is not NIfTI-2.
pub fn read_header(path: &Path) -> Result<Option<(NiftiHeader, u64)>> {
    header(&bytes(path, HEADER_SIZE as u64)?)
}

/// The values of volume `index` (after scl_slope and scl_inter, in stored order) of a NIfTI-2
/// file whose header [`read_header`] gave.
pub fn read_volume(path: &Path, h: &NiftiHeader, offset: u64, index: usize) -> Result<Vec<f32>> {
    let mut one = h.clone();
    one.dim[0] = one.dim[0].min(3);
    one.dim[4..].fill(1);
    // As nifti-rs counts: the dimensions up to the rank (a 2-D file may leave dim[3] at 0).
    let rank = usize::from(one.dim[0]);
    let voxels: usize = one.dim[1..=rank].iter().map(|&d| usize::from(d)).product();
    let size = voxels * usize::try_from(h.bitpix / 8).context("a negative bitpix")?;
    let start = usize::try_from(offset)? + index * size;
    let mut all = bytes(path, (start + size) as u64)?;
    if all.len() < start + size {
        bail!(
            "the file ends early (cut short in a copy or download?): {} bytes of voxels, {} expected",
            all.len().saturating_sub(start),
            size
        );
    }
    // The volumes before it out, in place: no second copy of the one read.
    all.drain(..start);
    let volume = ::nifti::InMemNiftiVolume::from_raw_data(&one, all)?;
    let array = volume.into_ndarray::<f32>()?;
    let (values, _) = array.into_raw_vec_and_offset();
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian NIfTI-2 header of `dims` int16 voxels, scl_slope 2, sform code 1.
    fn head(dims: &[i64]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_SIZE];
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &540i32.to_le_bytes());
        put(4, MAGIC);
        put(12, &4i16.to_le_bytes());
        put(14, &16i16.to_le_bytes());
        put(16, &(dims.len() as i64).to_le_bytes());
        for (i, d) in dims.iter().enumerate() {
            put(24 + 8 * i, &d.to_le_bytes());
        }
        put(168, &544i64.to_le_bytes());
        put(176, &2f64.to_le_bytes());
        put(348, &1i32.to_le_bytes());
        put(400, &0.6f64.to_le_bytes());
        b
    }

    #[test]
    fn a_nifti2_header_becomes_its_nifti1_twin_and_what_does_not_fit_is_refused() {
        let (h, offset) = header(&head(&[96, 80, 3])).unwrap().unwrap();
        assert_eq!(offset, 544);
        assert_eq!(h.dim, [3, 96, 80, 3, 0, 0, 0, 0]);
        assert_eq!((h.datatype, h.bitpix, h.scl_slope), (4, 16, 2.0));
        assert_eq!((h.sform_code, h.srow_x[0]), (1, 0.6f32));
        assert_eq!(h.endianness, Endianness::Little);
        // A NIfTI-1 header (magic n+1) is not taken for one.
        let mut nifti1 = head(&[96, 80, 3]);
        nifti1[6] = b'1';
        assert!(header(&nifti1).unwrap().is_none());
        let why = header(&head(&[96, 40_000, 3])).unwrap_err().to_string();
        assert_eq!(why, "a dimension 40000 is beyond what tumorseg reads");
        let mut pair = head(&[96, 80, 3]);
        pair[4..8].copy_from_slice(b"ni2\0");
        let why = header(&pair).unwrap_err().to_string();
        assert!(
            why.contains("tumorseg reads NIfTI-2 as one .nii or .nii.gz file"),
            "{why}"
        );
    }
}
