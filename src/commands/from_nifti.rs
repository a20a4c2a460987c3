//! `tumorseg from-nifti`: a COCO split from NIfTI volumes and their label volumes (BraTS-style
//! `*_flair.nii.gz` + `*_seg.nii.gz`, or any segmentation saved from ITK-SNAP or 3D Slicer), so that
//! volumes segmented in research pipelines can be trained on and scored like a Roboflow export.
use crate::dataset::ORIGINAL;
use crate::nifti;
use crate::split_writer::{new_file, summary, Entry, SplitWriter};
use crate::window::Window;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// IMAGE LABEL pairs: each image volume (.nii, .nii.gz, or a .hdr with its .img) followed by its
    /// label volume, on the same voxel grid (its axes may be stored in another order). For a folder of
    /// BraTS cases:
    /// `$(for d in BraTS*/; do echo $d*_flair.nii.gz $d*_seg.nii.gz; done)`.
    #[arg(required = true, value_name = "IMAGE LABEL")]
    pub pairs: Vec<PathBuf>,
    /// Split folder to create: each kept axial slice as `<image stem>_f001.png`… (lowest first, in
    /// the grey and orientation `predict` reads the volume in) and `_annotations.coco.json`, one RLE
    /// annotation per slice with tumour, each image entry with its `volume`, `slice_number`, and
    /// pixel and slice spacings, for evaluate's per-volume scores. Nothing is overwritten. Give each split (train, valid, test)
    /// its own volumes: neighbouring slices of one volume in two splits make the scores optimistic
    /// (`clean` reports such pairs as `similar`).
    #[arg(long)]
    pub out: PathBuf,
    /// Label values that count as tumour, comma-separated (default: every nonzero value; BraTS: 1
    /// necrosis, 2 oedema, 4 or 3 enhancing, so `1,4` is the tumour core; the Medical Segmentation
    /// Decathlon's Task01: 1 oedema, 2 non-enhancing, 3 enhancing tumour, so `2,3`). One that no
    /// label volume holds is an error, not an empty dataset, and so is 0, the background. Label
    /// volumes without any tumour voxel (no slice to keep) are an error too, with nothing written.
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<i64>>,
    /// Also keep the slices without tumour (those whose image is not blank), as images without
    /// annotation: a model that sees them learns that a slice may hold none. (`clean` and `pipeline`
    /// drop images without annotation unless given --keep-empty.)
    #[arg(long)]
    pub keep_empty: bool,
    /// How the volumes' values become grey, as `predict --window`: first (cal_min–cal_max, else each
    /// slice's minimum to maximum), minmax, or CENTER,WIDTH.
    #[arg(
        long,
        default_value = "first",
        value_name = "first|minmax|CENTER,WIDTH"
    )]
    pub window: Window,
    /// Which volume of 4-D image files to read, from 0 (the Medical Segmentation Decathlon's Task01
    /// stores 0 FLAIR, 1 T1w, 2 T1gd, 3 T2w in one file, its labels in another of the same name:
    /// `imagesTr/BRATS_001.nii.gz labelsTr/BRATS_001.nii.gz`). Label volumes hold one volume.
    #[arg(long, value_name = "N")]
    pub volume: Option<usize>,
}

/// What one pair gave the split: its slices' entries, in order, and the slices left out.
struct Kept {
    entries: Vec<Entry>,
    left_out: usize,
}

pub fn run(args: Args) -> Result<()> {
    if !args.pairs.len().is_multiple_of(2) {
        bail!(
            "{}: give IMAGE LABEL pairs (each image volume followed by its label volume)",
            crate::report::count(args.pairs.len(), "path")
        );
    }
    refuse_background(args.labels.as_deref())?;
    new_file(&args.out, ORIGINAL)?;
    let pairs: Vec<(&Path, &Path)> = args
        .pairs
        .chunks(2)
        .map(|p| (p[0].as_path(), p[1].as_path()))
        .collect();
    let mut stems = HashSet::new();
    for (image, _) in &pairs {
        if !stems.insert(nifti::stem(image)) {
            bail!(
                "two images are named {}: slices are named by the image's stem",
                nifti::stem(image)
            );
        }
    }
    check_pairs(&pairs, &args)?;
    let created = crate::atomic::missing_folders(&args.out);
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    // Volumes are decoded and their slices written in parallel; the split numbers them in order.
    let bar = crate::progress::items(pairs.len() as u64, "volumes");
    let kept: Vec<Result<Kept>> = pairs
        .par_iter()
        .map(|(image, label)| {
            let kept = add_pair(&args, image, label);
            bar.inc(1);
            kept
        })
        .collect();
    bar.finish_and_clear();
    let mut split = SplitWriter::default();
    let mut left_out = 0;
    for kept in kept {
        let kept = kept?;
        left_out += kept.left_out;
        kept.entries.into_iter().for_each(|e| split.push(e));
    }
    if split.images.is_empty() {
        // No slice was written: the folders made for them go too, so nothing is left behind.
        for d in &created {
            std::fs::remove_dir(d).ok();
        }
        bail!("{}: nothing written", no_slice(&args));
    }
    split.write_annotations(&args.out, "from NIfTI label volumes by tumorseg")?;
    println!(
        "{}",
        summary(&split, &args.out, &left_out_note(left_out, args.keep_empty))
    );
    Ok(())
}

/// Label 0 is every label volume's background: as tumour, it would mark every slice.
fn refuse_background(labels: Option<&[i64]>) -> Result<()> {
    if labels.is_some_and(|l| l.contains(&0)) {
        bail!(
            "--labels 0: 0 is the background of a label volume, not tumour; give the tumour's \
             labels (e.g. 1,2,4)"
        );
    }
    Ok(())
}

/// Why a run kept no slice: an empty split would be a mistake (label volumes of another study,
/// a wrong --labels) that looks like a result.
fn no_slice(args: &Args) -> String {
    let tumour = match &args.labels {
        Some(l) => format!(
            "labelled {}",
            l.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ),
        None => "nonzero".to_string(),
    };
    let none = format!("no slice has tumour (no voxel of the label volumes is {tumour})");
    match args.keep_empty {
        false => none,
        true => none + " and every slice of the images is blank",
    }
}

/// The sentence about the slices left out: without tumour; with --keep-empty, only blank ones are.
fn left_out_note(left_out: usize, keep_empty: bool) -> String {
    match (left_out, keep_empty) {
        (0, _) => String::new(),
        (n, false) => format!(
            "{} without tumour left out (--keep-empty keeps them)",
            crate::report::count(n, "slice")
        ),
        (n, true) => format!(
            "{} without tumour left out",
            crate::report::count(n, "blank slice")
        ),
    }
}

/// Before anything is written: every label volume on its image's grid, and every label asked for held
/// by one of them.
fn check_pairs(pairs: &[(&Path, &Path)], args: &Args) -> Result<()> {
    let labels = args.labels.as_deref();
    let check = |(image, label): &(&Path, &Path)| -> Result<BTreeSet<i64>> {
        let grid = nifti::read_header(image, args.volume)?.1;
        if !grid.same_grid(&nifti::read_header(label, None)?.1) {
            bail!(
                "{} is not on {}'s voxel grid (another size, voxel size or position): resample it first",
                label.display(),
                image.display()
            );
        }
        match labels {
            Some(_) => nifti::label_values(label),
            None => Ok(BTreeSet::new()),
        }
    };
    let checked: Vec<Result<BTreeSet<i64>>> = pairs.par_iter().map(check).collect();
    let mut found = BTreeSet::new();
    for values in checked {
        found.extend(values?);
    }
    let missing: Vec<String> = labels
        .unwrap_or_default()
        .iter()
        .filter(|l| !found.contains(l))
        .map(i64::to_string)
        .collect();
    if !missing.is_empty() {
        let there: Vec<String> = found.iter().map(i64::to_string).collect();
        bail!(
            "no label volume holds label {} (they hold: {})",
            missing.join(", "),
            there.join(", ")
        );
    }
    Ok(())
}

/// One image volume's kept slices written into the split folder, and their entries with their masks
/// from `label`.
fn add_pair(args: &Args, image: &Path, label: &Path) -> Result<Kept> {
    let grid = nifti::read_header(image, args.volume)?.1;
    let masks = nifti::read_masks(label, args.labels.as_deref())?;
    let tumour = |k: usize| masks[k].iter().any(|&m| m != 0);
    // Only the slices that may be kept are turned to grey: those with tumour, or all with --keep-empty.
    let candidates: Vec<u32> = (0..grid.slices())
        .filter(|&k| args.keep_empty || tumour(k as usize))
        .collect();
    let slices = nifti::read_slices(image, args.volume, &candidates, args.window)?;
    let mut kept = Kept {
        entries: Vec::new(),
        left_out: grid.slices() as usize - candidates.len(),
    };
    let stem = nifti::stem(image);
    for (&k, img) in candidates.iter().zip(&slices) {
        let blank = img.iter().all(|&g| g == img.as_raw()[0]);
        if !tumour(k as usize) && blank {
            kept.left_out += 1;
            continue;
        }
        let frame = (grid.slices() > 1).then_some((k, grid.slices()));
        let name = format!("{}.png", crate::dicom::numbered(stem.clone(), frame));
        let to = new_file(&args.out, &name)?;
        img.save(&to)
            .with_context(|| format!("write {}", to.display()))?;
        let entry = Entry::new(&name, &masks[k as usize], Some(grid.spacing()))
            .between_slices(grid.slice_spacing());
        kept.entries.push(match frame {
            Some(_) => entry.in_volume(&stem, k + 1),
            None => entry,
        });
    }
    Ok(kept)
}
