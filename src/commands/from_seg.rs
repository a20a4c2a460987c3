//! `tumorseg from-seg`: a COCO split from DICOM slices and the DICOM SEG objects drawn on them, so
//! that segmentations made in a viewer (3D Slicer, OHIF…) or by another tool can be trained on and
//! scored like a Roboflow export.
use crate::dataset::ORIGINAL;
use crate::dicom::plane::Plane;
use crate::dicom::seg::place::{self, Target};
use crate::dicom::{self, seg::read as seg};
use anyhow::{bail, ensure, Context, Result};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use image::GrayImage;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// DICOM slices and the SEG objects drawn on them: files, or folders (their DICOM files under any
    /// name, not their subfolders). Each SEG frame is placed on the slice it names (its source SOP
    /// Instance UID) or, when it names none, on the slice whose plane holds its position; a frame
    /// cropped to part of the slice is placed by its position.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Split folder to create: the slices that a SEG covers (copied) and `_annotations.coco.json`,
    /// one RLE annotation per slice with tumour (all its regions), none on a slice the SEG found
    /// empty. Slices no SEG refers to are left out (not segmented is not tumour-free).
    #[arg(long)]
    pub out: PathBuf,
    /// Segment numbers that count as tumour, comma-separated (default: every segment).
    #[arg(long, value_delimiter = ',')]
    pub segments: Option<Vec<u16>>,
}

/// A slice that can be a dataset image: single-frame, with its SOP Instance UID, and where it lies
/// when its header says.
struct Slice {
    path: PathBuf,
    uid: String,
    series: Option<String>,
    width: u32,
    height: u32,
    frame_of_reference: Option<String>,
    plane: Option<Plane>,
}

impl Slice {
    fn target(&self) -> Target<'_> {
        Target {
            uid: &self.uid,
            series: self.series.as_deref(),
            width: self.width,
            height: self.height,
            frame_of_reference: self.frame_of_reference.as_deref(),
            plane: self.plane.as_ref(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    // Refused before any reading: nothing is overwritten.
    let target = args.out.join(ORIGINAL);
    if target.exists() {
        bail!(
            "{} exists: choose another --out (nothing is overwritten)",
            target.display()
        );
    }
    let (slices, segs) = classify(&list(&args.inputs)?)?;
    ensure!(!segs.is_empty(), "no DICOM SEG among the inputs");
    let segs: Vec<seg::Segmentation> = segs.iter().map(|p| seg::read(p)).collect::<Result<_>>()?;
    let mut coco = Coco::default();
    let mut left_out = 0;
    let mut positioned: HashSet<(usize, usize)> = HashSet::new();
    for s in &slices {
        let Some(mask) = mask_of(&segs, s, args.segments.as_deref(), &mut positioned)? else {
            left_out += 1;
            continue;
        };
        coco.add(s, &mask);
    }
    let unplaced = segs
        .iter()
        .enumerate()
        .flat_map(|(g, seg)| seg.frames.iter().enumerate().map(move |(k, f)| (g, k, f)))
        .filter(|(g, k, f)| f.source.is_none() && !positioned.contains(&(*g, *k)))
        .count();
    if unplaced > 0 {
        eprintln!(
            "note: {} without a source image {} on none of the input slices (by position)",
            crate::report::count(unplaced, "SEG frame"),
            if unplaced == 1 { "lies" } else { "lie" }
        );
    }
    let placed: usize = coco.images.len();
    note_absent(&segs, &slices);
    ensure!(
        placed > 0,
        "no input slice is one a SEG refers to (SOP Instance UIDs differ)"
    );
    write(&args.out, &coco)?;
    println!(
        "{} ({} with tumour) and {} in {}{}",
        crate::report::count(placed, "slice"),
        coco.annotations.len(),
        ORIGINAL,
        args.out.display(),
        if left_out > 0 {
            format!(
                "; {} no SEG refers to left out",
                crate::report::count(left_out, "slice")
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The 0/1 mask the SEGs give slice `s` (the chosen segments' frames on it), or None when no SEG
/// covers it (refers to it, or has a frame on it). Frames placed by their position are added to
/// `positioned` (SEG, frame).
fn mask_of(
    segs: &[seg::Segmentation],
    s: &Slice,
    segments: Option<&[u16]>,
    positioned: &mut HashSet<(usize, usize)>,
) -> Result<Option<GrayImage>> {
    let target = s.target();
    let mut mask = GrayImage::new(s.width, s.height);
    let mut covered = false;
    for (g, seg) in segs.iter().enumerate() {
        covered |= seg.referenced.contains(&s.uid);
        for (k, f) in seg.frames.iter().enumerate() {
            if !place::lies_on(seg, f, &target) {
                continue;
            }
            covered = true;
            if f.source.is_none() {
                positioned.insert((g, k));
            }
            if segments.is_none_or(|chosen| chosen.contains(&f.segment)) {
                place::paint(seg, f, &target, &mut mask).with_context(|| {
                    format!("cannot place SEG frame {} on {}", k + 1, s.path.display())
                })?;
            }
        }
    }
    Ok(covered.then_some(mask))
}

/// A SEG usually covers a whole series: slices it refers to that are not among the inputs (a folder
/// forgotten) would silently be missing from the split, so they are counted.
fn note_absent(segs: &[seg::Segmentation], slices: &[Slice]) {
    let given: HashSet<&str> = slices.iter().map(|s| s.uid.as_str()).collect();
    let absent: HashSet<&str> = segs
        .iter()
        .flat_map(|g| g.referenced.iter().map(String::as_str))
        .filter(|uid| !given.contains(uid))
        .collect();
    if !absent.is_empty() {
        eprintln!(
            "note: {} the SEG refers to not among the inputs (give their series folder too)",
            crate::report::count(absent.len(), "slice")
        );
    }
}

/// Files given and the files of folders given (sorted; DICOM by name or magic, not a DICOMDIR).
fn list(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("read folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && dicom::is_dicom_file(f))
                .collect();
            found.sort();
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("input {} does not exist", p.display());
        }
    }
    Ok(files)
}

/// Slices and SEG objects apart, from one header read each; files that are neither (multi-frame
/// images, unreadable files) are named.
fn classify(files: &[PathBuf]) -> Result<(Vec<Slice>, Vec<PathBuf>)> {
    let (mut slices, mut segs) = (Vec::new(), Vec::new());
    let mut names: HashMap<String, &Path> = HashMap::new();
    for f in files {
        let header = dicom::header(f);
        if header.as_ref().is_ok_and(|h| seg::is_segmentation(h)) {
            segs.push(f.clone());
            continue;
        }
        match header.and_then(|h| slice(f, &h)) {
            Ok(s) => {
                if let Some(other) = names.insert(file_name(f), f) {
                    bail!(
                        "{} and {} have the same file name, and one split holds both",
                        other.display(),
                        f.display()
                    );
                }
                slices.push(s);
            }
            Err(e) => eprintln!("note: {} is not used: {e:#}", f.display()),
        }
    }
    Ok((slices, segs))
}

fn slice(path: &Path, header: &InMemDicomObject) -> Result<Slice> {
    let frames = dicom::frames_of(header)?;
    ensure!(
        frames == 1,
        "{frames} frames (a dataset image is one slice)"
    );
    let size = |tag| -> Result<u32> { Ok(header.element(tag)?.to_int::<u32>()?) };
    let floats = |tag| dicom::floats(header, tag);
    Ok(Slice {
        path: path.to_path_buf(),
        uid: dicom::text(header, tags::SOP_INSTANCE_UID).context("no SOP Instance UID")?,
        series: dicom::text(header, tags::SERIES_INSTANCE_UID),
        width: size(tags::COLUMNS)?,
        height: size(tags::ROWS)?,
        frame_of_reference: dicom::text(header, tags::FRAME_OF_REFERENCE_UID),
        plane: Plane::new(
            &floats(tags::IMAGE_POSITION_PATIENT).unwrap_or_default(),
            &floats(tags::IMAGE_ORIENTATION_PATIENT).unwrap_or_default(),
            &floats(tags::PIXEL_SPACING).unwrap_or_default(),
        ),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The COCO document being built: one image per covered slice, one RLE annotation per slice with
/// tumour.
#[derive(Default)]
struct Coco {
    images: Vec<Value>,
    annotations: Vec<Value>,
    /// Each image's file, to copy into the split.
    copied: Vec<PathBuf>,
}

impl Coco {
    /// A slice and its 0/1 mask.
    fn add(&mut self, s: &Slice, img: &GrayImage) {
        let id = self.images.len() + 1;
        self.images.push(json!({
            "id": id, "file_name": file_name(&s.path), "width": s.width, "height": s.height,
        }));
        self.copied.push(s.path.clone());
        let area = img.iter().filter(|&&m| m != 0).count();
        if area == 0 {
            return;
        }
        // The tumour's extent, [x, y, width, height] as COCO's bbox.
        let on = img.enumerate_pixels().filter(|(_, _, p)| p[0] != 0);
        let (x0, y0, x1, y1) = on.fold((u32::MAX, u32::MAX, 0, 0), |(a, b, c, d), (x, y, _)| {
            (a.min(x), b.min(y), c.max(x), d.max(y))
        });
        let counts = crate::mask::mask_to_rle(img);
        self.annotations.push(json!({
            "id": self.annotations.len() + 1,
            "image_id": id,
            "category_id": 1,
            "segmentation": {"size": [s.height, s.width], "counts": crate::mask::rle_to_string(&counts)},
            "area": area,
            "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
            "iscrowd": 0,
        }));
    }
}

/// The split: the slices copied, then the annotation file (last, so a split with one is complete).
fn write(out: &Path, coco: &Coco) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    for from in &coco.copied {
        let to = out.join(file_name(from));
        ensure!(
            !to.exists(),
            "{} exists: choose another --out (nothing is overwritten)",
            to.display()
        );
        std::fs::copy(from, &to)
            .with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
    }
    let doc = json!({
        "info": {"description": "from DICOM SEG by tumorseg", "version": env!("CARGO_PKG_VERSION")},
        "images": coco.images,
        "annotations": coco.annotations,
        "categories": [{"id": 1, "name": "tumour", "supercategory": "none"}],
    });
    let path = out.join(ORIGINAL);
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("write {}", path.display()))
}
