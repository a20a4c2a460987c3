//! The inputs of `from-seg` sorted into SEG objects and slices: a single-frame image is one slice,
//! each frame of a multi-frame image (an enhanced MR volume) another, each with where it lies.
use crate::dicom::plane::{plane_of, Plane};
use crate::dicom::seg::place::Target;
use crate::dicom::seg::Source;
use crate::dicom::{self, seg::read as seg};
use anyhow::{bail, Context, Result};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::{Path, PathBuf};

/// A slice that can be a dataset image: a single-frame file, or one frame of a multi-frame file.
pub struct Slice {
    pub path: PathBuf,
    /// The frame (from 0) and the file's frame count, for a frame of a multi-frame file.
    pub frame: Option<(u32, u32)>,
    /// The image's file name in the split: the file's own, or `<stem>_f001.png` for a frame.
    pub name: String,
    pub uid: String,
    pub series: Option<String>,
    pub width: u32,
    pub height: u32,
    pub frame_of_reference: Option<String>,
    pub plane: Option<Plane>,
    /// Its volume and slice number (from 1), where it can be placed in one (see [`super::volumes`]).
    pub volume: Option<(String, u32)>,
}

impl Slice {
    pub fn target(&self) -> Target<'_> {
        Target {
            uid: &self.uid,
            frame: self.frame.map(|(k, _)| k + 1),
            series: self.series.as_deref(),
            width: self.width,
            height: self.height,
            frame_of_reference: self.frame_of_reference.as_deref(),
            plane: self.plane.as_ref(),
        }
    }

    /// The slice as messages name it.
    pub fn label(&self) -> String {
        match self.frame {
            None => self.path.display().to_string(),
            Some((k, n)) => format!("{} (frame {} of {n})", self.path.display(), k + 1),
        }
    }
}

/// Files given and the files of folders given (sorted; DICOM by name or magic, not a DICOMDIR).
pub fn list(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
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

/// Slices, placed in their volumes, and SEG objects apart, from one header read each; files that are
/// neither (unreadable files, objects without pixels) are named.
pub fn classify(files: &[PathBuf]) -> Result<(Vec<Slice>, Vec<PathBuf>)> {
    let (mut slices, mut segs) = (Vec::new(), Vec::new());
    let (mut sources, mut source_of): (Vec<Source>, Vec<Option<usize>>) = (Vec::new(), Vec::new());
    for f in files {
        let header = dicom::header(f);
        if header.as_ref().is_ok_and(|h| seg::is_segmentation(h)) {
            segs.push(f.clone());
            continue;
        }
        let read = header.and_then(|h| Ok((slices_of(f, &h)?, Source::of(&h).ok())));
        match read {
            Ok((found, source)) => {
                let index = source.map(|s| {
                    sources.push(s);
                    sources.len() - 1
                });
                source_of.extend(std::iter::repeat_n(index, found.len()));
                slices.extend(found);
            }
            Err(e) => eprintln!("note: {} is not used: {e:#}", f.display()),
        }
    }
    refuse_shared_names(&slices)?;
    super::volumes::assign(&mut slices, &sources, &source_of);
    Ok((slices, segs))
}

/// One split holds every slice under its name: two of one name, or of names that differ only in
/// case (one file on macOS and Windows), would be one image.
fn refuse_shared_names(slices: &[Slice]) -> Result<()> {
    if let Some(c) = crate::names::clash(slices, |s| s.name.clone()) {
        bail!(
            "{} and {} both give {}, and one split holds both",
            c.first.label(),
            c.second.label(),
            c.name
        );
    }
    Ok(())
}

fn slices_of(path: &Path, header: &InMemDicomObject) -> Result<Vec<Slice>> {
    let frames = dicom::frames_of(header)?;
    let size = |tag| -> Result<u32> { Ok(header.element(tag)?.to_int::<u32>()?) };
    let (width, height) = (size(tags::COLUMNS)?, size(tags::ROWS)?);
    let uid = dicom::text(header, tags::SOP_INSTANCE_UID).context("no SOP Instance UID")?;
    let slice = |frame: Option<(u32, u32)>| Slice {
        path: path.to_path_buf(),
        frame,
        name: match frame {
            None => file_name(path),
            // A frame becomes an 8-bit PNG, the grey predict reads it as.
            Some(_) => format!("{}.png", dicom::frame_stem(path, frame)),
        },
        uid: uid.clone(),
        series: dicom::text(header, tags::SERIES_INSTANCE_UID),
        width,
        height,
        frame_of_reference: dicom::text(header, tags::FRAME_OF_REFERENCE_UID),
        plane: plane_of(header, frame.map_or(0, |(k, _)| k as usize)),
        volume: None,
    };
    Ok(match frames {
        1 => vec![slice(None)],
        n => (0..n).map(|k| slice(Some((k, n)))).collect(),
    })
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
