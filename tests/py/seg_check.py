"""Check tumorseg's DICOM SEG output with highdicom and pydicom (independent readers), for
tests/data_dicom_seg.rs.

usage: seg_check.py PREDICT_OUT SOURCE_DIR
       seg_check.py sparse DIR EMPTY FULL THRESHOLD HIGHEST

PREDICT_OUT is `tumorseg predict --dicom-seg`'s output folder (masks/<stem>.png and seg/*.dcm) for
SOURCE_DIR's series_1.dcm, series_2.dcm and volume.dcm (tests/py/dicom_ref.py). With `sparse`, DIR
holds in/ (two slices of one series, EMPTY and FULL, stems) and predict's outputs at THRESHOLD, which
left EMPTY without tumour: sparse/ (--dicom-seg), dense/ (--dicom-seg-empty-frames) and fractional/
(--dicom-seg-type fractional); HIGHEST is FULL's highest probability. Every assertion that fails
ends the script with a message; on success it prints a JSON summary.
"""

import json
import math
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image


def mask(out: Path, stem: str) -> np.ndarray:
    return np.asarray(Image.open(out / "masks" / f"{stem}.png")) > 0


def check_common(seg: hd.seg.Segmentation, source: pydicom.Dataset) -> None:
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4", seg.SOPClassUID
    assert seg.Modality == "SEG"
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    for keyword in ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                    "FrameOfReferenceUID", "StudyDate", "AccessionNumber"]:
        assert seg[keyword].value == source[keyword].value, (keyword, seg[keyword].value, source[keyword].value)
    assert seg.SeriesInstanceUID != source.SeriesInstanceUID, "a SEG is a new series"
    assert seg.SeriesDescription == "Tumour (tumorseg)", seg.SeriesDescription
    assert seg.SOPInstanceUID != source.SOPInstanceUID
    description = seg.get_segment_description(1)
    assert description.segment_label == "Tumour", description.segment_label
    assert description.segmented_property_type.value == "108369006"
    assert seg.number_of_segments == 1
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(x) for x in measures.PixelSpacing] == [0.5, 0.8], measures.PixelSpacing
    assert float(measures.SliceThickness) == 4.0


def main() -> None:
    out, src = Path(sys.argv[1]), Path(sys.argv[2])
    series = [pydicom.dcmread(src / f"series_{k}.dcm") for k in (1, 2)]
    volume = pydicom.dcmread(src / "volume.dcm")
    written = sorted(p.name for p in (out / "seg").glob("*.dcm"))
    expected = sorted(f"{ds.SeriesInstanceUID}.dcm" for ds in (series[0], volume))
    assert written == expected, (written, expected)

    # The series' two slices in one SEG, each frame found through its source instance.
    path = out / "seg" / f"{series[0].SeriesInstanceUID}.dcm"
    seg = hd.seg.segread(path)
    check_common(seg, series[0])
    assert seg.NumberOfFrames == 2, seg.NumberOfFrames
    truths = [mask(out, f"series_{k}") for k in (1, 2)]
    for ds, truth in zip(series, truths):
        got = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[ds.SOPInstanceUID], segment_numbers=[1]
        )
        assert got.shape == (1, 90, 70, 1), got.shape
        assert np.array_equal(got[0, :, :, 0] > 0, truth), f"{ds.SOPInstanceUID}'s frame differs"
    # pydicom's own unpacking of the 1-bit pixel data (frames in stack order, series_2 lowest), and
    # each frame's plane position is its source's.
    frames = pydicom.dcmread(path).pixel_array
    assert np.array_equal(frames[0] > 0, truths[1]) and np.array_equal(frames[1] > 0, truths[0])
    positions = [[float(x) for x in g.PlanePositionSequence[0].ImagePositionPatient]
                 for g in seg.PerFrameFunctionalGroupsSequence]
    assert positions == [[-20.0, -30.0, 0.0], [-20.0, -30.0, 4.0]], positions

    # The volume's frames, found through (source instance, frame number).
    seg_volume = hd.seg.segread(out / "seg" / f"{volume.SeriesInstanceUID}.dcm")
    check_common(seg_volume, volume)
    got = seg_volume.get_pixels_by_source_frame(
        source_sop_instance_uid=volume.SOPInstanceUID, source_frame_numbers=[1, 2], segment_numbers=[1]
    )
    for k in (0, 1):
        assert np.array_equal(got[k, :, :, 0] > 0, mask(out, f"volume_f{k + 1}")), f"volume frame {k + 1}"

    # The test is only as good as its masks: some must hold both tumour and background.
    mixed = sum(bool(t.any() and not t.all()) for t in truths)
    assert mixed > 0, "every fixture mask is uniform: the pixel checks prove little"
    print(json.dumps({"segs": len(written), "mixed_masks": mixed,
                      "tumour_pixels": [int(t.sum()) for t in truths]}))


def one_seg(out: Path) -> Path:
    segs = list((out / "seg").glob("*.dcm"))
    assert len(segs) == 1, segs
    return segs[0]


def frame_sources(ds: pydicom.Dataset) -> list:
    return [g.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            for g in ds.PerFrameFunctionalGroupsSequence]


def sparse() -> None:
    d, empty, full = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    threshold, highest = np.float32(sys.argv[5]), np.float32(sys.argv[6])
    uid = {stem: pydicom.dcmread(d / "in" / f"{stem}.dcm").SOPInstanceUID for stem in (empty, full)}
    truth = mask(d / "sparse", full)
    assert truth.any() and not mask(d / "sparse", empty).any(), "the threshold left no slice empty"

    # Sparse: one frame, the full slice's; both slices referenced.
    seg = hd.seg.segread(one_seg(d / "sparse"))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    assert seg.NumberOfFrames == 1, seg.NumberOfFrames
    assert frame_sources(seg) == [uid[full]], frame_sources(seg)
    referenced = {i.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence
                  for i in s.ReferencedInstanceSequence}
    assert referenced == set(uid.values()), referenced
    got = seg.get_pixels_by_source_instance(source_sop_instance_uids=[uid[full]], segment_numbers=[1])
    assert np.array_equal(got[0, :, :, 0] > 0, truth), "the full slice's frame differs"

    # Dense: a frame for each slice, the empty one all zero.
    seg = hd.seg.segread(one_seg(d / "dense"))
    assert seg.NumberOfFrames == 2, seg.NumberOfFrames
    for stem in (empty, full):
        got = seg.get_pixels_by_source_instance(source_sop_instance_uids=[uid[stem]], segment_numbers=[1])
        assert np.array_equal(got[0, :, :, 0] > 0, mask(d / "dense", stem)), f"{stem}'s frame differs"

    # Fractional: probabilities, each on the threshold's side its mask pixel says, the highest where
    # predictions.csv has it; the empty slice still has a frame (its probabilities are not zero).
    path = one_seg(d / "fractional")
    seg = hd.seg.segread(path)
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL
    assert seg.SegmentationFractionalType == "PROBABILITY" and seg.MaximumFractionalValue == 255
    assert seg.SeriesDescription == "Tumour probability (tumorseg)", seg.SeriesDescription
    assert seg.NumberOfFrames == 2, seg.NumberOfFrames
    assert seg.BitsAllocated == 8
    frames = pydicom.dcmread(path).pixel_array
    cut = math.floor(float(threshold * np.float32(255)) + 0.5)
    for stem, frame in zip(frame_sources(seg), frames):
        stem = empty if stem == uid[empty] else full
        m = mask(d / "fractional", stem)
        assert (frame[m] >= cut).all() and (frame[~m] <= cut).all(), f"{stem}: values across the threshold"
        if stem == full:
            top = math.floor(float(highest * np.float32(255)) + 0.5)
            assert int(frame.max()) == top, (int(frame.max()), top)
    levels = len(np.unique(frames))
    assert levels > 2, f"only {levels} values: not probabilities"
    print(json.dumps({"checked": 3, "levels": levels, "cut": cut}))


if __name__ == "__main__":
    sparse() if sys.argv[1] == "sparse" else main()
