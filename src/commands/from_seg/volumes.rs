//! The volumes `from-seg`'s slices belong to, so that `evaluate` decides and measures each volume's
//! slices together as `predict` does (`dicom::seg::stack`: one acquisition of one stack, numbered
//! along the slice normal, a missing slice a gap), whether they are a series of single-frame files
//! or the frames of a multi-frame file. Single-frame files keep their names, so the split's `volume`
//! and `slice_number` fields say it.
use super::slices::Slice;
use crate::dicom::seg::{self, Source};
use std::collections::HashSet;

/// A slice placed in its series.
struct Slot<'a> {
    source: &'a Source,
    frame: usize,
    slice: usize,
}

impl<'a> seg::Placed<'a> for Slot<'a> {
    fn source(&self) -> &'a Source {
        self.source
    }

    fn frame(&self) -> usize {
        self.frame
    }
}

/// Each slice's volume and slice number; `source_of` is each slice's file's source, in `sources`
/// (None for a file without the UIDs, orientation or position that place it). A volume whose slices
/// all come from one file is named after the file, one of several files after their folder, each
/// name made unique with `_2`, `_3`… The frames of a multi-frame file that cannot be placed are
/// numbered by frame, as their names say; other slices that cannot be placed are in no volume.
pub fn assign(slices: &mut [Slice], sources: &[Source], source_of: &[Option<usize>]) {
    let frame = |s: &Slice| s.frame.map_or(0, |(k, _)| k as usize);
    let slots: Vec<Slot> = source_of
        .iter()
        .enumerate()
        .filter_map(|(slice, source)| {
            Some(Slot {
                source: &sources[(*source)?],
                frame: frame(&slices[slice]),
                slice,
            })
        })
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    // A stack whose geometry cannot be read stays unplaced.
    for volume in seg::stack::volumes(slots).into_iter().flatten() {
        let first = &slices[volume[0].1.slice];
        let base = match volume
            .iter()
            .all(|(_, s)| slices[s.slice].path == first.path)
        {
            true => crate::dicom::frame_stem(&first.path, None),
            false => folder_of(first),
        };
        let name = unique(base, &mut taken);
        for (number, slot) in volume {
            slices[slot.slice].volume = Some((name.clone(), number));
        }
    }
    let mut by_frame: Vec<(std::path::PathBuf, String)> = Vec::new();
    for s in slices.iter_mut().filter(|s| s.volume.is_none()) {
        let Some((k, _)) = s.frame else { continue };
        let name = match by_frame.iter().find(|(path, _)| *path == s.path) {
            Some((_, name)) => name.clone(),
            None => {
                let name = unique(crate::dicom::frame_stem(&s.path, None), &mut taken);
                by_frame.push((s.path.clone(), name.clone()));
                name
            }
        };
        s.volume = Some((name, k + 1));
    }
}

/// The name of the folder a slice's file is in; `series` for a file named without one.
fn folder_of(s: &Slice) -> String {
    s.path.parent().and_then(|p| p.file_name()).map_or_else(
        || "series".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `base`, or `base_2`, `base_3`… when it is taken; the name returned is taken.
fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let name = match taken.contains(&base) {
        false => base,
        true => (2..)
            .map(|k| format!("{base}_{k}"))
            .find(|n| !taken.contains(n))
            .expect("some suffix is free"),
    };
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(path: &str, frame: Option<(u32, u32)>) -> Slice {
        Slice {
            path: path.into(),
            frame,
            name: String::new(),
            uid: String::new(),
            series: None,
            width: 3,
            height: 2,
            frame_of_reference: None,
            plane: None,
            volume: None,
        }
    }

    #[test]
    fn slices_are_numbered_along_the_normal_as_predict_stacks_them() {
        // A multi-frame file whose frames are not in stack order; a series of four files 4 mm
        // apart with the one at 12 mm missing, in shuffled file order; a file that cannot be
        // placed; a multi-frame file that cannot be placed.
        let sources = [
            Source::axial("2.25.1", "2.25.10", &[8.0, 0.0, 4.0]),
            Source::axial("2.25.2", "2.25.20", &[16.0]),
            Source::axial("2.25.3", "2.25.20", &[0.0]),
            Source::axial("2.25.4", "2.25.20", &[8.0]),
            Source::axial("2.25.5", "2.25.20", &[4.0]),
        ];
        let mut slices: Vec<Slice> = (0..3)
            .map(|k| slice("in/mf.dcm", Some((k, 3))))
            .chain(["d", "a", "c", "b", "plain"].map(|f| slice(&format!("in/{f}.dcm"), None)))
            .chain((0..2).map(|k| slice("in/in.dcm", Some((k, 2)))))
            .collect();
        let source_of = [0, 0, 0, 1, 2, 3, 4].map(Some).into_iter().chain([None; 3]);
        assign(&mut slices, &sources, &source_of.collect::<Vec<_>>());
        let got: Vec<Option<(&str, u32)>> = slices
            .iter()
            .map(|s| s.volume.as_ref().map(|(v, n)| (v.as_str(), *n)))
            .collect();
        assert_eq!(
            got,
            [
                Some(("mf", 3)),
                Some(("mf", 1)),
                Some(("mf", 2)),
                Some(("in", 5)),
                Some(("in", 1)),
                Some(("in", 3)),
                Some(("in", 2)),
                None,
                // By frame number, as its names say, under a name of its own.
                Some(("in_2", 1)),
                Some(("in_2", 2)),
            ]
        );
    }

    #[test]
    fn a_volume_name_taken_gets_the_next_free_suffix() {
        // A multi-frame `volume.dcm` beside a series in a folder `volume/`, which holds two
        // acquisitions.
        let mut taken = HashSet::from(["volume".to_string()]);
        assert_eq!(unique("volume".into(), &mut taken), "volume_2");
        assert_eq!(unique("volume".into(), &mut taken), "volume_3");
        assert_eq!(unique("in".into(), &mut taken), "in");
        assert_eq!(taken.len(), 4);
    }
}
