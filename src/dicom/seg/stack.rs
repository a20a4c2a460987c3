//! A series' frames in stack order: grouped by stack (series, frame of reference, size, orientation
//! and spacing), split into acquisitions where the series repeats its positions, and sorted along the
//! slice normal. A SEG stores its frames so, and `predict` decides a series' slices together so.
use super::{Repetition, Source};
use anyhow::{ensure, Context, Result};
use dicom_object::mem::InMemElement;
use std::cmp::Ordering;

/// A frame of a source, placed by the source's geometry: a SEG's frame, or an input `predict`
/// decides.
pub trait Placed<'a> {
    fn source(&self) -> &'a Source;
    /// From 0.
    fn frame(&self) -> usize;

    /// Its Image Position (Patient).
    fn position(&self) -> &'a InMemElement {
        &self.source().positions[self.frame()]
    }
}

/// Frames as volumes, each one acquisition of one stack (one frame per position) in stack order,
/// with their slice numbers (see [`numbered`]); a stack whose geometry cannot be read, with why.
pub fn volumes<'a, F: Placed<'a>>(frames: Vec<F>) -> Vec<Result<Vec<(u32, F)>>> {
    let mut stacks: Vec<(String, Vec<F>)> = Vec::new();
    for f in frames {
        let key = f.source().stack();
        match stacks.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(f),
            None => stacks.push((key, vec![f])),
        }
    }
    let mut volumes = Vec::new();
    for (_, frames) in stacks {
        match split_repeats(frames) {
            Ok(groups) => volumes.extend(groups.into_iter().map(numbered)),
            Err(e) => volumes.push(Err(e)),
        }
    }
    volumes
}

/// Slices closer than this (mm) along the normal lie at one position.
const SAME_POSITION_MM: f64 = 1e-3;

/// Frames with their depths along the slice normal.
fn depths<'a, F: Placed<'a>>(frames: Vec<F>) -> Result<Vec<(f64, F)>> {
    let Some(first) = frames.first() else {
        return Ok(Vec::new());
    };
    let normal = normal(&first.source().orientation)?;
    let depth = |f: &F| -> Result<f64> {
        let p = f.position().to_multi_float64()?;
        ensure!(p.len() == 3, "unreadable Image Position (Patient)");
        Ok(p.iter().zip(normal).map(|(a, b)| a * b).sum())
    };
    frames.into_iter().map(|f| Ok((depth(&f)?, f))).collect()
}

/// A stack's frames as groups that each hold one frame per position, so that every SEG's frames are
/// told apart by their position: a series that repeats its positions (echoes, diffusion b-values or
/// directions, time points) gives one group per acquisition, as the frames' [`Repetition`] tells
/// them apart (in its order, those that give none first), whatever order the files come in; frames
/// that still repeat a position are split again, in input order.
pub fn split_repeats<'a, F: Placed<'a>>(frames: Vec<F>) -> Result<Vec<Vec<F>>> {
    let mut by_repetition: Vec<(&Repetition, Vec<F>)> = Vec::new();
    for f in frames {
        let r = &f.source().repetitions[f.frame()];
        match by_repetition.iter_mut().find(|(key, _)| *key == r) {
            Some((_, group)) => group.push(f),
            None => by_repetition.push((r, vec![f])),
        }
    }
    // Field by field, each list of values lexicographically (a missing value sorts first).
    let order = |a: &Repetition, b: &Repetition| {
        let field = |(x, y): (&Vec<f64>, &Vec<f64>)| x.partial_cmp(y).unwrap_or(Ordering::Equal);
        a.iter()
            .zip(b)
            .map(field)
            .fold(Ordering::Equal, Ordering::then)
    };
    by_repetition.sort_by(|a, b| order(a.0, b.0));
    let mut groups = Vec::new();
    for (_, frames) in by_repetition {
        groups.extend(split_positions(frames)?);
    }
    Ok(groups)
}

/// Frames as groups that each hold one frame per position, in input order.
fn split_positions<'a, F: Placed<'a>>(frames: Vec<F>) -> Result<Vec<Vec<F>>> {
    let mut groups: Vec<Vec<F>> = Vec::new();
    let mut seen: Vec<(f64, usize)> = Vec::new();
    for (d, f) in depths(frames)? {
        let k = match seen
            .iter_mut()
            .find(|(at, _)| (at - d).abs() < SAME_POSITION_MM)
        {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                seen.push((d, 1));
                0
            }
        };
        if k == groups.len() {
            groups.push(Vec::new());
        }
        groups[k].push(f);
    }
    Ok(groups)
}

/// Frames sorted along the slice normal, with their position indices (from 1; slices closer than
/// [`SAME_POSITION_MM`] share one).
pub fn in_stack_order<'a, F: Placed<'a>>(frames: Vec<F>) -> Result<(Vec<F>, Vec<u32>)> {
    let mut placed = depths(frames)?;
    placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut indices: Vec<u32> = Vec::with_capacity(placed.len());
    for (k, (d, _)) in placed.iter().enumerate() {
        let same = k > 0 && d - placed[k - 1].0 < SAME_POSITION_MM;
        indices.push(indices.last().map_or(1, |&i| if same { i } else { i + 1 }));
    }
    Ok((placed.into_iter().map(|(_, f)| f).collect(), indices))
}

/// Frames sorted along the slice normal, with their slice numbers from 1: a step of k slice
/// spacings (the median step) skips k − 1 numbers, so that slices missing from a series leave a gap
/// (a step of 1.5 spacings or more counts as one).
pub fn numbered<'a, F: Placed<'a>>(frames: Vec<F>) -> Result<Vec<(u32, F)>> {
    let mut placed = depths(frames)?;
    placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let steps = placed.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let spacing = crate::dicom::plane::median_step(steps).unwrap_or(1.0);
    let mut last: Option<(u32, f64)> = None;
    Ok(placed
        .into_iter()
        .map(|(d, f)| {
            // A float cast saturates: a far step cannot wrap the number.
            let step = |(n, at): (u32, f64)| {
                n.saturating_add(((d - at) / spacing).round().max(1.0) as u32)
            };
            let number = last.map_or(1, step);
            last = Some((number, d));
            (number, f)
        })
        .collect())
}

/// The slice normal of an Image Orientation (Patient) element.
fn normal(orientation: &InMemElement) -> Result<[f64; 3]> {
    let o = orientation.to_multi_float64()?;
    let o: [f64; 6] = o[..]
        .try_into()
        .ok()
        .context("unreadable Image Orientation (Patient)")?;
    Ok(crate::dicom::plane::normal(&o))
}
