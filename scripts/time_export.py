"""Time a module written by `tumorseg export` in PyTorch alone, as a user serving it would run it.

usage: time_export.py MODULE DEVICE

Reads the manifest beside MODULE for the size; runs batches of 16 random grey images in fp32 and
under fp16 (CUDA) or bf16 (CPU) autocast, and prints images per second for each.
"""

import json
import sys
import time

import torch


def main(path, device):
    size = json.load(open(path[: -len(".pt")] + ".json"))["size"]
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
