source scripts/gpu/common.sh

O=/tmp/opts2; rm -rf $O; mkdir -p $O
base="mobilenet_v2 --data $W/test --max-train-images 2000 --epochs 2 --img-size 64 --batch-size 128 --device cuda --val-fraction 0.1"
check() { local name=$1; shift; local t0=$SECONDS; "$@" > $O/$name.log 2>&1; local rc=$?
  echo "== $name: exit $rc, $((SECONDS-t0))s: $(grep -a 'epoch ' $O/$name.log | tail -1 | tr -s ' ')" | tee -a ${OUT:-/tmp}/options2.txt
  [ $rc = 0 ] || tail -8 $O/$name.log | tee -a ${OUT:-/tmp}/options2.txt; }
check torchrun_1gpu python3 -m torch.distributed.run --standalone --nproc_per_node 1 -m edgekit.cli.main train $base --out $O/r_ddp
check compile $EK train $base --out $O/r_compile --compile
( $EK train $base --epochs 3 --out $O/r_resume > $O/resume_a.log 2>&1 & pid=$!
  for i in $(seq 1 240); do [ -f $O/r_resume/last.pt ] && break; sleep 0.25; done; sleep 0.5; kill -9 $pid; wait $pid 2>/dev/null )
echo "-- killed after: $(tail -n +2 $O/r_resume/metrics.csv | cut -d, -f1 | tr '\n' ' ')" | tee -a ${OUT:-/tmp}/options2.txt
check resume $EK train mobilenet_v2 --out $O/r_resume --resume --device cuda
echo "-- after resume, epochs: $(tail -n +2 $O/r_resume/metrics.csv | cut -d, -f1 | tr '\n' ' ')" | tee -a ${OUT:-/tmp}/options2.txt
check workers0 $EK train $base --out $O/r_w0 --workers 0
