//! Image-only steps: Gaussian blur and brightness/contrast (the mask is never touched).
use super::filter::{blur_reflect101, gaussian_kernel};
use super::Plane;

/// albumentations 2.x `GaussianBlur` with `blur_limit=0`: kernel size `int(3.5σ)·2+1` (PIL's rule),
/// reflect-101 border (cv2.sepFilter2D default).
pub fn gaussian_blur(img: &mut Plane, sigma: f32) {
    if sigma <= 0.0 {
        return;
    }
    let radius = (sigma * 3.5) as usize;
    if radius == 0 {
        return;
    }
    blur_reflect101(img, &gaussian_kernel(sigma, radius));
}

/// `RandomBrightnessContrast` (brightness_by_max): x·alpha + beta, clipped to [0, 1].
pub fn brightness_contrast(img: &mut Plane, alpha: f32, beta: f32) {
    for v in img.data.iter_mut() {
        *v = (*v * alpha + beta).clamp(0.0, 1.0);
    }
}
