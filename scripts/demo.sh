#!/usr/bin/env bash
# Set up .venv (if needed), then run the main job on the shipped defaults:
# train mobilenet_v2 briefly on the shipped Fashion-MNIST subset (skipped when runs/demo/best.pt
# exists), then `edgekit export mobilenet_v2 --int8` with that checkpoint (int8 calibrated on the run's training split),
# then `edgekit bench` (every artifact in its own runtime on this host, against PyTorch eager) and
# `edgekit report` (export/mobilenet_v2/report.html: one self-contained page, opens offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -f runs/demo/best.pt ]; then
    .venv/bin/edgekit train mobilenet_v2 --img-size 64 --epochs 5 --lr 5e-3 --out runs/demo
fi
.venv/bin/edgekit export mobilenet_v2 --checkpoint runs/demo/best.pt --int8 "$@"
.venv/bin/edgekit bench export/mobilenet_v2
.venv/bin/edgekit report export/mobilenet_v2
