//! `tumorseg from-seg`: a COCO split from DICOM slices and the DICOM SEG objects drawn on them, so
//! that segmentations made in a viewer (3D Slicer, OHIF…) or by another tool can be trained on and
//! scored like a Roboflow export.
use crate::dataset::ORIGINAL;
use crate::dicom::seg::{place, read as seg};
use crate::split_writer::summary;
use anyhow::{bail, ensure, Context, Result};
use image::GrayImage;
use slices::{classify, list, Slice};
use split::{write, Coco};
use std::collections::HashSet;
use std::path::PathBuf;

mod slices;
mod split;
mod volumes;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// DICOM slices (single-frame files, or multi-frame volumes, each frame a slice) and the SEG
    /// objects drawn on them: files, or folders (their DICOM files under any name, not their
    /// subfolders). Each SEG frame is placed on the slice it names (its source SOP Instance UID, and
    /// frame number in a volume) or, when it names none, on the slice whose plane holds its
    /// position; a frame cropped to part of the slice is placed by its position.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Split folder to create: the slices that a SEG covers (copied; a multi-frame file's frames as
    /// `<stem>_f001.png`…, the grey `predict` reads them as) and `_annotations.coco.json`,
    /// one RLE annotation per slice with tumour (all its regions), none on a slice the SEG found
    /// empty. Slices no SEG refers to are left out (not segmented is not tumour-free). Each image
    /// entry gives its `volume`, `slice_number` and `slice_spacing`, so that `evaluate` scores
    /// volumes as `predict` stacks them (one acquisition of a series, along the slice normal, a
    /// missing slice a gap): a multi-frame file's frames, named after the file, or a series of
    /// single-frame files, named after their folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Segments that count as tumour, comma-separated, by number or by label (case-insensitive, as
    /// the viewer shows it): e.g. `1,oedema` (default: every segment). One that no SEG has is an
    /// error, not an empty dataset.
    #[arg(long, value_delimiter = ',')]
    pub segments: Option<Vec<String>>,
}

pub fn run(args: Args) -> Result<()> {
    // Refused before any reading: nothing is overwritten.
    crate::split_writer::new_file(&args.out, ORIGINAL)?;
    let (slices, segs) = classify(&list(&args.inputs)?)?;
    ensure!(!segs.is_empty(), "no DICOM SEG among the inputs");
    let segs: Vec<seg::Segmentation> = segs.iter().map(|p| seg::read(p)).collect::<Result<_>>()?;
    let chosen = choose(&segs, args.segments.as_deref())?;
    let mut coco = Coco::new(&slices);
    let mut left_out = 0;
    let mut positioned: HashSet<(usize, usize)> = HashSet::new();
    for s in &slices {
        let Some(mask) = mask_of(&segs, s, &chosen, &mut positioned)? else {
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
    let placed: usize = coco.split.images.len();
    note_absent(&segs, &slices);
    note_unplaced(&coco);
    ensure!(
        placed > 0,
        "no input slice is one a SEG refers to (SOP Instance UIDs differ)"
    );
    write(&args.out, &coco)?;
    let mut tail = vec![volumes_named(&coco.volumes())];
    if left_out > 0 {
        let slices = crate::report::count(left_out, "slice");
        tail.push(format!("{slices} no SEG refers to left out"));
    }
    tail.retain(|t| !t.is_empty());
    println!("{}", summary(&coco.split, &args.out, &tail.join("; ")));
    Ok(())
}

/// Each SEG's segment numbers that `given` (numbers or labels) names, None for all of them; a name
/// that no SEG has is refused, with the segments there are.
fn choose(segs: &[seg::Segmentation], given: Option<&[String]>) -> Result<Vec<Option<Vec<u16>>>> {
    let Some(given) = given else {
        return Ok(vec![None; segs.len()]);
    };
    let names = |name: &str, (number, label): &(u16, String)| {
        name.parse::<u16>().map_or_else(
            |_| label.eq_ignore_ascii_case(name.trim()),
            |n| n == *number,
        )
    };
    for name in given {
        if !segs
            .iter()
            .any(|g| g.segments.iter().any(|s| names(name, s)))
        {
            let there: Vec<String> = segs
                .iter()
                .flat_map(|g| g.segments.iter().map(|(n, l)| format!("{n} {l}")))
                .collect();
            bail!(
                "no SEG has a segment `{name}` (they have: {})",
                there.join(", ")
            );
        }
    }
    Ok(segs
        .iter()
        .map(|g| {
            let picked = g
                .segments
                .iter()
                .filter(|s| given.iter().any(|name| names(name, s)));
            Some(picked.map(|(n, _)| *n).collect())
        })
        .collect())
}

/// The 0/1 mask the SEGs give slice `s` (the `chosen` segments' frames on it, per SEG), or None when
/// no SEG covers it (refers to it, or has a frame on it). Frames placed by their position are added
/// to `positioned` (SEG, frame).
fn mask_of(
    segs: &[seg::Segmentation],
    s: &Slice,
    chosen: &[Option<Vec<u16>>],
    positioned: &mut HashSet<(usize, usize)>,
) -> Result<Option<GrayImage>> {
    let target = s.target();
    let mut mask = GrayImage::new(s.width, s.height);
    let mut covered = false;
    for (g, (seg, chosen)) in segs.iter().zip(chosen).enumerate() {
        covered |= seg.referenced.contains(&s.uid);
        for (k, f) in seg.frames.iter().enumerate() {
            if !place::lies_on(seg, f, &target) {
                continue;
            }
            covered = true;
            if f.source.is_none() {
                positioned.insert((g, k));
            }
            if chosen.as_ref().is_none_or(|c| c.contains(&f.segment)) {
                place::paint(seg, f, &target, &mut mask).with_context(|| {
                    format!("cannot place SEG frame {} on {}", k + 1, s.label())
                })?;
            }
        }
    }
    Ok(covered.then_some(mask))
}

/// The volumes the slices are of, for the summary: `slices of 2 volumes (in, t2)`.
fn volumes_named(volumes: &[&str]) -> String {
    const SHOWN: usize = 4;
    match volumes.len() {
        0 => String::new(),
        n => format!(
            "slices of {} ({}{})",
            crate::report::count(n, "volume"),
            volumes[..n.min(SHOWN)].join(", "),
            if n > SHOWN { ", …" } else { "" }
        ),
    }
}

/// Evaluate decides and measures a split's slices by volume only when each slice has one.
fn note_unplaced(coco: &Coco) {
    let unplaced = coco.unplaced();
    if unplaced > 0 && unplaced < coco.split.images.len() {
        eprintln!(
            "note: {} cannot be placed in a volume (no UIDs, orientation or position, or \
             unreadable ones): evaluate will score this split's slices one by one, not by volume",
            crate::report::count(unplaced, "slice")
        );
    }
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
