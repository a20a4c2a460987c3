//! COCO annotation files → typed structs, tolerant of what real exports contain (UTF-8 BOM, any
//! formatting, NaN tokens, RLE or polygons, bbox-only annotations) and precise about what is wrong.
//!
//! Structural problems (malformed JSON, no `images`, an image without a usable id/size/file name)
//! are errors naming the file, the entry and the field. Problems confined to one annotation are
//! *issues*: the annotation (or one of its rings) is dropped or repaired and the issue is returned
//! in `CocoFile::issues`, so `clean` can count them and loaders can report them.
//!
//! Degenerate rings (fewer than 3 points, an odd number of values, NaN/non-numeric coordinates,
//! zero area) are dropped; vertices outside the image are clamped to the image border and reported
//! (we clamp rather than drop because every real case seen is a vertex a fraction of a pixel over
//! the edge, and the mask of the clamped ring equals pycocotools' clipped mask in that case).
use crate::mask::{self, Segmentation};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Images larger than this are refused: a mask is width×height bytes and RLE counts are u32.
pub const MAX_SIDE: u64 = 1 << 15;

#[derive(Clone, Debug)]
pub struct CocoFile {
    pub images: Vec<CocoImage>,
    pub annotations: Vec<CocoAnnotation>,
    pub categories: Vec<CocoCategory>,
    /// The whole document as parsed (NaN tokens read as null), for rewriting it field-preservingly.
    pub raw: Value,
    /// Everything that was dropped, repaired or merely noteworthy, in file order.
    pub issues: Vec<Issue>,
    pub path: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CocoImage {
    pub id: u64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CocoAnnotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    /// None for a bbox-only annotation or one whose every ring was degenerate.
    pub segmentation: Option<Segmentation>,
    pub bbox: Option<[f64; 4]>,
    pub area: f64,
    pub iscrowd: u8,
    /// Position in the raw `annotations` array.
    pub index: usize,
    /// Some rings were dropped or clamped: `segmentation` differs from the raw JSON.
    pub repaired: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CocoCategory {
    pub id: u64,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// Annotation has a bbox but no segmentation: kept, contributes no mask.
    BboxOnly,
    /// A ring or RLE was unusable and dropped.
    Degenerate,
    /// Vertices outside the image were clamped to its border.
    Clamped,
    /// The annotation's `image_id` is not in `images`: annotation skipped.
    UnknownImage,
    /// The annotation entry itself is unusable (missing id/image_id, wrong types): skipped.
    BadAnnotation,
    /// The file has no `annotations` array: read as none.
    NoAnnotations,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub kind: IssueKind,
    pub image_id: Option<u64>,
    pub annotation_id: Option<u64>,
    /// Position of the annotation in the raw `annotations` array.
    pub annotation_index: Option<usize>,
    /// JSON location, e.g. `annotations[3].segmentation[0]`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.annotation_id {
            write!(f, "annotation id {a}")?;
            if let Some(i) = self.image_id {
                write!(f, " (image id {i})")?;
            }
            write!(f, ", ")?;
        } else if let Some(i) = self.image_id {
            write!(f, "image id {i}, ")?;
        }
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

/// Read and parse a COCO annotation file.
pub fn load(path: &Path) -> Result<CocoFile> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read annotation file {}", path.display()))?;
    parse(&bytes, path)
}

/// Parse COCO JSON bytes; `path` is only used in messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<CocoFile> {
    let file = path.display();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{file}: not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    let text = nan_to_null(text);
    let raw: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{file}: malformed JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let obj = raw.as_object().ok_or_else(|| {
        anyhow!(
            "{file}: top level must be a JSON object, found {}",
            kind(&raw)
        )
    })?;
    let images = parse_images(obj.get("images")).map_err(|e| anyhow!("{file}: {e:#}"))?;
    let categories = parse_categories(obj.get("categories")).map_err(|e| anyhow!("{file}: {e:#}"))?;
    let mut issues = Vec::new();
    let annotations = parse_annotations(obj.get("annotations"), &images, &mut issues);
    Ok(CocoFile {
        images,
        annotations,
        categories,
        raw,
        issues,
        path: path.to_path_buf(),
    })
}

/// Python's json module writes NaN/Infinity as bare tokens, which are not JSON. Turn them into
/// `null` (outside strings only) so the file parses and the ring is reported as degenerate.
fn nan_to_null(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if let Some(tok) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            out.push_str("null");
            rest = &rest[tok.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn get_u64(o: &serde_json::Map<String, Value>, key: &str) -> Result<u64> {
    match o.get(key) {
        None => bail!("field `{key}` is missing"),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| anyhow!("field `{key}` must be a non-negative integer, found {v}")),
    }
}

fn parse_images(v: Option<&Value>) -> Result<Vec<CocoImage>> {
    let arr = match v {
        None => bail!("missing `images` array (every COCO file lists its images)"),
        Some(Value::Array(a)) => a,
        Some(other) => bail!("`images` must be an array, found {}", kind(other)),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(arr.len());
    for (i, img) in arr.iter().enumerate() {
        let o = img
            .as_object()
            .ok_or_else(|| anyhow!("images[{i}] must be an object, found {}", kind(img)))?;
        let id = get_u64(o, "id").with_context(|| format!("images[{i}]"))?;
        let at = || format!("images[{i}] (image id {id})");
        let file_name = o
            .get("file_name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("{}: field `file_name` missing or not a string", at()))?
            .to_string();
        let side = |key: &str| -> Result<u32> {
            let s = get_u64(o, key).with_context(at)?;
            if s == 0 || s > MAX_SIDE {
                bail!("{}: field `{key}` = {s} is outside 1..={MAX_SIDE}", at());
            }
            Ok(s as u32)
        };
        let (width, height) = (side("width")?, side("height")?);
        if !seen.insert(id) {
            bail!("{}: field `id`: duplicate image id", at());
        }
        out.push(CocoImage {
            id,
            file_name,
            width,
            height,
        });
    }
    Ok(out)
}

fn parse_categories(v: Option<&Value>) -> Result<Vec<CocoCategory>> {
    let Some(Value::Array(arr)) = v else {
        return Ok(Vec::new()); // optional for our purpose: every category is foreground
    };
    arr.iter()
        .enumerate()
        .map(|(i, c)| {
            let o = c
                .as_object()
                .ok_or_else(|| anyhow!("categories[{i}] must be an object"))?;
            Ok(CocoCategory {
                id: get_u64(o, "id").with_context(|| format!("categories[{i}]"))?,
                name: o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
        })
        .collect()
}

fn parse_annotations(
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
    let sizes: std::collections::HashMap<u64, (u32, u32)> =
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
    sizes: &std::collections::HashMap<u64, (u32, u32)>,
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
