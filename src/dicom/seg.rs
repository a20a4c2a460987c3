//! DICOM Segmentation (SEG) objects of predicted masks, so that a viewer or a PACS (3D Slicer, OHIF…)
//! shows the tumour on the very slices it was found in. One binary segment, "Tumour"; every frame
//! references its source slice (or the source's frame) and lies at its position; patient, study and
//! frame of reference are the source's, so the SEG files into the source's study (PS3.3 A.51, laid
//! out as highdicom writes it; the tests read ours with highdicom).
use super::{frame_group, frames_of, header};
use anyhow::{bail, ensure, Context, Result};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemElement;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use image::GrayImage;
use std::path::Path;

mod attributes;
pub mod read;

/// Patient and study attributes a SEG takes from its source (all type 2: empty where the source has
/// none).
const COPIED: [(Tag, VR); 10] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
    (tags::POSITION_REFERENCE_INDICATOR, VR::LO),
];

/// What a SEG needs of one source file, from its header. Geometry is kept as the source's own
/// elements, so the SEG repeats its decimal strings exactly.
#[derive(Clone, Debug)]
pub struct Source {
    sop_class: String,
    sop_instance: String,
    study: String,
    series: String,
    frame_of_reference: String,
    rows: u32,
    columns: u32,
    /// A multi-frame object's frames are referenced by number; a single-frame file is the slice.
    multi_frame: bool,
    orientation: InMemElement,
    /// Pixel Spacing and Slice Thickness, where the source gives them.
    measures: Vec<InMemElement>,
    /// Image Position (Patient) of each frame.
    positions: Vec<InMemElement>,
    copied: Vec<InMemElement>,
}

impl Source {
    /// A source's identity and geometry; refused, with the reason, when a SEG could not point back
    /// at it (no study, series or instance UID) or place itself on it (no frame of reference,
    /// orientation or position).
    pub fn read(path: &Path) -> Result<Source> {
        let obj = header(path)?;
        let uid =
            |tag: Tag, name: &str| super::text(&obj, tag).with_context(|| format!("no {name}"));
        // What points the SEG back at its source comes first; then what places it on the source.
        let sop_class = uid(tags::SOP_CLASS_UID, "SOP Class UID")?;
        let sop_instance = uid(tags::SOP_INSTANCE_UID, "SOP Instance UID")?;
        let study = uid(tags::STUDY_INSTANCE_UID, "Study Instance UID")?;
        let series = uid(tags::SERIES_INSTANCE_UID, "Series Instance UID")?;
        let frame_of_reference = uid(tags::FRAME_OF_REFERENCE_UID, "Frame of Reference UID")?;
        let frames = frames_of(&obj)? as usize;
        // A classic multi-frame object's top-level position is its first frame's only.
        let position = |k: usize| {
            let top = (frames == 1).then(|| element(&obj, tags::IMAGE_POSITION_PATIENT));
            top.flatten()
                .or_else(|| {
                    grouped(
                        &obj,
                        k,
                        tags::PLANE_POSITION_SEQUENCE,
                        tags::IMAGE_POSITION_PATIENT,
                    )
                })
                .with_context(|| format!("no Image Position (Patient) for frame {}", k + 1))
        };
        let orientation = element(&obj, tags::IMAGE_ORIENTATION_PATIENT)
            .or_else(|| {
                grouped(
                    &obj,
                    0,
                    tags::PLANE_ORIENTATION_SEQUENCE,
                    tags::IMAGE_ORIENTATION_PATIENT,
                )
            })
            .context("no Image Orientation (Patient)")?;
        let measures = [tags::PIXEL_SPACING, tags::SLICE_THICKNESS]
            .into_iter()
            .filter_map(|tag| {
                element(&obj, tag).or_else(|| grouped(&obj, 0, tags::PIXEL_MEASURES_SEQUENCE, tag))
            })
            .collect();
        let size = |tag: Tag| -> Result<u32> {
            let e = obj.element_opt(tag)?.context("no Rows or Columns")?;
            Ok(e.to_int::<u32>()?)
        };
        let mut copied: Vec<InMemElement> = COPIED
            .iter()
            .map(|&(tag, vr)| element(&obj, tag).unwrap_or_else(|| DataElement::new(tag, vr, "")))
            .collect();
        copied.extend(element(&obj, tags::SPECIFIC_CHARACTER_SET));
        let source = Source {
            sop_class,
            sop_instance,
            study,
            series,
            frame_of_reference,
            rows: size(tags::ROWS)?,
            columns: size(tags::COLUMNS)?,
            multi_frame: obj.element_opt(tags::NUMBER_OF_FRAMES)?.is_some(),
            orientation,
            measures,
            positions: (0..frames).map(position).collect::<Result<_>>()?,
            copied,
        };
        ensure!(
            source
                .orientation
                .to_multi_float64()
                .is_ok_and(|o| o.len() == 6),
            "unreadable Image Orientation (Patient)"
        );
        Ok(source)
    }

    /// Sources with the same stack key share one SEG: one series, one frame of reference, one size,
    /// orientation and pixel spacing (the SEG states these once for all its frames).
    pub fn stack(&self) -> String {
        let text = |e: &InMemElement| e.to_str().map(|s| s.into_owned()).unwrap_or_default();
        let measures: Vec<String> = self.measures.iter().map(text).collect();
        format!(
            "{}|{}|{}x{}|{}|{}",
            self.series,
            self.frame_of_reference,
            self.columns,
            self.rows,
            text(&self.orientation),
            measures.join("|")
        )
    }

    pub fn series(&self) -> &str {
        &self.series
    }
}

fn element(obj: &InMemDicomObject, tag: Tag) -> Option<InMemElement> {
    obj.element_opt(tag).ok().flatten().cloned()
}

/// `tag` inside functional group `group` of frame `frame` (its own, else the shared one).
fn grouped(obj: &InMemDicomObject, frame: usize, group: Tag, tag: Tag) -> Option<InMemElement> {
    element(frame_group(obj, frame, group)?, tag)
}

/// A mask as one bit per pixel, row by row: what a binary SEG stores, in an eighth of a grey image's
/// memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Bits {
    len: usize,
    bytes: Vec<u8>,
}

impl Bits {
    /// Nonzero pixels are tumour.
    pub fn from_mask(mask: &GrayImage) -> Bits {
        pack(mask.iter().map(|&v| v != 0))
    }

    fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.bytes[i / 8] >> (i % 8) & 1 == 1)
    }
}

/// Bits as DICOM packs 1-bit pixels: the first in each byte's lowest bit, and frames one after the
/// other with no padding between them (PS3.5 8.1.1), so a frame may begin mid-byte.
fn pack(bits: impl Iterator<Item = bool>) -> Bits {
    let (mut len, mut bytes) = (0, Vec::new());
    for bit in bits {
        if len % 8 == 0 {
            bytes.push(0);
        }
        if bit {
            bytes[len / 8] |= 1 << (len % 8);
        }
        len += 1;
    }
    Bits { len, bytes }
}

/// One SEG frame: the mask of frame `frame` (from 0) of `source`.
pub struct Frame<'a> {
    pub source: &'a Source,
    pub frame: usize,
    pub mask: &'a Bits,
}

impl Frame<'_> {
    fn position(&self) -> &InMemElement {
        &self.source.positions[self.frame]
    }
}

/// Write one SEG of `frames`, whose sources must share a [`Source::stack`]; frames are stored in
/// stack order (along the slice normal), each indexed by its position.
pub fn write(path: &Path, frames: Vec<Frame>) -> Result<()> {
    let first = frames
        .first()
        .context("a SEG needs at least one frame")?
        .source;
    if let Some(f) = frames.iter().find(|f| f.source.stack() != first.stack()) {
        bail!(
            "frames of different stacks in one SEG ({} and {})",
            first.stack(),
            f.source.stack()
        );
    }
    let pixels = (first.rows * first.columns) as usize;
    if let Some(f) = frames.iter().find(|f| f.mask.len != pixels) {
        bail!("a {}-pixel mask for a {pixels}-pixel slice", f.mask.len);
    }
    let normal = normal(&first.orientation)?;
    let depth = |f: &Frame| -> Result<f64> {
        let p = f.position().to_multi_float64()?;
        ensure!(p.len() == 3, "unreadable Image Position (Patient)");
        Ok(p.iter().zip(normal).map(|(a, b)| a * b).sum())
    };
    let mut placed: Vec<(f64, Frame)> = frames
        .into_iter()
        .map(|f| Ok((depth(&f)?, f)))
        .collect::<Result<_>>()?;
    placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The position index counts distinct positions; slices closer than a micrometre share one.
    let mut indices: Vec<u32> = Vec::with_capacity(placed.len());
    for (k, (d, _)) in placed.iter().enumerate() {
        let same = k > 0 && d - placed[k - 1].0 < 1e-3;
        indices.push(indices.last().map_or(1, |&i| if same { i } else { i + 1 }));
    }
    let frames: Vec<Frame> = placed.into_iter().map(|(_, f)| f).collect();
    let obj = attributes::dataset(first, &frames, &indices);
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .context("DICOM file meta")?;
    file.write_to_file(path)
        .with_context(|| format!("write {}", path.display()))
}

/// The slice normal: the cross product of the row and column directions.
fn normal(orientation: &InMemElement) -> Result<[f64; 3]> {
    let o = orientation.to_multi_float64()?;
    ensure!(o.len() == 6, "unreadable Image Orientation (Patient)");
    Ok([
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::dicom_value;

    #[test]
    fn bits_are_packed_lowest_first_without_padding_between_frames() {
        let bits = pack([true, false, false, true, false, false, false, false, true].into_iter());
        assert_eq!(bits.bytes, vec![0b0000_1001, 0b0000_0001]);
        // Two 3×3 frames: the second begins at bit 9, mid-byte.
        let a =
            Bits::from_mask(&GrayImage::from_raw(3, 3, vec![255, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap());
        let b =
            Bits::from_mask(&GrayImage::from_raw(3, 3, vec![0, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap());
        let both = pack(a.iter().chain(b.iter()));
        assert_eq!(both.len, 18);
        assert_eq!(both.bytes, vec![0b0000_0001, 0b0000_0101, 0b0000_0000]);
    }

    #[test]
    fn the_normal_is_the_cross_product_of_row_and_column() {
        let axial = DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            dicom_value!(Strs, ["1", "0", "0", "0", "1", "0"]),
        );
        assert_eq!(normal(&axial).unwrap(), [0.0, 0.0, 1.0]);
        let sagittal = DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            dicom_value!(Strs, ["0", "1", "0", "0", "0", "-1"]),
        );
        assert_eq!(normal(&sagittal).unwrap(), [-1.0, 0.0, 0.0]);
    }
}
