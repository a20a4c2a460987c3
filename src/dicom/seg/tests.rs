//! The SEG writer's packing and geometry, and which frames it writes.
use super::*;
use image::GrayImage;

#[test]
fn bits_are_packed_lowest_first_without_padding_between_frames() {
    let bits = pack([true, false, false, true, false, false, false, false, true].into_iter());
    assert_eq!(bits.bytes, vec![0b0000_1001, 0b0000_0001]);
    // Two 3×3 frames: the second begins at bit 9, mid-byte.
    let a = Bits::from_mask(&GrayImage::from_raw(3, 3, vec![255, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap());
    let b = Bits::from_mask(&GrayImage::from_raw(3, 3, vec![0, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap());
    let both = pack(a.iter().chain(b.iter()));
    assert_eq!(both.len, 18);
    assert_eq!(both.bytes, vec![0b0000_0001, 0b0000_0101, 0b0000_0000]);
}

/// Slice `k` of a 3×2 axial series, at height `z`.
fn slice(k: usize, z: f64) -> Source {
    Source::axial(&format!("2.25.{k}"), "2.25.101", &[z])
}

/// Write `pixels` (one per slice, slice k at height 2 − k) as one SEG and read it back: the frames
/// written, and each frame's source instance in the file's order.
fn round_trip(pixels: &[Pixels], keep_empty: bool) -> Result<(usize, Vec<String>, Vec<String>)> {
    let sources: Vec<Source> = (0..pixels.len())
        .map(|k| slice(k, 2.0 - k as f64))
        .collect();
    let frames = frames(&sources, pixels.iter());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("seg.dcm");
    let written = write(&path, frames, keep_empty)?;
    let seg = read::read(&path)?;
    let order = seg.frames.iter().filter_map(|f| f.source.clone()).collect();
    Ok((written, order, seg.referenced))
}

/// Each source's only frame, with its pixels.
fn frames<'a>(sources: &'a [Source], pixels: impl Iterator<Item = &'a Pixels>) -> Vec<Frame<'a>> {
    sources
        .iter()
        .zip(pixels)
        .map(|(source, pixels)| Frame {
            source,
            frame: 0,
            pixels,
        })
        .collect()
}

fn binary(mask: [u8; 6]) -> Pixels {
    Pixels::Binary(Bits::from_mask(
        &GrayImage::from_raw(3, 2, mask.to_vec()).unwrap(),
    ))
}

#[test]
fn empty_frames_are_left_out_but_referenced_and_frames_follow_the_stack() {
    let uid = |k: usize| format!("2.25.{k}");
    let empty = binary([0; 6]);
    let pixels = [empty.clone(), binary([0, 1, 0, 0, 0, 0]), empty.clone()];
    let (written, order, referenced) = round_trip(&pixels, false).unwrap();
    assert_eq!((written, order), (1, vec![uid(1)]));
    assert_eq!(referenced, vec![uid(0), uid(1), uid(2)]);
    // Kept: every slice, lowest first (slice 2 lies lowest).
    let (written, order, _) = round_trip(&pixels, true).unwrap();
    assert_eq!((written, order), (3, vec![uid(2), uid(1), uid(0)]));
    // A SEG needs a frame: when every slice is empty, all are written.
    let (written, _, _) = round_trip(&[empty.clone(), empty.clone()], false).unwrap();
    assert_eq!(written, 2);
    // A fractional frame is empty only where every probability rounds to 0.
    let faint = Pixels::fractional(&[0.0, 0.0, 0.001, 0.0, 0.0, 0.0]);
    let clear = Pixels::fractional(&[0.0, 0.0, 0.003, 0.0, 0.0, 0.0]);
    let (written, order, _) = round_trip(&[faint, clear], false).unwrap();
    assert_eq!((written, order), (1, vec![uid(1)]));
    let e = round_trip(&[empty, Pixels::fractional(&[0.5; 6])], false).unwrap_err();
    assert!(e.to_string().contains("binary and fractional"), "{e}");
}

#[test]
fn probabilities_are_stored_as_255ths() {
    assert_eq!(
        Pixels::fractional(&[0.0, 0.001, 0.002, 0.5, 0.999, 1.0, -0.1, 1.5]),
        Pixels::Fractional(vec![0, 0, 1, 128, 255, 255, 0, 255])
    );
}

/// The sources' SOP Instance UIDs as [`split_repeats`] groups their frames.
fn split_uids(sources: &[Source]) -> Vec<Vec<String>> {
    let pixels = binary([0, 1, 0, 0, 0, 0]);
    let groups = split_repeats(frames(sources, std::iter::repeat(&pixels))).unwrap();
    groups
        .iter()
        .map(|g| g.iter().map(|f| f.source.sop_instance.clone()).collect())
        .collect()
}

#[test]
fn a_series_that_repeats_its_positions_is_split_into_one_group_per_repetition() {
    // Two b-values of a diffusion series, slices at heights 2, 1, 2, 1 in input order.
    let sources: Vec<Source> = [2.0, 1.0, 2.0, 1.0]
        .iter()
        .enumerate()
        .map(|(k, &z)| slice(k, z))
        .collect();
    let uids = split_uids(&sources);
    assert_eq!(uids, [["2.25.0", "2.25.1"], ["2.25.2", "2.25.3"]]);
    // A plain series stays whole.
    assert_eq!(split_uids(&sources[..2]).len(), 1);
}

#[test]
fn repetitions_are_told_apart_by_b_value_and_echo_whatever_the_file_order() {
    // b = 1000 at height 2, b = 0 at heights 2 and 1, b = 1000 at 1, then b = 0 echo 2 at 2.
    let keyed = [
        (2.0, 1000.0, 1.0),
        (2.0, 0.0, 1.0),
        (1.0, 0.0, 1.0),
        (1.0, 1000.0, 1.0),
        (2.0, 0.0, 2.0),
    ];
    let sources: Vec<Source> = keyed
        .iter()
        .enumerate()
        .map(|(k, &(z, b, echo))| Source {
            repetitions: vec![[vec![echo], vec![b], Vec::new(), Vec::new()]],
            ..slice(k, z)
        })
        .collect();
    let uids = split_uids(&sources);
    // Echo 1 (b 0, then b 1000), then echo 2; in input order within each.
    assert_eq!(
        uids,
        [
            &["2.25.1", "2.25.2"][..],
            &["2.25.0", "2.25.3"],
            &["2.25.4"]
        ]
    );
}
