"""MONAI's boundary distances (an independent implementation) for tests/eval_pred_masks.rs.

usage: surface_ref.py PRED_DIR TRUTH_DIR [ROW_MM COLUMN_MM]

For every <stem>.png in TRUTH_DIR (nonzero = tumour) and its namesake in PRED_DIR, prints
"<stem> <hd95> <assd>" with MONAI's compute_hausdorff_distance(percentile=95) and
compute_average_surface_distance(symmetric=True), in pixels, or in mm with the pixel spacing given
(MONAI's `spacing`), or "<stem> nan nan" when either mask is
empty.
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


if __name__ == "__main__":
    spacing = [float(v) for v in sys.argv[3:5]] or None
    main(sys.argv[1], sys.argv[2], spacing)
