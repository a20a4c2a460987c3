//! Annotation → binary mask, with pycocotools' `annToMask` semantics.
//!
//! Polygons go through a Rust port of pycocotools' `rleFrPoly` (common/maskApi.c): the boundary is
//! upsampled ×5, walked edge by edge, and only the crossings of pixel-column centres are kept; the
//! resulting column-major run-length encoding is what COCO calls the mask. Several rings of one
//! annotation are merged by union (pycocotools `frPyObjects` + `merge`), so rings never cut holes.
//! Matching this exactly (rather than using a generic scan-line fill) is what makes our masks agree
//! pixel for pixel with the masks the COCO tools and the seed produced.
use anyhow::{bail, Result};
use image::GrayImage;

/// One annotation's shape. RLE counts are column-major (COCO's Fortran order), starting with a run
/// of zeros; compressed RLE strings are decoded at load time.
#[derive(Clone, Debug, PartialEq)]
pub enum Segmentation {
    /// Rings `[x1, y1, x2, y2, …]` in pixel coordinates of the image they belong to.
    Polygons(Vec<Vec<f64>>),
    Rle {
        counts: Vec<u32>,
        height: u32,
        width: u32,
    },
}

/// The mask of one annotation at `width`×`height`, values 0/1.
///
/// Polygon vertices are clamped to `[0, width]`×`[0, height]` first: it bounds the work for absurd
/// coordinates and is a no-op for every in-image polygon. An RLE whose own size differs from the
/// target is decoded at its size and resized nearest-neighbour.
pub fn rasterize(seg: &Segmentation, width: u32, height: u32) -> GrayImage {
    match seg {
        Segmentation::Polygons(rings) => polygons_to_mask(rings, width, height),
        Segmentation::Rle {
            counts,
            height: h,
            width: w,
        } => {
            let img = rle_to_mask(counts, *w, *h);
            resize_nearest(img, width, height)
        }
    }
}

/// The mask at a different resolution (training at `--size`): polygon coordinates are scaled from
/// `src_w`×`src_h` to `dst_w`×`dst_h` and rasterised there, so the mask is as sharp as a polygon
/// drawn at that size; an RLE is decoded and resized nearest-neighbour.
pub fn rasterize_scaled(
    seg: &Segmentation,
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
) -> GrayImage {
    match seg {
        Segmentation::Polygons(rings) => {
            let sx = dst_w as f64 / src_w.max(1) as f64;
            let sy = dst_h as f64 / src_h.max(1) as f64;
            let scaled: Vec<Vec<f64>> = rings
                .iter()
                .map(|r| {
                    r.iter()
                        .enumerate()
                        .map(|(i, v)| if i % 2 == 0 { v * sx } else { v * sy })
                        .collect()
                })
                .collect();
            polygons_to_mask(&scaled, dst_w, dst_h)
        }
        Segmentation::Rle { .. } => resize_nearest(rasterize(seg, src_w, src_h), dst_w, dst_h),
    }
}

/// Union of several masks (an image's annotations), values 0/1.
pub fn union(segs: &[Segmentation], width: u32, height: u32) -> GrayImage {
    let mut out = GrayImage::new(width, height);
    for s in segs {
        let m = rasterize(s, width, height);
        for (o, v) in out.iter_mut().zip(m.iter()) {
            *o |= *v;
        }
    }
    out
}

fn polygons_to_mask(rings: &[Vec<f64>], width: u32, height: u32) -> GrayImage {
    let (w, h) = (width as usize, height as usize);
    let mut colmajor = vec![0u8; w * h];
    if w == 0 || h == 0 {
        return GrayImage::new(width, height);
    }
    for ring in rings {
        let clamped: Vec<f64> = ring
            .iter()
            .enumerate()
            .map(|(i, v)| v.clamp(0.0, if i % 2 == 0 { w as f64 } else { h as f64 }))
            .collect();
        paint_rle(&mut colmajor, &rle_from_poly(&clamped, h, w));
    }
    colmajor_to_image(&colmajor, width, height)
}

/// OR the foreground runs of a column-major RLE into `buf` (runs past the end are cut).
fn paint_rle(buf: &mut [u8], counts: &[u32]) {
    let mut pos = 0usize;
    for (i, &c) in counts.iter().enumerate() {
        let end = (pos + c as usize).min(buf.len());
        if i % 2 == 1 {
            buf[pos..end].fill(1);
        }
        pos = end;
    }
}

fn colmajor_to_image(buf: &[u8], width: u32, height: u32) -> GrayImage {
    let h = height as usize;
    GrayImage::from_fn(width, height, |x, y| {
        image::Luma([buf[x as usize * h + y as usize]])
    })
}

/// Decode a column-major RLE of size `width`×`height` into a 0/1 image.
pub fn rle_to_mask(counts: &[u32], width: u32, height: u32) -> GrayImage {
    let mut buf = vec![0u8; width as usize * height as usize];
    paint_rle(&mut buf, counts);
    colmajor_to_image(&buf, width, height)
}

fn resize_nearest(img: GrayImage, width: u32, height: u32) -> GrayImage {
    if img.dimensions() == (width, height) {
        return img;
    }
    if img.width() == 0 || img.height() == 0 {
        return GrayImage::new(width, height);
    }
    image::imageops::resize(&img, width, height, image::imageops::FilterType::Nearest)
}

/// Port of pycocotools' `rleFrPoly` (maskApi.c). Integer casts truncate toward zero exactly like
/// C's `(int)`; i64 keeps the arithmetic free of overflow for any clamped input.
pub fn rle_from_poly(xy: &[f64], h: usize, w: usize) -> Vec<u32> {
    const SCALE: f64 = 5.0;
    let k = xy.len() / 2;
    if k == 0 || h == 0 || w == 0 {
        return vec![(h * w) as u32];
    }
    // Upsample and collect discrete points densely along the whole boundary.
    let mut x: Vec<i64> = (0..k).map(|j| (SCALE * xy[2 * j] + 0.5) as i64).collect();
    let mut y: Vec<i64> = (0..k)
        .map(|j| (SCALE * xy[2 * j + 1] + 0.5) as i64)
        .collect();
    x.push(x[0]);
    y.push(y[0]);
    // The boundary points are streamed into `crossing` instead of being stored: C keeps them in
    // arrays, but only consecutive pairs matter, and arrays cost memory proportional to the
    // perimeter ×5.
    let mut a: Vec<u64> = Vec::new();
    let mut prev: Option<(i64, i64)> = None;
    let mut visit = |u: i64, v: i64| {
        if let Some((pu, pv)) = prev {
            if let Some(c) = crossing((pu, pv), (u, v), h, w) {
                a.push(c);
            }
        }
        prev = Some((u, v));
    };
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = (xe - xs).abs();
        let dy = (ys - ye).abs();
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        // 0/0 for a repeated vertex gives NaN as in C; that point's v is never read (equal u).
        let s = if dx >= dy {
            (ye - ys) as f64 / dx as f64
        } else {
            (xe - xs) as f64 / dy as f64
        };
        if dx >= dy {
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                visit(t + xs, (ys as f64 + s * t as f64 + 0.5) as i64);
            }
        } else {
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                visit((xs as f64 + s * t as f64 + 0.5) as i64, t + ys);
            }
        }
    }
    a.push((h * w) as u64);
    a.sort_unstable();
    // Differences between sorted crossings are the run lengths; a zero run means two crossings
    // cancel, so the following run is merged into the previous one.
    let mut prev = 0u64;
    for e in a.iter_mut() {
        let t = *e;
        *e -= prev;
        prev = t;
    }
    let mut b: Vec<u32> = vec![a[0] as u32];
    let mut j = 1;
    while j < a.len() {
        if a[j] > 0 {
            b.push(a[j] as u32);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                *b.last_mut().expect("b starts non-empty") += a[j] as u32;
                j += 1;
            }
        }
    }
    b
}

/// Where the upsampled boundary step `p → q` crosses a pixel-column centre, as a column-major
/// pixel index (the start or end of a foreground run), downsampled back to pixel units.
fn crossing(p: (i64, i64), q: (i64, i64), h: usize, w: usize) -> Option<u64> {
    const SCALE: f64 = 5.0;
    let ((pu, pv), (u, v)) = (p, q);
    if u == pu {
        return None;
    }
    let xd = (if u < pu { u } else { u - 1 }) as f64;
    let xd = (xd + 0.5) / SCALE - 0.5;
    if xd.floor() != xd || xd < 0.0 || xd > (w - 1) as f64 {
        return None;
    }
    let yd = (if v < pv { v } else { pv }) as f64;
    let yd = ((yd + 0.5) / SCALE - 0.5).clamp(0.0, h as f64).ceil();
    Some(xd as u64 * h as u64 + yd as u64)
}

/// Decode COCO's compressed RLE string (LEB128-like, 6 bits per char, chars 48..=111, counts after
/// the second stored as differences). Rejects what pycocotools would silently misread.
pub fn rle_from_string(s: &str) -> Result<Vec<u32>> {
    let bytes = s.as_bytes();
    let mut counts: Vec<u32> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k, mut more) = (0i64, 0u32, true);
        while more {
            let Some(&ch) = bytes.get(p) else {
                bail!("RLE string ends in the middle of a count (byte {p})");
            };
            if !(48..=111).contains(&ch) {
                bail!(
                    "RLE string has an invalid character {:?} at byte {p}",
                    ch as char
                );
            }
            if k >= 12 {
                bail!("RLE string has a count too long to be valid at byte {p}");
            }
            let c = (ch - 48) as i64;
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && (c & 0x10) != 0 {
                x |= -1i64 << (5 * k);
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2] as i64;
        }
        if !(0..=u32::MAX as i64).contains(&x) {
            bail!(
                "RLE string decodes to an impossible count {x} (entry {})",
                counts.len()
            );
        }
        counts.push(x as u32);
    }
    Ok(counts)
}

/// Encode counts as COCO's compressed string (inverse of `rle_from_string`).
pub fn rle_to_string(counts: &[u32]) -> String {
    let mut s = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        let mut more = true;
        while more {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c + 48) as char);
        }
    }
    s
}

/// Column-major RLE of a 0/1 image (inverse of `rle_to_mask`).
pub fn mask_to_rle(mask: &GrayImage) -> Vec<u32> {
    let (w, h) = mask.dimensions();
    let mut runs = Runs::default();
    for x in 0..w {
        for y in 0..h {
            if mask.get_pixel(x, y)[0] != 0 {
                runs.on((x * h + y) as usize);
            }
        }
    }
    runs.finish((w * h) as usize)
}

/// A column-major RLE built from the indices of its foreground pixels, given rising: one pass over
/// a labelled mask gives every region its own RLE.
#[derive(Debug, Default)]
pub struct Runs {
    counts: Vec<u32>,
    /// The index after the last foreground pixel.
    end: usize,
}

impl Runs {
    /// Pixel `i` (column-major, above every earlier one) is foreground.
    pub fn on(&mut self, i: usize) {
        match self.counts.last_mut() {
            Some(run) if self.end == i => *run += 1,
            _ => self.counts.extend([(i - self.end) as u32, 1]),
        }
        self.end = i + 1;
    }

    /// The counts of an image of `total` pixels: COCO's, starting with a run of background (0 when
    /// the first pixel is foreground), the last run ending at the last pixel.
    pub fn finish(mut self, total: usize) -> Vec<u32> {
        if total > self.end || self.counts.is_empty() {
            self.counts.push((total - self.end) as u32);
        }
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_polygon_matches_hand_count() {
        // pycocotools fills the pixels whose centre lies inside [1,4)×[1,4): columns/rows 1..=3.
        let seg = Segmentation::Polygons(vec![vec![1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0]]);
        let m = rasterize(&seg, 6, 6);
        let on: Vec<(u32, u32)> = m
            .enumerate_pixels()
            .filter(|p| p.2[0] == 1)
            .map(|p| (p.0, p.1))
            .collect();
        assert_eq!(on.len(), 9, "{on:?}");
        assert!(on
            .iter()
            .all(|&(x, y)| (1..=3).contains(&x) && (1..=3).contains(&y)));
    }

    #[test]
    fn rle_string_roundtrip() {
        let counts = vec![5, 3, 100, 7, 0, 2, 4000, 1];
        assert_eq!(rle_from_string(&rle_to_string(&counts)).unwrap(), counts);
        assert!(rle_from_string("a~").is_err());
    }

    #[test]
    fn rle_starts_with_background_and_ends_at_the_last_pixel() {
        let rle = |w, h, px: &[u8]| mask_to_rle(&GrayImage::from_raw(w, h, px.to_vec()).unwrap());
        // Column-major: (0,0), (0,1), (1,0), (1,1).
        assert_eq!(rle(2, 2, &[1, 0, 1, 0]), [0, 2, 2]);
        assert_eq!(rle(2, 2, &[0, 1, 0, 1]), [2, 2]);
        assert_eq!(rle(2, 2, &[0, 0, 0, 0]), [4]);
        assert_eq!(rle(2, 2, &[1, 0, 0, 1]), [0, 1, 2, 1]);
        assert_eq!(rle(0, 0, &[]), [0]);
    }
}
