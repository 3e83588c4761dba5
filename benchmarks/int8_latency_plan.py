"""The zoo's int8 / fp32 speed at 1 thread, before and after the latency-aware int8 plan, as a Markdown table.

    python benchmarks/int8_latency_plan.py --out /tmp/latency-plan [--models mobilenet_v2,resnet18] [--img-size 224]

For each model: `edgekit export MODEL --int8 --formats onnx,tflite,executorch --latency-target host` (random weights
unless torchvision's ImageNet file is cached: latency does not depend on the values; the gate then has nothing to
judge, which the table says), then every int8 manifest's `int8_plan.latency` is read: the first step is the artifact
before the plan (int8 timed against the same format's fp32, interleaved, in one process), the kept step after it.
Prints the table (with the CPU's name and int8 flags) on stdout; each model's export stays under --out. Resumable: a
model whose export folder holds the three int8 manifests is not exported again (--force does).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

FORMATS = ("onnx", "tflite", "executorch")


def export(model: str, out: Path, img_size: int) -> None:
    command = [sys.executable, "-m", "edgekit.cli.main", "export", model, "--int8", "--formats", ",".join(FORMATS),
               "--latency-target", "host", "--img-size", str(img_size), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{model}: export exited {done.returncode}\n{done.stderr[-2000:]}")


def row(model: str, folder: Path) -> list[str]:
    cells = [model]
    for format_name in FORMATS:
        path = folder / f"{format_name}-int8" / "manifest.json"
        if not path.is_file():
            cells += ["not exported", ""]
            continue
        latency = (json.loads(path.read_text()).get("int8_plan") or {}).get("latency")
        if not latency:
            cells += ["not timed", ""]
            continue
        steps = latency["steps"]
        kept = [step for step in steps if step["kept"]][-1]
        tried = len(steps) - 1
        after = f"{kept['int8_vs_fp32']:.2f}x" + (f" ({len(kept['keep_float'])} float)" if kept is not steps[0] else "")
        slower = latency.get("slower_in_int8")
        note = "no per-layer times" if slower is None else f"{len(slower)} slower in int8, {tried} tried"
        cells += [f"{steps[0]['int8_vs_fp32']:.2f}x", f"{after}; {note}"]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", default=None, help="comma-separated (default: the whole zoo)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    from edgekit.cpu import cpu_facts
    from edgekit.models import list_models

    models = args.models.split(",") if args.models else [name for name in list_models()
                                                         if not name.startswith("ssdlite")]  # detectors: no int8 yet
    rows = []
    for model in models:
        folder = args.out / model
        if args.force or not all((folder / f"{f}-int8" / "manifest.json").is_file() for f in FORMATS):
            print(f"exporting {model} ...", file=sys.stderr, flush=True)
            export(model, args.out, args.img_size)
        rows.append(row(model, folder))
    cpu = cpu_facts()
    print(f"CPU: {cpu['name']} ({' '.join(cpu['int8_flags'])}): {cpu['int8_note']}; {args.img_size} px, 1 thread\n")
    header = ["model"] + [f"{f} {when}" for f in FORMATS for when in ("before", "after the plan")]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
