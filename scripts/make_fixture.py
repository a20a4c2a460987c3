"""Cut the bundled test fixture out of the real dataset: a few real images per split plus the train
split's two anomalous images (one without annotation, one with two). Keeps the UTF-8 BOM.
Usage: python scripts/make_fixture.py ../shared/data/brain-tumor-coco tests/fixtures/brain-tumor-mini"""
import json, shutil, sys, os
from collections import Counter

src, dst = sys.argv[1], sys.argv[2]
N = {"train": 24, "valid": 8, "test": 8}
for split, n in N.items():
    raw = open(f"{src}/{split}/_annotations.coco.json", "rb").read()
    coco = json.loads(raw.decode("utf-8-sig"))
    per = Counter(a["image_id"] for a in coco["annotations"])
    odd = [im for im in coco["images"] if per[im["id"]] != 1]
    normal = [im for im in coco["images"] if per[im["id"]] == 1][:n]
    keep = odd + normal
    ids = {im["id"] for im in keep}
    coco["images"] = keep
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    os.makedirs(f"{dst}/{split}", exist_ok=True)
    for im in keep:
        shutil.copy(f"{src}/{split}/{im['file_name']}", f"{dst}/{split}/{im['file_name']}")
    with open(f"{dst}/{split}/_annotations.coco.json", "wb") as f:
        f.write(b"\xef\xbb\xbf" + json.dumps(coco, indent=4).encode())
    print(split, len(keep), "images", len(coco["annotations"]), "annotations", len(odd), "anomalous")
