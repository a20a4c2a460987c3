//! `tumorseg clean`: find anomalies per split and write `_annotations.coco.cleaned.json`.
//!
//! Always reads the ORIGINAL `_annotations.coco.json` (so running twice gives the same result) and
//! never modifies it. Removed: images whose file is missing or does not decode, images with no
//! usable annotation (none, bbox-only, or every ring degenerate), and images with more than one
//! annotation (the seed's rule; `keep_multi` keeps them and merges their polygons into one
//! annotation); `keep_empty` keeps the images without any annotation, tumour-free slices as
//! `from-seg` and `from-nifti --keep-empty` write them. Duplicates (byte-identical files) inside a split and across splits are reported,
//! not removed: which copy is right is a human decision; so are near-identical images in different
//! splits (`similar`: neighbouring slices of one scan). Every other COCO field is kept verbatim.
use crate::atomic::write_atomic;
use crate::coco::{self, CocoAnnotation, CocoFile, IssueKind};
use crate::dataset::{CLEANED, ORIGINAL};
use crate::mask::Segmentation;
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

mod files;
mod report;
pub mod similar;

/// The per-split statistics `clean_dataset` writes next to the splits.
pub const REPORT: &str = "clean_report.json";
use files::{file_states, hash_owners, FileState, SplitData};
pub use report::{CleanReport, Removed, SplitStats};

#[derive(Clone, Debug)]
pub struct CleanOptions {
    /// Keep images with several annotations and merge them, instead of removing the image.
    pub keep_multi: bool,
    /// Keep images without any annotation (tumour-free), instead of removing them; those whose
    /// annotations are all unusable (bbox-only, degenerate) are removed all the same.
    pub keep_empty: bool,
    /// Only these category ids count as tumour (default: every category); others are dropped.
    pub categories: Option<Vec<u64>>,
    /// Write cleaned files and the report under this directory instead of the dataset root.
    pub out_dir: Option<PathBuf>,
    /// Splits to clean, those that exist under the root.
    pub splits: Vec<String>,
    /// The annotation file read in each split (a file name; default `_annotations.coco.json`).
    pub input: std::path::PathBuf,
    /// Report images of different splits whose thumbnails correlate at least this much (None: skip).
    pub similar_above: Option<f32>,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            keep_multi: false,
            keep_empty: false,
            categories: None,
            out_dir: None,
            splits: crate::dataset::SPLITS.map(String::from).to_vec(),
            input: ORIGINAL.into(),
            similar_above: Some(similar::DEFAULT_THRESHOLD),
        }
    }
}

/// Clean every split under `root` and write the cleaned files and `clean_report.json`.
pub fn clean_dataset(root: &Path, opts: &CleanOptions) -> Result<CleanReport> {
    let mut files = Vec::new();
    for name in &opts.splits {
        let path = root.join(name).join(&opts.input);
        if path.is_file() {
            files.push((name.clone(), coco::load(&path)?));
        }
    }
    if files.is_empty() {
        crate::dataset::check_root(root)?;
        bail!(
            "{}: no split with {} (looked for {})",
            root.display(),
            opts.input.display(),
            opts.splits.join(", ")
        );
    }
    if let Some(wanted) = &opts.categories {
        check_categories(files.iter().map(|(_, f)| f), wanted)?;
    }
    // Every image decoded only once the annotation files are accepted: seconds per thousand slices.
    let data: Vec<SplitData> = files
        .into_iter()
        .map(|(name, file)| SplitData {
            states: file_states(&root.join(&name), &file, opts.similar_above.is_some()),
            name,
            file,
        })
        .collect();
    let owners = hash_owners(&data);
    let similar = opts
        .similar_above
        .map(|threshold| similar::near_identical(&data, threshold));
    let out_root = opts.out_dir.as_deref().unwrap_or(root);
    let mut report = CleanReport::default();
    for (k, d) in data.iter().enumerate() {
        let (mut stats, cleaned) = clean_split(d, &owners, opts);
        if let Some(matches) = &similar {
            similar::record(&data, k, &matches[k], &mut stats);
        }
        let dir = out_root.join(&d.name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        stats.original_sha256 =
            crate::provenance::file("", &root.join(&d.name).join(&opts.input))?.sha256;
        let mut cleaned = cleaned;
        // Read back by every command, which refuses the cleaned file once its source has changed.
        cleaned[crate::dataset::CLEANED_FROM] = serde_json::json!({
            "file": opts.input,
            "sha256": stats.original_sha256,
        });
        let bytes = serde_json::to_vec_pretty(&cleaned)?;
        write_atomic(&dir.join(CLEANED), &bytes)?;
        stats.cleaned_sha256 = format!("{:x}", Sha256::digest(&bytes));
        report.splits.push((d.name.clone(), stats));
    }
    let earlier = std::fs::read(out_root.join(REPORT)).ok();
    let json = report.merged_json(earlier.as_deref(), |split| root.join(split).is_dir())?;
    write_atomic(&out_root.join(REPORT), &json)?;
    Ok(report)
}

/// Before anything is written: a category asked for that no annotation has would leave every image
/// without annotation, and remove it.
fn check_categories<'a>(files: impl Iterator<Item = &'a CocoFile>, wanted: &[u64]) -> Result<()> {
    let mut held = BTreeMap::new();
    for f in files {
        for a in &f.annotations {
            held.entry(a.category_id)
                .or_insert_with(|| f.category_label(a.category_id));
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !held.contains_key(c))
        .map(u64::to_string)
        .collect();
    let there: Vec<String> = held.into_values().collect();
    ensure!(
        missing.is_empty(),
        "--categories: no annotation has category {} (they have: {})",
        missing.join(", "),
        if there.is_empty() {
            "none".to_string()
        } else {
            there.join(", ")
        }
    );
    Ok(())
}

fn clean_split(
    d: &SplitData,
    owners: &HashMap<[u8; 32], Vec<(String, String)>>,
    opts: &CleanOptions,
) -> (SplitStats, Value) {
    let f = &d.file;
    let selected = |a: &CocoAnnotation| {
        opts.categories
            .as_ref()
            .is_none_or(|c| c.contains(&a.category_id))
    };
    let mut usable: HashMap<u64, Vec<&CocoAnnotation>> = HashMap::new();
    let mut annotated = BTreeSet::new();
    for a in f.annotations.iter().filter(|a| selected(a)) {
        annotated.insert(a.image_id);
        if a.segmentation.is_some() {
            usable.entry(a.image_id).or_default().push(a);
        }
    }
    let mut s = SplitStats {
        images: f.images.len(),
        annotations: f
            .raw
            .get("annotations")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        ..Default::default()
    };
    count_issues(f, &mut s);
    let mut removed = BTreeMap::new();
    for (img, st) in f.images.iter().zip(&d.states) {
        let n = usable.get(&img.id).map_or(0, Vec::len);
        let bad_file = match st {
            FileState::Missing => {
                s.missing += 1;
                true
            }
            FileState::Corrupt => {
                s.corrupt += 1;
                true
            }
            FileState::WrongSize(..) => {
                s.wrong_size += 1;
                true
            }
            FileState::Ok(h, _) => {
                count_copies(&d.name, &img.file_name, &owners[h], &mut s);
                false
            }
        };
        s.no_annotation += (n == 0) as usize;
        s.multi_annotation += (n > 1) as usize;
        // Tumour-free is no annotation at all; an unusable one is a broken annotation, not none.
        let empty = n == 0 && !annotated.contains(&img.id);
        let keep_empty = opts.keep_empty && empty && !bad_file;
        s.kept_empty += keep_empty as usize;
        let reason = match st {
            FileState::Missing => "missing file".to_string(),
            FileState::Corrupt => "corrupt file".to_string(),
            FileState::WrongSize(w, h) => {
                format!(
                    "file is {w}×{h}, annotations say {}×{}",
                    img.width, img.height
                )
            }
            _ if n == 0 && !keep_empty && empty => "no annotation".to_string(),
            _ if n == 0 && !keep_empty => "no usable annotation".to_string(),
            _ if n > 1 && !opts.keep_multi => format!("{n} annotations"),
            _ => continue,
        };
        let file_name = img.file_name.clone();
        removed.insert(
            img.id,
            Removed {
                id: img.id,
                file_name,
                reason,
            },
        );
    }
    s.kept = s.images - removed.len();
    s.removed_ids = removed.keys().copied().collect();
    let removed_ids: BTreeSet<u64> = removed.keys().copied().collect();
    s.removed = removed.into_values().collect();
    let cleaned = rewrite(f, &removed_ids, &usable, opts, &mut s);
    (s, cleaned)
}

fn count_issues(f: &CocoFile, s: &mut SplitStats) {
    let distinct = |kinds: &[IssueKind]| {
        f.issues
            .iter()
            .filter(|i| kinds.contains(&i.kind))
            .filter_map(|i| i.annotation_index)
            .collect::<BTreeSet<_>>()
            .len()
    };
    s.degenerate = distinct(&[IssueKind::Degenerate]);
    s.clamped = distinct(&[IssueKind::Clamped]);
    s.bbox_only = distinct(&[IssueKind::BboxOnly]);
    s.skipped_annotations = distinct(&[IssueKind::UnknownImage, IssueKind::BadAnnotation]);
}

/// Record duplicates inside this split (once, at the first copy) and copies in other splits.
fn count_copies(split: &str, file: &str, holders: &[(String, String)], s: &mut SplitStats) {
    let here: Vec<&String> = holders
        .iter()
        .filter(|(sp, _)| sp == split)
        .map(|(_, f)| f)
        .collect();
    if here.len() > 1 && here[0] == file {
        s.duplicates += here.len() - 1;
        s.duplicate_files
            .push(here.iter().map(|f| f.to_string()).collect());
    }
    if let Some((sp, f)) = holders.iter().find(|(sp, _)| sp != split) {
        s.leaked += 1;
        s.leaked_files.push((file.to_string(), format!("{sp}/{f}")));
    }
}

/// The cleaned document: the raw JSON with removed images and their annotations filtered out,
/// repaired segmentations written back, and (keep_multi) polygon annotations merged per image.
fn rewrite(
    f: &CocoFile,
    removed: &BTreeSet<u64>,
    usable: &HashMap<u64, Vec<&CocoAnnotation>>,
    opts: &CleanOptions,
    s: &mut SplitStats,
) -> Value {
    let mut raw = f.raw.clone();
    let raw_anns: Vec<Value> = raw
        .get("annotations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut new_anns = Vec::new();
    for a in &f.annotations {
        let keep_cat = opts
            .categories
            .as_ref()
            .is_none_or(|c| c.contains(&a.category_id));
        if removed.contains(&a.image_id) || !keep_cat || (a.segmentation.is_none() && a.repaired) {
            continue;
        }
        let group = usable
            .get(&a.image_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mergeable = group.len() > 1
            && group
                .iter()
                .all(|g| matches!(g.segmentation, Some(Segmentation::Polygons(_))));
        let mut v = raw_anns[a.index].clone();
        if mergeable && a.segmentation.is_some() {
            if group[0].index != a.index {
                continue; // merged into the image's first annotation
            }
            merge_into(&mut v, group);
            s.merged += 1;
        } else if a.repaired {
            v["segmentation"] = segmentation_json(a.segmentation.as_ref().expect("checked above"));
        }
        new_anns.push(v);
    }
    if let Some(imgs) = raw.get_mut("images").and_then(Value::as_array_mut) {
        imgs.retain(|i| {
            i.get("id")
                .and_then(Value::as_u64)
                .is_none_or(|id| !removed.contains(&id))
        });
    }
    raw["annotations"] = Value::Array(new_anns);
    raw
}

fn merge_into(v: &mut Value, group: &[&CocoAnnotation]) {
    let rings: Vec<Value> = group
        .iter()
        .filter_map(|g| match &g.segmentation {
            Some(Segmentation::Polygons(r)) => Some(r.iter().map(|ring| serde_json::json!(ring))),
            _ => None,
        })
        .flatten()
        .collect();
    v["segmentation"] = Value::Array(rings);
    v["area"] = serde_json::json!(group.iter().map(|g| g.area).sum::<f64>());
    let boxes: Vec<[f64; 4]> = group.iter().filter_map(|g| g.bbox).collect();
    if !boxes.is_empty() {
        let x0 = boxes.iter().map(|b| b[0]).fold(f64::INFINITY, f64::min);
        let y0 = boxes.iter().map(|b| b[1]).fold(f64::INFINITY, f64::min);
        let x1 = boxes
            .iter()
            .map(|b| b[0] + b[2])
            .fold(f64::NEG_INFINITY, f64::max);
        let y1 = boxes
            .iter()
            .map(|b| b[1] + b[3])
            .fold(f64::NEG_INFINITY, f64::max);
        v["bbox"] = serde_json::json!([x0, y0, x1 - x0, y1 - y0]);
    }
}

fn segmentation_json(seg: &Segmentation) -> Value {
    match seg {
        Segmentation::Polygons(r) => serde_json::json!(r),
        Segmentation::Rle {
            counts,
            height,
            width,
        } => serde_json::json!({"size": [height, width], "counts": counts}),
    }
}
