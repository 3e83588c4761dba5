# two training streams at once on the one GPU (each model's wall time is recorded in its metrics.csv)
source scripts/gpu/common.sh
date -u +%s > $W/train_started
python3 scripts/zoo_results.py train --work $W --device cuda --epochs 15 --img-size 64 --batch-size 256 \
  --models xception,squeezenet1_0,shufflenet_v1 --workers 7 > $W/stream_a.log 2>&1 &
python3 scripts/zoo_results.py train --work $W --device cuda --epochs 15 --img-size 64 --batch-size 256 \
  --models mobilenet_v2,mobilenet_v1,shufflenet_v2,squeezenet1_1 --workers 7 > $W/stream_b.log 2>&1 &
wait
date -u +%s > $W/train_finished
