//! `tumorseg predict`: masks, overlays and COCO results (polygons traced from the masks) for new images.
use crate::commands::evaluate::{resolve_decision, DecisionArgs};
use crate::dicom::seg::{Bits, Pixels, SegType};
use crate::dicom::Window;
use crate::evaluate::ThresholdSource;
use crate::predict::{open_run, progress_bar, InferenceArgs, ProbMap};
use crate::provenance::{self, Provenance};
use crate::trace::{regions, DEFAULT_EPSILON};
use anyhow::{bail, Context, Result};
use groups::{groups, Group, Reading};
use image::{GrayImage, Rgb, RgbImage};
use inputs::{collect_inputs, known_names, Input, Kind};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

mod groups;
mod inputs;
mod out;
mod seg;
mod volumes;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `tumorseg train`, or by `tumorseg ensemble`.
    pub run_dir: PathBuf,
    /// Images (JPEG, PNG, TIFF, BMP, DICOM or NIfTI; any size; 16-bit and float images are
    /// stretched from their minimum to their maximum, DICOM goes through its rescale and its first
    /// window; each frame of a multi-frame file is one image, `<stem>_f001`…; each axial slice of a
    /// NIfTI volume (.nii, .nii.gz, or a .hdr with its .img) is one, from the lowest up, shown as a
    /// viewer shows it whatever order the file stores it in) and/or folders of them (DICOM files are
    /// found under any name; other files are named on stderr).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder: masks/<stem>.png (0/255), overlays/<stem>.png, predictions.csv (per image: tumour
    /// found, its pixels, share of the image and, for DICOM with a Pixel Spacing and NIfTI, area in mm²; regions;
    /// highest probability), results.json (COCO
    /// results), provenance.json (model, threshold, SHA-256 of the images); for NIfTI volumes also
    /// nifti/<stem>.nii.gz (the mask, 0/1, on the volume's grid and affine) and volumes.csv (tumour
    /// slices, voxels and volume in ml per volume); unreadable
    /// inputs are skipped and listed in skipped.txt (the command then exits with status 1; when
    /// none can be read, nothing is written). A folder that is not empty is refused (see
    /// --overwrite), so earlier masks never mix with these.
    #[arg(long)]
    pub out: PathBuf,
    /// Predict into an --out that is not empty: what an earlier predict wrote there (masks/,
    /// overlays/, seg/, nifti/ and its tables) is removed once the first input has been read (a
    /// mistyped run or unreadable inputs replace nothing); other files are left alone.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Douglas–Peucker tolerance in pixels for the traced polygons (0 = exact pixel outlines).
    #[arg(long, default_value_t = DEFAULT_EPSILON)]
    pub simplify: f64,
    /// Also write the DICOM inputs' masks as DICOM Segmentation objects, for viewers and PACS
    /// (3D Slicer, OHIF…): seg/<Series Instance UID>.dcm, one per series (slices of one size,
    /// orientation and spacing; a multi-frame file's frames), one segment "Tumour" whose frames
    /// reference their source slices, in the source's patient, study and frame of reference. Slices
    /// without tumour get no frame (see --dicom-seg-empty-frames) but are referenced, so a reader
    /// knows they were segmented. A DICOM file without its UIDs, frame of reference, orientation or
    /// position gets none, and the command then exits with status 1.
    #[arg(long)]
    pub dicom_seg: bool,
    /// What the SEG's frames hold: binary (the masks, as masks/) or fractional (the model's tumour
    /// probability per pixel, 0–255 for 0–1, before the threshold and --postprocess; frames whose
    /// every pixel rounds to 0 are empty).
    #[arg(long, value_enum, default_value_t = SegType::Binary, requires = "dicom_seg")]
    pub dicom_seg_type: SegType,
    /// Write a frame for every slice, empty ones included (a larger SEG, for readers that expect one
    /// frame per source slice).
    #[arg(long, requires = "dicom_seg")]
    pub dicom_seg_empty_frames: bool,
    /// How DICOM and NIfTI values become the model's grey: first (the file's own display range, as a
    /// viewer shows it: a DICOM slice's first window or VOI LUT, a NIfTI volume's cal_min–cal_max;
    /// each slice's minimum to maximum without one), minmax (each slice from its lowest value to its
    /// highest, as many 8-bit exports are made), or CENTER,WIDTH (one window for every slice, in the
    /// rescaled unit, e.g. 600,1200). Pick what matches how the training images were made; datasets
    /// of DICOM slices are read with first. (Also --dicom-window.)
    #[arg(
        long,
        alias = "dicom-window",
        default_value = "first",
        value_name = "first|minmax|CENTER,WIDTH"
    )]
    pub window: Window,
    /// Also write each NIfTI volume's tumour probability (before the threshold and --postprocess,
    /// float32 0–1 in 255ths) as nifti/<stem>_probability.nii.gz on the volume's grid, for
    /// thresholding or ensembling elsewhere.
    #[arg(long)]
    pub nifti_probabilities: bool,
    /// Which volume of 4-D NIfTI files to read, from 0: a file holding several (time points,
    /// echoes, or the modalities of the Medical Segmentation Decathlon's brain tumours: 0 FLAIR,
    /// 1 T1w, 2 T1gd, 3 T2w) is refused without it. Its masks are written as one 3-D volume on the
    /// file's grid. A file holding one volume takes only 0.
    #[arg(long, value_name = "N")]
    pub volume: Option<usize>,
    #[command(flatten)]
    pub inference: InferenceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let files = collect_inputs(&args.inputs, args.volume)?;
    if files.is_empty() {
        bail!("no images ({}) in the inputs", known_names());
    }
    out::check(&args.out, args.overwrite)?;
    let run = open_run(&args.run_dir, &args.inference)?;
    let (decision, source, _) = resolve_decision(args.decision, &run)?;

    let mut volumes = volumes::Volumes::new(&args.out, args.volume);
    let bar = progress_bar(files.len() as u64, true);
    let mut read = Reading {
        args: &args,
        bar: &bar,
        skipped: Vec::new(),
        done: Vec::new(),
        last_why: None,
    };
    let chunk = run.inference.batch * 4;
    let whole_volumes = decision.postprocess.spans_slices();
    let (groups, sources) = groups(&files, chunk, whole_volumes);
    let mut segs = (args.dicom_seg).then(|| {
        let dir = args.out.join("seg");
        seg::SegOutputs::new(dir, args.dicom_seg_empty_frames, sources)
    });
    warn_one_per_slice(&files, &groups, decision);
    let mut written: Vec<(usize, &Input, Written)> = Vec::new();
    // The earlier outputs go only once an image has been read: a mistyped run, or inputs none of
    // which read, replace nothing.
    let mut prepared = false;
    for group in &groups {
        let (ok, images, probs) = read.predict(&files, group, &run)?;
        if !ok.is_empty() && !prepared {
            out::prepare(&args.out, args.dicom_seg)?;
            prepared = true;
        }
        let (masks, probs) = group.decide(decision, &ok, probs);
        let these: Vec<Written> = ok
            .par_iter()
            .zip(&images)
            .zip(&probs)
            .zip(masks)
            .map(|(((&(i, f), img), prob), mask)| {
                // COCO image ids follow the input order, skipped files included, so they do not
                // shift.
                write_outputs(&args, i as u64 + 1, f, img, prob, mask)
            })
            .collect::<Result<_>>()?;
        written.extend(ok.into_iter().zip(these).map(|((i, f), w)| (i, f, w)));
    }
    bar.finish_and_clear();
    if !prepared {
        return Err(out::none_read(&args.out, files.len()));
    }
    // Series are decided in stack order; everything is reported in input order.
    written.sort_by_key(|w| w.0);
    let (mut results, mut summaries) = (Vec::new(), Vec::new());
    for (_, f, w) in written {
        results.extend(w.entries);
        summaries.push(w.summary);
        if let Some(segs) = segs.as_mut() {
            segs.add(f, w.seg);
        }
        volumes.add(f, w.volume);
    }
    let Reading {
        mut done,
        mut skipped,
        ..
    } = read;
    done.sort_by_key(|d| d.0);
    skipped.sort_by_key(|s| s.0);
    let skipped: Vec<String> = skipped.into_iter().map(|s| s.1).collect();
    // A multi-frame file's frames follow each other; it is one file to hash.
    let mut done: Vec<PathBuf> = done.into_iter().map(|d| d.1).collect();
    done.dedup();
    let mut inputs = provenance::run_inputs(&run.dir, source == ThresholdSource::Tuned)?;
    let listed: Vec<String> = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    inputs.push(provenance::files(
        "images",
        Path::new(&listed.join(" ")),
        &done,
    )?);
    let record = Provenance::now(run.inference.device, inputs);
    provenance::record(&args.out, record, false)?;
    write_summaries(&args.out, &summaries)?;
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string(&results)?)
        .with_context(|| format!("write {}", path.display()))?;
    let written_volumes = volumes.finish(&args.out)?;
    let segs = segs.map(|s| s.finish());
    let seg_note = match &segs {
        Some(Ok(w)) => format!(
            ", {} ({} of {} slices)",
            crate::report::count(w.segs, "DICOM SEG"),
            crate::report::count(w.frames, "frame"),
            w.slices
        ),
        _ => String::new(),
    };
    let volume_note = match written_volumes {
        0 => String::new(),
        n => format!(", {}", crate::report::count(n, "NIfTI mask volume")),
    };
    println!(
        "{}, {}: masks, overlays{seg_note}{volume_note} and {} in {}",
        crate::report::count(files.len() - skipped.len(), "image"),
        crate::report::count(results.len(), "region"),
        path.display(),
        args.out.display()
    );
    out::report_skipped(&args.out, &skipped, files.len())?;
    segs.transpose().map(|_| ())
}

/// `one` fills every empty mask: on DICOM slices decided one by one (those that cannot be placed in
/// a series) it gives the tumour-free slices a region each, which the user should know.
fn warn_one_per_slice(files: &[Input], groups: &[Group], decision: crate::postprocess::Decision) {
    let loose = groups
        .iter()
        .filter(|g| g.numbers.is_none())
        .flat_map(|g| &g.members)
        .filter(|&&i| files[i].kind == Kind::Dicom)
        .count();
    if decision.postprocess == crate::postprocess::Postprocess::One && loose > 1 {
        eprintln!(
            "note: --postprocess one gives each of the {loose} DICOM slices that cannot be placed in \
             a series (no UIDs, orientation or position) a tumour region, also slices without \
             tumour; for them, --postprocess largest or none"
        );
    }
}

/// One line of predictions.csv: what someone triaging scans wants to see of each image.
#[derive(serde::Serialize)]
struct Summary {
    file: String,
    width: u32,
    height: u32,
    tumour: bool,
    tumour_pixels: u64,
    /// Share of the image, in percent.
    tumour_percent: f64,
    regions: usize,
    /// The highest tumour probability anywhere in the image, thresholded or not.
    max_probability: f32,
    /// The tumour's area in mm², for DICOM slices that give their Pixel Spacing and NIfTI slices
    /// (empty otherwise).
    /// New columns come last, so that the earlier ones keep their places.
    tumour_mm2: Option<f64>,
    /// The frame's number from 1 in a multi-frame DICOM file, or the axial slice's in a NIfTI volume
    /// (empty for single images).
    frame: Option<u32>,
}

/// What [`write_outputs`] gives back of one image for the outputs made of all of them.
struct Written {
    /// COCO result entries, one per connected component.
    entries: Vec<Value>,
    summary: Summary,
    /// With `--dicom-seg`, a DICOM input's frame for its SEG.
    seg: Option<Pixels>,
    /// A NIfTI slice's prediction, for its volume's.
    volume: Option<volumes::Slice>,
}

/// Mask and overlay PNGs of one image, and what it adds to the outputs made of all of them.
fn write_outputs(
    args: &Args,
    image_id: u64,
    input: &Input,
    img: &GrayImage,
    prob: &ProbMap,
    mask: GrayImage,
) -> Result<Written> {
    let (name, file) = (input.stem(), input.path.as_path());
    let png = GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        image::Luma([mask.get_pixel(x, y)[0] * 255])
    });
    let path = args.out.join("masks").join(format!("{name}.png"));
    png.save(&path)
        .with_context(|| format!("write {}", path.display()))?;
    let path = args.out.join("overlays").join(format!("{name}.png"));
    overlay(img, &mask)
        .save(&path)
        .with_context(|| format!("write {}", path.display()))?;
    let file_name = file
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries: Vec<Value> = regions(&mask, Some(&prob.data), args.simplify)
        .into_iter()
        .map(|r| {
            let mut entry = json!({
                "image_id": image_id,
                "file_name": file_name,
                "category_id": 0,
                "segmentation": [r.polygon],
                "score": r.score,
                "area": r.area,
                "bbox": r.bbox,
            });
            if let Some(frame) = input.frame_number() {
                entry["frame"] = json!(frame);
            }
            entry
        })
        .collect();
    let pixels = mask.iter().filter(|&&v| v != 0).count() as u64;
    let summary = Summary {
        file: file.display().to_string(),
        width: mask.width(),
        height: mask.height(),
        tumour: pixels > 0,
        tumour_pixels: pixels,
        tumour_percent: (1e6 * pixels as f64 / mask.len().max(1) as f64).round() / 1e4,
        regions: entries.len(),
        max_probability: prob.data.iter().copied().fold(0.0, f32::max),
        tumour_mm2: input
            .spacing
            .map(|(row, column)| (100.0 * pixels as f64 * row * column).round() / 100.0),
        frame: input.frame_number(),
    };
    let seg = (args.dicom_seg && input.kind == Kind::Dicom).then(|| match args.dicom_seg_type {
        SegType::Binary => Pixels::Binary(Bits::from_mask(&mask)),
        SegType::Fractional => Pixels::fractional(&prob.data),
    });
    Ok(Written {
        entries,
        summary,
        seg,
        volume: (input.kind == Kind::Nifti).then(|| volumes::Slice {
            mask: Bits::from_mask(&mask),
            probabilities: args
                .nifti_probabilities
                .then(|| crate::dicom::seg::in_255ths(&prob.data)),
        }),
    })
}

/// predictions.csv: one line per image written, in input order.
fn write_summaries(out: &Path, rows: &[Summary]) -> Result<()> {
    let path = out.join("predictions.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("write {}", path.display()))?;
    for r in rows {
        w.serialize(r)
            .with_context(|| format!("write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// The MRI in grey with the predicted tumour tinted red.
fn overlay(img: &GrayImage, mask: &GrayImage) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let v = img.get_pixel(x, y)[0];
        if mask.get_pixel(x, y)[0] != 0 {
            Rgb([v / 2 + 127, v / 2, v / 2])
        } else {
            Rgb([v, v, v])
        }
    })
}
