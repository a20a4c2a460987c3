"""Reference masks from pycocotools for the data tests.

usage: data_masks_ref.py fixture <annotations.json> <out_dir>
         one PNG per annotation, <out_dir>/<annotation id>.png (0/255, annToMask), plus
         <out_dir>/rle.json: the same file with every segmentation replaced by pycocotools' RLE
         (even ids compressed strings, odd ids uncompressed counts) to test our RLE decoding.
       data_masks_ref.py random <out_dir> <seed>
         random.json with random many-vertex, multi-ring polygons (vertices on the borders too) on
         odd-sized images, and one PNG per annotation as above.
"""
import json
import os
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mu
from pycocotools.coco import COCO


def coco_of(d):
    c = COCO()
    c.dataset = d
    c.createIndex()
    return c


def write_masks(d, out):
    c = coco_of(d)
    for ann in d["annotations"]:
        m = c.annToMask(ann).astype(np.uint8) * 255
        Image.fromarray(m).save(os.path.join(out, f"{ann['id']}.png"))


def fixture(path, out):
    with open(path, encoding="utf-8-sig") as f:
        d = json.load(f)
    write_masks(d, out)
    imgs = {i["id"]: i for i in d["images"]}
    for ann in d["annotations"]:
        img = imgs[ann["image_id"]]
        h, w = img["height"], img["width"]
        rle = mu.merge(mu.frPyObjects(ann["segmentation"], h, w))
        if ann["id"] % 2 == 0:
            ann["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
        else:
            m = np.asfortranarray(mu.decode(rle)).reshape(-1, order="F")
            change = np.flatnonzero(np.diff(np.concatenate([[0], m, [1 - m[-1]]])))
            counts = np.diff(np.concatenate([[0], change])).tolist()
            ann["segmentation"] = {"size": [h, w], "counts": counts}
    with open(os.path.join(out, "rle.json"), "w") as f:
        json.dump(d, f)


def random_polys(out, seed):
    rng = np.random.default_rng(seed)
    d = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "t"}]}
    aid = 0
    for iid, (w, h) in enumerate([(37, 23), (64, 64), (101, 77), (13, 200)]):
        d["images"].append({"id": iid, "file_name": f"{iid}.png", "width": w, "height": h})
        for _ in range(6):
            rings = []
            while len(rings) < int(rng.integers(1, 4)) or not rings:
                n = int(rng.integers(3, 40))
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
                ang = np.sort(rng.uniform(0, 2 * np.pi, n))
                r = rng.uniform(0.5, max(w, h) * 0.7, n)
                xs = np.clip(cx + r * np.cos(ang), 0, w)
                ys = np.clip(cy + r * np.sin(ang), 0, h)
                if rng.random() < 0.3:  # quantised coordinates hit the .5/.2 rounding edges
                    xs, ys = np.round(xs * 4) / 4, np.round(ys * 4) / 4
                area = 0.5 * abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1)))
                if area > 0.5:  # a ring clipped flat onto a border is degenerate, tested elsewhere
                    rings.append([float(v) for p in zip(xs, ys) for v in p])
            d["annotations"].append({"id": aid, "image_id": iid, "category_id": 1,
                                     "segmentation": rings, "iscrowd": 0})
            aid += 1
    with open(os.path.join(out, "random.json"), "w") as f:
        json.dump(d, f)
    write_masks(d, out)


if __name__ == "__main__":
    if sys.argv[1] == "fixture":
        fixture(sys.argv[2], sys.argv[3])
    else:
        random_polys(sys.argv[2], int(sys.argv[3]))
