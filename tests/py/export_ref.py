"""Run a module written by `tumorseg export` with PyTorch alone (torch.jit.load), as a user would, on
grey PNGs already at the manifest's size, for tests/model_export.rs.

usage: export_ref.py MODULE MANIFEST PNG...

Checks that the module gives [N, 1, H, W] probabilities in [0, 1], that an image gives the same
probabilities alone as in a batch, and that it takes another size (half the side, non-square).
Prints one line per PNG: the pixels above the manifest's threshold, the highest probability, and the
pixels within 1e-5 of the threshold (where a last-bit difference could flip a pixel).
"""

import json
import sys

import numpy as np
import torch
from PIL import Image


def main(module_path, manifest_path, pngs):
    manifest = json.load(open(manifest_path))
    size, threshold = manifest["size"], manifest["threshold"]
    m = torch.jit.load(module_path, map_location=manifest["device"])
    grey = [np.asarray(Image.open(p).convert("L"), dtype=np.float32) for p in pngs]
    assert all(g.shape == (size, size) for g in grey), [g.shape for g in grey]
    x = torch.from_numpy(np.stack(grey))[:, None] / 255.0
    with torch.no_grad():
        p = m(x)
        assert p.shape == x.shape and p.dtype == torch.float32, (p.shape, p.dtype)
        assert 0 <= p.min() and p.max() <= 1, (p.min(), p.max())
        alone = m(x[1:2])
        assert (alone - p[1:2]).abs().max() < 1e-5, (alone - p[1:2]).abs().max()
        half = m(x[:, :, : size // 2, : size // 4 * 2 + 32])
        assert half.shape[2:] == (size // 2, size // 4 * 2 + 32), half.shape
    for q in p[:, 0]:
        near = int(((q - threshold).abs() < 1e-5).sum())
        print(int((q > threshold).sum()), float(q.max()), near)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
