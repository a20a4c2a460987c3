"""Rasterise polygons with pycocotools (the reference COCO semantics) for the trace tests.

Usage: eval_rasterize.py IN.json OUT.png, IN = {"width", "height", "polygons": [[x, y, ...], ...]}.
Writes the union of the polygons as a 0/1 greyscale PNG.
"""
import json
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

spec = json.load(open(sys.argv[1]))
h, w = spec["height"], spec["width"]
out = np.zeros((h, w), dtype=np.uint8)
if spec["polygons"]:
    rles = mask_utils.frPyObjects(spec["polygons"], h, w)
    out = mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
Image.fromarray(out).save(sys.argv[2])
