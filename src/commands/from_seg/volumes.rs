//! The volumes `from-seg`'s slices belong to, so that `evaluate` decides and measures each volume's
//! slices together: a multi-frame file's frames by frame number (their names say it), and a series
//! of single-frame files as `predict` stacks it (`dicom::seg::stack`: one acquisition of one stack,
//! numbered along the slice normal, a missing slice a gap). Single-frame files keep their names, so
//! the split's `volume` and `slice_number` fields say it.
use super::slices::Slice;
use crate::dicom::seg::{self, Source};
use std::collections::HashSet;

/// A single-frame slice placed in its series.
struct Slot<'a> {
    source: &'a Source,
    slice: usize,
}

impl<'a> seg::Placed<'a> for Slot<'a> {
    fn source(&self) -> &'a Source {
        self.source
    }

    fn frame(&self) -> usize {
        0
    }
}

/// Each slice's volume and slice number, where it can be placed in one; `sources` are the slices'
/// sources, for single-frame files (None for a frame of a multi-frame file, or a file without the UIDs,
/// orientation or position that place it). A volume of several slices is named after their folder,
/// a lone slice after its file, each name made unique with `_2`, `_3`…
pub fn assign(slices: &mut [Slice], sources: &[Option<Source>]) {
    let mut taken: HashSet<String> = HashSet::new();
    for s in slices.iter_mut() {
        if let Some((k, _)) = s.frame {
            let stem = crate::dicom::frame_stem(&s.path, None);
            taken.insert(stem.clone());
            s.volume = Some((stem, k + 1));
        }
    }
    let slots: Vec<Slot> = sources
        .iter()
        .enumerate()
        .filter_map(|(slice, source)| {
            Some(Slot {
                source: source.as_ref()?,
                slice,
            })
        })
        .collect();
    // A stack whose geometry cannot be read stays unplaced.
    for volume in seg::stack::volumes(slots).into_iter().flatten() {
        let first = &slices[volume[0].1.slice];
        let base = match volume.len() {
            1 => crate::dicom::frame_stem(&first.path, None),
            _ => folder_of(first),
        };
        let name = unique(base, &mut taken);
        for (number, slot) in volume {
            slices[slot.slice].volume = Some((name.clone(), number));
        }
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
