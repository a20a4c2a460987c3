//! A [`Window`] as the VOI transform of a DICOM slice's values (after the modality rescale).
use crate::window::Window;
use anyhow::Result;
use dicom_pixeldata::{
    DecodedPixelData, PixelRepresentation, VoiLutFunction, VoiLutOption, WindowLevel,
};

impl Window {
    /// The VOI transform of frame `frame` (from 0). A given window is linear, whatever VOI LUT
    /// function the file names for its own.
    pub(super) fn voi(self, pixels: &DecodedPixelData, frame: u32) -> Result<VoiLutOption> {
        let own = pixels.window()?.is_some() || pixels.voi_lut_sequence()?.is_some();
        Ok(match self {
            Window::Fixed { center, width } => linear(center, width),
            Window::First if own => VoiLutOption::First,
            Window::First | Window::MinMax => stretch(pixels, frame)?,
        })
    }
}

fn linear(center: f64, width: f64) -> VoiLutOption {
    VoiLutOption::CustomWithFunction(WindowLevel { center, width }, VoiLutFunction::Linear)
}

/// The frame's rescaled minimum to maximum as a linear window. dicom-rs 0.10 has its own
/// (`VoiLutOption::Normalize`, and `First` without a window), but it takes signed stored values for
/// unsigned ones, so that a negative value counts as a huge one and the slice reads almost black.
fn stretch(pixels: &DecodedPixelData, frame: u32) -> Result<VoiLutOption> {
    if pixels.samples_per_pixel() != 1 {
        // Colour has no VOI transform.
        return Ok(VoiLutOption::First);
    }
    let values = stored_values(pixels, frame)?;
    let (lo, hi) = values
        .fold(None, |range: Option<(i64, i64)>, v| {
            Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((0, 0));
    let rescales = pixels.rescale()?;
    let r = rescales
        .get(frame as usize)
        .filter(|_| rescales.len() > 1)
        .unwrap_or(&rescales[0]);
    let (a, b) = (r.apply(lo as f64), r.apply(hi as f64));
    let (min, max) = (a.min(b), a.max(b));
    Ok(linear((min + max) / 2.0, (max - min).max(1.0)))
}

/// The frame's stored values as the standard reads them: the low Bits Stored bits of each sample,
/// two's complement when Pixel Representation says signed.
fn stored_values<'a>(
    pixels: &'a DecodedPixelData,
    frame: u32,
) -> Result<Box<dyn Iterator<Item = i64> + 'a>> {
    let bits = u32::from(pixels.bits_stored().clamp(1, 16));
    let signed = pixels.pixel_representation() == PixelRepresentation::Signed;
    let value = move |raw: u16| {
        let v = i64::from(raw) & ((1 << bits) - 1);
        if signed && v >= 1 << (bits - 1) {
            v - (1 << bits)
        } else {
            v
        }
    };
    Ok(if pixels.bits_allocated() == 8 {
        Box::new(
            pixels
                .frame_data(frame)?
                .iter()
                .map(move |&b| value(u16::from(b))),
        )
    } else {
        Box::new(pixels.frame_data_ow(frame)?.into_iter().map(value))
    })
}
