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
use std::path::Path;

mod attributes;
mod layers;
mod pixels;
pub mod place;
pub mod read;
pub mod stack;
#[cfg(test)]
mod tests;

use pixels::pack;
pub use pixels::{in_255ths, Bits, Pixels, SegType};
use stack::in_stack_order;
pub use stack::{split_repeats, Placed};

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
    /// What tells apart the frames that repeat a position, for each frame: [`Repetition`].
    repetitions: Vec<Repetition>,
    copied: Vec<InMemElement>,
}

/// A frame's echo, diffusion b-value and gradient direction, and temporal position (each empty when
/// the file does not say): frames that share one belong to one acquisition of a series that repeats
/// its positions.
pub type Repetition = [Vec<f64>; 4];

/// Where [`Repetition`]'s values are, at the top level of a single-frame image, and in an enhanced
/// image's functional groups (group, tag; the gradient direction's nested sequence is not read).
const REPETITION: [(Tag, Option<(Tag, Tag)>); 4] = [
    (
        tags::ECHO_NUMBERS,
        Some((tags::MR_ECHO_SEQUENCE, tags::EFFECTIVE_ECHO_TIME)),
    ),
    (
        tags::DIFFUSION_B_VALUE,
        Some((tags::MR_DIFFUSION_SEQUENCE, tags::DIFFUSION_B_VALUE)),
    ),
    (tags::DIFFUSION_GRADIENT_ORIENTATION, None),
    (
        tags::TEMPORAL_POSITION_IDENTIFIER,
        Some((tags::FRAME_CONTENT_SEQUENCE, tags::TEMPORAL_POSITION_INDEX)),
    ),
];

/// Frame `k`'s [`Repetition`].
fn repetition(obj: &InMemDicomObject, frames: usize, k: usize) -> Repetition {
    let values = |e: Option<InMemElement>| {
        e.and_then(|e| e.to_multi_float64().ok())
            .unwrap_or_default()
    };
    REPETITION.map(|(top, group)| match group {
        Some((group, tag)) if frames > 1 => values(grouped(obj, k, group, tag)),
        _ => values(element(obj, top)),
    })
}

impl Source {
    /// A source's identity and geometry; refused, with the reason, when a SEG could not point back
    /// at it (no study, series or instance UID) or place itself on it (no frame of reference,
    /// orientation or position).
    pub fn read(path: &Path) -> Result<Source> {
        let obj = header(path)?;
        Source::of(&obj)
    }

    /// [`Source::read`] of a header already read.
    pub fn of(obj: &InMemDicomObject) -> Result<Source> {
        let uid =
            |tag: Tag, name: &str| super::text(obj, tag).with_context(|| format!("no {name}"));
        // What points the SEG back at its source comes first; then what places it on the source.
        let sop_class = uid(tags::SOP_CLASS_UID, "SOP Class UID")?;
        let sop_instance = uid(tags::SOP_INSTANCE_UID, "SOP Instance UID")?;
        let study = uid(tags::STUDY_INSTANCE_UID, "Study Instance UID")?;
        let series = uid(tags::SERIES_INSTANCE_UID, "Series Instance UID")?;
        let frame_of_reference = uid(tags::FRAME_OF_REFERENCE_UID, "Frame of Reference UID")?;
        let frames = frames_of(obj)? as usize;
        // A classic multi-frame object's top-level position is its first frame's only.
        let position = |k: usize| {
            let top = (frames == 1).then(|| element(obj, tags::IMAGE_POSITION_PATIENT));
            top.flatten()
                .or_else(|| {
                    grouped(
                        obj,
                        k,
                        tags::PLANE_POSITION_SEQUENCE,
                        tags::IMAGE_POSITION_PATIENT,
                    )
                })
                .with_context(|| format!("no Image Position (Patient) for frame {}", k + 1))
        };
        let orientation = element(obj, tags::IMAGE_ORIENTATION_PATIENT)
            .or_else(|| {
                grouped(
                    obj,
                    0,
                    tags::PLANE_ORIENTATION_SEQUENCE,
                    tags::IMAGE_ORIENTATION_PATIENT,
                )
            })
            .context("no Image Orientation (Patient)")?;
        let measures = [tags::PIXEL_SPACING, tags::SLICE_THICKNESS]
            .into_iter()
            .filter_map(|tag| {
                element(obj, tag).or_else(|| grouped(obj, 0, tags::PIXEL_MEASURES_SEQUENCE, tag))
            })
            .collect();
        let size = |tag: Tag| -> Result<u32> {
            let e = obj.element_opt(tag)?.context("no Rows or Columns")?;
            Ok(e.to_int::<u32>()?)
        };
        let mut copied: Vec<InMemElement> = COPIED
            .iter()
            .map(|&(tag, vr)| element(obj, tag).unwrap_or_else(|| DataElement::new(tag, vr, "")))
            .collect();
        copied.extend(element(obj, tags::SPECIFIC_CHARACTER_SET));
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
            repetitions: (0..frames).map(|k| repetition(obj, frames, k)).collect(),
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

#[cfg(test)]
impl Source {
    /// A 3×2 axial source for tests: instance `instance` of series `series`, a frame at each of
    /// `heights` (a multi-frame object when there are several).
    pub fn axial(instance: &str, series: &str, heights: &[f64]) -> Source {
        use dicom_core::PrimitiveValue;
        let ds = |tag: Tag, values: &[f64]| {
            let strings = values.iter().map(|x| x.to_string()).collect();
            DataElement::new(tag, VR::DS, PrimitiveValue::Strs(strings))
        };
        Source {
            sop_class: uids::MR_IMAGE_STORAGE.into(),
            sop_instance: instance.into(),
            study: "2.25.100".into(),
            series: series.into(),
            frame_of_reference: "2.25.102".into(),
            rows: 2,
            columns: 3,
            multi_frame: heights.len() > 1,
            orientation: ds(tags::IMAGE_ORIENTATION_PATIENT, &[1., 0., 0., 0., 1., 0.]),
            measures: Vec::new(),
            positions: heights
                .iter()
                .map(|&z| ds(tags::IMAGE_POSITION_PATIENT, &[0., 0., z]))
                .collect(),
            repetitions: vec![Default::default(); heights.len()],
            copied: Vec::new(),
        }
    }
}

fn element(obj: &InMemDicomObject, tag: Tag) -> Option<InMemElement> {
    obj.element_opt(tag).ok().flatten().cloned()
}

/// `tag` inside functional group `group` of frame `frame` (its own, else the shared one).
fn grouped(obj: &InMemDicomObject, frame: usize, group: Tag, tag: Tag) -> Option<InMemElement> {
    element(frame_group(obj, frame, group)?, tag)
}

/// One SEG frame: the prediction for frame `frame` (from 0) of `source`.
pub struct Frame<'a> {
    pub source: &'a Source,
    pub frame: usize,
    pub pixels: &'a Pixels,
}

impl<'a> Placed<'a> for Frame<'a> {
    fn source(&self) -> &'a Source {
        self.source
    }

    fn frame(&self) -> usize {
        self.frame
    }
}

/// Write one SEG of `frames`, whose sources must share a [`Source::stack`] and whose pixels one
/// [`SegType`]; frames are stored in stack order (along the slice normal), each indexed by its
/// position in the whole stack. Frames without tumour are left out unless `keep_empty` (as highdicom
/// does; all are kept when all are empty, since a SEG needs a frame): the SEG still references every
/// source, so a reader knows those slices were segmented and found empty. The number of frames
/// written.
pub fn write(path: &Path, frames: Vec<Frame>, keep_empty: bool) -> Result<usize> {
    let first = frames.first().context("a SEG needs at least one frame")?;
    let (stack, kind) = (first.source.stack(), first.pixels.kind());
    if let Some(f) = frames.iter().find(|f| f.source.stack() != stack) {
        bail!(
            "frames of different stacks in one SEG ({stack} and {})",
            f.source.stack()
        );
    }
    ensure!(
        frames.iter().all(|f| f.pixels.kind() == kind),
        "binary and fractional frames in one SEG"
    );
    let pixels = (first.source.rows * first.source.columns) as usize;
    if let Some(f) = frames.iter().find(|f| f.pixels.len() != pixels) {
        bail!("a {}-pixel mask for a {pixels}-pixel slice", f.pixels.len());
    }
    let (frames, indices) = in_stack_order(frames)?;
    let all_empty = frames.iter().all(|f| f.pixels.is_empty());
    let kept: Vec<(&Frame, u32)> = frames
        .iter()
        .zip(indices)
        .filter(|(f, _)| keep_empty || all_empty || !f.pixels.is_empty())
        .collect();
    let obj = attributes::dataset(&frames, &kept, kind);
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .context("DICOM file meta")?;
    file.write_to_file(path)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(kept.len())
}
