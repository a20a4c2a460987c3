//! `tumorseg predict`: masks, overlays and COCO results (each region's exact pixels) for new images.
use crate::commands::evaluate::{resolve_decision, DecisionArgs};
use crate::dicom::seg::SegType;
use crate::dicom::Window;
use crate::evaluate::ThresholdSource;
use crate::postprocess::Decision;
use crate::predict::{open_run, progress_bar, InferenceArgs, LoadedRun};
use crate::provenance::{self, Provenance};
use crate::train::interrupt;
use anyhow::{bail, Context, Result};
use groups::{groups, Group, Reading};
use inputs::{collect_inputs, known_names, Input, Kind};
use rayon::prelude::*;
use staging::Staging;
use std::path::{Path, PathBuf};
use written::{write_outputs, write_summaries, Written};

mod groups;
mod inputs;
mod out;
mod results;
mod seg;
mod staging;
mod volumes;
mod written;

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
    /// found, its pixels, share of the image and, for DICOM with a Pixel Spacing and NIfTI, area in
    /// mm²; regions, 8-connected as --postprocess largest counts them; highest probability),
    /// results.json (COCO results: one per region, its exact pixels as compressed RLE, category 1,
    /// image_id the input's place from 1, with its file_name), images.json (those images' ids, file
    /// names and sizes, to join the results with a dataset's), provenance.json (model, threshold,
    /// SHA-256 of the images, the outputs written); for NIfTI volumes also nifti/<stem>.nii.gz (the
    /// mask, 0/1, on the volume's grid and affine) and volumes.csv (tumour slices, voxels and volume
    /// in ml per volume); unreadable inputs are skipped and listed in skipped.txt (the command then
    /// exits with status 1; when none can be read, nothing is written). The outputs are written
    /// beside it first (a hidden .<name>.<pid>.tmp folder) and moved in at the end: a predict that
    /// fails or is interrupted (Ctrl-C, SIGTERM, SIGHUP) leaves the folder as it was. A folder that
    /// is not empty is refused (see --overwrite), so earlier masks never mix with these.
    #[arg(long)]
    pub out: PathBuf,
    /// Predict into an --out where an earlier predict wrote: its outputs (masks/, overlays/, seg/,
    /// nifti/ and its tables, as its provenance.json lists them) are replaced once the new ones are
    /// all written (a mistyped run or unreadable inputs replace nothing); other files beside them are
    /// left alone. A folder no predict wrote, or whose masks/, overlays/… hold a file that predict
    /// did not write, is refused with nothing removed.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// No longer used (results.json held traced polygons, simplified by this tolerance; it now holds
    /// each region's exact pixels): accepted, with a note, so that scripts still run.
    #[arg(long, hide = true)]
    pub simplify: Option<f64>,
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
    if args.simplify.is_some() {
        eprintln!(
            "note: --simplify does nothing any more: results.json holds each region's exact pixels \
             (COCO RLE), not a traced polygon"
        );
    }
    let files = collect_inputs(&args.inputs, args.volume)?;
    if files.is_empty() {
        bail!("no images ({}) in the inputs", known_names());
    }
    let earlier = out::earlier(&args.out, args.overwrite)?;
    let run = open_run(&args.run_dir, &args.inference)?;
    let (decision, source, _) = resolve_decision(args.decision, &run)?;
    // Armed first, so that no signal ends the process while the staging folder is there.
    let armed = interrupt::install(&staging::PREDICTING);
    // Dropped on any error or interruption, with what it holds: the earlier outputs stay.
    let staging = Staging::new(&args.out, &earlier)?;
    let done = predict_all(&args, &files, &run, decision, &staging)?;
    if done.written.is_empty() {
        return Err(out::none_read(&args.out, files.len()));
    }
    let tally = write_tables(&args, &staging, done.written, done.sources)?;
    let skipped = in_input_order(done.skipped);
    out::write_skipped(staging.dir(), &skipped)?;
    let mut read = in_input_order(done.read);
    // A multi-frame file's frames follow each other; it is one file to hash.
    read.dedup();
    let tuned = source == ThresholdSource::Tuned;
    record(&args, &run, tuned, &read, &staging)?;
    staging.stop_if_asked()?;
    staging.commit(&earlier)?;
    drop(armed);
    println!(
        "{}, {}: masks, overlays{}{} and {} in {}",
        crate::report::count(files.len() - skipped.len(), "image"),
        crate::report::count(tally.regions, "region"),
        tally.seg_note(),
        tally.volume_note(),
        args.out.join("results.json").display(),
        args.out.display()
    );
    out::report_skipped(&args.out, &skipped, files.len())?;
    tally.segs.transpose().map(|_| ())
}

/// What [`predict_all`] did with the inputs, by their index.
struct Done<'f> {
    written: Vec<(usize, &'f Input, Written)>,
    /// The unreadable inputs, with why.
    skipped: Vec<(usize, String)>,
    /// The files read.
    read: Vec<(usize, PathBuf)>,
    sources: groups::Sources,
}

/// Every input read, decided in its group, and its own outputs written into the staging folder.
fn predict_all<'f>(
    args: &Args,
    files: &'f [Input],
    run: &LoadedRun,
    decision: Decision,
    staging: &Staging,
) -> Result<Done<'f>> {
    let bar = progress_bar(files.len() as u64, true);
    let mut read = Reading {
        args,
        bar: &bar,
        staging,
        skipped: Vec::new(),
        done: Vec::new(),
        last_why: None,
    };
    let chunk = run.inference.batch * 4;
    let (groups, sources) = groups(files, chunk, decision.postprocess.spans_slices());
    warn_one_per_slice(files, &groups, decision);
    make_folders(staging.dir(), args.dicom_seg)?;
    let mut written = Vec::new();
    for group in &groups {
        let (ok, images, probs) = read.predict(files, group, run)?;
        let (masks, probs) = group.decide(decision, &ok, probs);
        let these: Vec<Written> = ok
            .par_iter()
            .zip(&images)
            .zip(&probs)
            .zip(masks)
            .map(|(((&(i, f), img), prob), mask)| {
                // COCO image ids follow the input order, skipped files included, so they do not
                // shift.
                write_outputs(args, staging.dir(), i as u64 + 1, f, img, prob, mask)
            })
            .collect::<Result<_>>()?;
        written.extend(ok.into_iter().zip(these).map(|((i, f), w)| (i, f, w)));
    }
    bar.finish_and_clear();
    Ok(Done {
        written,
        skipped: read.skipped,
        read: read.done,
        sources,
    })
}

/// The folders every image writes into, and with `seg` the one of the DICOM SEGs.
fn make_folders(dir: &Path, seg: bool) -> Result<()> {
    let folders = ["masks", "overlays"]
        .into_iter()
        .chain(seg.then_some("seg"));
    for sub in folders {
        let d = dir.join(sub);
        std::fs::create_dir(&d).with_context(|| format!("create {}", d.display()))?;
    }
    Ok(())
}

/// What the outputs made of all the images hold, for the line that ends the command.
struct Tally {
    regions: usize,
    volumes: usize,
    /// With --dicom-seg, the SEGs written, or why some could not be.
    segs: Option<Result<seg::Written>>,
}

impl Tally {
    fn seg_note(&self) -> String {
        match &self.segs {
            Some(Ok(w)) => format!(
                ", {} ({} of {} slices)",
                crate::report::count(w.segs, "DICOM SEG"),
                crate::report::count(w.frames, "frame"),
                w.slices
            ),
            _ => String::new(),
        }
    }

    fn volume_note(&self) -> String {
        match self.volumes {
            0 => String::new(),
            n => format!(", {}", crate::report::count(n, "NIfTI mask volume")),
        }
    }
}

/// The outputs made of all the images, in input order (series are decided in stack order):
/// predictions.csv, results.json and images.json, the NIfTI mask volumes, the DICOM SEGs.
fn write_tables(
    args: &Args,
    staging: &Staging,
    mut written: Vec<(usize, &Input, Written)>,
    sources: groups::Sources,
) -> Result<Tally> {
    written.sort_by_key(|w| w.0);
    let mut segs = (args.dicom_seg).then(|| {
        let (dir, shown) = (staging.dir().join("seg"), args.out.join("seg"));
        seg::SegOutputs::new(dir, shown, args.dicom_seg_empty_frames, sources)
    });
    let mut volumes = volumes::Volumes::new(staging.dir(), args.volume);
    let (mut detections, mut images, mut summaries) = (Vec::new(), Vec::new(), Vec::new());
    for (_, f, w) in written {
        detections.extend(w.entries);
        images.push(w.image);
        summaries.push(w.summary);
        if let Some(segs) = segs.as_mut() {
            segs.add(f, w.seg);
        }
        volumes.add(f, w.volume);
    }
    write_summaries(staging.dir(), &summaries)?;
    results::write(staging.dir(), &detections, images)?;
    Ok(Tally {
        regions: detections.len(),
        volumes: volumes.finish(staging)?,
        segs: segs.map(|s| s.finish()),
    })
}

/// provenance.json: the model, the threshold when threshold.json decided it, the images read, and
/// every output written (what a later --overwrite may remove).
fn record(
    args: &Args,
    run: &LoadedRun,
    tuned: bool,
    done: &[PathBuf],
    staging: &Staging,
) -> Result<()> {
    let mut inputs = provenance::run_inputs(&run.dir, tuned)?;
    let listed: Vec<String> = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    inputs.push(provenance::files(
        "images",
        Path::new(&listed.join(" ")),
        done,
    )?);
    let mut record = Provenance::now(run.inference.device, inputs);
    record.outputs = Some(out::listing(staging.dir())?);
    provenance::record(staging.dir(), record, false)
}

/// The second of each pair, in the order of the first (the input's index).
fn in_input_order<T>(mut items: Vec<(usize, T)>) -> Vec<T> {
    items.sort_by_key(|item| item.0);
    items.into_iter().map(|item| item.1).collect()
}

/// `one` fills every empty mask: on DICOM slices decided one by one (those that cannot be placed in
/// a series) it gives the tumour-free slices a region each, which the user should know.
fn warn_one_per_slice(files: &[Input], groups: &[Group], decision: Decision) {
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
