"""Reference throughput of the seed's albumentations pipeline (the augmentation part of
/work/shared/anchors/cpu_anchor.py), plus a per-step breakdown, for comparison with
`tumorseg bench augment`. Needs albumentations + opencv (not in the project venv: use a separate one).
Usage: python augment_albu_bench.py DATASET_DIR"""
import glob, sys, time
import numpy as np, cv2, albumentations as A

root = sys.argv[1]
files = sorted(glob.glob(f"{root}/train/*.jpg"))[:64]
imgs = [cv2.imread(f) for f in files]
masks = [(np.random.rand(640, 640) > 0.9).astype(np.uint8) for _ in files]


def rate(aug, n=128):
    def run(n):
        t = time.perf_counter()
        for i in range(n):
            aug(image=imgs[i % len(imgs)], mask=masks[i % len(masks)])
        return n / (time.perf_counter() - t)
    run(16)
    return max(run(n) for _ in range(3))


seed = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5),
                  A.ElasticTransform(p=0.5), A.GaussianBlur(p=0.3), A.RandomBrightnessContrast(p=0.5),
                  A.Normalize()])
print(f"albumentations {A.__version__} seed-style 640px single-process img_per_s={rate(seed):.1f} "
      f"(cv2 threads={cv2.getNumThreads()})")
for name, t in [("elastic p=1", A.ElasticTransform(p=1)), ("blur p=1", A.GaussianBlur(p=1)),
                ("brightness/contrast p=1", A.RandomBrightnessContrast(p=1)), ("normalize", A.Normalize())]:
    print(f"  {name}: {rate(A.Compose([t]), 32):.1f} img/s")
