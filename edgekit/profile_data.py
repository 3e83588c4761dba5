"""What `edgekit profile` measures, as values and as profile.json (schema edgekit-profile/1, docs/contracts.md):
`ProfileOptions`, `ArtifactProfile` (per op type, per layer, per module; the sum of op times against the whole run
and bench's p50), `ProfileResult`, `write_profile`, `read_profile` (validated: profile.json may come from someone
else), `side_by_side` (fp32 beside int8 per format, for the CLI and the report). The profilers themselves are in
edgekit/profile.py. Torch-free, runtime-free.
"""
from __future__ import annotations

import collections
import math
import numbers
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from edgekit import contracts, validate
from edgekit.errors import EdgekitError
from edgekit.fileio import read_json_file

PROFILE_SCHEMA = contracts.PROFILE
PROFILE_JSON = "profile.json"
AGREEMENT = 0.20  # op times within 20 % of the whole run (and of bench's p50), else flagged
PROFILED_FORMATS = ("onnx", "tflite", "executorch")
LITERT_NO_TIMES = ("not available: ai-edge-litert's Python Interpreter exposes no op profiler (no profiling "
                   "option or results in its API; the pip package ships no benchmark_model binary): op counts only")
ETDUMP_NO_MODULES = "no ETRecord is kept at export: XNNPACK operators are not mapped to PyTorch modules"
ORT_OUTSIDE = ("ORT's node events cover kernels only: the executor's scheduling, memory allocation, input and "
               "output copies and the Python call are outside them")
ET_OUTSIDE = ("ETDump's operator events cover XNNPACK kernels only: the delegate call, memory planning, input "
              "and output copies and the Python call are outside them")


@dataclass(frozen=True)
class ProfileOptions:
    """threads  the thread count, pinned in every runtime as bench pins it (default 1)
    runs     profiled iterations (each op's median over them is used)
    warmup   iterations before profiling, not recorded
    write    write profile.json into the export folder
    """

    threads: int = 1
    runs: int = 20
    warmup: int = 5
    write: bool = True

    def __post_init__(self):
        import os

        for name, low in (("threads", 1), ("runs", 1), ("warmup", 0)):
            object.__setattr__(self, name, validate.count(f"--{name}", getattr(self, name), low=low))
        cores = os.cpu_count() or 1
        if self.threads > cores:
            raise EdgekitError(f"--threads {self.threads} exceeds the {cores} cores of this host")


@dataclass
class OpType:
    op_type: str
    ms: float | None  # per run; None where the runtime gives no op times
    count: int        # nodes of this type


@dataclass
class Layer:
    name: str              # the runtime's node or operator name
    op_type: str
    ms: float | None
    module: str | None = None  # the PyTorch module it came from, where the runtime's names allow


@dataclass
class ModuleTime:
    module: str       # a PyTorch module name, e.g. features.1.conv.0.0
    ms: float | None  # the sum of its layers' times per run; None where the runtime gives no op times
    count: int        # the runtime's nodes that came from it


@dataclass
class ArtifactProfile:
    artifact: str
    model: str
    format: str
    precision: str
    threads: int
    status: str                     # ok, counts-only (no op times), skipped, failed
    reason: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    profiler: str | None = None     # what measured the ops
    runs: int | None = None
    run_ms: float | None = None     # the whole run's median wall time, same process and threads, profiler off
    profiled_run_ms: float | None = None  # the same with the profiler on (its overhead shows as the difference)
    ops_ms: float | None = None     # the sum of op times per run
    op_ratio: float | None = None   # ops_ms / run_ms
    bench_p50_ms: float | None = None
    bench_ratio: float | None = None  # ops_ms / bench_p50_ms
    flag: str | None = None         # more than 20 % apart, and why
    op_types: list[OpType] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    modules: list[ModuleTime] = field(default_factory=list)  # the layers summed by PyTorch module, where mapped

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ProfileResult:
    artifacts: list[ArtifactProfile]
    host: dict
    export_dir: Path
    options: ProfileOptions
    json_path: Path | None = None
    bench_note: str | None = None  # bench.json absent or unreadable: why no bench comparison



def _by_module(layers: list[Layer]) -> list[ModuleTime]:
    totals: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter = collections.Counter()
    timed = all(layer.ms is not None for layer in layers)
    for layer in layers:
        if layer.module:
            counts[layer.module] += 1
            totals[layer.module] += layer.ms or 0.0
    rows = [ModuleTime(name, totals[name] if timed else None, counts[name]) for name in counts]
    return sorted(rows, key=lambda r: (-(r.ms or 0.0), r.module))


def _by_type(layers: list[Layer]) -> list[OpType]:
    totals: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter = collections.Counter()
    timed = all(layer.ms is not None for layer in layers)
    for layer in layers:
        counts[layer.op_type] += 1
        totals[layer.op_type] += layer.ms or 0.0
    rows = [OpType(kind, totals[kind] if timed else None, counts[kind]) for kind in counts]
    return sorted(rows, key=lambda r: (-(r.ms or 0.0), -r.count, r.op_type))



def write_profile(result: ProfileResult) -> Path:
    import shlex
    import sys

    from edgekit import __version__
    from edgekit.fileio import atomic_write_json

    document = {"schema": PROFILE_SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "edgekit": __version__, "host": result.host,
                "command": " ".join(shlex.quote(a) for a in ["edgekit", *sys.argv[1:]]),
                "threads": result.options.threads, "runs": result.options.runs, "warmup": result.options.warmup,
                "bench_note": result.bench_note, "artifacts": [a.to_dict() for a in result.artifacts]}
    path = result.export_dir / PROFILE_JSON
    atomic_write_json(path, document)
    return path


STATUSES = ("ok", "counts-only", "skipped", "failed")


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _entry_problem(data) -> str | None:
    if not isinstance(data, dict):
        return f"must be an object, got {type(data).__name__}"
    for name in ("artifact", "model", "format", "precision", "status"):
        if not isinstance(data.get(name), str):
            return f"'{name}' must be a string, got {data.get(name)!r}"[:200]
    if data["status"] not in STATUSES:
        return f"'status' must be one of {', '.join(STATUSES)}, got {data['status']!r}"[:200]
    if not (isinstance(data.get("threads"), int) and not isinstance(data["threads"], bool) and data["threads"] >= 1):
        return f"'threads' must be a positive integer, got {data.get('threads')!r}"[:200]
    for name in ("run_ms", "profiled_run_ms", "ops_ms", "op_ratio", "bench_p50_ms", "bench_ratio"):
        if data.get(name) is not None and not _number(data[name]):
            return f"'{name}' must be a non-negative finite number or null, got {data[name]!r}"[:200]
    for name in ("reason", "runtime", "runtime_version", "profiler", "flag"):
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"'{name}' must be a string or null, got {data[name]!r}"[:200]
    for name, keys in (("op_types", ("op_type",)), ("layers", ("name", "op_type")), ("modules", ("module",))):
        items = data.get(name, [])
        if not isinstance(items, list):
            return f"'{name}' must be a list"
        for index, item in enumerate(items):
            if not isinstance(item, dict) or any(not isinstance(item.get(k), str) for k in keys) or (
                    item.get("ms") is not None and not _number(item["ms"])):
                return f"'{name}[{index}]' must be an object with {', '.join(keys)} and ms (a number or null)"
            counted = isinstance(item.get("count"), int) and not isinstance(item["count"], bool) and item["count"] >= 0
            if name in ("op_types", "modules") and not counted:
                return f"'{name}[{index}].count' must be a non-negative integer"
            if name == "layers" and item.get("module") is not None and not isinstance(item["module"], str):
                return f"'{name}[{index}].module' must be a string or null"
    return None


def read_profile(path: Path | str) -> tuple[dict, list[ArtifactProfile]]:
    """profile.json read back, every field checked (it may come from elsewhere): one EdgekitError line naming the
    file and the field otherwise."""
    path = Path(path)
    document = read_json_file(path)
    if not isinstance(document, dict) or document.get("schema") != PROFILE_SCHEMA \
            or not isinstance(document.get("artifacts"), list):
        raise EdgekitError(f"{path} is not an {PROFILE_SCHEMA} file (profile.json from `edgekit profile`)")
    if not isinstance(document.get("host", {}), dict):
        raise EdgekitError(f"{path}: 'host' must be an object")
    entries = []
    for index, data in enumerate(document["artifacts"]):
        problem = _entry_problem(data)
        if problem:
            raise EdgekitError(f"{path}: artifacts[{index}]: {problem}")
        known = {k: v for k, v in data.items() if k in ArtifactProfile.__dataclass_fields__}
        known["op_types"] = [OpType(o["op_type"], o.get("ms"), o["count"]) for o in data.get("op_types", [])]
        known["layers"] = [Layer(x["name"], x["op_type"], x.get("ms"), x.get("module")) for x in data.get("layers", [])]
        known["modules"] = [ModuleTime(m["module"], m.get("ms"), m["count"]) for m in data.get("modules", [])]
        entries.append(ArtifactProfile(**known))
    return document, entries


ONNX_INTEGER_KERNELS = re.compile(r"^(QLinear|Q(?=Gemm$|MatMul$|Attention$))|(?<=Conv)Integer$|(?<=MatMul)Integer$")


def op_family(format_name: str, op_type: str) -> str:
    """The float op an integer kernel computes, so fp32 and int8 line up side by side: ONNX Runtime's QLinearConv,
    QGemm, QLinearAdd, ConvInteger -> Conv, Gemm, Add, Conv (profile.json keeps the runtime's own op type; ETDump
    kinds already drop the data type, LiteRT's builtins are the same in both)."""
    return ONNX_INTEGER_KERNELS.sub("", op_type) if format_name == "onnx" else op_type


def side_by_side(entries: list[ArtifactProfile]) -> dict[str, list[tuple[str, float | None, float | None]]]:
    """format -> [(op type, fp32 ms, int8 ms)], the larger first (integer kernels under their float op:
    `op_family`); formats with op times at fp32 or int8 only."""
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for entry in entries:
        if entry.status != "ok" or entry.precision not in ("fp32", "int8"):
            continue
        kinds = table.setdefault(entry.format, {})
        for op in entry.op_types:
            family = kinds.setdefault(op_family(entry.format, op.op_type), {})
            family[entry.precision] = (family.get(entry.precision) or 0.0) + (op.ms or 0.0)
    return {fmt: sorted(((kind, v.get("fp32"), v.get("int8")) for kind, v in kinds.items()),
                        key=lambda r: -max(r[1] or 0.0, r[2] or 0.0))
            for fmt, kinds in table.items()}
