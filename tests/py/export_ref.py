"""Run a model written by `tumorseg export` without tumorseg, as a user would: a TorchScript module
with PyTorch alone (torch.jit.load), an ONNX model with ONNX Runtime alone (after onnx's full checker
and shape inference), on grey PNGs already at the manifest's size, for tests/model_export.rs.

usage: export_ref.py MODULE MANIFEST PNG...

Checks that the model gives [N, 1, H, W] probabilities in [0, 1], that an image gives the same
probabilities alone as in a batch, and that it takes another size (half the side, non-square); an
ONNX model must also carry the manifest's threshold, post-processing, TTA and size as metadata.
Prints one line per PNG: the pixels above the manifest's threshold, the highest probability, and the
pixels within 1e-5 of the threshold (where a last-bit difference could flip a pixel).
"""

import json
import sys

import numpy as np
import torch
from PIL import Image


def onnx_runner(path, manifest):
    import onnx
    import onnxruntime

    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    assert [o.version for o in model.opset_import] == [17], model.opset_import
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    (out,) = inferred.graph.output
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert dims == ["N", 1, "H", "W"], dims
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert float(meta["threshold"]) == manifest["threshold"], meta
    assert meta["postprocess"] == manifest["postprocess"], meta
    assert meta["tta"] == manifest["tta"] and int(meta["size"]) == manifest["size"], meta
    assert [i.name for i in session.get_inputs()] == ["grey"], session.get_inputs()
    return lambda x: torch.from_numpy(session.run(None, {"grey": np.ascontiguousarray(x.numpy())})[0])


def main(module_path, manifest_path, pngs):
    manifest = json.load(open(manifest_path))
    size, threshold = manifest["size"], manifest["threshold"]
    if manifest["format"] == "onnx":
        m = onnx_runner(module_path, manifest)
    else:
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
