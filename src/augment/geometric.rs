//! Exact geometric steps (flips, quarter turns) and small-angle rotation.
use super::remap::remap_pair;
use super::Plane;

/// Mirror left ↔ right (albumentations `HorizontalFlip`).
pub fn hflip(p: &mut Plane) {
    for row in p.data.chunks_exact_mut(p.width) {
        row.reverse();
    }
}

/// Mirror top ↔ bottom (albumentations `VerticalFlip`).
pub fn vflip(p: &mut Plane) {
    let (w, h) = (p.width, p.height);
    for y in 0..h / 2 {
        let (top, bottom) = p.data.split_at_mut((h - 1 - y) * w);
        top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
    }
}

/// Rotate counter-clockwise by k quarter turns, as `np.rot90(img, k)` (RandomRotate90); a
/// non-square plane swaps width and height for odd k.
pub fn rot90(p: &mut Plane, k: u32) {
    let (w, h) = (p.width, p.height);
    let src = &p.data;
    let k = k % 4;
    if k == 0 {
        return;
    }
    let (ow, oh) = if k == 2 { (w, h) } else { (h, w) };
    let mut out = Vec::with_capacity(w * h);
    for i in 0..oh {
        for j in 0..ow {
            let (sy, sx) = match k {
                1 => (j, w - 1 - i),
                2 => (h - 1 - i, w - 1 - j),
                _ => (h - 1 - j, i),
            };
            out.push(src[sy * w + sx]);
        }
    }
    *p = Plane {
        width: ow,
        height: oh,
        data: out,
    };
}

/// Rotate image and mask by `deg` degrees counter-clockwise about the centre ((w-1)/2, (h-1)/2),
/// as cv2.warpAffine with getRotationMatrix2D: bilinear image, nearest mask, constant-0 border.
pub fn rotate(img: &mut Plane, mask: &mut Plane, deg: f32) {
    rotate_scale(img, mask, deg, 1.0);
}

/// Magnify image and mask by `factor` about the centre (> 1 zooms in and crops, < 1 zooms out
/// with a constant-0 border), with the same resampling as `rotate`.
pub fn zoom(img: &mut Plane, mask: &mut Plane, factor: f32) {
    rotate_scale(img, mask, 0.0, factor);
}

/// getRotationMatrix2D(centre, deg, scale) applied with warpAffine.
fn rotate_scale(img: &mut Plane, mask: &mut Plane, deg: f32, scale: f32) {
    if deg == 0.0 && scale == 1.0 {
        return;
    }
    let (s, c) = deg.to_radians().sin_cos();
    // Dividing by exactly 1.0 keeps plain rotation bit-identical to before zoom existed.
    let (s, c) = (s / scale, c / scale);
    let cx = (img.width as f32 - 1.0) / 2.0;
    let cy = (img.height as f32 - 1.0) / 2.0;
    // Inverse map dst → src of the rotation M = [[c, s], [-s, c]] about (cx, cy).
    remap_pair(img, mask, |y, xs, ys| {
        let dy = y as f32 - cy;
        for (x, (sx, sy)) in xs.iter_mut().zip(ys.iter_mut()).enumerate() {
            let dx = x as f32 - cx;
            *sx = cx + c * dx - s * dy;
            *sy = cy + s * dx + c * dy;
        }
    });
}
