"""int8 / fp32 speed per runtime, measured in one interleaved run on one pinned core.

    python benchmarks/int8_speed.py --model mobilenet_v2 --img-size 224
    python benchmarks/int8_speed.py --export-dir exports/mobilenet_v2      # artifacts already exported

Exports fp32 and int8 (ONNX, TFLite, ExecuTorch) with `edgekit export`'s library call unless
--export-dir names an existing export folder, then times the runtimes' own calls on one image
(no preprocessing, no quantize/dequantize in Python: TFLite int8 gets an int8 tensor, as an app
feeds it). Threads are pinned per runtime:

    the process      os.sched_setaffinity to one core (--core)
    ONNX Runtime     intra_op_num_threads=1, inter_op_num_threads=1, sequential execution
    LiteRT           Interpreter(num_threads=1) (its XNNPACK delegate, as the default CPU path)
    ExecuTorch       its own threadpool (torch.set_num_threads does not reach it), reset to one
                     thread with executorch's _unsafe_reset_threadpool(1)

Rounds are interleaved (every artifact once per round, in a shuffled order), so a load change on
a shared machine hits fp32 and int8 alike; the ratio printed is the median over rounds of
fp32 time / int8 time of the same round. It prints the CPU and the load average: quote ratios,
with the CPU, and say what else was running.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

RUNTIMES = ("onnx", "tflite", "executorch")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def export(args) -> Path:
    from edgekit import ExportOptions, export_model

    summary = export_model(ExportOptions(args.model, checkpoint=args.checkpoint, img_size=args.img_size,
                                         formats=list(args.formats), precisions=["fp32", "int8"], out=args.out,
                                         parity_size=16, allow_mismatch=True),
                           on_progress=lambda e: print(f"  {e.message}", file=sys.stderr) if e.kind in ("warning", "result") else None)
    return summary.folder


RUNTIME_OF = {".onnx": "onnx", ".tflite": "tflite", ".pte": "executorch"}


def load_runner(runtime: str, folder: Path, artifact: Path | None = None, input_shape: list | None = None):
    """A zero-argument callable running the artifact once on a fixed input (an export folder with
    its manifest, or a bare artifact file and its NCHW input shape)."""
    if artifact is None:
        manifest = json.loads((folder / "manifest.json").read_text())
        artifact, input_shape = folder / manifest["file"], manifest["input"]["shape"]
    rng = np.random.default_rng(0)
    if runtime == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        session = onnxruntime.InferenceSession(str(artifact), options, providers=["CPUExecutionProvider"])
        meta = session.get_inputs()[0]
        feed = {meta.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in meta.shape]).astype(np.float32)}
        return lambda: session.run(None, feed)
    if runtime == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(artifact), num_threads=1)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        dtype = np.dtype(detail["dtype"])
        values = rng.standard_normal(detail["shape"])
        if dtype.kind in "iu":
            values = np.clip(values * 20, np.iinfo(dtype).min, np.iinfo(dtype).max)
        interpreter.set_tensor(detail["index"], values.astype(dtype))
        return interpreter.invoke
    if runtime == "executorch":
        import torch
        from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count, _unsafe_reset_threadpool
        from executorch.runtime import Runtime

        _unsafe_reset_threadpool(1)
        assert _threadpool_get_thread_count() == 1
        method = Runtime.get().load_program(str(artifact)).load_method("forward")
        image = torch.from_numpy(rng.standard_normal(input_shape).astype(np.float32)).contiguous()
        return lambda: method.execute([image])
    raise ValueError(runtime)


def measure(runners: dict, rounds: int, warmup: int) -> dict:
    keys = list(runners)
    for key in keys:
        for _ in range(warmup):
            runners[key]()
    times = {key: [] for key in keys}
    order = list(keys)
    for _ in range(rounds):
        random.shuffle(order)
        for key in order:
            started = time.perf_counter()
            runners[key]()
            times[key].append(time.perf_counter() - started)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--checkpoint", default=None, help="an edgekit checkpoint; default: ImageNet weights if cached, else random")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--formats", default=",".join(RUNTIMES))
    parser.add_argument("--export-dir", type=Path, default=None, help="an existing OUT/<model> export folder")
    parser.add_argument("--out", type=Path, default=Path("exports/int8-speed"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--core", type=int, default=0, help="the one CPU core the process is pinned to")
    parser.add_argument("--pair", nargs=3, action="append", metavar=("LABEL", "FP32", "INT8"), default=[],
                        help="bare artifact files instead of an export (repeatable; runtime from the extension)")
    parser.add_argument("--input-shape", default="1,3,224,224", help="NCHW input of --pair artifacts")
    args = parser.parse_args(argv)
    if args.pair:
        return compare_pairs(args)
    args.formats = [f for f in args.formats.split(",") if f]
    folder = args.export_dir or export(args)
    os.sched_setaffinity(0, {args.core})  # after exporting: the converters may use every core
    runners = {}
    for runtime in args.formats:
        for precision in ("fp32", "int8"):
            artifact = folder / f"{runtime}-{precision}"
            if (artifact / "manifest.json").exists():
                runners[(runtime, precision)] = load_runner(runtime, artifact)
            else:
                print(f"missing: {artifact} (not exported)", file=sys.stderr)
    times = measure(runners, args.rounds, args.warmup)
    print(f"{folder.name}, 1 thread pinned to core {args.core} of {os.cpu_count()} ({cpu_name()}), "
          f"{args.rounds} interleaved rounds; load average at the end {os.getloadavg()[0]:.2f} "
          "(other processes were running: the ratios, measured in the same rounds, are what to quote)")
    print(f"{'runtime':<11} {'fp32 ms':>8} {'int8 ms':>8} {'int8 speed-up':>14} {'float ops':>10}")
    for runtime in args.formats:
        if (runtime, "fp32") not in times or (runtime, "int8") not in times:
            continue
        fp32, int8 = times[(runtime, "fp32")], times[(runtime, "int8")]
        ratio = statistics.median(a / b for a, b in zip(fp32, int8))
        integer = json.loads((folder / f"{runtime}-int8" / "manifest.json").read_text())["backend"].get("integer", {})
        print(f"{runtime:<11} {statistics.median(fp32) * 1e3:8.2f} {statistics.median(int8) * 1e3:8.2f} "
              f"{ratio:13.2f}x {integer.get('float_ops', '?'):>10}")
    return 0


def compare_pairs(args) -> int:
    """--pair: fp32/int8 files of several models, all interleaved in the same rounds."""
    os.sched_setaffinity(0, {args.core})
    shape = [int(d) for d in args.input_shape.split(",")]
    runners = {}
    for label, fp32, int8 in args.pair:
        for precision, path in (("fp32", Path(fp32)), ("int8", Path(int8))):
            runners[(label, precision)] = load_runner(RUNTIME_OF[path.suffix], path.parent, path, shape)
    times = measure(runners, args.rounds, args.warmup)
    print(f"1 thread pinned to core {args.core} of {os.cpu_count()} ({cpu_name()}), input {shape}, {args.rounds} "
          f"interleaved rounds; load average at the end {os.getloadavg()[0]:.2f} (other processes were running)")
    print(f"{'pair':<28} {'fp32 ms':>8} {'int8 ms':>8} {'int8 speed-up':>14}")
    for label, _, _ in args.pair:
        fp32, int8 = times[(label, "fp32")], times[(label, "int8")]
        print(f"{label:<28} {statistics.median(fp32) * 1e3:8.2f} {statistics.median(int8) * 1e3:8.2f} "
              f"{statistics.median(a / b for a, b in zip(fp32, int8)):13.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
