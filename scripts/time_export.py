"""Time a model written by `tumorseg export` without tumorseg, as a user serving it would run it:
a TorchScript module in PyTorch alone, an ONNX model (`.onnx`) in ONNX Runtime alone.

usage: time_export.py MODULE DEVICE

Reads the manifest beside MODULE for the size; runs batches of 16 random grey images. TorchScript:
in fp32 and under fp16 (CUDA) or bf16 (CPU) autocast. ONNX: fp32 with ONNX Runtime's CPU provider,
or its CUDA provider where the installed onnxruntime has one. Prints images per second for each.
"""

import json
import sys
import time

import torch


def time_onnx(path, device, size):
    import numpy as np

    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed here: the ONNX model is not timed")
        return

    wanted = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    if wanted not in onnxruntime.get_available_providers():
        print(f"ONNX Runtime {onnxruntime.__version__} has no {wanted}: not timed")
        return
    session = onnxruntime.InferenceSession(path, providers=[wanted])
    x = np.random.default_rng(0).random((16, 1, size, size), dtype=np.float32)
    steps = 10 if device.startswith("cuda") else 2
    session.run(None, {"grey": x})
    start = time.time()
    for _ in range(steps):
        (p,) = session.run(None, {"grey": x})
    rate = 16 * steps / (time.time() - start)
    print(f"exported ONNX model in ONNX Runtime {onnxruntime.__version__}, {wanted}, batch 16, "
          f"{size}², fp32: {rate:.1f} img/s, output {p.shape}")


def main(path, device):
    size = json.load(open(path + ".json"))["size"]  # the manifest: <file>.json
    if path.endswith(".onnx"):
        return time_onnx(path, device, size)
    m = torch.jit.load(path, map_location=device)
    x = torch.rand(16, 1, size, size, device=device)
    reduced = torch.float16 if device.startswith("cuda") else torch.bfloat16
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    steps = 10 if device.startswith("cuda") else 2
    for amp in (False, True):
        with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=reduced, enabled=amp):
            for _ in range(3):
                m(x)
            sync()
            start = time.time()
            for _ in range(steps):
                p = m(x)
            sync()
        rate = 16 * steps / (time.time() - start)
        print(f"exported module in PyTorch {torch.__version__}, {device}, batch 16, {size}², "
              f"{'autocast ' + str(reduced) if amp else 'fp32'}: {rate:.1f} img/s, output {tuple(p.shape)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
