//! What `predict` reads: the files and folders given, each multi-frame DICOM file expanded into its
//! frames and each NIfTI volume into its axial slices, each with the unique stem its outputs are
//! named by.
use crate::dataset::read_gray;
use crate::dicom::{self, Window};
use crate::nifti;
use anyhow::{bail, Context, Result};
use image::GrayImage;
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The image files a folder's listing keeps (case-insensitive), besides DICOM files under any name; a
/// file named directly is always tried.
pub const EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "tif", "tiff", "bmp", "dcm", "dicom"];

/// What an input file is, which decides how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// JPEG, PNG, TIFF or BMP.
    Raster,
    /// DICOM, by its name or its magic.
    Dicom,
    /// A NIfTI volume (`.nii`, `.nii.gz`, or a `.hdr`/`.img` pair).
    Nifti,
}

/// The names a folder's listing keeps, as messages list them.
pub fn known_names() -> String {
    format!("{}/nii/nii.gz/hdr", EXTENSIONS.join("/"))
}

/// One image to predict: a file, one frame of a multi-frame DICOM file, or one axial slice of a
/// NIfTI volume.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub path: PathBuf,
    /// (index from 0, count) of a frame of a multi-frame DICOM file or a slice of a NIfTI volume.
    pub frame: Option<(u32, u32)>,
    /// Pixel spacing in mm (rows, columns), from a DICOM file's or a NIfTI volume's header.
    pub spacing: Option<(f64, f64)>,
    pub kind: Kind,
}

impl Input {
    /// What outputs are named by ([`dicom::frame_stem`]; a NIfTI volume's stem is its name without
    /// `.nii.gz`).
    pub fn stem(&self) -> String {
        match self.kind {
            Kind::Nifti => dicom::numbered(nifti::stem(&self.path), self.frame),
            _ => dicom::frame_stem(&self.path, self.frame),
        }
    }

    /// The 1-based frame number, for the outputs that name the file.
    pub fn frame_number(&self) -> Option<u32> {
        self.frame.map(|(k, _)| k + 1)
    }

    /// The file, and the frame when it is one, as messages name it.
    pub fn label(&self) -> String {
        match self.frame {
            None => self.path.display().to_string(),
            Some((k, n)) => format!("{} (frame {} of {n})", self.path.display(), k + 1),
        }
    }
}

/// By extension, or, since PACS exports often name slices `IM0001` or by UID, by DICOM's magic. A
/// DICOMDIR is the folder's index, not a slice.
fn is_image_file(f: &Path) -> bool {
    let by_name = f
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_lowercase().as_str()));
    by_name || nifti::is_nifti_path(f) || dicom::is_dicom_file(f)
}

/// Expand folders (their image files, sorted; not their subfolders) and multi-frame DICOM files (their
/// frames), and check every stem is unique, case aside (outputs are named by stem). Other files in a folder are
/// named on stderr, so none is left out unseen.
pub fn collect_inputs(inputs: &[PathBuf], volume: Option<usize>) -> Result<Vec<Input>> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            files.extend(folder_images(p)?);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("input {} does not exist", p.display());
        }
    }
    let files = read_once(files);
    let found: Vec<Result<Vec<Input>, String>> =
        files.par_iter().map(|f| frames(f, volume)).collect();
    let (mut expanded, mut not_images) = (Vec::new(), Vec::new());
    for f in found {
        match f {
            Ok(inputs) => expanded.extend(inputs),
            Err(why) => not_images.push(why),
        }
    }
    if !not_images.is_empty() {
        eprintln!(
            "note: {} left out, not images: {}{}",
            crate::report::count(not_images.len(), "DICOM file"),
            not_images[..not_images.len().min(3)].join("; "),
            if not_images.len() > 3 { "; …" } else { "" }
        );
    }
    // Case counts too: outputs of names that differ only in case are one file on macOS and Windows.
    if let Some(c) = crate::names::clash(&expanded, Input::stem) {
        bail!(
            "{} and {} would both be named {}: outputs are named by the input's stem",
            c.first.label(),
            c.second.label(),
            c.name
        );
    }
    Ok(expanded)
}

/// Each file once, where it was first given: one named twice (`a.png ./a.png`, or a folder and a
/// file in it) is one file, whose outputs must not be refused as those of two files of one name.
fn read_once(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    let (once, again): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| seen.insert(f.canonicalize().unwrap_or_else(|_| f.clone())));
    if !again.is_empty() {
        let names: Vec<String> = again
            .iter()
            .take(3)
            .map(|f| f.display().to_string())
            .collect();
        eprintln!(
            "note: {} given more than once, read once: {}{}",
            crate::report::count(again.len(), "file"),
            names.join(", "),
            if again.len() > 3 { ", …" } else { "" }
        );
    }
    once
}

/// A file as inputs: one, or one per frame of a multi-frame DICOM file or per axial slice of a NIfTI
/// volume (of a 4-D file, `volume`), whose header is read once here; or, for a DICOM object that is
/// no image (a SEG, a report), the file and why. A header that cannot be read leaves the file whole,
/// so that reading it reports why.
fn frames(path: &Path, volume: Option<usize>) -> Result<Vec<Input>, String> {
    if nifti::is_nifti_path(path) {
        let header = nifti::read_header(path, volume).ok().map(|(_, o)| o);
        return Ok(split(
            path,
            Kind::Nifti,
            header.map_or(1, |o| o.slices()),
            header.map(|o| o.spacing()),
        ));
    }
    let is_dicom = dicom::has_dicom_extension(path) || dicom::sniff(path);
    let header = is_dicom.then(|| dicom::read_header(path).ok()).flatten();
    if let Some(why) = header.as_ref().and_then(|h| h.not_image.as_ref()) {
        return Err(format!("{} ({why})", path.display()));
    }
    let kind = if is_dicom { Kind::Dicom } else { Kind::Raster };
    let (count, spacing) = header.map_or((1, None), |h| (h.frames, h.spacing));
    Ok(split(path, kind, count, spacing))
}

/// A file's `count` images: the file itself when it holds one.
fn split(path: &Path, kind: Kind, count: u32, spacing: Option<(f64, f64)>) -> Vec<Input> {
    let input = |frame| Input {
        path: path.to_path_buf(),
        frame,
        spacing,
        kind,
    };
    if count > 1 {
        (0..count).map(|k| input(Some((k, count)))).collect()
    } else {
        vec![input(None)]
    }
}

/// A folder's image files, sorted; its other files are named in a note.
fn folder_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.is_file())
        .collect();
    let (mut found, mut other): (Vec<PathBuf>, Vec<PathBuf>) =
        entries.into_iter().partition(|f| is_image_file(f));
    let name = |f: &PathBuf| {
        f.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    // Annotation files (a split folder's COCO JSON), hidden files and the voxels of a NIfTI pair
    // (read through its .hdr) are expected company.
    other.retain(|f| {
        !name(f).starts_with('.') && !name(f).ends_with(".json") && !nifti::is_pair_data(f)
    });
    if !other.is_empty() {
        other.sort();
        let names: Vec<String> = other.iter().take(3).map(name).collect();
        eprintln!(
            "note: {} in {} not read (not {} or DICOM): {}{}",
            crate::report::count(other.len(), "file"),
            dir.display(),
            known_names(),
            names.join(", "),
            if other.len() > 3 { ", …" } else { "" }
        );
    }
    found.sort();
    Ok(found)
}

/// Read inputs in parallel, in order, DICOM and NIfTI through `window` (of a 4-D NIfTI file,
/// `volume`). The frames of one file that follow each other are decoded from one reading of the
/// file, not once per frame.
pub fn read(inputs: &[Input], window: Window, volume: Option<usize>) -> Vec<Result<GrayImage>> {
    let groups: Vec<&[Input]> = inputs
        .chunk_by(|a, b| a.path == b.path && a.frame.is_some() && b.frame.is_some())
        .collect();
    groups
        .par_iter()
        .flat_map_iter(|group| read_group(group, window, volume))
        .collect()
}

fn read_group(group: &[Input], window: Window, volume: Option<usize>) -> Vec<Result<GrayImage>> {
    let Some(first) = group.first() else {
        return Vec::new();
    };
    let wanted: Vec<u32> = group
        .iter()
        .map(|i| i.frame.map_or(0, |(k, _)| k))
        .collect();
    let read = match first.kind {
        Kind::Raster => return vec![read_gray(&first.path)],
        Kind::Dicom => dicom::read_frames(&first.path, &wanted, window),
        Kind::Nifti => nifti::read_slices(&first.path, volume, &wanted, window),
    };
    match read {
        Ok(images) => images.into_iter().map(Ok).collect(),
        // One reason for every frame of the file: each is listed as skipped.
        Err(e) => group
            .iter()
            .map(|_| Err(anyhow::anyhow!("{e:#}")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_named_in_order_and_labelled() {
        let input = |frame| Input {
            path: PathBuf::from("dir/scan.dcm"),
            frame,
            spacing: None,
            kind: Kind::Dicom,
        };
        assert_eq!(input(None).stem(), "scan");
        assert_eq!(input(Some((0, 9))).stem(), "scan_f1");
        assert_eq!(input(Some((6, 120))).stem(), "scan_f007");
        assert_eq!(input(Some((119, 120))).stem(), "scan_f120");
        assert_eq!(input(Some((1, 2))).label(), "dir/scan.dcm (frame 2 of 2)");
        assert_eq!(input(Some((1, 2))).frame_number(), Some(2));
        assert_eq!(input(None).frame_number(), None);
        let slice = Input {
            path: PathBuf::from("dir/sub-01.T1w.nii.gz"),
            kind: Kind::Nifti,
            ..input(Some((2, 155)))
        };
        assert_eq!(slice.stem(), "sub-01.T1w_f003");
    }

    #[test]
    fn inputs_whose_stems_differ_only_in_case_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let (upper, lower) = (d.path().join("Scan.png"), d.path().join("sub/scan.jpg"));
        std::fs::create_dir_all(d.path().join("sub")).unwrap();
        for path in [&upper, &lower] {
            image::GrayImage::new(4, 4).save(path).unwrap();
        }
        let err = collect_inputs(&[upper.clone(), lower.clone()], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{} and {}", upper.display(), lower.display()))
                && err.contains("would both be named Scan / scan (one name where case is ignored"),
            "{err}"
        );
        assert!(collect_inputs(&[upper], None).is_ok());
    }
}
