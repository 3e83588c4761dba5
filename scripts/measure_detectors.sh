#!/usr/bin/env bash
# docs/detection.md's measured table: each detector x format x precision, status, mAP on the shipped sample and
# latency at 1 thread (edgekit bench, default timing, NMS apart). Writes under OUT (default /tmp/edgekit-detectors).
#   1. the committed fixture detector (trained, 128 px): every format, fp32 and int8, bench --data the sample;
#   2. each zoo detector at 320 px after ONE epoch on the sample (untrained: its mAP means nothing, its latency is
#      what this measures): ONNX, TFLite and ExecuTorch fp32 (one export) and ONNX int8 (another, beside its own
#      onnx fp32), bench at 1 thread.
# Takes about 30 minutes on 2 cores. Quote the CPU (the bench table's title) beside any figure.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/edgekit-detectors}
EK=.venv/bin/edgekit
SAMPLE=samples/detection-fashion
mkdir -p "$OUT"
$EK export ssdlite_mobilenet_v2 --checkpoint tests/fixtures/weights/ssdlite_mobilenet_v2.pt --val $SAMPLE --int8 \
    --allow-mismatch --out "$OUT/fixture" | tee "$OUT/fixture-export.txt"
$EK bench "$OUT/fixture/ssdlite_mobilenet_v2" --threads 1 --data $SAMPLE | tee "$OUT/fixture-bench.txt"
for model in ssdlite_mobilenet_v2 ssdlite_mobilenet_v1 ssdlite_shufflenet_v2; do
    $EK train $model --data $SAMPLE --img-size 320 --epochs 1 --out "$OUT/run-$model" > "$OUT/train-$model.txt"
    $EK export $model --checkpoint "$OUT/run-$model/best.pt" --val $SAMPLE --formats onnx,tflite,executorch \
        --allow-mismatch --out "$OUT/fp32-$model" | tee "$OUT/export-fp32-$model.txt"
    $EK export $model --checkpoint "$OUT/run-$model/best.pt" --val $SAMPLE --formats onnx --int8 \
        --allow-mismatch --out "$OUT/int8-$model" | tee "$OUT/export-int8-$model.txt"
    $EK bench "$OUT/fp32-$model/$model" --threads 1 | tee "$OUT/bench-fp32-$model.txt"
    $EK bench "$OUT/int8-$model/$model" --threads 1 | tee "$OUT/bench-int8-$model.txt"
done
