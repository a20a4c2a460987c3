//! What a SEG's pixel data says, frame by frame: one mask for a BINARY frame (1 bit per pixel) or a
//! FRACTIONAL one (8 bits, above half the Maximum Fractional Value), and for a LABELMAP frame (8 or 16
//! bits, each value a segment number) one mask per segment in it. Compressed pixel data (RLE and
//! JPEG 2000, in pure Rust) is decoded first.
use super::super::text;
use super::{pack, Bits};
use anyhow::{bail, ensure, Context, Result};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use std::borrow::Cow;

/// One frame's masks: the segment each shows (None: the frame's functional groups say) and its bits.
pub type Layers = Vec<(Option<u16>, Bits)>;

/// The layers of each of the `count` frames of `n` pixels.
pub fn layers(file: &DefaultDicomObject, count: usize, n: usize) -> Result<Vec<Layers>> {
    let obj: &InMemDicomObject = file;
    let bits = obj
        .element(tags::BITS_ALLOCATED)?
        .to_int::<usize>()
        .context("unreadable Bits Allocated")?;
    let bytes = pixel_bytes(file)?;
    ensure!(
        bytes.len() * 8 >= count * n * bits,
        "pixel data shorter than its {count} frames"
    );
    let labelmap = text(obj, tags::SEGMENTATION_TYPE).as_deref() == Some("LABELMAP");
    Ok(match (bits, labelmap) {
        (1, false) => (0..count)
            .map(|k| {
                let mask = pack((k * n..(k + 1) * n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1));
                vec![(None, mask)]
            })
            .collect(),
        (8, false) => {
            let max = obj
                .element_opt(tags::MAXIMUM_FRACTIONAL_VALUE)?
                .map(|e| e.to_int::<u32>())
                .transpose()?
                .unwrap_or(255);
            bytes
                .chunks_exact(n)
                .take(count)
                .map(|f| vec![(None, pack(f.iter().map(|&v| 2 * u32::from(v) > max)))])
                .collect()
        }
        (8, true) => labels(bytes.iter().map(|&v| u16::from(v)).collect(), n, count),
        (16, true) => labels(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect(),
            n,
            count,
        ),
        (b, labelmap) => bail!(
            "{b} bits per pixel in a {} SEG",
            if labelmap {
                "LABELMAP"
            } else {
                "BINARY or FRACTIONAL"
            }
        ),
    })
}

/// A label map's frames, one mask per segment number found in each.
fn labels(values: Vec<u16>, n: usize, count: usize) -> Vec<Layers> {
    values
        .chunks_exact(n)
        .take(count)
        .map(|frame| {
            let mut found: Vec<u16> = frame.iter().copied().filter(|&v| v != 0).collect();
            found.sort_unstable();
            found.dedup();
            found
                .into_iter()
                .map(|s| (Some(s), pack(frame.iter().map(|&v| v == s))))
                .collect()
        })
        .collect()
}

/// The pixel data as stored, or decoded when compressed (RLE, JPEG 2000, JPEG-LS: what slices are
/// decoded from).
fn pixel_bytes(file: &DefaultDicomObject) -> Result<Cow<'_, [u8]>> {
    let data = file.element(tags::PIXEL_DATA)?;
    if let Ok(bytes) = data.to_bytes() {
        return Ok(bytes);
    }
    let decoded = super::super::decode_pixels(file)?;
    Ok(Cow::Owned(decoded.data().to_vec()))
}
