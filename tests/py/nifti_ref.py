"""NIfTI volumes written by nibabel (an independent implementation) from three grey slices, for
tests/data_nifti.rs and tests/data_nifti_split.rs, and the check of the mask volumes tumorseg writes
for them.

usage: nifti_ref.py make OUT_DIR IMAGE IMAGE IMAGE
       nifti_ref.py check MASK SOURCE PNG PNG PNG
       nifti_ref.py probability PROBABILITY MASK THRESHOLD
       nifti_ref.py regions NONE LARGEST HALF ONE PROBABILITY

make: each IMAGE in grey (Pillow's), resized to 96 x 80 (non-square, so that rows and columns cannot be
swapped unseen), its top-left pixel set to 0 and its bottom-right to 255 (so that a stretch from its
minimum to its maximum leaves it as it is), is written as OUT_DIR/png/slice_<k>.png, and the three
stacked as the axial slices, lowest first, of one volume, shown as viewers show axial slices
(anterior up, the patient's right on the left): in RAS voxel order data[i, j, k] = slice_k[79 - j, 95 - i],
voxels 0.5 (x) x 0.6 (y) x 3 mm (z). Written as:
- ras.nii.gz: float32, RAS, sform and qform, cal_min 0 / cal_max 255.
- lps.nii: reoriented to LPS (DICOM's order), int16 stored as twice the value with scl_slope 0.5,
  cal 0..255.
- pair.hdr with pair.img: lps.nii's volume as a big-endian NIfTI-1 pair (magic ni1, voxels in .img).
- ni2.nii.gz, ni2be.nii: lps.nii's volume as NIfTI-2 (540-byte header), little-endian gzipped and
  big-endian uncompressed.
- sag.nii.gz: reoriented to a sagittal storage (P, S, L), uint8, qform only (sform code 0), no cal
  range: each slice is read from its minimum to its maximum, which is the slice as it is.
- series.nii.gz: a 4-D uint8 file of two volumes, as the Medical Segmentation Decathlon stores its
  modalities: volume 0 the slices inverted (255 - v), volume 1 the slices. Read without a volume
  chosen, it must be refused with a reason. series2.nii.gz: the same as NIfTI-2.
- rgb.nii.gz: RGB voxels, which must be refused with a reason.
- labels.nii.gz: a label volume on ras.nii.gz's grid but stored in LPS order (uint8): on slice 0 label 1
  in rows 10-29, columns 20-49 and label 2 in rows 50-59, columns 60-69; slice 1 none; on slice 2 label 4
  in rows 5-14, columns 70-89 (rows and columns as the slice shows). labels_all_<k>.png holds each slice's
  nonzero labels and labels_4_<k>.png its label 4 (0/255).
- shifted.nii.gz: labels.nii.gz moved 3 mm to the right: not on the image's grid.

check: MASK must have SOURCE's (spatial) shape and affine, uint8 0/1 and label intent, and, turned to the
closest canonical orientation, slice k must equal PNG k (0/255) under the same mapping.

probability: PROBABILITY must be float32 on MASK's shape and affine, every value a multiple of 1/255 in
[0, 1], above THRESHOLD (by more than one step) where MASK is 1 and not above it (by more than one step)
where MASK is 0; prints each canonical axial slice's highest probability, lowest slice first.

regions: 3-D post-processing, from scipy's 26-connected labelling of mask volumes (read as axial
slices, lowest first, each in raster order, the order tumorseg meets voxels in): LARGEST must be the
largest region of NONE (the thresholded mask) and ONE the region of HALF (the mask at half the highest
probability) around the most probable voxel of PROBABILITY. Prints the number of NONE's regions, of
the slices with tumour in NONE and LARGEST, and of those in ONE.
"""

import os
import sys

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, ornt_transform
from PIL import Image
from scipy import ndimage

W, H = 96, 80
AFFINE = np.array([[0.5, 0, 0, -24.0], [0, 0.6, 0, -20.0], [0, 0, 3.0, 10.0], [0, 0, 0, 1]])


def to_ras(slices):
    return np.stack([s[::-1, ::-1].T for s in slices], axis=2)


def reoriented(img, codes):
    return img.as_reoriented(ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(codes)))


def make(out, images):
    os.makedirs(os.path.join(out, "png"), exist_ok=True)
    slices = []
    for k, path in enumerate(images):
        g = np.asarray(Image.open(path).convert("L").resize((W, H), Image.BILINEAR)).copy()
        g[0, 0], g[-1, -1] = 0, 255
        Image.fromarray(g).save(os.path.join(out, "png", f"slice_{k}.png"))
        slices.append(g)
    ras = nib.Nifti1Image(to_ras(slices).astype(np.float32), AFFINE)
    ras.header["cal_min"], ras.header["cal_max"] = 0, 255
    nib.save(ras, os.path.join(out, "ras.nii.gz"))

    lps = reoriented(ras, ("L", "P", "S"))
    values = np.asarray(lps.dataobj)
    lps = nib.Nifti1Image((2 * values).astype(np.int16), lps.affine)
    lps.header.set_slope_inter(0.5, 0)
    lps.header["cal_min"], lps.header["cal_max"] = 0, 255
    nib.save(lps, os.path.join(out, "lps.nii"))
    back = nib.load(os.path.join(out, "lps.nii"))
    assert back.dataobj.slope == 0.5, back.dataobj.slope
    assert np.array_equal(back.get_fdata(), values)
    # The same as a big-endian pair (pair.hdr + pair.img), as SPM-era pipelines wrote volumes.
    # nibabel writes its own byte order, so the header and the voxels are written here.
    pair = nib.Nifti1Pair((2 * values).astype(np.int16), lps.affine)
    pair.header.set_slope_inter(0.5, 0)
    pair.header["cal_min"], pair.header["cal_max"] = 0, 255
    with open(os.path.join(out, "pair.hdr"), "wb") as f:
        pair.header.as_byteswapped(">").write_to(f)
    with open(os.path.join(out, "pair.img"), "wb") as f:
        f.write((2 * values).astype(">i2").tobytes(order="F"))
    back = nib.load(os.path.join(out, "pair.hdr"))
    assert back.header.endianness == ">" and os.path.exists(os.path.join(out, "pair.img"))
    assert np.array_equal(back.get_fdata(), values)

    # The same as NIfTI-2 (540-byte header, 64-bit dims, doubles), as nibabel, FreeSurfer and the HCP
    # tools write it: gzipped, and big-endian (header and voxels written here, as for the pair).
    ni2 = nib.Nifti2Image((2 * values).astype(np.int16), lps.affine)
    ni2.header.set_slope_inter(0.5, 0)
    ni2.header["cal_min"], ni2.header["cal_max"] = 0, 255
    nib.save(ni2, os.path.join(out, "ni2.nii.gz"))
    big = ni2.header.as_byteswapped(">")
    big["vox_offset"] = 544
    with open(os.path.join(out, "ni2be.nii"), "wb") as f:
        big.write_to(f)
        f.seek(544)
        f.write((2 * values).astype(">i2").tobytes(order="F"))
    for name, order in [("ni2.nii.gz", "<"), ("ni2be.nii", ">")]:
        back = nib.load(os.path.join(out, name))
        assert isinstance(back, nib.Nifti2Image) and back.header.endianness == order, name
        assert np.array_equal(back.get_fdata(), values), name

    sag = reoriented(ras, ("P", "S", "L"))
    sag = nib.Nifti1Image(np.asarray(sag.dataobj).astype(np.uint8), None)
    sag.set_qform(reoriented(ras, ("P", "S", "L")).affine, code=1)
    sag.set_sform(None, code=0)
    nib.save(sag, os.path.join(out, "sag.nii.gz"))
    assert nib.aff2axcodes(nib.load(os.path.join(out, "sag.nii.gz")).affine) == ("P", "S", "L")

    series = np.stack([255 - to_ras(slices), to_ras(slices)], axis=3).astype(np.uint8)
    nib.save(nib.Nifti1Image(series, AFFINE), os.path.join(out, "series.nii.gz"))
    nib.save(nib.Nifti2Image(series, AFFINE), os.path.join(out, "series2.nii.gz"))
    rgb = np.zeros(series.shape[:3], dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, AFFINE), os.path.join(out, "rgb.nii.gz"))

    labels = [np.zeros((H, W), np.uint8) for _ in range(3)]
    labels[0][10:30, 20:50] = 1
    labels[0][50:60, 60:70] = 2
    labels[2][5:15, 70:90] = 4
    for k, lab in enumerate(labels):
        Image.fromarray(((lab > 0) * 255).astype(np.uint8)).save(os.path.join(out, f"labels_all_{k}.png"))
        Image.fromarray(((lab == 4) * 255).astype(np.uint8)).save(os.path.join(out, f"labels_4_{k}.png"))
    ras_labels = nib.Nifti1Image(to_ras(labels), AFFINE)
    lps_labels = reoriented(ras_labels, ("L", "P", "S"))
    nib.save(lps_labels, os.path.join(out, "labels.nii.gz"))
    moved = lps_labels.affine.copy()
    moved[0, 3] -= 3.0  # LPS storage, RAS world: x to the right is +x
    nib.save(nib.Nifti1Image(np.asarray(lps_labels.dataobj), moved), os.path.join(out, "shifted.nii.gz"))


def check(mask_path, source_path, pngs):
    mask, source = nib.load(mask_path), nib.load(source_path)
    assert mask.shape == source.shape[:3], (mask.shape, source.shape)
    assert np.allclose(mask.affine, source.affine), (mask.affine, source.affine)
    assert mask.get_data_dtype() == np.uint8, mask.get_data_dtype()
    assert mask.header.get_intent()[0] == "label", mask.header.get_intent()
    data = np.asarray(nib.as_closest_canonical(mask).dataobj)
    assert set(np.unique(data)) <= {0, 1}, np.unique(data)
    expected = to_ras([np.asarray(Image.open(p)) // 255 for p in pngs])
    assert data.shape == expected.shape, (data.shape, expected.shape)
    differ = int((data != expected).sum())
    assert differ == 0, f"{differ} voxels differ"
    print(int(data.sum()))


def probability(prob_path, mask_path, threshold):
    prob, mask = nib.load(prob_path), nib.load(mask_path)
    assert prob.get_data_dtype() == np.float32, prob.get_data_dtype()
    assert prob.shape == mask.shape and np.allclose(prob.affine, mask.affine)
    p = np.asarray(nib.as_closest_canonical(prob).dataobj, dtype=np.float64)
    m = np.asarray(nib.as_closest_canonical(mask).dataobj)
    assert p.min() >= 0 and p.max() <= 1, (p.min(), p.max())
    assert np.abs(p * 255 - np.round(p * 255)).max() < 1e-3, "not in 255ths"
    step = 1 / 255
    assert (p[m == 1] > threshold - step).all(), "a tumour voxel below the threshold"
    assert (p[m == 0] <= threshold + step).all(), "a background voxel above the threshold"
    assert 0 < m.sum() < m.size
    print(" ".join(str(round(p[:, :, k].max() * 255)) for k in range(p.shape[2])))


def slices_of(path):
    data = np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)
    return np.stack([data[:, :, k].T[::-1, ::-1] for k in range(data.shape[2])])


def tumour_slices(mask):
    return int(mask.any(axis=(1, 2)).sum())


def regions(none_path, largest_path, half_path, one_path, prob_path):
    every_way = np.ones((3, 3, 3))
    none = slices_of(none_path)
    labels, n = ndimage.label(none, every_way)
    sizes = np.bincount(labels.ravel())[1:]
    assert n > 0 and (sizes == sizes.max()).sum() == 1, f"no single largest region: {sizes}"
    largest = labels == 1 + int(sizes.argmax())
    differ = int((slices_of(largest_path) != largest).sum())
    assert differ == 0, f"largest: {differ} voxels differ"
    half, p = slices_of(half_path), slices_of(prob_path)
    labels, _ = ndimage.label(half, every_way)
    around_peak = set(labels[p == p.max()].tolist()) - {0}
    assert len(around_peak) == 1, f"the most probable voxels are in regions {around_peak}"
    one = labels == around_peak.pop()
    differ = int((slices_of(one_path) != one).sum())
    assert differ == 0, f"one: {differ} voxels differ"
    print(n, tumour_slices(none), tumour_slices(largest), tumour_slices(one))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "probability":
        probability(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif sys.argv[1] == "regions":
        regions(*sys.argv[2:7])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4:])
