//! How `predict` goes through its inputs: in groups that are decided together (a NIfTI volume's
//! slices, a DICOM series', other images a few batches at a time), each read and run through the
//! model, the unreadable ones set aside with why, and decided.
use super::inputs::{self, Input, Kind};
use super::staging::Staging;
use super::Args;
use crate::commands::error_chain;
use crate::dicom::seg;
use crate::postprocess::{stack::Stack, Decision};
use crate::predict::{probabilities_gray, LoadedRun, ProbMap};
use anyhow::Result;
use image::GrayImage;
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Inputs decided together: indices into the inputs, in the order they are decided.
#[derive(Debug, PartialEq)]
pub struct Group {
    pub members: Vec<usize>,
    /// For the slices of one volume (a NIfTI volume's, or a DICOM series' along its normal): each
    /// member's slice number, rising; a number skipped stands for slices missing from the series.
    pub numbers: Option<Vec<u32>>,
}

impl Group {
    /// The masks of the group's inputs that were read (`ok`, in member order, with their
    /// probabilities), and the probabilities back. A volume's slices are decided together:
    /// `largest` and `one` act on it in 3-D, and a missing or unreadable slice is a gap that regions
    /// do not cross.
    pub fn decide(
        &self,
        decision: Decision,
        ok: &[(usize, &Input)],
        probs: Vec<ProbMap>,
    ) -> (Vec<GrayImage>, Vec<ProbMap>) {
        let Some(numbers) = &self.numbers else {
            let masks = probs.par_iter().map(|p| decision.mask(p)).collect();
            return (masks, probs);
        };
        debug_assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        let number: HashMap<usize, u32> = self
            .members
            .iter()
            .copied()
            .zip(numbers.iter().copied())
            .collect();
        let slices = ok
            .iter()
            .zip(probs)
            .enumerate()
            .map(|(k, (&(i, _), p))| (k, number[&i], p))
            .collect();
        let stack = Stack::new(slices);
        let masks = stack.masks(decision).into_iter().map(|(_, m)| m).collect();
        (masks, stack.into_probs())
    }
}

/// The inputs in the groups decided together. With `whole_volumes` (a post-processing that acts on
/// a volume in 3-D): each NIfTI volume's slices (inputs are expanded file by file, so they follow
/// each other), each DICOM series' slices in stack order (one acquisition of one stack: see
/// [`seg::stack`]), whatever order their files come in, and the other images by `chunk`. Else all
/// by `chunk`, which bounds memory (a 512² × 300 volume's probabilities take 300 MB).
/// Also the DICOM files' [`seg::Source`]s it read, for the SEGs.
pub fn groups(files: &[Input], chunk: usize, whole_volumes: bool) -> (Vec<Group>, Sources) {
    let loose = |members: Vec<usize>| -> Vec<Group> {
        members
            .chunks(chunk)
            .map(|c| Group {
                members: c.to_vec(),
                numbers: None,
            })
            .collect()
    };
    if !whole_volumes {
        return (loose((0..files.len()).collect()), HashMap::new());
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut rest = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let number = f.frame.map_or(1, |(k, _)| k + 1);
        match groups.last_mut() {
            Some(g) if f.kind == Kind::Nifti && files[g.members[0]].path == f.path => {
                g.members.push(i);
                g.numbers.get_or_insert_default().push(number);
            }
            _ if f.kind == Kind::Nifti => groups.push(Group {
                members: vec![i],
                numbers: Some(vec![number]),
            }),
            _ => rest.push(i),
        }
    }
    let sources = dicom_sources(files, &rest);
    let (series, rest) = dicom_series(files, rest, &sources);
    groups.extend(series);
    groups.extend(loose(rest));
    // In input order of their first slice, for the progress a user sees.
    groups.sort_by_key(|g| g.members.iter().min().copied());
    (groups, sources)
}

/// DICOM files' identity and geometry, by path.
pub type Sources = HashMap<PathBuf, seg::Source>;

/// The sources of the DICOM files among `candidates` that have one.
fn dicom_sources(files: &[Input], candidates: &[usize]) -> Sources {
    let mut paths: Vec<&Path> = candidates
        .iter()
        .map(|&i| &files[i])
        .filter(|f| f.kind == Kind::Dicom)
        .map(|f| f.path.as_path())
        .collect();
    paths.dedup();
    paths
        .par_iter()
        .filter_map(|&p| Some((p.to_path_buf(), seg::Source::read(p).ok()?)))
        .collect()
}

/// An input placed in its DICOM series.
struct Slot<'a> {
    source: &'a seg::Source,
    frame: usize,
    input: usize,
}

impl<'a> seg::Placed<'a> for Slot<'a> {
    fn source(&self) -> &'a seg::Source {
        self.source
    }

    fn frame(&self) -> usize {
        self.frame
    }
}

/// Of the inputs `candidates`, the DICOM series as volumes, and the others: DICOM slices without
/// the UIDs, orientation or position that place them go slice by slice.
fn dicom_series(
    files: &[Input],
    candidates: Vec<usize>,
    sources: &Sources,
) -> (Vec<Group>, Vec<usize>) {
    let slots: Vec<Slot> = candidates
        .iter()
        .filter_map(|&i| {
            let f = &files[i];
            Some(Slot {
                source: sources.get(&f.path).filter(|_| f.kind == Kind::Dicom)?,
                frame: f.frame.map_or(0, |(k, _)| k as usize),
                input: i,
            })
        })
        .collect();
    // A series whose geometry cannot be read goes slice by slice.
    let volumes: Vec<Group> = seg::stack::volumes(slots)
        .into_iter()
        .filter_map(|v| v.ok())
        .map(|slots| Group {
            members: slots.iter().map(|s| s.1.input).collect(),
            numbers: Some(slots.iter().map(|s| s.0).collect()),
        })
        .collect();
    let placed: HashSet<usize> = volumes.iter().flat_map(|g| g.members.clone()).collect();
    let rest = candidates
        .into_iter()
        .filter(|i| !placed.contains(i))
        .collect();
    (volumes, rest)
}

/// Reading and inference of the inputs, with what the end of the command reports of them.
pub struct Reading<'a> {
    pub args: &'a Args,
    pub bar: &'a ProgressBar,
    /// Where the outputs go; a signal stops the reading there, between two batches.
    pub staging: &'a Staging,
    /// Each unreadable input (its index), with why.
    pub skipped: Vec<(usize, String)>,
    /// The files read, with their inputs' indices.
    pub done: Vec<(usize, PathBuf)>,
    /// The last reason given, so that a broken multi-frame file's frames say it once.
    pub last_why: Option<String>,
}

impl Reading<'_> {
    /// The inputs of `group` that could be read, with their indices, their grey images and
    /// probabilities (`batch × 4` images at a time, for the progress bar and the file cache).
    #[allow(clippy::type_complexity)]
    pub fn predict<'f>(
        &mut self,
        files: &'f [Input],
        group: &Group,
        run: &LoadedRun,
    ) -> Result<(Vec<(usize, &'f Input)>, Vec<GrayImage>, Vec<ProbMap>)> {
        let (mut ok, mut images, mut probs) = (Vec::new(), Vec::new(), Vec::new());
        for members in group.members.chunks(run.inference.batch * 4) {
            self.staging.stop_if_asked()?;
            let part: Vec<Input> = members.iter().map(|&i| files[i].clone()).collect();
            let read = inputs::read(&part, self.args.window, self.args.volume);
            let mut these = Vec::new();
            for (&i, img) in members.iter().zip(read) {
                match img {
                    Ok(img) => {
                        self.done.push((i, files[i].path.clone()));
                        ok.push((i, &files[i]));
                        these.push(img);
                    }
                    // One unreadable file must not cost the whole folder: skip it and report it at
                    // the end.
                    Err(e) => self.skip(i, &files[i], &e),
                }
            }
            // Batch by batch, so that a signal stops predict within one.
            for batch in these.chunks(run.inference.batch) {
                self.staging.stop_if_asked()?;
                probs.extend(probabilities_gray(&run.models, batch, &run.inference)?);
            }
            images.extend(these);
            self.bar.inc(members.len() as u64);
        }
        Ok((ok, images, probs))
    }

    fn skip(&mut self, i: usize, f: &Input, e: &anyhow::Error) {
        let why = error_chain(e);
        // A broken multi-frame file fails every frame alike: say it once.
        if self.last_why.as_ref() != Some(&why) {
            self.bar.suspend(|| eprintln!("skipped: {why}"));
        }
        self.skipped.push((i, format!("{}\t{why}", f.label())));
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
        let group = |members: &[usize], numbers: Option<&[u32]>| Group {
            members: members.to_vec(),
            numbers: numbers.map(|n| n.to_vec()),
        };
        // Other images by the chunk, in input order; the groups in the order of their first input.
        assert_eq!(
            groups(&files, 2, true).0,
            [
                group(&[0, 1], None),
                group(&[2, 10], None),
                group(&[3, 4, 5, 6, 7], Some(&[1, 2, 3, 4, 5])),
                group(&[8, 9], Some(&[1, 2])),
                group(&[11], None)
            ]
        );
        assert!(groups(&[], 2, true).0.is_empty());
        // Slice by slice (no 3-D post-processing), everything goes by the chunk.
        let by_chunk: Vec<_> = (0..6).map(|k| group(&[2 * k, 2 * k + 1], None)).collect();
        assert_eq!(groups(&files, 2, false).0, by_chunk);
    }

    #[test]
    fn an_unreadable_slice_is_a_gap_in_its_volume() {
        let files: Vec<Input> = (0..3).map(|k| input("v.nii.gz", Some((k, 3)))).collect();
        let largest = Decision {
            threshold: 0.5,
            postprocess: crate::postprocess::Postprocess::Largest,
        };
        let (groups, _) = groups(&files, 8, true);
        // Slice 2 unread: slice 1's voxel and slice 3's two are apart, so only slice 3's stay. Had
        // slices 1 and 3 been stacked as neighbours, they would be one region of three voxels.
        let ok = [(0, &files[0]), (2, &files[2])];
        let (masks, probs) = groups[0].decide(
            largest,
            &ok,
            vec![ProbMap::row(&[0.9, 0.0]), ProbMap::row(&[0.8, 0.7])],
        );
        let masks: Vec<Vec<u8>> = masks.into_iter().map(|m| m.into_raw()).collect();
        assert_eq!(masks, [vec![0, 0], vec![1, 1]]);
        assert_eq!(probs[1].data, [0.8, 0.7]);
    }
}
