"""Latency of every zoo model x format x precision on this host, at each model's paper input size,
at 1 thread and every core: regenerates docs/benchmarks.md.

    python benchmarks/zoo_latency.py                          every model (resumable: see below)
    python benchmarks/zoo_latency.py --models mobilenet_v2    a selection
    python benchmarks/zoo_latency.py --render-only            only rewrite docs/benchmarks.md from what is there

Per model: `edgekit export MODEL --int8` (onnx, tflite, executorch; fp32 and int8) plus TorchScript fp32,
with random weights (latency does not depend on the weights' values), into WORK/export/<model>/; then
`edgekit bench WORK/export/<model> --threads 1,all --seconds S` (interleaved rounds, threads enforced
and checked per runtime, eager fp32 baseline in the same run). Resumable: a model whose export
already has a bench.json with rows at every asked thread count is not exported or timed again
(--force redoes it). The load average before and after each bench goes into the table: timings
taken while other processes ran are marked.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.bench.results import read_bench  # noqa: E402
from edgekit.models import get_model_info, list_models  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
# Issue 14's figures from an independent timer (a 2-core x86 host, mobilenet_v2 at 224, batch 1, 1 thread, ms):
# eager fp32 11.9, ONNX Runtime fp32 3.7 / int8 2.8, LiteRT fp32 3.3 / int8 1.55, ExecuTorch fp32 3.4 / int8 1.7.
INDEPENDENT_1_THREAD = {"mobilenet_v2": {("pytorch", "fp32"): 11.9, ("onnx", "fp32"): 3.7, ("onnx", "int8"): 2.8,
                                         ("tflite", "fp32"): 3.3, ("tflite", "int8"): 1.55,
                                         ("executorch", "fp32"): 3.4, ("executorch", "int8"): 1.7}}
DEFAULT_WORK = ROOT / "export" / "zoo_latency"  # export/ is gitignored


def edgekit(*args, log: Path) -> int:
    with open(log, "a") as handle:
        handle.write(f"\n$ edgekit {' '.join(map(str, args))}\n")
        handle.flush()
        return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], stdout=handle,
                              stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}).returncode


def export(model: str, work: Path, log: Path) -> Path:
    size = get_model_info(model).default_img_size
    out = work / "export"
    common = ["--img-size", size, "--num-classes", 1000, "--parity-size", 16, "--allow-mismatch"]
    edgekit("export", model, "--int8", "--formats", "onnx,tflite,executorch", "--out", out, *common, log=log)
    scratch = work / "export-torchscript"
    if edgekit("export", model, "--formats", "torchscript", "--out", scratch, *common, log=log) == 0:
        target = out / model / "torchscript-fp32"
        if target.exists():
            import shutil

            shutil.rmtree(target)
        (scratch / model / "torchscript-fp32").replace(target)
    return out / model


def done(folder: Path, threads: list[int]) -> bool:
    if not (folder / "bench.json").is_file():
        return False
    rows = read_bench(folder / "bench.json")[1]
    return all(any(r.threads == t and r.device == "host" for r in rows) for t in threads)


def bench(folder: Path, threads: str, seconds: float, log: Path) -> dict:
    before = os.getloadavg()[0]
    started = time.time()
    code = edgekit("bench", folder, "--threads", threads, "--seconds", seconds, "--rounds", 5, "--warmup", 10, log=log)
    return {"code": code, "seconds": round(time.time() - started, 1), "load_before": before, "load_after": os.getloadavg()[0]}


def _cpu_ms(row) -> float | None:
    """CPU time per timed iteration (recorded by edgekit bench; older rows: mean x cpu/wall)."""
    value = (row.extra or {}).get("cpu_ms_per_iteration")
    if value is None and row.mean_ms and row.cpu_per_wall:
        value = row.mean_ms * row.cpu_per_wall
    return value


def previous_sections(text: str) -> dict[str, str]:
    """`## <model> at N px` sections of an earlier docs/benchmarks.md, by model: a model not timed in
    this --work keeps its earlier section (its own header names the CPU and date it was measured on)."""
    sections, current, lines = {}, None, []
    for line in text.splitlines() + ["## end"]:
        if line.startswith("## "):
            if current:
                sections[current] = "\n".join(lines).rstrip() + "\n"
            words = line[3:].split()
            current = words[0] if len(words) >= 3 and words[1] == "at" else None
            lines = [line]
        elif current:
            lines.append(line)
    return sections


def int8_speedups(section: str) -> tuple[str, dict[str, str]]:
    """(CPU, {runtime: "fp32 p50 / int8 p50 at 1 thread"}) read from a rendered model section's table,
    with `~` when either row was flagged unreliable."""
    lines = section.splitlines()
    cpu = lines[2].split(",")[0] if len(lines) > 2 else "?"
    header = next((l for l in lines if l.startswith("| artifact")), None)
    if header is None:
        return cpu, {}
    column = [c.strip() for c in header.strip("|").split("|")].index("p50 ms @1")
    p50, flagged = {}, set()
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) > column and "-" in cells[0]:
            try:
                p50[cells[0]] = float(cells[column].rstrip("~"))
            except ValueError:
                continue
            if cells[column].endswith("~"):
                flagged.add(cells[0])
    return cpu, {fmt: f"{p50[f'{fmt}-fp32'] / p50[f'{fmt}-int8']:.2f}x"
                      + ("~" if {f"{fmt}-fp32", f"{fmt}-int8"} & flagged else "")
                 for fmt in ("onnx", "tflite", "executorch") if f"{fmt}-fp32" in p50 and f"{fmt}-int8" in p50}


def render(work: Path, models: list[str], previous: dict[str, str] | None = None) -> str:
    lines = ["# Latency benchmarks", "",
             "Every zoo model x format x precision on this host, batch 1, at the model's paper input size, with "
             "`edgekit bench` (each artifact in its own runtime and worker process, thread count enforced per "
             "runtime and checked by CPU time / wall time, timed iterations interleaved in 5 seeded rounds, "
             "PyTorch eager fp32 of the same architecture as the baseline in the same run). Speed-up = eager "
             "fp32 p50 / artifact p50 at the same thread count. Random weights (latency does not depend on "
             "the weights' values). `~`: unreliable: wide spread (p90/p50 > 1.5 or round medians differ > 1.3x) or "
             "starved (cpu/wall < 0.8: the worker waited for a core because other processes ran). "
             "`cpu speed-up @1`: the same ratio from CPU time per iteration, which a busy machine distorts less.", "",
             "Reproduce: `python benchmarks/zoo_latency.py --models MODEL` (resumable; `--force` re-times).", "",
             "Threads, set in each runtime's own way and checked: torch `set_num_threads(n)` + "
             "`set_num_interop_threads(1)`; onnxruntime `intra_op_num_threads=n`, `inter_op_num_threads=1`, "
             "sequential; LiteRT `Interpreter(num_threads=n)` (its default XNNPACK delegate); ExecuTorch "
             "`portable_lib._unsafe_reset_threadpool(n)` (its threadpool otherwise takes every core and ignores "
             "torch's setting). cpu/wall is the worker's CPU time over wall time across the timed loop: a row "
             "above n + 0.3 is reported failed, without a timing (`benchmarks/thread_check.py` shows the check "
             "catching ExecuTorch and onnxruntime left at their defaults). A cpu/wall well below n means the "
             "worker did not get its cores: other processes were running.", "",
             "For mobilenet_v2 the last columns set our 1-thread speed-ups beside those of an independent timer "
             "(issue 14: a 2-core x86 host, eager fp32 11.9 ms, ONNX Runtime 3.7 / 2.8, LiteRT 3.3 / 1.55, "
             "ExecuTorch 3.4 / 1.7 ms for fp32 / int8); a ratio off by more than a third is flagged.", ""]
    meta_path = work / "runs.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    missing, previous, sections = [], previous or {}, {}
    for model in models:
        path = work / "export" / model / "bench.json"
        if not path.is_file():
            if model in previous:
                sections[model] = previous[model]
                lines += previous[model].splitlines() + [""]
            else:
                missing.append(model)
            continue
        start = len(lines)
        document, rows = read_bench(path)
        host, run = document["host"], meta.get(model, {})
        threads = sorted({r.threads for r in rows if r.device == "host"})
        lines += [f"## {model} at {get_model_info(model).default_img_size} px", "",
                  f"{host['cpu']}, {host['cores']} cores, {host['os']}; {document['created']}; load average "
                  f"{run.get('load_before', float('nan')):.1f} before, {run.get('load_after', float('nan')):.1f} after"
                  + (" (other processes were running: compare ratios, not absolute figures)"
                     if max(run.get("load_before", 0), run.get("load_after", 0)) > 0.5 else ""), "",
                  f"`{document['command']}`", ""]
        if threads == [1] and host.get("cores", 1) > 1:
            lines += [f"Timed at 1 thread only (the worker pinned to one core while other work ran on the other): "
                      f"the {host['cores']}-thread rows need the whole machine quiet; `python benchmarks/zoo_latency.py "
                      f"--models {model} --force` adds them.", ""]
        independent = INDEPENDENT_1_THREAD.get(model, {})
        header = "| artifact | size MB |" + "".join(f" p50 ms @{t} | speed-up @{t} | cpu/wall @{t} |" for t in threads)
        header += " cpu speed-up @1 |" + (" independent speed-up @1 | ours / independent |" if independent else "")
        lines += [header, "|---|---:|" + "---:|---:|---:|" * len(threads) + "---:|" + ("---:|---:|" if independent else "")]
        starved = sum(1 for r in rows if r.status == "ok" and r.cpu_per_wall is not None and r.cpu_per_wall < 0.8)
        if starved:
            lines[-2:-2] = [f"**{starved} of {len(rows)} rows ran starved (cpu/wall < 0.8): other processes took the "
                            "CPU; re-run on a quiet machine before trusting these figures.**", ""]
        keys = sorted({(r.format, r.precision, r.artifact) for r in rows if r.device == "host"},
                      key=lambda k: (k[0] != "pytorch", k[0], k[1]))
        notes = []
        for fmt, precision, artifact in keys:
            name = "pytorch eager fp32" if fmt == "pytorch" else f"{fmt}-{precision}"
            cells = []
            size = ""
            for t in threads:
                row = next((r for r in rows if (r.format, r.precision, r.artifact, r.threads) == (fmt, precision, artifact, t)
                            and r.device == "host"), None)
                if row is None or row.status != "ok":
                    cells.append(f" {row.status if row else 'not run'} | | |")
                    if row is not None and row.reason:
                        notes.append(f"- {name} @{t}: {row.reason}")
                    continue
                size = f"{row.size_bytes / 1e6:.2f}" if row.size_bytes else ""
                cells.append(f" {row.p50_ms:.2f}{'~' if row.wide_spread else ''} | {row.speedup:.2f}x | {row.cpu_per_wall:.2f} |")
            line = f"| {name} | {size} |" + "".join(cells)
            cpu = {k: _cpu_ms(r) for r in rows if r.threads == 1 and r.device == "host" and r.status == "ok"
                   for k in [(r.format, r.precision)]}
            base_cpu, own_cpu = cpu.get(("pytorch", "fp32")), cpu.get((fmt, precision))
            line += f" {base_cpu / own_cpu:.2f}x |" if base_cpu and own_cpu else " |"
            if independent:
                theirs = independent.get((fmt, precision))
                ours = next((r.speedup for r in rows if (r.format, r.precision, r.threads, r.device) ==
                             (fmt, precision, 1, "host") and r.status == "ok"), None)
                ratio = ours / (independent[("pytorch", "fp32")] / theirs) if theirs and ours else None
                line += (f" {independent[('pytorch', 'fp32')] / theirs:.2f}x |" if theirs else " |") + \
                        (f" {ratio:.2f}{' **differs by > 1/3**' if abs(ratio - 1) > 1 / 3 else ''} |" if ratio else " |")
            lines.append(line)
        lines += [""] + notes + ([""] if notes else [])
        sections[model] = "\n".join(lines[start:])
    if sections:
        lines += ["## int8 against its own fp32, 1 thread", "",
                  "fp32 p50 / int8 p50 of the same runtime at 1 thread, from the sections above (same run, "
                  "interleaved rounds). `~` marks a ratio built on a row flagged unreliable above.", "",
                  "| model | CPU | ONNX Runtime | LiteRT | ExecuTorch |", "|---|---|---:|---:|---:|"]
        for model, section in sections.items():
            cpu, ratios = int8_speedups(section)
            lines.append(f"| {model} | {cpu} | " + " | ".join(ratios.get(f, "n/a")
                                                             for f in ("onnx", "tflite", "executorch")) + " |")
        lines.append("")
    if missing:
        lines += ["## Not measured yet", "", ", ".join(missing) + ": run `python benchmarks/zoo_latency.py --models "
                  + ",".join(missing) + "`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(list_models("classification")), help="comma-separated zoo models (default: all)")
    parser.add_argument("--threads", default="1,all", help="thread counts for edgekit bench (default 1,all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per artifact and thread count")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="exports, logs and bench.json files")
    parser.add_argument("--force", action="store_true", help="export and time again even where results exist")
    parser.add_argument("--render-only", action="store_true", help="only rewrite docs/benchmarks.md")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for model in models:
        get_model_info(model)  # an unknown name fails before any work
    args.work.mkdir(parents=True, exist_ok=True)
    from edgekit.bench.host import parse_threads

    threads = parse_threads(args.threads)
    meta_path = args.work / "runs.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if not args.render_only:
        for model in models:
            folder = args.work / "export" / model
            if done(folder, threads) and not args.force:
                print(f"{model}: already measured ({folder / 'bench.json'})")
                continue
            log = args.work / f"{model}.log"
            started = time.time()
            if args.force or not any(folder.glob("*/manifest.json")):
                print(f"{model}: exporting", flush=True)
                export(model, args.work, log)
            if (folder / "bench.json").exists():
                (folder / "bench.json").unlink()
            print(f"{model}: timing", flush=True)
            meta[model] = {**bench(folder, args.threads, args.seconds, log), "total_seconds": round(time.time() - started, 1)}
            meta_path.write_text(json.dumps(meta, indent=2) + "\n")
            print(f"{model}: {meta[model]}", flush=True)
    previous = previous_sections(DOC.read_text(encoding="utf-8")) if DOC.is_file() else {}
    DOC.write_text(render(args.work, list_models("classification"), previous) + "\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
