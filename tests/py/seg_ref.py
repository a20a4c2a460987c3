"""DICOM slices and a SEG drawn on them by highdicom (an independent writer), with the masks each
slice must get, for tests/data_dicom_seg.rs.

usage: seg_ref.py OUT_DIR SOURCE_IMAGE

Writes into OUT_DIR/in: s1.dcm … s5.dcm, five 90 × 70 slices of one MR series (4 mm apart), and
seg.dcm, a BINARY SEG made by highdicom on s1–s4 (not s5) with two segments:
- segment 1 "Tumour": a rectangle on s1, a disc and a separate square on s2 (one slice, two
  regions), nothing on s3 (highdicom leaves empty frames out);
- segment 2 "Oedema": a band around s1's rectangle, a blob on s3;
- nothing on s4: it has no frame at all, and only the SEG's list of referenced instances says that
  it was segmented.
and into OUT_DIR: all_<slice>.png (0/255, both segments) and one_<slice>.png (segment 1 only) for
s1–s4.
"""

import sys
from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image
from dicom_ref import AXIAL, scanner_slice
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

ROWS, COLUMNS = 90, 70


def slice_dataset(pixels: np.ndarray, series: str, k: int) -> Dataset:
    ds = scanner_slice(16 * pixels.astype(np.int32) + 15, series)
    ds.SeriesNumber, ds.InstanceNumber = 1, k
    ds.ImagePositionPatient = [-20.0, -30.0, 4.0 * k]
    ds.ImageOrientationPatient = AXIAL
    ds.PixelSpacing, ds.SliceThickness = [0.5, 0.8], 4.0
    return ds


def segments() -> np.ndarray:
    y, x = np.mgrid[:ROWS, :COLUMNS]
    seg = np.zeros((4, ROWS, COLUMNS, 2), dtype=bool)
    seg[0, 20:45, 10:35, 0] = True
    seg[0, 15:50, 5:40, 1] = True
    seg[0, 20:45, 10:35, 1] = False
    seg[1, :, :, 0] = (y - 40) ** 2 + (x - 30) ** 2 <= 12**2
    seg[1, 70:80, 55:65, 0] = True
    seg[2, :, :, 1] = (y - 60) ** 2 / 2 + (x - 20) ** 2 <= 9**2
    return seg


def main() -> None:
    out, source = Path(sys.argv[1]), Path(sys.argv[2])
    (out / "in").mkdir(parents=True, exist_ok=True)
    grey = np.asarray(Image.open(source).convert("L").resize((COLUMNS, ROWS), Image.BILINEAR))
    series = generate_uid()
    slices = []
    for k in range(1, 6):
        ds = slice_dataset(np.roll(grey, 7 * k, axis=1), series, k)
        ds.save_as(out / "in" / f"s{k}.dcm", enforce_file_format=True)
        slices.append(ds)
    mask = segments()
    algorithm = hd.AlgorithmIdentificationSequence(
        name="reference", version="1", family=codes.DCM.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=label,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for n, label in [(1, "Tumour"), (2, "Oedema")]
    ]
    seg = hd.seg.Segmentation(
        source_images=slices[:4],
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=100,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="highdicom",
        manufacturer_model_name="reference",
        software_versions="1",
        device_serial_number="1",
    )
    assert seg.NumberOfFrames == 4, "the empty frames (s3 segment 1, s4) are left out"
    seg.save_as(out / "in" / "seg.dcm")
    for k in range(4):
        both = mask[k].any(axis=-1)
        Image.fromarray(both.astype(np.uint8) * 255).save(out / f"all_s{k + 1}.png")
        Image.fromarray(mask[k, :, :, 0].astype(np.uint8) * 255).save(out / f"one_s{k + 1}.png")


if __name__ == "__main__":
    main()
