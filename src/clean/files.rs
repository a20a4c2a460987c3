//! Each image file of a split read once: missing, corrupt, or its SHA-256 (and thumbnail), which the
//! cleaning rules, the leak report and the similarity check all work from.
use super::similar::Thumb;
use crate::coco::CocoFile;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// What one image file turned out to be.
#[derive(Clone, Debug)]
pub(super) enum FileState {
    Missing,
    Corrupt,
    /// Decoded at another size (width, height) than its annotation entry says: resized or cropped
    /// after annotating, so its polygons no longer fit it.
    WrongSize(u32, u32),
    /// SHA-256 of the bytes, and the thumbnail when similarity is checked.
    Ok([u8; 32], Option<Thumb>),
}

pub(super) struct SplitData {
    pub name: String,
    pub file: CocoFile,
    pub states: Vec<FileState>,
}

/// Hash and decode every image (in parallel), with a progress bar: decoding takes a few seconds per
/// thousand slices.
pub(super) fn file_states(dir: &Path, file: &CocoFile, thumbnails: bool) -> Vec<FileState> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let bar = crate::progress::items(file.images.len() as u64, &format!("check {name}"), "img");
    let states = file
        .images
        .par_iter()
        .map(|img| {
            let state = file_state(
                &dir.join(&img.file_name),
                (img.width, img.height),
                thumbnails,
            );
            bar.inc(1);
            state
        })
        .collect();
    bar.finish_and_clear();
    states
}

/// Missing, corrupt, not of the `listed` size, or its SHA-256 (and thumbnail).
fn file_state(path: &Path, listed: (u32, u32), thumbnails: bool) -> FileState {
    let Ok(bytes) = std::fs::read(path) else {
        return FileState::Missing;
    };
    match crate::dataset::decode(&bytes, path) {
        Ok(img) if (img.width(), img.height()) != listed => {
            FileState::WrongSize(img.width(), img.height())
        }
        Ok(img) => FileState::Ok(
            Sha256::digest(&bytes).into(),
            thumbnails.then(|| Thumb::new(&img)).flatten(),
        ),
        Err(_) => FileState::Corrupt,
    }
}

/// hash → every (split, file name) holding those bytes, in split/file order.
pub(super) fn hash_owners(data: &[SplitData]) -> HashMap<[u8; 32], Vec<(String, String)>> {
    let mut owners: HashMap<[u8; 32], Vec<(String, String)>> = HashMap::new();
    for d in data {
        for (img, st) in d.file.images.iter().zip(&d.states) {
            if let FileState::Ok(h, _) = st {
                owners
                    .entry(*h)
                    .or_default()
                    .push((d.name.clone(), img.file_name.clone()));
            }
        }
    }
    owners
}
