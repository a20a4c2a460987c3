//! `predict --dicom-seg`: the masks of the DICOM inputs gathered into DICOM Segmentation objects, one
//! per stack (a series' slices of one size, orientation and spacing; a multi-frame file's frames),
//! written once every mask is in.
use super::groups::Sources;
use super::inputs::Input;
use crate::dicom::seg::{self, Frame, Pixels, Source};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct SegOutputs {
    dir: PathBuf,
    /// Where `dir` will be, for messages.
    shown: PathBuf,
    /// Each DICOM file read, with its source or why it can have no SEG, in input order.
    sources: Vec<(PathBuf, Result<Source, String>)>,
    known: HashMap<PathBuf, usize>,
    /// (source, frame from 0, prediction).
    masks: Vec<(usize, usize, Pixels)>,
    not_dicom: usize,
    keep_empty: bool,
    /// Sources read before (to group series), taken rather than read again.
    read: Sources,
}

/// What [`SegOutputs::finish`] wrote.
#[derive(Default)]
pub struct Written {
    pub segs: usize,
    /// Frames in them, and the slices (frames of the inputs) they were made of.
    pub frames: usize,
    pub slices: usize,
}

impl SegOutputs {
    /// SEGs in `dir` (to be `shown`); frames without tumour are left out of them unless
    /// `keep_empty`; `read`: the sources already read.
    pub fn new(dir: PathBuf, shown: PathBuf, keep_empty: bool, read: Sources) -> SegOutputs {
        SegOutputs {
            dir,
            shown,
            sources: Vec::new(),
            known: HashMap::new(),
            masks: Vec::new(),
            not_dicom: 0,
            keep_empty,
            read,
        }
    }

    /// The prediction for one input (none for an input that is not DICOM); a file's header is read
    /// the first time one of its frames comes.
    pub fn add(&mut self, input: &Input, mask: Option<Pixels>) {
        let Some(mask) = mask else {
            self.not_dicom += 1;
            return;
        };
        let next = self.sources.len();
        let k = *self.known.entry(input.path.clone()).or_insert(next);
        if k == next {
            let source = match self.read.remove(&input.path) {
                Some(source) => Ok(source),
                None => Source::read(&input.path).map_err(|e| format!("{e:#}")),
            };
            self.sources.push((input.path.clone(), source));
        }
        let frame = input.frame.map_or(0, |(f, _)| f as usize);
        self.masks.push((k, frame, mask));
    }

    /// Write one SEG per stack (per repetition of its positions, when it repeats them), named by its
    /// series (`<Series Instance UID>.dcm`, then `_2`… for the series' further ones). Files that can
    /// have none are named on stderr and make this fail after the others are written, so that
    /// scripts notice.
    pub fn finish(self) -> Result<Written> {
        if self.not_dicom > 0 {
            eprintln!(
                "note: no SEG for {} that {} not DICOM",
                crate::report::count(self.not_dicom, "image"),
                if self.not_dicom == 1 { "is" } else { "are" }
            );
        }
        let mut failed: Vec<String> = self
            .sources
            .iter()
            .filter_map(|(path, s)| {
                s.as_ref()
                    .err()
                    .map(|why| format!("{}: {why}", path.display()))
            })
            .collect();
        let mut stacks: Vec<(String, Vec<Frame>)> = Vec::new();
        for (k, frame, pixels) in &self.masks {
            let Ok(source) = &self.sources[*k].1 else {
                continue;
            };
            let frame = Frame {
                source,
                frame: *frame,
                pixels,
            };
            let stack = source.stack();
            match stacks.iter_mut().find(|(key, _)| *key == stack) {
                Some((_, frames)) => frames.push(frame),
                None => stacks.push((stack, vec![frame])),
            }
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut written = Written::default();
        for (_, frames) in stacks {
            let series = frames[0].source.series().to_string();
            match seg::split_repeats(frames) {
                Ok(groups) => {
                    for frames in groups {
                        let n = names.entry(series.clone()).or_insert(0);
                        *n += 1;
                        self.write(&series, *n, frames, &mut written, &mut failed);
                    }
                }
                Err(e) => failed.push(format!("series {series}: {e:#}")),
            }
        }
        report_failed(&self.shown, &failed)?;
        Ok(written)
    }

    /// The `n`th SEG of `series`, counted in `written`, or why not in `failed`.
    fn write(
        &self,
        series: &str,
        n: usize,
        frames: Vec<Frame>,
        written: &mut Written,
        failed: &mut Vec<String>,
    ) {
        let name = match n {
            1 => format!("{series}.dcm"),
            n => format!("{series}_{n}.dcm"),
        };
        let slices = frames.len();
        match seg::write(&self.dir.join(&name), frames, self.keep_empty) {
            Ok(k) => {
                written.segs += 1;
                written.frames += k;
                written.slices += slices;
            }
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
}

fn report_failed(dir: &Path, failed: &[String]) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    for why in failed {
        eprintln!("no SEG: {why}");
    }
    bail!(
        "{} could not be written as DICOM SEG (above); the others are in {}",
        crate::report::count(failed.len(), "file"),
        dir.display()
    )
}
