//! How `predict` goes through its inputs: in groups that are decided together (a NIfTI volume's
//! slices, other images a few batches at a time), each read and run through the model, the
//! unreadable ones set aside with why.
use super::inputs::{self, Input, Kind};
use super::Args;
use crate::commands::error_chain;
use crate::predict::{probabilities_gray, LoadedRun, ProbMap};
use anyhow::Result;
use image::GrayImage;
use indicatif::ProgressBar;
use std::ops::Range;
use std::path::PathBuf;

/// The inputs in the groups decided together, as index ranges: with `whole_volumes` (a
/// post-processing that acts on a volume in 3-D) each NIfTI volume's slices (inputs are expanded
/// file by file, so they follow each other), and other images by `chunk`; else all by `chunk`, which
/// bounds memory (a 512² × 300 volume's probabilities take 300 MB).
pub fn groups(files: &[Input], chunk: usize, whole_volumes: bool) -> Vec<Range<usize>> {
    let volume = |i: &Input| (whole_volumes && i.kind == Kind::Nifti).then(|| i.path.clone());
    let mut groups: Vec<Range<usize>> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        match groups.last_mut() {
            Some(g)
                if volume(&files[g.start]) == volume(f)
                    && (volume(f).is_some() || g.len() < chunk) =>
            {
                g.end = i + 1
            }
            _ => groups.push(i..i + 1),
        }
    }
    groups
}

/// Reading and inference of the inputs, with what the end of the command reports of them.
pub struct Reading<'a> {
    pub args: &'a Args,
    pub bar: &'a ProgressBar,
    /// Each unreadable input, with why.
    pub skipped: Vec<String>,
    /// The files read, in input order.
    pub done: Vec<PathBuf>,
    /// The last reason given, so that a broken multi-frame file's frames say it once.
    pub last_why: Option<String>,
}

impl Reading<'_> {
    /// The inputs of `group` that could be read, with their COCO image ids, their grey images and
    /// probabilities (`chunk` images at a time, for the progress bar and the file cache).
    #[allow(clippy::type_complexity)]
    pub fn predict<'f>(
        &mut self,
        files: &'f [Input],
        group: Range<usize>,
        run: &LoadedRun,
    ) -> Result<(Vec<(u64, &'f Input)>, Vec<GrayImage>, Vec<ProbMap>)> {
        let (mut ok, mut images, mut probs) = (Vec::new(), Vec::new(), Vec::new());
        let chunk = run.inference.batch * 4;
        for start in group.clone().step_by(chunk) {
            let part = &files[start..(start + chunk).min(group.end)];
            // COCO image ids follow the input order, skipped files included, so they do not shift.
            let ids = (start + 1) as u64..;
            let read = inputs::read(part, self.args.window, self.args.volume);
            let mut these = Vec::new();
            for ((id, f), img) in ids.zip(part).zip(read) {
                match img {
                    Ok(img) => {
                        self.done.push(f.path.clone());
                        ok.push((id, f));
                        these.push(img);
                    }
                    // One unreadable file must not cost the whole folder: skip it and report it at
                    // the end.
                    Err(e) => self.skip(f, &e),
                }
            }
            probs.extend(probabilities_gray(&run.model, &these, &run.inference)?);
            images.extend(these);
            self.bar.inc(part.len() as u64);
        }
        Ok((ok, images, probs))
    }

    fn skip(&mut self, f: &Input, e: &anyhow::Error) {
        let why = error_chain(e);
        // A broken multi-frame file fails every frame alike: say it once.
        if self.last_why.as_ref() != Some(&why) {
            self.bar.suspend(|| eprintln!("skipped: {why}"));
        }
        self.skipped.push(format!("{}\t{why}", f.label()));
        self.last_why = Some(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, frame: Option<(u32, u32)>) -> Input {
        Input {
            path: PathBuf::from(name),
            frame,
            spacing: None,
            kind: if name.ends_with(".nii.gz") {
                Kind::Nifti
            } else {
                Kind::Raster
            },
        }
    }

    #[test]
    fn a_volumes_slices_are_one_group_whatever_the_chunk() {
        let mut files = vec![
            input("a.png", None),
            input("b.png", None),
            input("c.png", None),
        ];
        files.extend((0..5).map(|k| input("v.nii.gz", Some((k, 5)))));
        files.extend((0..2).map(|k| input("w.nii.gz", Some((k, 2)))));
        files.push(input("d.png", None));
        files.push(input("e.png", None));
        assert_eq!(groups(&files, 2, true), [0..2, 2..3, 3..8, 8..10, 10..12]);
        assert!(groups(&[], 2, true).is_empty());
        // Slice by slice (no 3-D post-processing), everything goes by the chunk.
        let by_chunk: Vec<_> = (0..6).map(|k| 2 * k..2 * k + 2).collect();
        assert_eq!(groups(&files, 2, false), by_chunk);
    }
}
