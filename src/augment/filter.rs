//! Separable Gaussian filtering in f32: a full-resolution blur (reflect-101 border, cv2.sepFilter2D)
//! and a decimated smoother for the very wide kernels of the elastic displacement fields.
use super::Plane;

/// Normalised 1-D Gaussian of 2·radius+1 taps, computed in f64 like cv2.getGaussianKernel.
pub fn gaussian_kernel(sigma: f32, radius: usize) -> Vec<f32> {
    let s2 = 2.0 * (sigma as f64).powi(2);
    let raw: Vec<f64> = (0..=2 * radius)
        .map(|i| (-((i as f64 - radius as f64).powi(2)) / s2).exp())
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
}

/// cv2's automatic kernel size for float images (ksize = round(8σ+1) | 1) as a radius.
pub fn opencv_auto_radius(sigma: f32) -> usize {
    let ksize = ((sigma as f64 * 8.0 + 1.0).round() as usize) | 1;
    (ksize - 1) / 2
}

/// Index into 0..n with reflect-101 extension (… 2 1 | 0 1 2 … n-1 | n-2 …), as OpenCV's BORDER_DEFAULT.
fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let j = i.rem_euclid(period);
    (if j < n as isize { j } else { period - j }) as usize
}

/// out += w · src, the inner loop of every filter here. The build targets baseline x86-64 (SSE2), so
/// the loop is compiled a second time for AVX2 and picked at run time when the CPU has it (2× wider).
#[inline]
pub fn axpy(out: &mut [f32], src: &[f32], w: f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only requirement of `axpy_avx2`.
            unsafe { axpy_avx2(out, src, w) };
            return;
        }
    }
    axpy_portable(out, src, w);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn axpy_avx2(out: &mut [f32], src: &[f32], w: f32) {
    axpy_portable(out, src, w);
}

#[inline(always)]
fn axpy_portable(out: &mut [f32], src: &[f32], w: f32) {
    for (o, s) in out.iter_mut().zip(src) {
        *o += w * s;
    }
}

/// out[x] = Σ_k kernel[k] · src[x + k]: one axpy per tap so it vectorises.
fn correlate_row(src: &[f32], kernel: &[f32], out: &mut [f32]) {
    let n = out.len();
    out.fill(0.0);
    for (k, &wk) in kernel.iter().enumerate() {
        axpy(out, &src[k..k + n], wk);
    }
}

/// In-place separable convolution with a symmetric kernel, reflect-101 border.
pub fn blur_reflect101(p: &mut Plane, kernel: &[f32]) {
    let (w, h) = (p.width, p.height);
    let r = kernel.len() / 2;
    let mut padded = vec![0f32; w + 2 * r];
    let mut tmp = vec![0f32; w * h];
    for (src, dst) in p.data.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        for (i, v) in padded.iter_mut().enumerate() {
            *v = src[reflect101(i as isize - r as isize, w)];
        }
        correlate_row(&padded, kernel, dst);
    }
    for (y, dst) in p.data.chunks_exact_mut(w).enumerate() {
        dst.fill(0.0);
        for (k, &wk) in kernel.iter().enumerate() {
            let sy = reflect101(y as isize + k as isize - r as isize, h);
            axpy(dst, &tmp[sy * w..(sy + 1) * w], wk);
        }
    }
}

/// A smoothed field known on a grid of every `stride`-th pixel (grid node (X, Y) is pixel
/// (X·stride, Y·stride); the last node may lie past the edge); read back with bilinear interpolation.
#[derive(Clone, Debug)]
pub struct CoarseField {
    pub stride: usize,
    pub cols: usize,
    pub rows: usize,
    pub data: Vec<f32>,
}

impl CoarseField {
    /// Write the interpolated values of pixel row `y` into `out` (`scratch` avoids an allocation per row).
    pub fn row(&self, y: usize, scratch: &mut Vec<f32>, out: &mut [f32]) {
        let cols = self.columns(out.len());
        self.row_with(y, &cols, scratch, out);
    }

    /// Per output column: (grid column, interpolation weight), computed once per plane because the
    /// division by the stride would otherwise dominate the per-pixel cost.
    pub fn columns(&self, width: usize) -> Vec<(usize, f32)> {
        let s = self.stride;
        (0..width)
            .map(|x| (x / s, (x % s) as f32 / s as f32))
            .collect()
    }

    /// `row` with a precomputed `columns(out.len())` table.
    pub fn row_with(
        &self,
        y: usize,
        cols: &[(usize, f32)],
        scratch: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let s = self.stride;
        let (y0, fy) = (y / s, (y % s) as f32 / s as f32);
        let y1 = (y0 + 1).min(self.rows - 1);
        let (r0, r1) = (self.node_row(y0), self.node_row(y1));
        scratch.clear();
        scratch.extend(r0.iter().zip(r1).map(|(a, b)| a + (b - a) * fy));
        // One extra node so x0 + 1 never needs a bounds branch (the last node repeats).
        scratch.push(scratch[self.cols - 1]);
        for (o, &(x0, fx)) in out.iter_mut().zip(cols) {
            *o = scratch[x0] + (scratch[x0 + 1] - scratch[x0]) * fx;
        }
    }

    fn node_row(&self, y: usize) -> &[f32] {
        &self.data[y * self.cols..(y + 1) * self.cols]
    }

    pub fn scale(&mut self, factor: f32) {
        self.data.iter_mut().for_each(|v| *v *= factor);
    }
}

/// Grid stride for a Gaussian of width σ: the smoothed field has no content at scales much below σ,
/// so sampling every σ/5 pixels and interpolating costs < 1% of its amplitude while saving the
/// (2·4σ+1)-tap filter at every pixel.
pub fn coarse_stride(sigma: f32) -> usize {
    ((sigma / 5.0).floor() as usize).max(1)
}

/// Gaussian smoothing (kernel `kernel`, replicate border, cv2.GaussianBlur(BORDER_REPLICATE)) of a
/// w×h field whose rows are produced on demand by `fill_row(y, row)`, evaluated exactly at every
/// `stride`-th pixel. The noise itself is never stored: each row is scattered into the grid rows it
/// contributes to, so memory is O(grid rows · w).
pub fn smooth_replicate(
    w: usize,
    h: usize,
    kernel: &[f32],
    stride: usize,
    mut fill_row: impl FnMut(usize, &mut [f32]),
) -> CoarseField {
    let r = kernel.len() / 2;
    let s = stride.max(1);
    let cols = (w - 1).div_ceil(s) + 1;
    let rows = (h - 1).div_ceil(s) + 1;
    let mut acc = vec![0f32; rows * w];
    let mut noise = vec![0f32; w];
    let prefix: Vec<f32> = kernel
        .iter()
        .scan(0f32, |sum, v| {
            *sum += v;
            Some(*sum)
        })
        .collect();
    for y in 0..h {
        fill_row(y, &mut noise);
        // Grid rows Y whose window [Y·s - r, Y·s + r] (clamped) includes y.
        let lo = (y as isize - r as isize).max(0) as usize;
        let first = lo.div_ceil(s);
        let last = ((y + r) / s).min(rows - 1);
        for gy in first..=last {
            let wgt = replicate_weight(kernel, &prefix, gy * s, y, h);
            axpy(&mut acc[gy * w..(gy + 1) * w], &noise, wgt);
        }
    }
    let mut data = vec![0f32; rows * cols];
    let span = (cols - 1) * s + 2 * r + 1;
    let mut padded = vec![0f32; span];
    for (src, dst) in acc.chunks_exact(w).zip(data.chunks_exact_mut(cols)) {
        for (i, v) in padded.iter_mut().enumerate() {
            *v = src[(i as isize - r as isize).clamp(0, w as isize - 1) as usize];
        }
        for (gx, d) in dst.iter_mut().enumerate() {
            *d = dot(kernel, &padded[gx * s..gx * s + kernel.len()]);
        }
    }
    CoarseField {
        stride: s,
        cols,
        rows,
        data,
    }
}

/// Weight of source row `y` in the output at `center` with replicate extension: interior rows get one
/// tap, the edge rows also collect every tap that falls outside the image (`prefix` = cumulative kernel).
fn replicate_weight(kernel: &[f32], prefix: &[f32], center: usize, y: usize, n: usize) -> f32 {
    let r = (kernel.len() / 2) as isize;
    let (c, yi, last) = (center as isize, y as isize, n as isize - 1);
    let taps_upto = |k: isize| -> f32 {
        // Σ kernel[0..=k]
        if k < 0 {
            0.0
        } else {
            prefix[(k as usize).min(kernel.len() - 1)]
        }
    };
    let mut wgt = 0.0;
    if y == 0 {
        wgt += taps_upto(r - c); // taps at or left of 0
    }
    if yi == last {
        wgt += prefix[kernel.len() - 1] - taps_upto(last - c + r - 1); // taps at or right of n-1
    }
    if y == 0 && yi == last {
        return 1.0;
    }
    if y != 0 && yi != last {
        let k = yi - c + r;
        if k >= 0 && (k as usize) < kernel.len() {
            wgt = kernel[k as usize];
        }
    }
    wgt
}

/// Dot product with 8 independent accumulators so the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}
