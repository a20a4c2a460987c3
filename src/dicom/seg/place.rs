//! Which SEG frames lie on a slice, and where. A frame that names its source image lies on that
//! slice; one that names none lies on the slice whose plane holds its position (same frame of
//! reference, and of a series the SEG refers to when it names any). A frame smaller than the slice
//! (cropped to the segments' extent, as pydicom-seg writes them) is placed by its position.
use super::read::{SegFrame, Segmentation};
use crate::dicom::plane::Plane;
use anyhow::{bail, ensure, Result};

/// A slice that SEG frames are placed on.
pub struct Target<'a> {
    pub uid: &'a str,
    /// The frame number (from 1), for a frame of a multi-frame source.
    pub frame: Option<u32>,
    pub series: Option<&'a str>,
    pub width: u32,
    pub height: u32,
    pub frame_of_reference: Option<&'a str>,
    pub plane: Option<&'a Plane>,
}

/// Whether frame `f` of `seg` lies on `t`.
pub fn lies_on(seg: &Segmentation, f: &SegFrame, t: &Target) -> bool {
    if let Some(uid) = &f.source {
        return uid == t.uid
            && match (t.frame, f.source_frame) {
                (None, _) => true,
                (Some(k), Some(n)) => k == n,
                // A volume named without its frame: the frame whose plane holds the SEG frame.
                (Some(_), None) => in_plane(f, t),
            };
    }
    let same_frame = seg.frame_of_reference.is_some()
        && seg.frame_of_reference.as_deref() == t.frame_of_reference;
    // Another series of the study can share the frame of reference and the positions (T1 and T2).
    let series = seg.referenced_series.is_empty()
        || t.series
            .is_some_and(|s| seg.referenced_series.iter().any(|r| r == s));
    same_frame && series && in_plane(f, t)
}

fn in_plane(f: &SegFrame, t: &Target) -> bool {
    matches!((t.plane, &f.plane), (Some(slice), Some(frame)) if slice.contains(frame))
}

/// Whether `f` names `t` itself (its instance, and its frame when `t` is a volume's frame).
fn names(f: &SegFrame, t: &Target) -> bool {
    f.source.as_deref() == Some(t.uid) && (t.frame.is_none() || f.source_frame == t.frame)
}

/// Marks (as 1) on `mask`, `t`'s 0/1 pixels row by row, the pixels of frame `f` of `seg` (which lies
/// on `t`): pixel for pixel when it names `t` and has its size, else where its position puts it on
/// `t`'s pixel grid.
pub fn paint(seg: &Segmentation, f: &SegFrame, t: &Target, mask: &mut [u8]) -> Result<()> {
    let full = (seg.columns, seg.rows) == (t.width, t.height);
    let (row0, column0) = match (t.plane, &f.plane) {
        _ if full && names(f, t) => (0, 0),
        (Some(slice), Some(frame)) => slice.offset_of(frame)?,
        _ => bail!(
            "a {}x{} frame on a {}x{} slice, without the positions that would place it",
            seg.columns,
            seg.rows,
            t.width,
            t.height
        ),
    };
    let (rows, columns) = (i64::from(seg.rows), i64::from(seg.columns));
    ensure!(
        row0 >= 0
            && column0 >= 0
            && row0 + rows <= i64::from(t.height)
            && column0 + columns <= i64::from(t.width),
        "the frame reaches outside the slice (rows {row0}..{}, columns {column0}..{} of a {}x{} slice)",
        row0 + rows,
        column0 + columns,
        t.width,
        t.height
    );
    let width = t.width as usize;
    let (row0, column0, columns) = (row0 as usize, column0 as usize, columns as usize);
    for (i, bit) in f.mask.iter().enumerate() {
        if bit {
            mask[(row0 + i / columns) * width + column0 + i % columns] = 1;
        }
    }
    Ok(())
}
