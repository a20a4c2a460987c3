"""Checks a predict output's COCO files with pycocotools (the reference COCO semantics).

Usage: predict_coco_check.py OUT_DIR. For every image images.json lists, the results of that image
decode (pycocotools' RLE) to the 8-connected regions of its mask (masks/<stem>.png, scipy's
labelling) exactly, one result per region, their area and bbox those pycocotools computes; and
pycocotools' loadRes reads results.json against images.json. Fails with an AssertionError
otherwise; prints, last, {"images", "regions", "holed", "pinched"}: the regions with a hole in
them, and those that are one only through pixels touching at a corner (several 4-connected).
"""
import json
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from scipy import ndimage

out = sys.argv[1]
results = json.load(open(f"{out}/results.json"))
listed = json.load(open(f"{out}/images.json"))
assert listed["categories"] == [{"id": 1, "name": "tumour"}], listed["categories"]
regions = holed = pinched = 0
for image in listed["images"]:
    stem = image["file_name"].rsplit(".", 1)[0]
    truth = np.array(Image.open(f"{out}/masks/{stem}.png")) > 0
    assert truth.shape == (image["height"], image["width"]), (stem, truth.shape)
    labels, n = ndimage.label(truth, structure=np.ones((3, 3)))
    theirs = [r for r in results if r["image_id"] == image["id"]]
    assert len(theirs) == n, (stem, len(theirs), n)
    for r in theirs:
        assert r["file_name"] == image["file_name"] and r["category_id"] == 1, r
        rle = dict(r["segmentation"], counts=r["segmentation"]["counts"].encode())
        decoded = mask_utils.decode(rle).astype(bool)
        label = np.unique(labels[decoded])
        assert len(label) == 1 and label[0] != 0, (stem, label)
        assert np.array_equal(decoded, labels == label[0]), stem
        assert r["area"] == decoded.sum() == mask_utils.area(rle), (stem, r["area"])
        assert r["bbox"] == mask_utils.toBbox(rle).tolist(), (stem, r["bbox"])
        holed += int(ndimage.binary_fill_holes(decoded).sum() > decoded.sum())
        pinched += int(ndimage.label(decoded)[1] > 1)
    regions += n
coco = COCO()
coco.dataset = {"images": listed["images"], "categories": listed["categories"], "annotations": []}
coco.createIndex()
loaded = coco.loadRes(f"{out}/results.json")
assert len(loaded.getAnnIds()) == len(results)
print(json.dumps({"images": len(listed["images"]), "regions": regions, "holed": holed, "pinched": pinched}))
