"""DICOM slices written by pydicom (an independent implementation) and the 8-bit grey each must read
as, for tests/data_dicom.rs.

usage: dicom_ref.py OUT_DIR SOURCE_IMAGE

From SOURCE_IMAGE's grey values v (0..255, resized to 96x96) it writes into OUT_DIR:
- plain.dcm: 16-bit unsigned, 12 bits stored (16·v + 15, up to 4095), MONOCHROME2, explicit VR little endian,
  pixel spacing 0.5 × 0.8 mm, no window: read min-to-max, it is v exactly; plain.png holds v.
- windowed.dcm: RLE Lossless, signed 16-bit (8·v − 500) with rescale slope 2 and intercept −1024, window
  centre 0 and width 2000, which clips both ends, pixel spacing 0.9 × 0.9 mm; windowed.png holds the standard's linear window
  function (PS3.3 C.11.2.1.2.1) applied here with numpy.
- signed.dcm: windowed.dcm's values in 12 signed bits, uncompressed, without a window: linear in v, so read
  min-to-max it is v exactly (plain.png), whatever their sign.
- inverted.dcm: as plain.dcm but MONOCHROME1 (high values dark): inverted.png holds 255 − v.
- implicit.dcm: as plain.dcm in implicit VR little endian (the default transfer syntax, common in older
  files).
- jpeg.dcm: 8-bit, JPEG baseline encapsulated (Pillow's encoder, quality 90); jpeg.png holds Pillow's
  decoding of the same stream (another JPEG decoder: allow a level or two of IDCT rounding).
- multi.dcm: two frames, plain.dcm's pixels and their inversion: each reads as plain.png and
  inverted.png.
- j2k.dcm: plain.dcm's values as JPEG 2000 lossless (Pillow's OpenJPEG encoder, a raw codestream): it reads
  as plain.png exactly.
- htj2k.dcm: plain.dcm's values as High-Throughput JPEG 2000 lossless (OpenJPH's encoder, through
  imagecodecs), as cloud archives serve slices: it reads as plain.png exactly.
- jls.dcm: plain.dcm's values as JPEG-LS lossless (pydicom's encoder, CharLS through pyjpegls), as PACS
  archives often store slices: it reads as plain.png exactly.
- jls_signed.dcm: windowed.dcm (signed, rescaled, windowed) as JPEG-LS lossless: reads as windowed.png.
- jls_near.dcm: plain.dcm's values as JPEG-LS near-lossless (each within 24, a level or so of v, of the original);
  jls_near_decoded.dcm holds pydicom's decoding of it, uncompressed, to read the same.
- jls_multi.dcm: multi.dcm's two frames, each its own JPEG-LS lossless fragment.
- jls_bad.dcm: labelled JPEG-LS with a codestream that is not one: refused with the file's name.
- h264.dcm: labelled H.264 video, a compression tumorseg has no decoder for: refused with its transfer syntax.
- enhanced.dcm: Enhanced MR, the same two frames with no top-level window or spacing; its functional
  groups give the pixel spacing (shared: 0.7 × 0.7 mm) and one window per frame (per-frame, both
  clipping); enhanced_1.png and enhanced_2.png hold the linear window function applied here;
  enhanced_fixed.png holds the first frame through the second frame's window (centre 1000, width 1500),
  as a fixed window given on the command line must read it.
- series_1.dcm, series_2.dcm: two 90 × 70 slices of one MR series, as a scanner writes them: study,
  series and frame of reference UIDs, a Latin-1 patient name, axial orientation, positions 4 mm apart
  (series_2 the lower, so stack order is not file order), spacing 0.5 × 0.8 mm, thickness 4 mm. A
  90 × 70 frame is 6300 bits, so in a binary SEG the second frame begins mid-byte.
- series_1_echo2.dcm: series_1.dcm again as the series' second echo: another instance at the same
  position.
- report.dcm: a Basic Text SR, as DICOM folders hold beside the images: no pixels at all.
- volume.dcm: Enhanced MR of the same study in its own series, the two frames at per-frame positions
  in the functional groups, orientation and spacing shared.
"""

import io
import sys
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    MPEG4HP41,
    RLELossless,
    generate_uid,
)

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
STUDY, FRAME_OF_REFERENCE = generate_uid(), generate_uid()
AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def slice_dataset(pixels: np.ndarray, signed: bool, bits_stored: int) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MR_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientID = "TUMORSEG-TEST"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.astype("<i2" if signed else "<u2").tobytes()
    return ds


def scanner_slice(pixels: np.ndarray, series: str, sop_class: str = MR_STORAGE) -> Dataset:
    ds = slice_dataset(pixels, signed=False, bits_stored=12)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Anna"
    ds.PatientBirthDate, ds.PatientSex = "19700101", "F"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20260101", "120000", "A1"
    ds.StudyID, ds.ReferringPhysicianName = "1", ""
    return ds


def linear_window(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    c, w = centre - 0.5, width - 1.0
    y = ((x - c) / w + 0.5) * 255.0
    y = np.where(x <= c - w / 2, 0.0, np.where(x > c + w / 2, 255.0, y))
    return np.round(y).astype(np.uint8)


def main() -> None:
    out, source = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    v = np.asarray(Image.open(source).convert("L").resize((96, 96), Image.BILINEAR)).astype(np.int32)
    assert v.min() < v.max()
    # Stretch v itself to 0..255 so that "minimum to maximum" has a unique 8-bit answer.
    v = np.round((v - v.min()) * 255.0 / (v.max() - v.min())).astype(np.int32)

    plain = slice_dataset(16 * v + 15, signed=False, bits_stored=12)
    plain.PixelSpacing = [0.5, 0.8]
    plain.save_as(out / "plain.dcm", enforce_file_format=True)
    Image.fromarray(v.astype(np.uint8)).save(out / "plain.png")

    stored = 8 * v - 500
    windowed = slice_dataset(stored, signed=True, bits_stored=16)
    windowed.RescaleSlope, windowed.RescaleIntercept = 2, -1024
    windowed.WindowCenter, windowed.WindowWidth = 0, 2000
    windowed.PixelSpacing = [0.9, 0.9]
    windowed.compress(RLELossless, stored.astype(np.int16))
    windowed.save_as(out / "windowed.dcm", enforce_file_format=True)
    back = pydicom.dcmread(out / "windowed.dcm")
    assert back.file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(back.pixel_array, stored), "pydicom's RLE round trip"
    Image.fromarray(linear_window(2.0 * stored - 1024.0, 0.0, 2000.0)).save(out / "windowed.png")
    signed = slice_dataset(stored, signed=True, bits_stored=12)
    signed.RescaleSlope, signed.RescaleIntercept = 2, -1024
    assert stored.min() < 0
    signed.save_as(out / "signed.dcm", enforce_file_format=True)

    inverted = slice_dataset(16 * v + 15, signed=False, bits_stored=12)
    inverted.PhotometricInterpretation = "MONOCHROME1"
    inverted.save_as(out / "inverted.dcm", enforce_file_format=True)
    Image.fromarray((255 - v).astype(np.uint8)).save(out / "inverted.png")

    implicit = slice_dataset(16 * v + 15, signed=False, bits_stored=12)
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    implicit.save_as(out / "implicit.dcm", enforce_file_format=True)
    assert pydicom.dcmread(out / "implicit.dcm").file_meta.TransferSyntaxUID.is_implicit_VR

    stream = io.BytesIO()
    Image.fromarray(v.astype(np.uint8)).save(stream, format="JPEG", quality=90)
    jpeg = slice_dataset(v, signed=False, bits_stored=8)
    jpeg.BitsAllocated = 8
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    jpeg.PixelData = encapsulate([stream.getvalue()])
    jpeg["PixelData"].VR = "OB"
    jpeg.save_as(out / "jpeg.dcm", enforce_file_format=True)
    stream.seek(0)
    Image.open(stream).convert("L").save(out / "jpeg.png")

    frames = np.stack([16 * v + 15, 16 * (255 - v) + 15])
    multi = slice_dataset(frames, signed=False, bits_stored=12)
    multi.NumberOfFrames = 2
    multi.save_as(out / "multi.dcm", enforce_file_format=True)

    # JPEG 2000 lossless, as PACS archives often store slices: plain.dcm's values as a raw codestream
    # (Pillow's OpenJPEG encoder), so that it reads as plain.png.
    stream = io.BytesIO()
    Image.fromarray((16 * v + 15).astype(np.uint16)).save(
        stream, format="JPEG2000", irreversible=False, no_jp2=True
    )
    j2k = slice_dataset(16 * v + 15, signed=False, bits_stored=12)
    j2k.file_meta.TransferSyntaxUID = JPEG2000Lossless
    j2k.PixelData = encapsulate([stream.getvalue()])
    j2k["PixelData"].VR = "OB"
    j2k.save_as(out / "j2k.dcm", enforce_file_format=True)
    stream.seek(0)
    assert np.array_equal(np.asarray(Image.open(stream)), 16 * v + 15), "Pillow's J2K round trip"

    htj2k = slice_dataset(16 * v + 15, signed=False, bits_stored=12)
    htj2k.file_meta.TransferSyntaxUID = HTJ2KLossless
    stream = imagecodecs.htj2k_encode((16 * v + 15).astype(np.uint16))
    assert np.array_equal(imagecodecs.htj2k_decode(stream), 16 * v + 15), "OpenJPH's round trip"
    htj2k.PixelData = encapsulate([stream])
    htj2k["PixelData"].VR = "OB"
    htj2k.save_as(out / "htj2k.dcm", enforce_file_format=True)

    write_jpeg_ls(out, v, stored, frames)

    enhanced = slice_dataset(frames, signed=False, bits_stored=12)
    enhanced.SOPClassUID = ENHANCED_MR_STORAGE
    enhanced.file_meta.MediaStorageSOPClassUID = ENHANCED_MR_STORAGE
    enhanced.NumberOfFrames = 2
    measures = Dataset()
    measures.PixelSpacing = [0.7, 0.7]
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    enhanced.SharedFunctionalGroupsSequence = [shared]
    windows = [(2063.0, 2048.0), (1000.0, 1500.0)]
    per_frame = []
    for centre, width in windows:
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = centre, width
        group = Dataset()
        group.FrameVOILUTSequence = [voi]
        per_frame.append(group)
    enhanced.PerFrameFunctionalGroupsSequence = per_frame
    enhanced.save_as(out / "enhanced.dcm", enforce_file_format=True)
    for k, ((centre, width), frame) in enumerate(zip(windows, frames), start=1):
        Image.fromarray(linear_window(frame.astype(np.float64), centre, width)).save(
            out / f"enhanced_{k}.png"
        )
    Image.fromarray(linear_window(frames[0].astype(np.float64), *windows[1])).save(
        out / "enhanced_fixed.png"
    )

    write_series(out, source)


def write_jpeg_ls(out: Path, v: np.ndarray, stored: np.ndarray, frames: np.ndarray) -> None:
    """JPEG-LS, as dcm4chee and other PACS archives compress by default, encoded by pydicom."""
    plain = (16 * v + 15).astype(np.uint16)
    jls = slice_dataset(plain, signed=False, bits_stored=12)
    jls.compress(JPEGLSLossless, plain)
    jls.save_as(out / "jls.dcm", enforce_file_format=True)
    assert np.array_equal(pydicom.dcmread(out / "jls.dcm").pixel_array, plain), "JPEG-LS round trip"

    signed = slice_dataset(stored, signed=True, bits_stored=16)
    signed.RescaleSlope, signed.RescaleIntercept = 2, -1024
    signed.WindowCenter, signed.WindowWidth = 0, 2000
    signed.compress(JPEGLSLossless, stored.astype(np.int16))
    signed.save_as(out / "jls_signed.dcm", enforce_file_format=True)
    back = pydicom.dcmread(out / "jls_signed.dcm")
    assert np.array_equal(back.pixel_array, stored), "signed JPEG-LS round trip"

    near = slice_dataset(plain, signed=False, bits_stored=12)
    near.compress(JPEGLSNearLossless, plain, jls_error=24)
    near.save_as(out / "jls_near.dcm", enforce_file_format=True)
    decoded = pydicom.dcmread(out / "jls_near.dcm").pixel_array.astype(np.int32)
    assert 0 < np.abs(decoded - plain).max() <= 24, "near-lossless within its error, and lossy"
    slice_dataset(decoded, signed=False, bits_stored=12).save_as(
        out / "jls_near_decoded.dcm", enforce_file_format=True
    )

    multi = slice_dataset(frames, signed=False, bits_stored=12)
    multi.NumberOfFrames = 2
    multi.compress(JPEGLSLossless, frames.astype(np.uint16))
    multi.save_as(out / "jls_multi.dcm", enforce_file_format=True)
    assert np.array_equal(pydicom.dcmread(out / "jls_multi.dcm").pixel_array, frames)

    for name, syntax, stream in [
        ("jls_bad", JPEGLSLossless, b"\xff\xd8\xff\xf7" + bytes(60)),
        # H.264 video, as ultrasound clips are stored: no decoder for it here.
        ("h264", MPEG4HP41, bytes(64)),
    ]:
        labelled = slice_dataset(v[:8, :8], signed=False, bits_stored=12)
        labelled.file_meta.TransferSyntaxUID = syntax
        labelled.PixelData = encapsulate([stream])
        labelled["PixelData"].VR = "OB"
        labelled.save_as(out / f"{name}.dcm", enforce_file_format=True)


def write_series(out: Path, source: Path) -> None:
    grey = Image.open(source).convert("L")
    pair = [np.asarray(grey.resize((70, 90), Image.BILINEAR)), np.asarray(grey.rotate(90).resize((70, 90)))]
    series = generate_uid()
    for k, (z, pixels) in enumerate(zip([4.0, 0.0], pair), start=1):
        ds = scanner_slice(16 * pixels.astype(np.int32) + 15, series)
        ds.InstanceNumber = k
        ds.ImagePositionPatient = [-20.0, -30.0, z]
        ds.ImageOrientationPatient = AXIAL
        ds.PixelSpacing, ds.SliceThickness = [0.5, 0.8], 4.0
        ds.save_as(out / f"series_{k}.dcm", enforce_file_format=True)
        if k == 1:
            # The same position again in the same series: a second echo (or b-value).
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.EchoNumbers, ds.InstanceNumber = 2, 3
            ds.save_as(out / "series_1_echo2.dcm", enforce_file_format=True)

    volume = scanner_slice(16 * np.stack(pair).astype(np.int32) + 15, generate_uid(), ENHANCED_MR_STORAGE)
    volume.NumberOfFrames = 2
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = AXIAL
    measures.PixelSpacing, measures.SliceThickness = [0.5, 0.8], 4.0
    shared = Dataset()
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = [orientation], [measures]
    volume.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for z in [0.0, 4.0]:
        position, group = Dataset(), Dataset()
        position.ImagePositionPatient = [-20.0, -30.0, z]
        group.PlanePositionSequence = [position]
        per_frame.append(group)
    volume.PerFrameFunctionalGroupsSequence = per_frame
    volume.save_as(out / "volume.dcm", enforce_file_format=True)

    report = Dataset()
    report.file_meta = FileMetaDataset()
    report.file_meta.MediaStorageSOPClassUID = report.SOPClassUID = BASIC_TEXT_SR
    report.file_meta.MediaStorageSOPInstanceUID = report.SOPInstanceUID = generate_uid()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    report.Modality, report.StudyInstanceUID, report.SeriesInstanceUID = "SR", STUDY, generate_uid()
    report.ValueType, report.ContinuityOfContent = "CONTAINER", "SEPARATE"
    report.save_as(out / "report.dcm", enforce_file_format=True)


if __name__ == "__main__":
    main()
