//! DICOM slices as images. Scanners and PACS hand out DICOM, not JPEG: a single-frame file's pixel
//! data, through its modality LUT (rescale slope and intercept) and its first VOI transform (a window
//! or a VOI LUT, as a viewer shows it; without one, the values' minimum to maximum), MONOCHROME1
//! inverted, becomes 8-bit grey, like the JPEG exports the model is trained on. An enhanced
//! (multi-frame) object's per-frame windows and its pixel spacing come from its functional groups.
use anyhow::{bail, Context, Result};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions, Tag};
use dicom_pixeldata::{ConvertOptions, DecodedPixelData, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use image::{DynamicImage, GrayImage};
use std::path::Path;

pub mod plane;
pub mod seg;
mod window;

pub use crate::window::Window;

/// File name extensions of DICOM files; files without one are recognised by [`is_dicom`].
pub const EXTENSIONS: [&str; 2] = ["dcm", "dicom"];

/// The DICOMDIR of a DICOM folder indexes the other files and holds no image.
pub const DIRECTORY: &str = "DICOMDIR";

/// A DICOM Part 10 file: "DICM" after its 128-byte preamble (so the first 132 bytes decide).
pub fn is_dicom(head: &[u8]) -> bool {
    head.get(128..132) == Some(b"DICM".as_slice())
}

pub fn has_dicom_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_lowercase().as_str()))
}

/// A DICOM file by its name or its magic, and not a folder's DICOMDIR.
pub fn is_dicom_file(path: &Path) -> bool {
    (has_dicom_extension(path) || sniff(path)) && path.file_name().is_some_and(|n| n != DIRECTORY)
}

/// A string attribute without DICOM's padding; None when absent or empty.
pub fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.element_opt(tag).ok()??.to_str().ok()?;
    let value = value.trim_end_matches(['\0', ' ']);
    (!value.is_empty()).then(|| value.to_string())
}

/// Whether a file starts like a DICOM file, reading only its first 132 bytes.
pub fn sniff(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| is_dicom(&head))
}

/// One slice as 8-bit grey. A multi-frame file (a volume, a cine) is refused rather than reduced to
/// its first frame, which would silently drop the other slices; `predict` reads every frame (see
/// [`read_frames`]).
pub fn decode(bytes: &[u8]) -> Result<DynamicImage> {
    // The preamble is detected, so files written without one (raw data sets with meta) open too.
    let obj = OpenFileOptions::new()
        .from_reader(bytes)
        .context("not a readable DICOM file")?;
    let frames = frames_of(&obj)?;
    if frames > 1 {
        bail!(
            "{frames} frames in one DICOM file: a dataset image must be one slice \
             (`tumorseg predict` reads every frame)"
        );
    }
    Ok(DynamicImage::ImageLuma8(
        images(&obj, &[0], Window::First)?.remove(0),
    ))
}

/// The given frames (from 0) of a DICOM file, each as 8-bit grey through `window`, decoding the file
/// once.
pub fn read_frames(path: &Path, frames: &[u32], window: Window) -> Result<Vec<GrayImage>> {
    let obj = OpenFileOptions::new()
        .open_file(path)
        .with_context(|| format!("cannot read {} as DICOM", path.display()))?;
    images(&obj, frames, window).with_context(|| format!("cannot decode {}", path.display()))
}

/// What `predict` needs of a DICOM file before reading its pixels, from its header alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub frames: u32,
    /// Pixel Spacing in mm (between rows, between columns), when the file gives it.
    pub spacing: Option<(f64, f64)>,
    /// Why the object is no image to predict on, when it is not one.
    pub not_image: Option<String>,
}

/// What an image of a DICOM file is named by: the file's stem, and for frame `k` (from 0) of `n` `_f`
/// and its number from 1, padded so that the names sort in frame order (`scan_f001` … `scan_f120`).
pub fn frame_stem(path: &Path, frame: Option<(u32, u32)>) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    numbered(stem, frame)
}

/// `stem`, and for frame `k` (from 0) of `n` `_f` and its number from 1, as [`frame_stem`].
pub fn numbered(stem: String, frame: Option<(u32, u32)>) -> String {
    match frame {
        None => stem,
        Some((k, n)) => format!("{stem}_f{:0w$}", k + 1, w = n.to_string().len()),
    }
}

/// A DICOM file's [`Header`], reading only up to its pixel data.
pub fn read_header(path: &Path) -> Result<Header> {
    let obj = header(path)?;
    Ok(Header {
        frames: frames_of(&obj)?,
        spacing: spacing_of(&obj),
        not_image: not_image(&obj),
    })
}

/// DICOM folders hold more than images: a SEG (masks of other slices, whose 1-bit frames would read as
/// pictures), and objects without pixel rows (structured reports, presentation states, key-object
/// selections…).
fn not_image(obj: &InMemDicomObject) -> Option<String> {
    if seg::read::is_segmentation(obj) {
        return Some("a DICOM SEG (the masks of other slices)".to_string());
    }
    let rows = obj.element_opt(tags::ROWS).ok().flatten();
    rows.is_none().then(|| {
        let class = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
        format!("a DICOM object without pixels (SOP Class {class})")
    })
}

/// A DICOM file read only up to its pixel data.
pub(crate) fn header(path: &Path) -> Result<DefaultDicomObject> {
    OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .with_context(|| format!("cannot read {} as DICOM", path.display()))
}

pub(crate) fn frames_of(obj: &InMemDicomObject) -> Result<u32> {
    Ok(match obj.element_opt(tags::NUMBER_OF_FRAMES)? {
        Some(e) => e.to_int::<u32>().context("unreadable Number of Frames")?,
        None => 1,
    })
}

/// The pixel data decoded. What cannot be decoded says why: no pixel data, a compression without a
/// decoder here (named, with its UID), or a stream its decoder refuses.
pub(crate) fn decode_pixels(obj: &DefaultDicomObject) -> Result<DecodedPixelData<'_>> {
    if obj.element_opt(tags::PIXEL_DATA)?.is_none() {
        bail!("no pixel data (not an image)");
    }
    // UIDs are padded to an even length with a NUL.
    let uid = obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']);
    let syntax = TransferSyntaxRegistry.get(uid);
    match syntax {
        Some(ts) if ts.can_decode_all() => obj
            .decode_pixel_data()
            .map_err(|e| anyhow::anyhow!("corrupt pixel data ({}): {}", ts.name(), causes(&e))),
        Some(ts) => bail!(
            "an unsupported compression: {} ({uid}); tumorseg decodes uncompressed, RLE, deflate, \
             JPEG, JPEG 2000 (HTJ2K too) and JPEG-LS pixel data",
            ts.name()
        ),
        None => bail!("an unknown transfer syntax {uid}"),
    }
}

/// An error and its causes as one line, each cause that only repeats the message before it left
/// out: dicom-rs wraps a codec's error (CharLS's, say) in one that prints the same text.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

fn images(obj: &DefaultDicomObject, frames: &[u32], window: Window) -> Result<Vec<GrayImage>> {
    let pixels = decode_pixels(obj)?;
    frames
        .iter()
        .map(|&k| {
            // dicom-rs takes each frame's window (and rescale) from the functional groups when an
            // enhanced object keeps them there.
            let options = ConvertOptions::new().with_voi_lut(window.voi(&pixels, k)?);
            let img = pixels
                .to_dynamic_image_with_options(k, &options)
                .with_context(|| format!("cannot convert frame {} to an image", k + 1))?;
            // A 16-bit result is already windowed: narrowing it keeps the window, where
            // dataset::to_luma8's minimum-to-maximum stretch would undo a window that leaves some
            // levels unused.
            Ok(img.to_luma8())
        })
        .collect()
}

fn spacing_of(obj: &InMemDicomObject) -> Option<(f64, f64)> {
    let spacing = floats(obj, tags::PIXEL_SPACING).or_else(|| {
        floats(
            frame_group(obj, 0, tags::PIXEL_MEASURES_SEQUENCE)?,
            tags::PIXEL_SPACING,
        )
    })?;
    match spacing[..] {
        [row, column] if row > 0.0 && column > 0.0 => Some((row, column)),
        _ => None,
    }
}

/// Functional group macro `group` of frame `frame` (from 0): the frame's own, else the shared one.
/// (Pixel Spacing varies between frames only in exotic acquisitions; the first frame's serves the
/// file.)
pub(crate) fn frame_group(
    obj: &InMemDicomObject,
    frame: usize,
    group: Tag,
) -> Option<&InMemDicomObject> {
    let own = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items()?.get(frame))
        .and_then(|frame| first_item(frame, group));
    own.or_else(|| {
        first_item(
            first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)?,
            group,
        )
    })
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(tag).ok()??.items()?.first()
}

pub(crate) fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag).ok()??.to_multi_float64().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_sits_after_the_preamble() {
        let mut head = vec![0u8; 132];
        assert!(!is_dicom(&head));
        head[128..].copy_from_slice(b"DICM");
        assert!(is_dicom(&head));
        assert!(!is_dicom(&head[..131]));
        assert!(!is_dicom(b"DICM"));
    }

    #[test]
    fn extensions_are_case_insensitive() {
        assert!(has_dicom_extension(Path::new("a/IM1.DCM")));
        assert!(has_dicom_extension(Path::new("x.dicom")));
        assert!(!has_dicom_extension(Path::new("IM0001")));
        assert!(!has_dicom_extension(Path::new("dcm")));
    }

    #[test]
    fn other_bytes_are_refused_with_a_reason() {
        let e = decode(b"not a dicom file at all").unwrap_err();
        assert!(
            format!("{e:#}").contains("not a readable DICOM file"),
            "{e:#}"
        );
    }
}
