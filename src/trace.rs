//! Mask → COCO polygons: the outer boundary of each 4-connected component, traced along pixel
//! edges (not through pixel centres) so that COCO rasterisation (pixel i covers [i, i+1)) gives the
//! component back exactly before simplification; then a light Douglas–Peucker pass removes
//! staircase vertices. COCO polygons cannot express holes: a component's holes are filled.
use crate::postprocess::label_components;
use image::GrayImage;
use imageproc::region_labelling::Connectivity;

/// Default Douglas–Peucker tolerance in pixels: removes staircases, keeps IoU ≈ 0.99 on small blobs.
pub const DEFAULT_EPSILON: f64 = 0.5;

/// One connected component of a mask, ready for a COCO results entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// Flat `[x0, y0, x1, y1, …]` in pixel-edge coordinates.
    pub polygon: Vec<f64>,
    /// Pixels in the component.
    pub area: u64,
    /// `[x, y, width, height]` of the component's pixels.
    pub bbox: [f64; 4],
    /// Mean probability over the component (1 when no probabilities were given).
    pub score: f64,
}

/// Directions E, S, W, N (image coordinates, y down); index + 1 is a right turn.
const DIRS: [(i64, i64); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];

/// Every foreground (non-zero) component of `mask`, in raster order of their first pixel.
pub fn regions(mask: &GrayImage, probs: Option<&[f32]>, epsilon: f64) -> Vec<Region> {
    let labels = label_components(mask, Connectivity::Four);
    let (w, h) = mask.dimensions();
    // Per label: first pixel (topmost, then leftmost: raster order), bbox, area, probability sum.
    struct Acc {
        start: (i64, i64),
        min: (u32, u32),
        max: (u32, u32),
        area: u64,
        prob: f64,
    }
    let mut acc: Vec<Option<Acc>> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let l = labels.get_pixel(x, y)[0] as usize;
            if l == 0 {
                continue;
            }
            if acc.len() <= l {
                acc.resize_with(l + 1, || None);
            }
            let p = probs.map_or(1.0, |p| p[(y * w + x) as usize] as f64);
            let a = acc[l].get_or_insert(Acc {
                start: (x as i64, y as i64),
                min: (x, y),
                max: (x, y),
                area: 0,
                prob: 0.0,
            });
            a.min = (a.min.0.min(x), a.min.1.min(y));
            a.max = (a.max.0.max(x), a.max.1.max(y));
            a.area += 1;
            a.prob += p;
        }
    }
    let mut out: Vec<(i64, i64, Region)> = acc
        .iter()
        .enumerate()
        .filter_map(|(l, a)| a.as_ref().map(|a| (l as u32, a)))
        .map(|(l, a)| {
            let inside = |x: i64, y: i64| {
                x >= 0
                    && y >= 0
                    && x < w as i64
                    && y < h as i64
                    && labels.get_pixel(x as u32, y as u32)[0] == l
            };
            let corners = outer_boundary(inside, a.start, a.area);
            let poly = simplify_closed(&corners, epsilon);
            let region = Region {
                polygon: poly
                    .iter()
                    .flat_map(|&(x, y)| [x as f64, y as f64])
                    .collect(),
                area: a.area,
                bbox: [
                    a.min.0 as f64,
                    a.min.1 as f64,
                    (a.max.0 - a.min.0 + 1) as f64,
                    (a.max.1 - a.min.1 + 1) as f64,
                ],
                score: a.prob / a.area as f64,
            };
            (a.start.1, a.start.0, region)
        })
        .collect();
    out.sort_by_key(|(y, x, _)| (*y, *x));
    out.into_iter().map(|(_, _, r)| r).collect()
}

/// Corner vertices of the outer boundary of the component containing `start` (its topmost-leftmost
/// pixel), walked clockwise on screen with the component on the right. At a pinch (two diagonal
/// component pixels) the walk turns left, keeping the same background region on its left: it stays
/// on the outer boundary instead of switching onto the boundary of a hole that touches it there.
pub fn outer_boundary(
    inside: impl Fn(i64, i64) -> bool,
    start: (i64, i64),
    area: u64,
) -> Vec<(i64, i64)> {
    // Edge from vertex (x, y) in direction d is on the boundary when the pixel on its right is in
    // the component and the pixel on its left is not.
    let valid = |(x, y): (i64, i64), d: usize| {
        let (right, left) = match d {
            0 => ((x, y), (x, y - 1)),
            1 => ((x - 1, y), (x, y)),
            2 => ((x - 1, y - 1), (x - 1, y)),
            _ => ((x, y - 1), (x - 1, y - 1)),
        };
        inside(right.0, right.1) && !inside(left.0, left.1)
    };
    let mut corners = vec![start];
    let (mut v, mut d) = (start, 0usize);
    // A component of n pixels has at most 4n boundary edges: the bound only guards against a bug.
    for _ in 0..4 * area + 4 {
        v = (v.0 + DIRS[d].0, v.1 + DIRS[d].1);
        if v == start {
            break;
        }
        let next = [(d + 3) % 4, d, (d + 1) % 4]
            .into_iter()
            .find(|&nd| valid(v, nd));
        let Some(nd) = next else { break };
        if nd != d {
            corners.push(v);
            d = nd;
        }
    }
    corners
}

/// Douglas–Peucker on a closed ring: split at the vertex farthest from the first, simplify both halves.
pub fn simplify_closed(ring: &[(i64, i64)], epsilon: f64) -> Vec<(i64, i64)> {
    if ring.len() <= 4 || epsilon <= 0.0 {
        return ring.to_vec();
    }
    let d2 = |a: (i64, i64), b: (i64, i64)| ((a.0 - b.0).pow(2) + (a.1 - b.1).pow(2)) as f64;
    let far = (1..ring.len())
        .max_by(|&i, &j| d2(ring[0], ring[i]).total_cmp(&d2(ring[0], ring[j])))
        .unwrap_or(0);
    let mut first: Vec<(i64, i64)> = ring[..=far].to_vec();
    let mut second: Vec<(i64, i64)> = ring[far..].to_vec();
    second.push(ring[0]);
    first = douglas_peucker(&first, epsilon);
    second = douglas_peucker(&second, epsilon);
    first.pop(); // `far` starts the second half
    second.pop(); // ring[0] starts the first half
    first.extend(second);
    if first.len() < 3 {
        return ring.to_vec();
    }
    first
}

fn douglas_peucker(pts: &[(i64, i64)], epsilon: f64) -> Vec<(i64, i64)> {
    if pts.len() <= 2 {
        return pts.to_vec();
    }
    let (a, b) = (pts[0], pts[pts.len() - 1]);
    let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
    let len = (dx * dx + dy * dy).sqrt();
    let dist = |p: (i64, i64)| {
        let (px, py) = ((p.0 - a.0) as f64, (p.1 - a.1) as f64);
        if len == 0.0 {
            (px * px + py * py).sqrt()
        } else {
            (px * dy - py * dx).abs() / len
        }
    };
    let (idx, max) = pts[1..pts.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, &p)| (i + 1, dist(p)))
        .fold(
            (0, -1.0),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        );
    if max <= epsilon {
        return vec![a, b];
    }
    let mut left = douglas_peucker(&pts[..=idx], epsilon);
    let right = douglas_peucker(&pts[idx..], epsilon);
    left.pop();
    left.extend(right);
    left
}
