"""`profile(path, ProfileOptions(...))`: where each artifact's time goes, op by op, in its own runtime.

    result = profile("export/mobilenet_v2", ProfileOptions(threads=1, runs=20))
    result.artifacts     ArtifactProfile per artifact: per op type and per source layer (ms per run), the sum of
                         op times against the whole run's time measured alongside and against bench.json's p50
    result.json_path     profile.json beside bench.json (schema edgekit-profile/1, docs/contracts.md)

The profilers are the runtimes' own:

    onnx        ONNX Runtime's profiler (SessionOptions.enable_profiling): the trace's "Node" kernel events,
                by op type and node name; node names are mapped to PyTorch modules through the graph (the
                exporter's recorded scopes, else the weight a Conv/Gemm reads; `OnnxModules`)
    executorch  ETDump read by executorch.devtools' Inspector: the XNNPACK delegate's per-operator events, by
                operator kind (the name without its `#N` and its layout/type in brackets). No ETRecord is kept
                at export, so operators are not mapped to modules
    tflite      ai-edge-litert's Python Interpreter has no op profiler (no profiling hook or results in its API,
                and the pip package ships no benchmark_model binary): the op list with counts, no times, said so;
                ops are mapped to modules through the tensor names litert-torch writes

The whole run is timed in the same process with the profiler off (bench's timed call: `invoke` on a prepared
input, perf_counter around it), and op times are set against its median; bench.json's p50 at the same thread
count is the second yardstick; the profiled runs' median is kept too (the profiler's overhead). More than
20 % apart is flagged with the reason. Threads are pinned as bench pins them (edgekit.runtime). Nothing here
prints; torch-free to import. The results and profile.json (read and written): edgekit/profile_data.py.
"""
from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.profile_data import (AGREEMENT, ET_OUTSIDE, ETDUMP_NO_MODULES, LITERT_NO_TIMES, ORT_OUTSIDE,
                                  PROFILED_FORMATS, ArtifactProfile, Layer, ProfileOptions, ProfileResult, _by_module,
                                  _by_type, write_profile)
# the results and profile.json live in edgekit.profile_data; these names are public here too
from edgekit.profile_data import PROFILE_JSON, PROFILE_SCHEMA, op_family, read_profile, side_by_side  # noqa: F401
from edgekit.progress import OnProgress, Reporter, reporter

# ---------------------------------------------------------------------------------------------------- the stage
def profile(path: Path | str, options: ProfileOptions | None = None,
            on_progress: OnProgress | Reporter | None = None) -> ProfileResult:
    """Profile every artifact under `path` (an export folder or one artifact folder); see the module docstring."""
    from edgekit.artifacts import export_folder_of, find_artifacts
    from edgekit.bench.host import host_description
    from edgekit.logcapture import captured
    from edgekit.fileio import writable_folder

    options = options or ProfileOptions()
    say = reporter(on_progress)
    artifacts = find_artifacts(path)
    export_dir = export_folder_of(path)
    if options.write:
        writable_folder(export_dir, "the export folder (profile.json goes there)", create=False)
    bench_p50, bench_note = _bench_p50(export_dir, options.threads)
    results = []
    with say.task("profiling", len(artifacts)) as advance:
        for artifact in artifacts:
            say.stage(f"profiling {artifact.name} ({options.threads} thread(s), {options.runs} runs)")
            with captured(None):  # what the runtimes print goes nowhere near the console
                entry = profile_artifact(artifact, options)
            _compare(entry, bench_p50.get(artifact.name))
            results.append(entry)
            advance(1)
    host = host_description()
    result = ProfileResult(results, {"cpu": host["cpu"], "cores": host["cores"]}, export_dir, options,
                           bench_note=bench_note)
    if options.write:
        result.json_path = write_profile(result)
    return result


def profile_artifact(artifact, options: ProfileOptions) -> ArtifactProfile:
    """One artifact profiled in its own runtime; a format without a profiler here is a skipped entry."""
    entry = ArtifactProfile(artifact.name, artifact.model, artifact.format, artifact.precision, options.threads,
                            "skipped")
    if artifact.format not in PROFILED_FORMATS:
        entry.reason = f"no op profiler is wired for {artifact.format} (profiled: {', '.join(PROFILED_FORMATS)})"
        return entry
    runs, why_not = artifact.runs_here()
    if not runs:
        entry.reason = why_not
        return entry
    try:
        runtime = artifact.runtime(threads=options.threads)  # checks the file against its manifest, pins threads
        tensor = runtime.to_input(_example(artifact.input_shape))
        entry.runtime, entry.runtime_version = runtime.runtime, runtime.runtime_version
        entry.runs, entry.run_ms = options.runs, _time_runs(runtime, tensor, options)
        {"onnx": _profile_onnx, "tflite": _profile_tflite, "executorch": _profile_executorch}[artifact.format](
            entry, runtime, tensor, options)
    except EdgekitError as error:
        entry.status, entry.reason = "failed", str(error)
        return entry
    except Exception as error:  # a runtime or its profiler refusing this file: the entry says so, others go on
        text = " ".join(str(error).split())[:240] or type(error).__name__
        entry.status, entry.reason = "failed", f"{type(error).__name__}: {text}"
        return entry
    if entry.ops_ms is not None and entry.run_ms:
        entry.op_ratio = entry.ops_ms / entry.run_ms
    return entry


def _example(shape) -> np.ndarray:
    from edgekit.bench.sessions import example_input

    return example_input([int(d) for d in shape])


def _time_runs(runtime, tensor: np.ndarray, options: ProfileOptions) -> float:
    """The whole run's median (ms) with no profiler: bench's timed call (edgekit.runtime's `invoke` on a
    prepared input) after the warm-up."""
    prepared = runtime.prepare(np.ascontiguousarray(tensor))
    for _ in range(1 + options.warmup):
        runtime.invoke(prepared)
    seconds = []
    for _ in range(options.runs):
        started = time.perf_counter()
        runtime.invoke(prepared)
        seconds.append(time.perf_counter() - started)
    return _median_ms(seconds)


def _median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000.0


# ---------------------------------------------------------------------------------------------------- ONNX Runtime
def _profile_onnx(entry: ArtifactProfile, runtime, tensor: np.ndarray, options: ProfileOptions) -> None:
    from edgekit.runtime.onnx_profile import OnnxModules, node_times

    entry.profiler = "onnxruntime SessionOptions.enable_profiling (Node kernel events)"
    nodes, seconds = node_times(runtime.path, tensor, options.threads, options.runs, options.warmup)
    modules = OnnxModules(runtime.path)
    entry.layers = [Layer(node, op_type, ms, modules.module(node)) for node, (op_type, ms) in nodes.items()]
    _finish(entry, seconds, options)


# ---------------------------------------------------------------------------------------------------- LiteRT
def litert_module(tensor_name: str) -> str | None:
    """litert-torch names an op's output tensor by the module path it came from, fused ops' paths joined by ';'
    (`...MobileNetV2/torch.nn.modules.container.Sequential_features/...Conv2dNormActivation_0/...Conv2d_0;1`):
    the last path, as a PyTorch module name (`features.0.0`); None for a name of another form."""
    paths = [p for p in tensor_name.split(";") if "/" in p]
    if not paths:
        return None
    parts = []
    for piece in paths[-1].split("/")[1:]:  # the first piece is the root module's class
        tail = piece[piece.rfind(".") + 1:]
        if "_" not in tail:
            return None
        parts.append(tail.split("_", 1)[1])
    return ".".join(parts) or None


def _profile_tflite(entry: ArtifactProfile, runtime, tensor: np.ndarray, options: ProfileOptions) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    entry.profiler = "none (op list from the interpreter without delegates)"
    plain = Interpreter(model_path=str(runtime.path),
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    names = {t["index"]: t["name"] for t in plain.get_tensor_details()}
    entry.layers = []
    for op in plain._get_ops_details():
        name = names.get(int(op["outputs"][0]), "") if len(op["outputs"]) else ""
        entry.layers.append(Layer(name or f"op {op['index']}", str(op["op_name"]), None, litert_module(name)))
    entry.op_types, entry.modules = _by_type(entry.layers), _by_module(entry.layers)
    entry.status, entry.reason = "counts-only", LITERT_NO_TIMES


# ---------------------------------------------------------------------------------------------------- ExecuTorch
def etdump_kind(name: str) -> str:
    """An XNNPACK event's operator kind: the name without its `#N` and its layout/type in brackets."""
    return re.sub(r"\s+", " ", re.sub(r"\(.*?\)", "", re.sub(r" #\d+$", "", name))).strip()


ET_WHOLE = ("Method::execute", "DELEGATE_CALL")


def etdump_events(pte: Path, image, runs: int, warmup: int) -> tuple[dict[str, float], list[float]]:
    """Each ETDump event's median time (ms) over `runs` after `warmup` (a fresh program for the recorded runs)
    and the wall seconds of each recorded run. ExecuTorch reads a non-contiguous input as if contiguous: `image`
    must be a contiguous torch tensor. Used by `profile` and benchmarks/executorch_profile.py."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    module = portable_lib._load_for_executorch(str(pte), enable_etdump=True, debug_buffer_size=0)
    for _ in range(warmup):
        module.forward([image])
    seconds = []
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "run.etdp"
        module = portable_lib._load_for_executorch(str(pte), enable_etdump=True, debug_buffer_size=0)
        for _ in range(runs):
            started = time.perf_counter()
            module.forward([image])
            seconds.append(time.perf_counter() - started)
        module.write_etdump_result_to_file(str(dump))
        inspector = Inspector(etdump_path=str(dump))
    medians: dict[str, float] = {}
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for event in block.events:
            if event.perf_data is not None:
                medians[event.name] = float(event.perf_data.p50)
    return medians, seconds


def _profile_executorch(entry: ArtifactProfile, runtime, tensor: np.ndarray, options: ProfileOptions) -> None:
    import torch

    entry.profiler = "ETDump (executorch.devtools Inspector), XNNPACK operator events"
    image = torch.from_numpy(np.ascontiguousarray(tensor)).contiguous()
    medians, seconds = etdump_events(runtime.path, image, options.runs, 1 + options.warmup)
    entry.layers = [Layer(name, etdump_kind(name), ms) for name, ms in medians.items() if name not in ET_WHOLE]
    if not entry.layers:
        raise EdgekitError(f"{runtime.path}: ETDump recorded no operator events")
    _finish(entry, seconds, options)
    entry.reason = ETDUMP_NO_MODULES


def _finish(entry: ArtifactProfile, seconds: list[float], options: ProfileOptions) -> None:
    entry.layers.sort(key=lambda layer: -(layer.ms or 0.0))
    entry.op_types, entry.modules = _by_type(entry.layers), _by_module(entry.layers)
    entry.ops_ms = sum(layer.ms or 0.0 for layer in entry.layers)
    entry.profiled_run_ms, entry.status = _median_ms(seconds), "ok"


# ---------------------------------------------------------------------------------------------------- yardsticks
def _bench_p50(export_dir: Path, threads: int) -> tuple[dict[str, float], str | None]:
    """artifact folder name -> bench.json's host p50 at `threads`; a note when there is no usable bench.json."""
    from edgekit.bench.results import BENCH_JSON, read_bench

    path = export_dir / BENCH_JSON
    if not path.exists():
        return {}, f"no {BENCH_JSON} in {export_dir}: op times are set against the unprofiled runs only"
    try:
        rows = read_bench(path)[1]
    except EdgekitError as error:
        return {}, f"{BENCH_JSON} not used: {error}"
    return {row.artifact: row.p50_ms for row in rows if row.device == "host" and row.threads == threads
            and row.status == "ok" and row.p50_ms and row.artifact}, None


def _compare(entry: ArtifactProfile, bench_p50: float | None) -> None:
    entry.bench_p50_ms = bench_p50
    if entry.ops_ms is None:
        return
    if bench_p50:
        entry.bench_ratio = entry.ops_ms / bench_p50
    problems = []
    for what, ratio in (("the unprofiled runs' median", entry.op_ratio), ("bench.json's p50", entry.bench_ratio)):
        if ratio is not None and abs(ratio - 1.0) > AGREEMENT:
            problems.append(f"{ratio:.0%} of {what}")
    if problems:
        why = ORT_OUTSIDE if entry.format == "onnx" else ET_OUTSIDE
        if any(r is not None and r > 1.0 + AGREEMENT for r in (entry.op_ratio, entry.bench_ratio)):
            why = (f"the profiler slows what it times (profiled runs: median {entry.profiled_run_ms:.3f} ms against "
                   f"{entry.run_ms:.3f} ms unprofiled)" if entry.profiled_run_ms and entry.run_ms else
                   "the profiler slows what it times")
            if entry.bench_ratio is not None and entry.bench_ratio > 1.0 + AGREEMENT:
                why += "; bench timed another process at another moment (other work on the CPU)"
        entry.flag = f"op times sum to {' and '.join(problems)}: {why}"


# ---------------------------------------------------------------------------------------------------- profile.json
