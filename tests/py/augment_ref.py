"""numpy references for tests/augment_ops.rs. Usage:
  augment_ref.py rot90 H W          -> np.rot90(arange(H*W).reshape(H, W), k) for k = 1, 2, 3, one line each
  augment_ref.py blur H W SIGMA     -> GaussianBlur of the test image (PIL kernel size int(3.5σ)·2+1,
                                       reflect-101 border = np.pad 'reflect'), row-major, one value per line
The test image is v[i] = ((i * 37) % 101) / 100."""
import sys
import numpy as np

mode, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == "rot90":
    a = np.arange(h * w).reshape(h, w)
    for k in (1, 2, 3):
        print(" ".join(str(v) for v in np.rot90(a, k).ravel()))
elif mode == "blur":
    sigma = float(sys.argv[4])
    img = (((np.arange(h * w) * 37) % 101) / 100.0).reshape(h, w)
    r = int(sigma * 3.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    p = np.pad(img, r, mode="reflect")
    rows = np.stack([(p[:, i:i + w] * k[i]) for i in range(2 * r + 1)]).sum(0)
    out = np.stack([(rows[i:i + h, :] * k[i]) for i in range(2 * r + 1)]).sum(0)
    for v in out.ravel():
        print(f"{v:.7f}")
