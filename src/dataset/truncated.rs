//! Whether an image file was cut short. The JPEG decoder fills the missing part of a truncated file
//! with grey instead of failing, so a half-copied slice would otherwise pass for a valid image. The
//! PNG decoder refuses most cuts, as "unexpected end of file", but not one inside the end chunk.
use anyhow::{bail, Result};
use image::ImageFormat;

const SOS: [u8; 2] = [0xFF, 0xDA];
const EOI: [u8; 2] = [0xFF, 0xD9];

/// An error when `bytes` (of `format`) end before the format's end marker.
pub(super) fn check(bytes: &[u8], format: Option<ImageFormat>) -> Result<()> {
    if format == Some(ImageFormat::Jpeg) && !jpeg_ends(bytes) {
        bail!("the JPEG data ends before its end-of-image marker");
    }
    if format == Some(ImageFormat::Png) && !png_ends(bytes) {
        bail!("the PNG data ends before its IEND chunk");
    }
    Ok(())
}

/// An end-of-image marker after the last start-of-scan. Inside entropy-coded data 0xFF is always
/// followed by 0x00 or a restart marker, so neither marker can appear there by chance; an EXIF
/// thumbnail's end marker comes before the main image's scans, and bytes after the end are allowed.
/// A file without any scan is left to the decoder, which refuses it.
fn jpeg_ends(bytes: &[u8]) -> bool {
    let Some(last_scan) = bytes.windows(2).rposition(|w| w == SOS) else {
        return true;
    };
    bytes[last_scan..].windows(2).any(|w| w == EOI)
}

/// A whole IEND chunk, found by walking the chunks from the signature by their lengths: compressed
/// pixel data may hold the bytes `IEND` by chance, so a search could be fooled.
fn png_ends(bytes: &[u8]) -> bool {
    let mut at = 8;
    while let Some(header) = bytes.get(at..at + 8) {
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        // Length, type, data, CRC.
        let end = at + 12 + length;
        if &header[4..] == b"IEND" {
            return end <= bytes.len();
        }
        at = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use crate::dataset::decode;
    use image::{GrayImage, ImageFormat, Luma};
    use std::path::Path;

    fn encoded(side: u32, format: ImageFormat) -> Vec<u8> {
        let img = GrayImage::from_fn(side, side, |x, y| {
            Luma([(x * 7 + y * 13) as u8 ^ (x * y) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn why(bytes: &[u8]) -> String {
        format!("{:#}", decode(bytes, Path::new("slice")).unwrap_err())
    }

    #[test]
    fn a_jpeg_cut_short_is_an_error_not_a_grey_filled_image() {
        // The review's case: a 55 kB slice cut to its first 3000 bytes decoded as mostly grey.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/brain-tumor-mini/test/1035_jpg.rf.0dead1ccbe6b1e137ca2d98fc4d34b9a.jpg",
        );
        let whole = std::fs::read(path).unwrap();
        assert!(decode(&whole, Path::new("whole.jpg")).is_ok());
        for cut in [3000, whole.len() / 2, whole.len() - 2] {
            assert_eq!(
                why(&whole[..cut]),
                "slice is truncated: the JPEG data ends before its end-of-image marker",
                "cut at {cut} of {}",
                whole.len()
            );
        }
    }

    #[test]
    fn a_thumbnails_end_marker_or_bytes_after_the_end_do_not_hide_a_cut() {
        let main = encoded(64, ImageFormat::Jpeg);
        let thumb = encoded(8, ImageFormat::Jpeg);
        // An APP1 segment holding a whole JPEG before the main image's tables and scan, as EXIF does.
        let mut with_thumb = main[..2].to_vec();
        with_thumb.extend([0xFF, 0xE1]);
        with_thumb.extend(u16::try_from(thumb.len() + 8).unwrap().to_be_bytes());
        with_thumb.extend(b"Exif\0\0");
        with_thumb.extend(&thumb);
        with_thumb.extend(&main[2..]);
        assert!(decode(&with_thumb, Path::new("whole.jpg")).is_ok());
        assert!(why(&with_thumb[..with_thumb.len() - 40]).contains("is truncated"));
        // Padding after the end-of-image marker is allowed.
        let padded = [main.as_slice(), &[0; 100]].concat();
        assert!(decode(&padded, Path::new("padded.jpg")).is_ok());
    }

    #[test]
    fn a_png_cut_short_is_an_error() {
        let whole = encoded(64, ImageFormat::Png);
        assert!(decode(&whole, Path::new("whole.png")).is_ok());
        // The decoder itself refuses a cut in the pixel data or before the end chunk, with its own
        // reason, but accepted one inside the end chunk.
        for cut in [whole.len() / 2, whole.len() - 12] {
            assert!(
                why(&whole[..cut]).contains("unexpected end of file"),
                "cut at {cut}"
            );
        }
        assert_eq!(
            why(&whole[..whole.len() - 1]),
            "slice is truncated: the PNG data ends before its IEND chunk"
        );
        let padded = [whole.as_slice(), &[0; 100]].concat();
        assert!(decode(&padded, Path::new("padded.png")).is_ok());
    }
}
