"""The lightweight torchvision classifiers brought to edgekit (issue 24): the table of docs/byom.md.

    .venv/bin/python scripts/byom_matrix.py [--models a,b] [--img-size 224] [--out DIR] [--reuse] > table.md

Per model, as a user brings one (`edgekit export torchvision:NAME --weights FILE --img-size N --mean ... --std ...
--labels FILE --int8`, here through edgekit.export_model): the architecture with 10 classes and non-degenerate probe
weights (edgekit.models.probe: batch-norm statistics re-estimated and the head fitted on 300 shipped training
images; no training) saved as a state dict; exported to ONNX, TFLite and ExecuTorch in fp32 and int8 (int8
calibrated on the shipped calibration/ set), each artifact verified in its own runtime on the shipped validation
images; then `edgekit bench` of that export at 1 thread (every artifact and the eager fp32 model in one interleaved
run: the int8/fp32 ratios are within one run). Also the agreement of the int8 PT2E graph (XNNPACK quantizer)
evaluated in PyTorch itself on the same images: when an artifact agrees about as well as that, the loss is the
quantization of these weights, not the converter.

Each model's figures are kept in OUT/<model>.json (--reuse renders the table from them without re-running; a model
without one reuses a complete export of the same weights and size in OUT/export, so an interrupted run resumes).
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "regnet_x_400mf", "mnasnet0_5",
          "shufflenet_v2_x1_0", "squeezenet1_1")
FORMATS = ("onnx", "tflite", "executorch")
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
PARITY_IMAGES = 200
BENCH_SECONDS = 3.0


def measure(name: str, img_size: int, out: Path, reuse: bool = False) -> dict:
    import torch
    import torchvision

    from edgekit import ExportOptions, export_model
    from edgekit.artifacts import find_artifacts
    from edgekit.bench.host import BenchOptions, bench_host, host_description
    from edgekit.models.probe import distinct_top1, probe_images, probe_weights

    started = time.perf_counter()
    images, labels, classes = probe_images(img_size)
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, num_classes=len(classes))
    probe_weights(model, images, labels, len(classes))
    weights = out / "weights" / f"{name}.pth"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    summary = finished_export(out / "export" / f"torchvision-{name}", weights, img_size) if reuse else None
    reused = summary is not None
    if summary is None:
        summary = export_model(ExportOptions(f"torchvision:{name}", weights=weights, img_size=img_size, labels=classes,
                                             formats=list(FORMATS), precisions=["fp32", "int8"],
                                             parity_size=PARITY_IMAGES, allow_mismatch=True, out=out / "export",
                                             **IMAGENET)).to_dict()
    folder = Path(summary["folder"])
    reference = pt2e_reference(model, img_size, classes)
    artifacts = find_artifacts(folder)
    host = host_description()
    rows = bench_host(artifacts, folder, BenchOptions(threads=[1], iterations=None, seconds=BENCH_SECONDS, warmup=5,
                                                      rounds=5),
                      on_progress=lambda event: print(f"  {name}: {event.message}", file=sys.stderr, flush=True),
                      host_name=host["cpu"])
    timing = {(r.format, r.precision): r for r in rows}
    cells = {}
    for result in summary["artifacts"]:
        parity = result.get("parity") or {}
        integer = result.get("integer") or {}
        row = timing.get((result["format"], result["precision"]))
        cells[f"{result['format']}-{result['precision']}"] = {
            "status": result["status"], "reason": result["reason"], "agreement": parity.get("agreement"),
            "cosine": parity.get("cosine"), "float_ops": integer.get("float_ops"), "which": integer.get("which"),
            "p50_ms": row.p50_ms if row is not None and row.status == "ok" else None,
            "unreliable": bool(row.wide_spread) if row is not None else None,
            "bench": row.status if row is not None else None}
    eager = timing.get(("pytorch", "fp32"))
    return {"model": name, "img_size": img_size, "cells": cells, "pt2e_agreement": reference,
            "distinct_top1": distinct_top1(model, summary_images(img_size)),
            "eager_p50_ms": eager.p50_ms if eager is not None and eager.status == "ok" else None,
            "parity_images": summary["parity_images"], "calibration": summary["calibration"], "cpu": host["cpu"],
            "date": datetime.date.today().isoformat(), "seconds": round(time.perf_counter() - started),
            "export_reused": reused}


def finished_export(folder: Path, weights: Path, img_size: int) -> dict | None:
    """--reuse: the summary of an earlier complete export of these very weights (sha256) at this size, else None."""
    from edgekit.errors import EdgekitError
    from edgekit.export.summary import read_summary
    from edgekit.fileio import sha256_file

    try:
        summary = read_summary(folder)
    except EdgekitError:
        return None
    done = {(a.get("format"), a.get("precision")) for a in summary.get("artifacts", [])}
    manifests = list(folder.glob("*/manifest.json"))
    sizes = {json.loads(m.read_text()).get("preprocessing", {}).get("img_size") for m in manifests}
    if ((summary.get("source") or {}).get("sha256") != sha256_file(weights) or sizes != {img_size}
            or done != {(f, p) for f in FORMATS for p in ("fp32", "int8")}):
        return None
    return summary


def summary_images(img_size: int):
    from edgekit.export.verify import parity_images
    from edgekit.preprocess import Preprocessing

    return parity_images(Preprocessing(img_size=img_size, **IMAGENET), [], val_dir=None, checkpoint=None,
                         num_images=PARITY_IMAGES).images


def pt2e_reference(model, img_size: int, classes: list[str]) -> float:
    """int8 agreement with fp32 of the PT2E graph (XNNPACK quantizer, the export's calibration images) in PyTorch."""
    import torch

    from edgekit.image_sets import calibration_images
    from edgekit.preprocess import Preprocessing
    from edgekit.quantize.calibration import load_calibration_images
    from edgekit.quantize.pt2e import quantize_pt2e, run_graph, xnnpack_quantizer
    from edgekit.stats import top1_agreement

    pre = Preprocessing(img_size=img_size, **IMAGENET)
    calibration = load_calibration_images(pre, paths=calibration_images(None, None, "weights file", 200).paths)
    images = summary_images(img_size)
    graph = quantize_pt2e(model, torch.from_numpy(images[:1].copy()), xnnpack_quantizer(), calibration)
    return top1_agreement(run_graph(graph, images), run_graph(model, images))


def cell(data: dict) -> str:
    if data["status"] == "verified":
        text = f"✅ {data['agreement']:.0%}"
    elif data["status"] == "failed verification":
        why = data["reason"].split(";")[0].strip()  # the first check that failed
        text = (f"❎ {data['agreement']:.0%}" if data["agreement"] is not None else "❎") + (f" ({why})" if why else "")
    else:
        text = f"❌ {data['status']}: {data['reason'][:80]}"
    return text


def latency(data: dict) -> str:
    if data["p50_ms"] is None:
        return f"not timed ({data['bench']})"
    return f"{data['p50_ms']:.2f}" + ("*" if data["unreliable"] else "")


def render(results: list[dict]) -> str:
    first = results[0]
    lines = [f"torchvision {first['img_size']} px, 10 classes, probe weights; {first['date']}, {first['cpu']}, 1 thread",
             "", "| model | format | fp32 parity | int8 parity | int8 float ops | fp32 p50 ms | int8 p50 ms | int8/fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    for result in results:
        for fmt in FORMATS:
            fp32, int8 = result["cells"][f"{fmt}-fp32"], result["cells"][f"{fmt}-int8"]
            ops = "" if int8["float_ops"] is None else str(int8["float_ops"])
            if int8["which"]:
                ops += ": " + ", ".join(f"{k}×{v}" if v > 1 else k for k, v in int8["which"].items())
            ratio = (f"{int8['p50_ms'] / fp32['p50_ms']:.2f}" if int8["p50_ms"] and fp32["p50_ms"] else "")
            lines.append(f"| {result['model']} | {fmt} | {cell(fp32)} | {cell(int8)} | {ops} | {latency(fp32)} | "
                         f"{latency(int8)} | {ratio} |")
    lines += ["", "| model | PT2E int8 in PyTorch: agreement | distinct top-1 (of 10) | eager fp32 p50 ms | seconds |",
              "|---|---|---|---|---|"]
    for result in results:
        eager = f"{result['eager_p50_ms']:.2f}" if result["eager_p50_ms"] else ""
        lines.append(f"| {result['model']} | {result['pt2e_agreement']:.0%} | {result['distinct_top1']} | {eager} | "
                     f"{result['seconds']}{' (export reused)' if result.get('export_reused') else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated torchvision names")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--out", type=Path, default=ROOT / "export" / "byom_matrix", help="work folder (gitignored)")
    parser.add_argument("--reuse", action="store_true", help="render from OUT/<model>.json where present; a model "
                        "without one reuses a complete export of the same weights and size in OUT/export")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.models.split(","):
        record = args.out / f"{name}.json"
        if args.reuse and record.is_file():
            results.append(json.loads(record.read_text()))
            continue
        print(f"{name}...", file=sys.stderr, flush=True)
        results.append(measure(name, args.img_size, args.out, args.reuse))
        record.write_text(json.dumps(results[-1], indent=1))
        print(render(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(render(results))


if __name__ == "__main__":
    main()
