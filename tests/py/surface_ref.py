"""MONAI's boundary distances (an independent implementation) for
tests/eval_pred_masks_surface.rs.

usage: surface_ref.py PRED_DIR TRUTH_DIR [ROW_MM COLUMN_MM]
       surface_ref.py volume PRED_DIR TRUTH_DIR SLICE_MM ROW_MM COLUMN_MM STEM|- ...

For every <stem>.png in TRUTH_DIR (nonzero = tumour) and its namesake in PRED_DIR, prints
"<stem> <hd95> <assd>" with MONAI's compute_hausdorff_distance(percentile=95) and
compute_average_surface_distance(symmetric=True), in pixels, or in mm with the pixel spacing given
(MONAI's `spacing`), or "<stem> nan nan" when either mask is
empty.

volume: the <stem>.png masks of both folders stacked as the slices of one volume, lowest first, "-"
standing for an empty slice; prints "<hd95> <assd>" of the volumes in 3-D (MONAI's, with the
voxel spacing given).
"""

import os
import sys
import warnings

import numpy as np
import torch
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance
from PIL import Image

warnings.filterwarnings("ignore")


def load(path):
    return torch.from_numpy((np.asarray(Image.open(path).convert("L")) > 0).astype(np.float32))[None, None]


def main(pred_dir, truth_dir, spacing=None):
    for name in sorted(os.listdir(truth_dir)):
        pred, truth = load(os.path.join(pred_dir, name)), load(os.path.join(truth_dir, name))
        if pred.sum() == 0 or truth.sum() == 0:
            print(name[:-4], "nan", "nan")
            continue
        hd95 = compute_hausdorff_distance(pred, truth, percentile=95, spacing=spacing).item()
        assd = compute_average_surface_distance(pred, truth, symmetric=True, spacing=spacing).item()
        print(name[:-4], repr(hd95), repr(assd))


def volume(pred_dir, truth_dir, spacing, stems):
    shape = next(load(os.path.join(truth_dir, s + ".png")).shape for s in stems if s != "-")
    stack = lambda d: torch.cat(
        [torch.zeros(shape) if s == "-" else load(os.path.join(d, s + ".png")) for s in stems], dim=1
    )[None]
    pred, truth = stack(pred_dir), stack(truth_dir)
    hd95 = compute_hausdorff_distance(pred, truth, percentile=95, spacing=spacing).item()
    assd = compute_average_surface_distance(pred, truth, symmetric=True, spacing=spacing).item()
    print(repr(hd95), repr(assd))


if __name__ == "__main__":
    if sys.argv[1] == "volume":
        volume(sys.argv[2], sys.argv[3], [float(v) for v in sys.argv[4:7]], sys.argv[7:])
        sys.exit()
    spacing = [float(v) for v in sys.argv[3:5]] or None
    main(sys.argv[1], sys.argv[2], spacing)
