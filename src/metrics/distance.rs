//! The exact Euclidean distance transform (Felzenszwalb and Huttenlocher's, separable: along the
//! rows, then the columns, then the slices), with voxels that need not be cubes: each axis weighed
//! by its spacing, as scipy's `sampling` and MONAI's `spacing`.

/// A box of `n` slices of `h` rows of `w` voxels, indexed slice by slice, then row by row, whose
/// voxels are `spacing` apart (between slices, rows, columns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub w: usize,
    pub h: usize,
    pub n: usize,
    pub spacing: [f64; 3],
}

impl Grid {
    pub fn voxels(self) -> usize {
        self.w * self.h * self.n
    }
}

/// Each voxel's squared distance to the nearest voxel of `to` (infinite when `to` is empty).
pub fn squared(to: &[bool], g: Grid) -> Vec<f64> {
    let mut d: Vec<f64> = to
        .iter()
        .map(|&on| if on { 0.0 } else { f64::INFINITY })
        .collect();
    let [dz, dy, dx] = g.spacing;
    // Each pass is a 1-D transform along lines of voxels `stride` apart.
    let passes = [(g.w, 1, dx), (g.h, g.w, dy), (g.n, g.w * g.h, dz)];
    let mut envelope = Envelope::default();
    let (mut line, mut out) = (Vec::new(), Vec::new());
    for (length, stride, step) in passes {
        if length == 1 {
            continue;
        }
        line.resize(length, 0.0);
        out.resize(length, 0.0);
        // A line starts at every voxel whose coordinate along the pass is 0.
        for start in (0..g.voxels()).filter(|i| i / stride % length == 0) {
            (0..length).for_each(|k| line[k] = d[start + k * stride]);
            envelope.transform(&line, step, &mut out);
            (0..length).for_each(|k| d[start + k * stride] = out[k]);
        }
    }
    d
}

/// The lower envelope of parabolas, kept between lines so that no line allocates.
#[derive(Default)]
struct Envelope {
    /// The roots of the parabolas on the envelope, and where each starts to be the lowest.
    hull: Vec<usize>,
    from: Vec<f64>,
}

impl Envelope {
    /// The 1-D squared distance transform of `f` with samples `step` apart into `out`: min over q of
    /// f(q) + (step·(p − q))², through the lower envelope of the parabolas rooted at finite f(q).
    fn transform(&mut self, f: &[f64], step: f64, out: &mut [f64]) {
        let s2 = step * step;
        let (hull, from) = (&mut self.hull, &mut self.from);
        hull.clear();
        from.clear();
        // Where the parabolas of q and r (q > r) cross.
        let cross = |q: usize, r: usize| {
            let (qf, rf) = (q as f64, r as f64);
            ((f[q] / s2 + qf * qf) - (f[r] / s2 + rf * rf)) / (2.0 * (qf - rf))
        };
        for q in (0..f.len()).filter(|&q| f[q].is_finite()) {
            let Some(&last) = hull.last() else {
                hull.push(q);
                from.push(f64::NEG_INFINITY);
                continue;
            };
            let mut s = cross(q, last);
            while s <= *from.last().expect("as long as hull") {
                hull.pop();
                from.pop();
                s = cross(q, *hull.last().expect("the first parabola stays"));
            }
            hull.push(q);
            from.push(s);
        }
        if hull.is_empty() {
            out.fill(f64::INFINITY);
            return;
        }
        let mut k = 0;
        for (p, v) in out.iter_mut().enumerate() {
            while k + 1 < hull.len() && from[k + 1] < p as f64 {
                k += 1;
            }
            let d = step * (p as f64 - hull[k] as f64);
            *v = f[hull[k]] + d * d;
        }
    }
}
