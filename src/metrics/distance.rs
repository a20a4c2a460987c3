//! The exact Euclidean distance transform (Felzenszwalb and Huttenlocher's, separable: along the
//! rows, then the columns, then the slices), with voxels that need not be cubes: each axis weighed
//! by its spacing, as scipy's `sampling` and MONAI's `spacing`.
use rayon::prelude::*;

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
    // Along the rows and the columns, slice by slice in parallel.
    d.par_chunks_mut(g.w * g.h).for_each(|slice| {
        let mut envelope = Envelope::default();
        along(slice, (g.w, 1, dx), &mut envelope);
        along(slice, (g.h, g.w, dy), &mut envelope);
    });
    // Across the slices: each line read out, transformed in parallel, and written back.
    let plane = g.w * g.h;
    if g.n > 1 {
        let lines: Vec<Vec<f64>> = (0..plane)
            .into_par_iter()
            .map_init(Envelope::default, |envelope, p| {
                let line: Vec<f64> = (0..g.n).map(|k| d[p + k * plane]).collect();
                let mut out = vec![0.0; g.n];
                envelope.transform(&line, dz, &mut out);
                out
            })
            .collect();
        for (p, line) in lines.iter().enumerate() {
            line.iter()
                .enumerate()
                .for_each(|(k, &v)| d[p + k * plane] = v);
        }
    }
    d
}

/// The 1-D transform of every line of `block` that runs `length` voxels `stride` apart, `step` mm.
fn along(block: &mut [f64], (length, stride, step): (usize, usize, f64), envelope: &mut Envelope) {
    if length == 1 {
        return;
    }
    let (mut line, mut out) = (vec![0.0; length], vec![0.0; length]);
    // A line starts at every voxel whose coordinate along it is 0.
    for start in (0..block.len()).filter(|i| i / stride % length == 0) {
        (0..length).for_each(|k| line[k] = block[start + k * stride]);
        envelope.transform(&line, step, &mut out);
        (0..length).for_each(|k| block[start + k * stride] = out[k]);
    }
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
