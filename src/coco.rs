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
use crate::mask::Segmentation;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

// An explicit path so the fuzz crate, which includes this file by path, finds it too.
#[path = "coco/annotations.rs"]
mod annotations;
pub use annotations::polygon_area;

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
    /// `pixel_spacing` (mm between rows, between columns; DICOM's Pixel Spacing), which
    /// `from-nifti` and `from-seg` write; absent or not two positive numbers: None.
    pub spacing: Option<(f64, f64)>,
    /// `slice_spacing` (mm between the centres of neighbouring slices of the image's volume), which
    /// `from-nifti` writes; absent or not a positive number: None.
    pub slice_spacing: Option<f64>,
    /// `volume` and `slice_number` (the image is slice `slice_number`, counted from 1 along the slice
    /// normal, of volume `volume`), which `from-seg` writes: a DICOM series' slices keep their file
    /// names, which do not say it. Both, a non-empty name and a number from 1; else None.
    pub volume: Option<(String, u32)>,
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

/// As messages name a category: `1 "tumor"`.
impl fmt::Display for CocoCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.id, self.name)
    }
}

impl CocoFile {
    /// A category id as messages name it: with its name, or alone when the file does not declare it.
    pub fn category_label(&self, id: u64) -> String {
        self.categories
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_string(), ToString::to_string)
    }
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
    if text.trim().is_empty() {
        // Else serde_json's "EOF while parsing a value at line 1 column 0" says it less plainly.
        bail!("{file} is empty: it holds no JSON");
    }
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
    let categories =
        parse_categories(obj.get("categories")).map_err(|e| anyhow!("{file}: {e:#}"))?;
    let mut issues = Vec::new();
    let annotations = annotations::parse_annotations(obj.get("annotations"), &images, &mut issues);
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
        let spacing = o
            .get("pixel_spacing")
            .and_then(|v| match v.as_array()?.as_slice() {
                [r, c] => Some((r.as_f64()?, c.as_f64()?)).filter(|(r, c)| *r > 0.0 && *c > 0.0),
                _ => None,
            });
        let slice_spacing = o
            .get("slice_spacing")
            .and_then(Value::as_f64)
            .filter(|s| *s > 0.0);
        let volume = o
            .get("volume")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .zip(o.get("slice_number").and_then(Value::as_u64))
            .and_then(|(v, n)| Some((v.to_string(), u32::try_from(n).ok().filter(|&n| n > 0)?)));
        out.push(CocoImage {
            id,
            file_name,
            width,
            height,
            spacing,
            slice_spacing,
            volume,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn an_images_volume_needs_a_name_and_a_slice_number_from_one() {
        let image = |id: u64, extra: serde_json::Value| {
            let mut im =
                json!({"id": id, "file_name": format!("{id}.dcm"), "width": 2, "height": 2});
            im.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            im
        };
        let doc = json!({"images": [
            image(1, json!({"volume": "t1", "slice_number": 3})),
            image(2, json!({"volume": "t1", "slice_number": 0})),
            image(3, json!({"volume": "", "slice_number": 2})),
            image(4, json!({"slice_number": 2})),
            image(5, json!({"volume": "t1", "slice_number": -1})),
            image(6, json!({"volume": "t1", "slice_number": 5_000_000_000_u64})),
        ]});
        let file = super::parse(doc.to_string().as_bytes(), "a.json".as_ref()).unwrap();
        let volumes: Vec<_> = file.images.iter().map(|i| i.volume.clone()).collect();
        assert_eq!(
            volumes,
            [Some(("t1".to_string(), 3)), None, None, None, None, None]
        );
    }

    #[test]
    fn an_empty_file_is_called_empty() {
        for text in ["", "\u{feff}", " \n\t"] {
            let e = super::parse(text.as_bytes(), "train/a.json".as_ref()).unwrap_err();
            assert_eq!(
                e.to_string(),
                "train/a.json is empty: it holds no JSON",
                "{text:?}"
            );
        }
        // Not empty, only malformed: the parser's line and column still locate it.
        let e = super::parse(b" {", "a.json".as_ref()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.json: malformed JSON at line 1"),
            "{e}"
        );
    }
}
