//! Reading a DICOM SEG, ours or another tool's (3D Slicer, highdicom, dcmqi…): which source slice each
//! frame was drawn on, its segment, and its mask.
use super::super::{first_item, frames_of, text};
use super::{pack, Bits};
use anyhow::{bail, ensure, Context, Result};
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::{InMemDicomObject, OpenFileOptions};
use std::path::Path;

/// One SEG frame: where it lies, which segment it shows, and its mask.
#[derive(Clone, Debug)]
pub struct SegFrame {
    /// SOP Instance UID of the source image.
    pub source: String,
    /// The source's frame number (from 1) when the source is a multi-frame object.
    pub source_frame: Option<u32>,
    pub segment: u16,
    pub mask: Bits,
}

#[derive(Clone, Debug)]
pub struct Segmentation {
    pub rows: u32,
    pub columns: u32,
    /// Every source instance the SEG was made on (Referenced Series Sequence) and every one a frame
    /// names: those without a frame were segmented and found empty (writers leave empty frames out).
    pub referenced: Vec<String>,
    pub frames: Vec<SegFrame>,
}

impl Segmentation {
    /// Marks (as 1) in `mask`, a row-major 0/1 image of the SEG's size, the pixels of the frames
    /// on `source` (of the given segments; all when None).
    pub fn paint(&self, source: &str, segments: Option<&[u16]>, mask: &mut [u8]) {
        let on = self
            .frames
            .iter()
            .filter(|f| f.source == source && segments.is_none_or(|s| s.contains(&f.segment)));
        for f in on {
            for (m, bit) in mask.iter_mut().zip(f.mask.iter()) {
                *m |= bit as u8;
            }
        }
    }
}

/// Whether a DICOM object (a header suffices) is a Segmentation.
pub fn is_segmentation(obj: &InMemDicomObject) -> bool {
    text(obj, tags::SOP_CLASS_UID).as_deref() == Some(uids::SEGMENTATION_STORAGE)
}

/// A SEG's frames and references. BINARY (1-bit) and FRACTIONAL (8-bit, read as above half its
/// maximum) segmentations, uncompressed.
pub fn read(path: &Path) -> Result<Segmentation> {
    let obj = OpenFileOptions::new()
        .open_file(path)
        .with_context(|| format!("cannot read {} as DICOM", path.display()))?;
    segmentation(&obj).with_context(|| format!("cannot read {} as a DICOM SEG", path.display()))
}

fn segmentation(obj: &InMemDicomObject) -> Result<Segmentation> {
    ensure!(
        is_segmentation(obj),
        "not a Segmentation (SOP Class {})",
        text(obj, tags::SOP_CLASS_UID).unwrap_or_default()
    );
    let int = |tag: Tag| -> Result<u32> {
        let e = obj.element_opt(tag)?.with_context(|| format!("no {tag}"))?;
        Ok(e.to_int::<u32>()?)
    };
    let (rows, columns, bits) = (
        int(tags::ROWS)?,
        int(tags::COLUMNS)?,
        int(tags::BITS_ALLOCATED)?,
    );
    let count = frames_of(obj)? as usize;
    let data = obj.element(tags::PIXEL_DATA)?;
    let Ok(bytes) = data.to_bytes() else {
        bail!("its pixel data is compressed (only uncompressed SEG is read)");
    };
    let n = (rows * columns) as usize;
    let masks: Vec<Bits> = match bits {
        1 => {
            ensure!(
                bytes.len() * 8 >= count * n,
                "pixel data shorter than its {count} frames"
            );
            (0..count)
                .map(|k| pack((k * n..(k + 1) * n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1)))
                .collect()
        }
        8 => {
            ensure!(
                bytes.len() >= count * n,
                "pixel data shorter than its {count} frames"
            );
            let max = obj
                .element_opt(tags::MAXIMUM_FRACTIONAL_VALUE)?
                .map(|e| e.to_int::<u32>())
                .transpose()?
                .unwrap_or(255);
            (0..count)
                .map(|k| {
                    pack(
                        bytes[k * n..(k + 1) * n]
                            .iter()
                            .map(|&v| 2 * v as u32 > max),
                    )
                })
                .collect()
        }
        b => bail!("{b} bits per pixel (a SEG has 1, or 8 when fractional)"),
    };
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
    let frames = per_frame
        .iter()
        .zip(masks)
        .enumerate()
        .map(|(k, (group, mask))| {
            frame(group, shared, mask).with_context(|| format!("frame {}", k + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut referenced: Vec<String> = frames.iter().map(|f| f.source.clone()).collect();
    referenced.extend(referenced_instances(obj));
    referenced.sort();
    referenced.dedup();
    Ok(Segmentation {
        rows,
        columns,
        referenced,
        frames,
    })
}

/// A frame's source (Derivation Image → Source Image) and segment (its own Segment Identification,
/// else the shared one).
fn frame(
    group: &InMemDicomObject,
    shared: Option<&InMemDicomObject>,
    mask: Bits,
) -> Result<SegFrame> {
    let source = first_item(group, tags::DERIVATION_IMAGE_SEQUENCE)
        .and_then(|d| first_item(d, tags::SOURCE_IMAGE_SEQUENCE))
        .context("no source image (Derivation Image Sequence): it cannot be placed on a slice")?;
    let segment = first_item(group, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
        .or_else(|| first_item(shared?, tags::SEGMENT_IDENTIFICATION_SEQUENCE))
        .and_then(|s| {
            s.element_opt(tags::REFERENCED_SEGMENT_NUMBER)
                .ok()??
                .to_int::<u16>()
                .ok()
        })
        .context("no Referenced Segment Number")?;
    Ok(SegFrame {
        source: text(source, tags::REFERENCED_SOP_INSTANCE_UID)
            .context("no Referenced SOP Instance UID")?,
        source_frame: source
            .element_opt(tags::REFERENCED_FRAME_NUMBER)
            .ok()
            .flatten()
            .and_then(|e| e.to_int::<u32>().ok()),
        segment,
        mask,
    })
}

/// The SOP Instance UIDs of the Common Instance Reference module.
fn referenced_instances(obj: &InMemDicomObject) -> Vec<String> {
    let series = obj
        .element_opt(tags::REFERENCED_SERIES_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .map(|items| items.to_vec())
        .unwrap_or_default();
    series
        .iter()
        .filter_map(|s| {
            s.element_opt(tags::REFERENCED_INSTANCE_SEQUENCE)
                .ok()??
                .items()
        })
        .flat_map(|items| {
            items
                .iter()
                .filter_map(|i| text(i, tags::REFERENCED_SOP_INSTANCE_UID))
        })
        .collect()
}
