//! Reading a DICOM SEG, ours or another tool's (3D Slicer, highdicom, dcmqi…): which source slice each
//! frame was drawn on, its segment, and its mask.
use super::super::plane::{plane_of, Plane};
use super::super::{first_item, frames_of, text};
use super::layers::layers;
use super::Bits;
use anyhow::{ensure, Context, Result};
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use std::path::Path;

/// One SEG frame: where it lies, which segment it shows, and its mask.
#[derive(Clone, Debug)]
pub struct SegFrame {
    /// SOP Instance UID of the source image; None when the frame names none (some writers only
    /// give its position).
    pub source: Option<String>,
    /// The source's frame number (from 1) when the source is a multi-frame object.
    pub source_frame: Option<u32>,
    pub segment: u16,
    /// Where the frame lies, when the SEG gives its position, orientation and pixel spacing.
    pub plane: Option<Plane>,
    pub mask: Bits,
}

#[derive(Clone, Debug)]
pub struct Segmentation {
    pub rows: u32,
    pub columns: u32,
    pub frame_of_reference: Option<String>,
    /// The Segment Sequence: each segment's number and label.
    pub segments: Vec<(u16, String)>,
    /// Every source instance the SEG was made on (Referenced Series Sequence) and every one a frame
    /// names: those without a frame were segmented and found empty (writers leave empty frames out).
    pub referenced: Vec<String>,
    /// Series Instance UIDs of the Common Instance Reference.
    pub referenced_series: Vec<String>,
    pub frames: Vec<SegFrame>,
}

/// Whether a DICOM object (a header suffices) is a Segmentation, or a Label Map Segmentation.
pub fn is_segmentation(obj: &InMemDicomObject) -> bool {
    let class = text(obj, tags::SOP_CLASS_UID);
    [
        uids::SEGMENTATION_STORAGE,
        uids::LABEL_MAP_SEGMENTATION_STORAGE,
    ]
    .contains(&class.as_deref().unwrap_or(""))
}

/// A SEG's frames and references: BINARY, FRACTIONAL (read as above half its maximum) and LABELMAP
/// segmentations (see [`layers`]), uncompressed, RLE or JPEG 2000.
pub fn read(path: &Path) -> Result<Segmentation> {
    let obj = OpenFileOptions::new()
        .open_file(path)
        .with_context(|| format!("cannot read {} as DICOM", path.display()))?;
    segmentation(&obj).with_context(|| format!("cannot read {} as a DICOM SEG", path.display()))
}

fn segmentation(file: &DefaultDicomObject) -> Result<Segmentation> {
    let obj: &InMemDicomObject = file;
    ensure!(
        is_segmentation(obj),
        "not a Segmentation (SOP Class {})",
        text(obj, tags::SOP_CLASS_UID).unwrap_or_default()
    );
    let int = |tag: Tag| -> Result<u32> {
        let e = obj.element_opt(tag)?.with_context(|| format!("no {tag}"))?;
        Ok(e.to_int::<u32>()?)
    };
    let (rows, columns) = (int(tags::ROWS)?, int(tags::COLUMNS)?);
    let count = frames_of(obj)? as usize;
    let layers = layers(file, count, (rows * columns) as usize)?;
    let per_frame: Vec<&InMemDicomObject> = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)?
        .and_then(|e| e.items())
        .map(|items| items.iter().collect())
        .unwrap_or_default();
    ensure!(
        per_frame.len() == count,
        "{} per-frame functional groups for {count} frames",
        per_frame.len()
    );
    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let mut frames = Vec::new();
    for (k, (group, layers)) in per_frame.iter().zip(layers).enumerate() {
        for (segment, mask) in layers {
            let f = frame(group, shared, plane_of(obj, k), segment, mask);
            frames.push(f.with_context(|| format!("frame {}", k + 1))?);
        }
    }
    ensure!(
        frames
            .iter()
            .all(|f| f.source.is_some() || f.plane.is_some()),
        "a frame names no source image (Derivation Image Sequence) and gives no position: it \
         cannot be placed on a slice"
    );
    let mut referenced: Vec<String> = frames.iter().filter_map(|f| f.source.clone()).collect();
    let series = referenced_series(obj);
    referenced.extend(series.iter().flat_map(|s| {
        let instances = s
            .element_opt(tags::REFERENCED_INSTANCE_SEQUENCE)
            .ok()
            .flatten();
        let items = instances.and_then(|e| e.items()).unwrap_or_default();
        items
            .iter()
            .filter_map(|i| text(i, tags::REFERENCED_SOP_INSTANCE_UID))
    }));
    referenced.sort();
    referenced.dedup();
    Ok(Segmentation {
        rows,
        columns,
        frame_of_reference: text(obj, tags::FRAME_OF_REFERENCE_UID),
        segments: segment_labels(obj, &frames),
        referenced,
        referenced_series: series
            .iter()
            .filter_map(|s| text(s, tags::SERIES_INSTANCE_UID))
            .collect(),
        frames,
    })
}

/// A frame at `plane`: its source (Derivation Image → Source Image; a Source Image Sequence straight
/// in the frame's group, as some writers put it) and segment (`segment`, a label map's value, else
/// its own Segment Identification, else the shared one).
fn frame(
    group: &InMemDicomObject,
    shared: Option<&InMemDicomObject>,
    plane: Option<Plane>,
    segment: Option<u16>,
    mask: Bits,
) -> Result<SegFrame> {
    let source = first_item(group, tags::DERIVATION_IMAGE_SEQUENCE)
        .and_then(|d| first_item(d, tags::SOURCE_IMAGE_SEQUENCE))
        .or_else(|| first_item(group, tags::SOURCE_IMAGE_SEQUENCE));
    let identified = || {
        first_item(group, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .or_else(|| first_item(shared?, tags::SEGMENT_IDENTIFICATION_SEQUENCE))?
            .element_opt(tags::REFERENCED_SEGMENT_NUMBER)
            .ok()??
            .to_int::<u16>()
            .ok()
    };
    let segment = segment
        .or_else(identified)
        .context("no Referenced Segment Number")?;
    let source_frame = source
        .and_then(|s| s.element_opt(tags::REFERENCED_FRAME_NUMBER).ok().flatten())
        .and_then(|e| e.to_int::<u32>().ok());
    Ok(SegFrame {
        source: source
            .map(|s| {
                text(s, tags::REFERENCED_SOP_INSTANCE_UID).context("no Referenced SOP Instance UID")
            })
            .transpose()?,
        source_frame,
        segment,
        plane,
        mask,
    })
}

/// Each segment's number and label (empty where it has none), and the numbers of segments that
/// frames show but the Segment Sequence leaves out.
fn segment_labels(obj: &InMemDicomObject, frames: &[SegFrame]) -> Vec<(u16, String)> {
    let items = obj
        .element_opt(tags::SEGMENT_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or_default();
    let mut labelled = items
        .iter()
        .filter_map(|item| {
            let number = item
                .element_opt(tags::SEGMENT_NUMBER)
                .ok()??
                .to_int::<u16>()
                .ok()?;
            Some((number, text(item, tags::SEGMENT_LABEL).unwrap_or_default()))
        })
        .collect::<Vec<_>>();
    for f in frames {
        if !labelled.iter().any(|(n, _)| *n == f.segment) {
            labelled.push((f.segment, String::new()));
        }
    }
    labelled
}

/// The items of the Common Instance Reference module's Referenced Series Sequence.
fn referenced_series(obj: &InMemDicomObject) -> &[InMemDicomObject] {
    obj.element_opt(tags::REFERENCED_SERIES_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or_default()
}
