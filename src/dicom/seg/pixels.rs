//! What a SEG frame stores of a slice's prediction: a mask's bits (BINARY) or probabilities
//! (FRACTIONAL), and DICOM's packing of 1-bit pixels.
use image::GrayImage;

/// A mask as one bit per pixel, row by row: what a binary SEG stores, in an eighth of a grey image's
/// memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Bits {
    pub(super) len: usize,
    pub(super) bytes: Vec<u8>,
}

impl Bits {
    /// Nonzero pixels are tumour.
    pub fn from_mask(mask: &GrayImage) -> Bits {
        pack(mask.iter().map(|&v| v != 0))
    }

    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.bytes[i / 8] >> (i % 8) & 1 == 1)
    }
}

/// Probabilities in [0, 1] rounded to the nearest 255th, one byte each.
pub fn in_255ths(probabilities: &[f32]) -> Vec<u8> {
    let byte = |p: f32| (p.clamp(0.0, 1.0) * 255.0).round() as u8;
    probabilities.iter().map(|&p| byte(p)).collect()
}

/// The kind of SEG written (PS3.3 C.8.20.2 Segmentation Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SegType {
    /// One bit per pixel: the mask.
    Binary,
    /// One byte per pixel: the tumour probability, 0–255 for 0–1.
    Fractional,
}

/// What one SEG frame stores of a slice's prediction.
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    Binary(Bits),
    /// Probabilities quantised to 0..=255 (Maximum Fractional Value 255).
    Fractional(Vec<u8>),
}

impl Pixels {
    /// Probabilities in [0, 1] as a fractional frame, rounded to the nearest 255th.
    pub fn fractional(probabilities: &[f32]) -> Pixels {
        Pixels::Fractional(in_255ths(probabilities))
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Pixels::Binary(b) => b.len,
            Pixels::Fractional(v) => v.len(),
        }
    }

    /// No tumour anywhere: a frame a SEG may leave out.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Pixels::Binary(b) => b.bytes.iter().all(|&v| v == 0),
            Pixels::Fractional(v) => v.iter().all(|&v| v == 0),
        }
    }

    /// Each pixel's stored value: 0 or 1, or 0..=255.
    pub(super) fn values(&self) -> Box<dyn Iterator<Item = u8> + '_> {
        match self {
            Pixels::Binary(b) => Box::new(b.iter().map(u8::from)),
            Pixels::Fractional(v) => Box::new(v.iter().copied()),
        }
    }

    pub(super) fn kind(&self) -> SegType {
        match self {
            Pixels::Binary(_) => SegType::Binary,
            Pixels::Fractional(_) => SegType::Fractional,
        }
    }
}

/// Bits as DICOM packs 1-bit pixels: the first in each byte's lowest bit, and frames one after the
/// other with no padding between them (PS3.5 8.1.1), so a frame may begin mid-byte.
pub(super) fn pack(bits: impl Iterator<Item = bool>) -> Bits {
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
