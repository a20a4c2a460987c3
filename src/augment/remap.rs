//! Resampling image and mask through one coordinate map (cv2.remap semantics, BORDER_CONSTANT 0):
//! bilinear for the image, nearest for the mask (round half up; OpenCV rounds half to even, which
//! differs only on exact .5 coordinates).
use super::Plane;

/// `coords(y, xs, ys)` fills the source coordinates of output row `y`; it is called once per row so
/// that no full-size coordinate map is ever allocated.
pub fn remap_pair(
    img: &mut Plane,
    mask: &mut Plane,
    mut coords: impl FnMut(usize, &mut [f32], &mut [f32]),
) {
    let (w, h) = (img.width, img.height);
    let mut out_img = vec![0f32; w * h];
    let mut out_mask = vec![0f32; w * h];
    let mut xs = vec![0f32; w];
    let mut ys = vec![0f32; w];
    for y in 0..h {
        coords(y, &mut xs, &mut ys);
        let row = y * w..(y + 1) * w;
        let (ri, rm) = (&mut out_img[row.clone()], &mut out_mask[row]);
        for x in 0..w {
            (ri[x], rm[x]) = sample(img, mask, xs[x], ys[x]);
        }
    }
    img.data = out_img;
    mask.data = out_mask;
}

/// floor as an integer without a libm call (x86-64 baseline has no SSE4.1 `roundps`); coordinates
/// are far inside i32 range, and the saturating cast keeps even a NaN harmless (it lands outside).
#[inline]
fn floor_i(v: f32) -> i64 {
    let t = v as i32;
    (if (t as f32) > v { t - 1 } else { t }) as i64
}

/// (bilinear image value, nearest mask value) at (sx, sy). The nearest pixel is picked among the
/// four bilinear corners, so it always carries at least a quarter of the bilinear weight.
#[inline]
fn sample(img: &Plane, mask: &Plane, sx: f32, sy: f32) -> (f32, f32) {
    let (x0, y0) = (floor_i(sx), floor_i(sy));
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    let (w, h) = (img.width, img.height);
    let (nx, ny) = (x0 + (fx >= 0.5) as i64, y0 + (fy >= 0.5) as i64);
    if x0 >= 0 && y0 >= 0 && (x0 as usize) + 1 < w && (y0 as usize) + 1 < h {
        // Interior fast path: all four neighbours exist.
        let i = y0 as usize * w + x0 as usize;
        let (r0, r1) = (&img.data[i..i + 2], &img.data[i + w..i + w + 2]);
        let top = r0[0] + (r0[1] - r0[0]) * fx;
        let bot = r1[0] + (r1[1] - r1[0]) * fx;
        let m = mask.data[ny as usize * w + nx as usize];
        return (top + (bot - top) * fy, m);
    }
    let at = |p: &Plane, x: i64, y: i64| -> f32 {
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            p.data[y as usize * w + x as usize]
        } else {
            0.0
        }
    };
    let top = at(img, x0, y0) * (1.0 - fx) + at(img, x0 + 1, y0) * fx;
    let bot = at(img, x0, y0 + 1) * (1.0 - fx) + at(img, x0 + 1, y0 + 1) * fx;
    (top * (1.0 - fy) + bot * fy, at(mask, nx, ny))
}
