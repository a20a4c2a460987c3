#!/usr/bin/env bash
# Build-machine side of the GPU proof: stage the binary, a packed dataset and the reference script in
# .gpu/ (git-ignored, ≤ 64 MiB with .whl/) so the device run carries `.gpu` and `.whl`.
set -euo pipefail
DATA=${1:-../shared/data/brain-tumor-coco}
PACK_SIZE=${PACK_SIZE:-448}; QUALITY=${QUALITY:-75}
make build
rm -rf .gpu && mkdir -p .gpu .whl
# Debug symbols would take ~30 of the 64 MiB that may travel; gzip takes the stripped 15.6 MB to 6.2 MB,
# room for a larger or better-quality pack (gpu_proof.sh unpacks it on the device).
cp target/release/tumorseg .gpu/tumorseg
strip .gpu/tumorseg
gzip -9 .gpu/tumorseg
target/release/tumorseg pack "$DATA" --out .gpu/data --size "$PACK_SIZE" --quality "$QUALITY"
cp ../shared/anchors/torch_anchor.py .gpu/
ls .whl/segmentation_models_pytorch-0.6.0-*.whl >/dev/null 2>&1 ||
  .venv/bin/python -m pip download -q --no-deps segmentation-models-pytorch==0.6.0 -d .whl
du -sh .gpu .whl
