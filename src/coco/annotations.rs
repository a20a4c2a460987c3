//! The `annotations` array: one entry at a time, each problem an `Issue` with its location.
//! Rings are validated here (degenerate ones dropped, out-of-image vertices clamped) so the rest of
//! the program only sees shapes it can rasterise.
use super::{get_u64, kind, CocoAnnotation, CocoImage, Issue, IssueKind, MAX_SIDE};
use crate::mask::{self, Segmentation};
use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use std::collections::HashMap;

pub(super) fn parse_annotations(
    v: Option<&Value>,
    images: &[CocoImage],
    issues: &mut Vec<Issue>,
) -> Vec<CocoAnnotation> {
    let arr = match v {
        Some(Value::Array(a)) => a,
        other => {
            issues.push(Issue {
                kind: IssueKind::NoAnnotations,
                image_id: None,
                annotation_id: None,
                annotation_index: None,
                field: "annotations".into(),
                message: format!(
                    "no `annotations` array ({}): every image has an empty mask",
                    other.map_or("missing", kind)
                ),
            });
            return Vec::new();
        }
    };
    let sizes: HashMap<u64, (u32, u32)> =
        images.iter().map(|i| (i.id, (i.width, i.height))).collect();
    let mut out = Vec::with_capacity(arr.len());
    for (i, a) in arr.iter().enumerate() {
        let mut ctx = AnnCtx {
            issues,
            field: format!("annotations[{i}]"),
            index: i,
            image_id: None,
            annotation_id: None,
        };
        if let Some(ann) = parse_annotation(a, i, &sizes, &mut ctx) {
            out.push(ann);
        }
    }
    out
}

/// Where we are while reading one annotation, so every issue carries its location.
struct AnnCtx<'a> {
    issues: &'a mut Vec<Issue>,
    field: String,
    index: usize,
    image_id: Option<u64>,
    annotation_id: Option<u64>,
}

impl AnnCtx<'_> {
    fn report(&mut self, kind: IssueKind, sub: &str, message: String) {
        self.issues.push(Issue {
            kind,
            image_id: self.image_id,
            annotation_id: self.annotation_id,
            annotation_index: Some(self.index),
            field: format!("{}{sub}", self.field),
            message,
        });
    }
}

fn parse_annotation(
    a: &Value,
    index: usize,
    sizes: &HashMap<u64, (u32, u32)>,
    ctx: &mut AnnCtx,
) -> Option<CocoAnnotation> {
    let Some(o) = a.as_object() else {
        ctx.report(
            IssueKind::BadAnnotation,
            "",
            format!("must be an object, found {}: skipped", kind(a)),
        );
        return None;
    };
    ctx.annotation_id = o.get("id").and_then(Value::as_u64);
    for key in ["id", "image_id"] {
        if let Err(e) = get_u64(o, key) {
            ctx.report(
                IssueKind::BadAnnotation,
                &format!(".{key}"),
                format!("{e}: annotation skipped"),
            );
            return None;
        }
    }
    let (id, image_id) = (get_u64(o, "id").ok()?, get_u64(o, "image_id").ok()?);
    ctx.image_id = Some(image_id);
    let Some(&(w, h)) = sizes.get(&image_id) else {
        ctx.report(
            IssueKind::UnknownImage,
            ".image_id",
            format!("image id {image_id} does not exist in `images`: annotation skipped"),
        );
        return None;
    };
    let category_id = get_u64(o, "category_id").unwrap_or(0);
    let bbox = o.get("bbox").and_then(parse_bbox);
    let (segmentation, repaired) = parse_segmentation(o.get("segmentation"), w, h, ctx);
    if segmentation.is_none() && !repaired {
        let msg = if bbox.is_some() {
            "bbox-only annotation: no mask"
        } else {
            "no segmentation and no bbox"
        };
        ctx.report(IssueKind::BboxOnly, ".segmentation", msg.into());
    }
    Some(CocoAnnotation {
        id,
        image_id,
        category_id,
        segmentation,
        bbox,
        area: o.get("area").and_then(Value::as_f64).unwrap_or(0.0),
        iscrowd: o.get("iscrowd").and_then(Value::as_u64).unwrap_or(0).min(1) as u8,
        index,
        repaired,
    })
}

fn parse_bbox(v: &Value) -> Option<[f64; 4]> {
    let a = v.as_array()?;
    if a.len() != 4 {
        return None;
    }
    let f: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
    (f.len() == 4 && f.iter().all(|x| x.is_finite())).then(|| [f[0], f[1], f[2], f[3]])
}

/// Returns the usable segmentation (None when absent or fully degenerate) and whether anything was
/// dropped or clamped on the way.
fn parse_segmentation(
    v: Option<&Value>,
    w: u32,
    h: u32,
    ctx: &mut AnnCtx,
) -> (Option<Segmentation>, bool) {
    match v {
        None | Some(Value::Null) => (None, false),
        Some(Value::Array(a)) if a.is_empty() => (None, false),
        Some(Value::Array(a)) if a.iter().all(|x| !x.is_array()) => {
            // A flat [x1, y1, …] list: some exporters forget the ring nesting. Read it as one ring.
            let (rings, repaired) = parse_rings(
                std::slice::from_ref(v.expect("matched Some")),
                w,
                h,
                ctx,
                false,
            );
            (rings, repaired)
        }
        Some(Value::Array(a)) => parse_rings(a, w, h, ctx, true),
        Some(Value::Object(o)) => match parse_rle(o) {
            Ok(seg) => (Some(seg), false),
            Err(e) => {
                ctx.report(
                    IssueKind::Degenerate,
                    ".segmentation",
                    format!("{e}: dropped"),
                );
                (None, true)
            }
        },
        Some(other) => {
            ctx.report(
                IssueKind::Degenerate,
                ".segmentation",
                format!(
                    "must be a list of polygons or an RLE object, found {}: dropped",
                    kind(other)
                ),
            );
            (None, true)
        }
    }
}

fn parse_rings(
    rings: &[Value],
    w: u32,
    h: u32,
    ctx: &mut AnnCtx,
    nested: bool,
) -> (Option<Segmentation>, bool) {
    let mut kept = Vec::new();
    let mut repaired = false;
    for (r, ring) in rings.iter().enumerate() {
        let sub = if nested {
            format!(".segmentation[{r}]")
        } else {
            ".segmentation".to_string()
        };
        match check_ring(ring, w, h) {
            Ok((coords, clamped)) => {
                if clamped > 0 {
                    repaired = true;
                    ctx.report(
                        IssueKind::Clamped,
                        &sub,
                        format!("{clamped} coordinate(s) outside the {w}x{h} image: clamped to the border"),
                    );
                }
                kept.push(coords);
            }
            Err(e) => {
                repaired = true;
                ctx.report(IssueKind::Degenerate, &sub, format!("{e}: ring dropped"));
            }
        }
    }
    (
        (!kept.is_empty()).then_some(Segmentation::Polygons(kept)),
        repaired,
    )
}

/// A ring's coordinates after clamping, plus how many values were clamped.
fn check_ring(ring: &Value, w: u32, h: u32) -> Result<(Vec<f64>, usize)> {
    let arr = ring
        .as_array()
        .ok_or_else(|| anyhow!("polygon must be an array of numbers, found {}", kind(ring)))?;
    let mut coords = Vec::with_capacity(arr.len());
    for (i, v) in arr.iter().enumerate() {
        match v.as_f64() {
            Some(f) if f.is_finite() => coords.push(f),
            _ => bail!("coordinate {i} is NaN, infinite or not a number ({v})"),
        }
    }
    if coords.len() % 2 != 0 {
        bail!("odd number of coordinates ({})", coords.len());
    }
    if coords.len() < 6 {
        bail!("polygon has {} point(s), fewer than 3", coords.len() / 2);
    }
    let mut clamped = 0;
    for (i, c) in coords.iter_mut().enumerate() {
        let max = if i % 2 == 0 { w } else { h } as f64;
        if *c < 0.0 || *c > max {
            *c = c.clamp(0.0, max);
            clamped += 1;
        }
    }
    if polygon_area(&coords) == 0.0 {
        bail!("polygon has zero area");
    }
    Ok((coords, clamped))
}

/// Shoelace area (absolute).
pub fn polygon_area(xy: &[f64]) -> f64 {
    let n = xy.len() / 2;
    let s: f64 = (0..n)
        .map(|i| {
            let j = (i + 1) % n;
            xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1]
        })
        .sum();
    s.abs() / 2.0
}

fn parse_rle(o: &serde_json::Map<String, Value>) -> Result<Segmentation> {
    let size = o
        .get("size")
        .and_then(Value::as_array)
        .filter(|s| s.len() == 2)
        .ok_or_else(|| anyhow!("RLE needs `size: [height, width]`"))?;
    let (height, width) = match (size[0].as_u64(), size[1].as_u64()) {
        (Some(h), Some(w)) if (1..=MAX_SIDE).contains(&h) && (1..=MAX_SIDE).contains(&w) => {
            (h as u32, w as u32)
        }
        _ => bail!("RLE `size` must be two integers in 1..={MAX_SIDE}"),
    };
    let counts = match o.get("counts") {
        Some(Value::String(s)) => mask::rle_from_string(s)?,
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| {
                c.as_u64()
                    .filter(|&c| c <= u32::MAX as u64)
                    .map(|c| c as u32)
            })
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| anyhow!("RLE `counts` must be non-negative integers"))?,
        _ => bail!("RLE needs `counts` (a compressed string or a list of integers)"),
    };
    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    if total != height as u64 * width as u64 {
        bail!(
            "RLE counts sum to {total}, but size {height}x{width} has {} pixels",
            height as u64 * width as u64
        );
    }
    Ok(Segmentation::Rle {
        counts,
        height,
        width,
    })
}
