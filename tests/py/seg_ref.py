"""DICOM slices and a SEG drawn on them by highdicom (an independent writer), with the masks each
slice must get, for tests/data_dicom_seg_split.rs.

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

And OUT_DIR/cropped/seg.dcm, the same tumour (both segments as one) laid out as pydicom-seg's
MultiClassWriter writes a SEG with its defaults (in-plane cropping, empty slices skipped): every
frame cropped to the extent of the tumour on all slices and placed by its Plane Position (printed
with %e), frames on s1, s2 and s3, of which only s1's and s2's name their source image (s1's in a
Derivation Image Sequence, s2's in a Source Image Sequence straight in its group, as add_frame puts
it; the writer names none where it mapped no source), and one more frame at a position no input
slice has; the Referenced Series Sequence lists s1 and s2. OUT_DIR/cropped/t2_s3.dcm
is a slice of another series of the study (a T2 beside the T1, say) at s3's position, in the same
frame of reference: s3's frame must not land on it.

And, written by highdicom on s1–s4 with RLE compression: OUT_DIR/labelmap/seg.dcm, a LABELMAP SEG
(Label Map Segmentation Storage: one 8-bit frame per slice with tumour, each pixel its segment's
number) of the two segments, and OUT_DIR/fractional/seg.dcm, a FRACTIONAL one of them; and
OUT_DIR/labelmap_j2k/seg.dcm, the label map with its frames recompressed as JPEG 2000 lossless, and
OUT_DIR/labelmap_jls/seg.dcm, the label map written by highdicom as JPEG-LS lossless.
"""

import io
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image
from dicom_ref import AXIAL, scanner_slice
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sr.codedict import codes
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    SegmentationStorage,
    generate_uid,
)

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
    def segmentation(pixels: np.ndarray, kind: str, **options) -> hd.seg.Segmentation:
        return hd.seg.Segmentation(
            source_images=slices[:4],
            pixel_array=pixels,
            segmentation_type=kind,
            segment_descriptions=descriptions,
            series_instance_uid=generate_uid(),
            series_number=100,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer="highdicom",
            manufacturer_model_name="reference",
            software_versions="1",
            device_serial_number="1",
            **options,
        )

    seg = segmentation(mask, "BINARY")
    assert seg.NumberOfFrames == 4, "the empty frames (s3 segment 1, s4) are left out"
    seg.save_as(out / "in" / "seg.dcm")
    # The segments do not overlap, so one label per pixel holds both.
    labels = (mask[..., 0] * 1 + mask[..., 1] * 2).astype(np.uint8)
    for kind, pixels in [("LABELMAP", labels), ("FRACTIONAL", mask.astype(np.float32))]:
        seg = segmentation(pixels, kind, transfer_syntax_uid=RLELossless)
        (out / kind.lower()).mkdir(exist_ok=True)
        seg.save_as(out / kind.lower() / "seg.dcm")
    j2k_labelmap(out)
    # JPEG-LS, highdicom's own encoding through pydicom and pyjpegls, as archives compress SEGs too.
    seg = segmentation(labels, "LABELMAP", transfer_syntax_uid=JPEGLSLossless)
    (out / "labelmap_jls").mkdir(exist_ok=True)
    seg.save_as(out / "labelmap_jls" / "seg.dcm")
    for k in range(4):
        both = mask[k].any(axis=-1)
        Image.fromarray(both.astype(np.uint8) * 255).save(out / f"all_s{k + 1}.png")
        Image.fromarray(mask[k, :, :, 0].astype(np.uint8) * 255).save(out / f"one_s{k + 1}.png")
    cropped_seg(out, slices, mask.any(axis=-1))
    other = slice_dataset(grey, generate_uid(), 3)
    other.save_as(out / "cropped" / "t2_s3.dcm", enforce_file_format=True)


def j2k_labelmap(out: Path) -> None:
    """labelmap/seg.dcm again with its frames as JPEG 2000 lossless codestreams (Pillow's OpenJPEG
    encoder; highdicom would need pylibjpeg for it), as archives recompress SEGs."""
    seg = pydicom.dcmread(out / "labelmap" / "seg.dcm")
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    streams = []
    for frame in frames:
        stream = io.BytesIO()
        Image.fromarray(frame.astype(np.uint8)).save(stream, format="JPEG2000", irreversible=False, no_jp2=True)
        streams.append(stream.getvalue())
    seg.PixelData = encapsulate(streams)
    seg["PixelData"].VR = "OB"
    seg.file_meta.TransferSyntaxUID = JPEG2000Lossless
    (out / "labelmap_j2k").mkdir(exist_ok=True)
    seg.save_as(out / "labelmap_j2k" / "seg.dcm", enforce_file_format=True)


def item(**elements) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def cropped_seg(out: Path, slices: list, tumour: np.ndarray) -> None:
    ys, xs = np.nonzero(tumour.any(axis=0))
    r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    first = slices[0]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SegmentationStorage
    ds.SOPClassUID, ds.SOPInstanceUID = SegmentationStorage, generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "SEG", generate_uid(), 1
    for keyword in ["PatientID", "StudyInstanceUID", "FrameOfReferenceUID"]:
        setattr(ds, keyword, getattr(first, keyword))
    ds.SegmentationType, ds.SamplesPerPixel, ds.PhotometricInterpretation = "BINARY", 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.Rows, ds.Columns = int(r1 - r0), int(c1 - c0)
    ds.SegmentSequence = [item(SegmentNumber=1, SegmentLabel="Tumour", SegmentAlgorithmType="MANUAL")]
    ds.SharedFunctionalGroupsSequence = [item(
        PlaneOrientationSequence=[item(ImageOrientationPatient=AXIAL)],
        PixelMeasuresSequence=[item(PixelSpacing=[0.5, 0.8], SliceThickness=4.0)],
    )]
    groups, frames = [], []
    # s1, s2 and s3 (s4 is empty), and a frame 4 mm above s5, where no input slice lies.
    for k, z in [(0, 4.0), (1, 8.0), (2, 12.0), (1, 24.0)]:
        frames.append(tumour[k, r0:r1, c0:c1])
        origin = [-20.0 + 0.8 * c0, -30.0 + 0.5 * r0, z]
        group = item(
            FrameContentSequence=[item(DimensionIndexValues=[1, len(groups) + 1])],
            PlanePositionSequence=[item(ImagePositionPatient=[f"{x:e}" for x in origin])],
            SegmentIdentificationSequence=[item(ReferencedSegmentNumber=1)],
        )
        source = item(ReferencedSOPClassUID=slices[k].SOPClassUID,
                      ReferencedSOPInstanceUID=slices[k].SOPInstanceUID)
        if k == 0:
            group.DerivationImageSequence = [item(SourceImageSequence=[source])]
        elif k == 1 and z < 20:
            # pydicom-seg's SegmentationDataset.add_frame puts it straight in the frame's group.
            group.SourceImageSequence = [source]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    ds.NumberOfFrames = len(frames)
    ds.ReferencedSeriesSequence = [item(
        SeriesInstanceUID=first.SeriesInstanceUID,
        ReferencedInstanceSequence=[item(ReferencedSOPClassUID=s.SOPClassUID,
                                         ReferencedSOPInstanceUID=s.SOPInstanceUID) for s in slices[:2]],
    )]
    ds.PixelData = np.packbits(np.stack(frames).ravel(), bitorder="little").tobytes()
    (out / "cropped").mkdir(exist_ok=True)
    ds.save_as(out / "cropped" / "seg.dcm", enforce_file_format=True)
    assert (ds.Rows, ds.Columns) != (ROWS, COLUMNS), "the crop must be smaller than the slices"


if __name__ == "__main__":
    main()
