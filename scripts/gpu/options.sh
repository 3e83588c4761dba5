# every training option on CUDA, on a 3,000-image subset for 2 epochs (mobilenet_v2, 64 px): exit status and last epoch
source scripts/gpu/common.sh
O=/tmp/opts; rm -rf $O; mkdir -p $O
base="mobilenet_v2 --data $W/train --max-train-images 3000 --epochs 2 --img-size 64 --batch-size 128 --device cuda --val-fraction 0.1"
check() {  # name, then the command
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$@" > $O/$name.log 2>&1; local rc=$?
  local dt=$(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')")
  echo "== $name: exit $rc, ${dt}s: $(grep -a 'epoch ' $O/$name.log | tail -1 | tr -s ' ')"
  [ $rc = 0 ] || tail -15 $O/$name.log
}
check amp_bf16        $EK train $base --out $O/r_bf16 --amp-dtype bf16
check amp_fp16        $EK train $base --out $O/r_fp16 --amp-dtype fp16
check no_amp          $EK train $base --out $O/r_fp32 --no-amp
check no_channels_last $EK train $base --out $O/r_ncl --no-channels-last
check workers0        $EK train $base --out $O/r_w0 --workers 0
check workers8_pinned $EK train $base --out $O/r_w8 --workers 8
check compile         $EK train $base --out $O/r_compile --compile
# resume: a 3-epoch run stopped after its first epoch, then --resume to the end
(  $EK train $base --epochs 3 --out $O/r_resume > $O/resume_a.log 2>&1 & pid=$!
   for i in $(seq 1 120); do [ -f $O/r_resume/last.pt ] && break; sleep 0.5; done; kill -9 $pid; wait $pid 2>/dev/null )
echo "-- before resume: $(grep -c . $O/r_resume/metrics.csv 2>/dev/null) lines in metrics.csv"
check resume          $EK train mobilenet_v2 --out $O/r_resume --resume --device cuda
echo "-- after resume: $(cat $O/r_resume/metrics.csv | cut -d, -f1-6 | tr '\n' ' ')"
check torchrun_1gpu   python3 -m torch.distributed.run --standalone --nproc_per_node 1 -m edgekit.cli.main train $base --out $O/r_ddp
grep -a -i "ddp\|distributed\|nccl" $O/torchrun_1gpu.log | head -3
check eval_bf16_run  $EK eval $O/r_bf16/best.pt --data $W/test --split all --max-images 2000
