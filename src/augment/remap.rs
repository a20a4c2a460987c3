//! Resampling image and mask through one coordinate map (cv2.remap semantics, BORDER_CONSTANT 0):
//! bilinear for the image, nearest (round half away from zero, like OpenCV's saturate_cast) for the mask.
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
            ri[x] = bilinear(img, xs[x], ys[x]);
            rm[x] = nearest(mask, xs[x], ys[x]);
        }
    }
    img.data = out_img;
    mask.data = out_mask;
}

#[inline]
fn bilinear(p: &Plane, sx: f32, sy: f32) -> f32 {
    let x0f = sx.floor();
    let y0f = sy.floor();
    let (fx, fy) = (sx - x0f, sy - y0f);
    let (x0, y0) = (x0f as i64, y0f as i64);
    let (w, h) = (p.width as i64, p.height as i64);
    if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
        // Interior fast path: all four neighbours exist.
        let i = y0 as usize * p.width + x0 as usize;
        let d = &p.data;
        let top = d[i] + (d[i + 1] - d[i]) * fx;
        let bot = d[i + p.width] + (d[i + p.width + 1] - d[i + p.width]) * fx;
        return top + (bot - top) * fy;
    }
    let at = |x: i64, y: i64| -> f32 {
        if x >= 0 && y >= 0 && x < w && y < h {
            p.data[y as usize * p.width + x as usize]
        } else {
            0.0
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bot = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bot * fy
}

#[inline]
fn nearest(p: &Plane, sx: f32, sy: f32) -> f32 {
    let (x, y) = (sx.round() as i64, sy.round() as i64);
    if x >= 0 && y >= 0 && (x as usize) < p.width && (y as usize) < p.height {
        p.data[y as usize * p.width + x as usize]
    } else {
        0.0
    }
}
