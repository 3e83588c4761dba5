"""Float ops of every zoo model's int8 artifacts, as the markdown table of docs/quantization.md.

    .venv/bin/python benchmarks/float_ops.py [--img-size 64] [--num-classes 10] [--out /tmp/edgekit-float-ops]
        [--models xception,mobilenet_v2] [--formats tflite,onnx,executorch] [--reuse]

Exports each model (`edgekit models list`) with RANDOM weights in int8 through
edgekit.export.api.export_model into OUT/<model>/<format>-int8/, then reads `backend.integer` from
each manifest (edgekit.export.integer: the ops that compute in float between input and output; ONNX
counted after onnxruntime's ORT_ENABLE_ALL on this CPU). Random weights are enough: the count is a
property of the graph, not of the weights (accuracy is export's verification with a trained
checkpoint). --reuse reads manifests already in OUT instead of exporting again.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FORMATS = ("tflite", "onnx", "executorch")
TITLES = {"tflite": "TFLite", "onnx": "ONNX", "executorch": "ExecuTorch"}
CALIBRATION_IMAGES = 32  # the count does not depend on the ranges; fewer images export faster
PARITY_IMAGES = 16  # random weights: export's parity is not judged anyway


def export_int8(model_name: str, formats: list[str], img_size: int, num_classes: int, out: Path) -> None:
    """int8 artifacts of `model_name` with random weights under OUT/<model>/ (errors are recorded, not raised)."""
    from edgekit import ExportOptions, export_model

    export_model(ExportOptions(model_name, pretrained=False, formats=formats, precisions=["int8"], img_size=img_size,
                               num_classes=num_classes, out=out, calib_size=CALIBRATION_IMAGES,
                               parity_size=PARITY_IMAGES, allow_mismatch=True))


def integer_facts(out: Path, model_name: str, format_name: str) -> dict | None:
    """The manifest's backend.integer of OUT/<model>/<format>-int8, or None when there is none."""
    manifest = out / model_name / f"{format_name}-int8" / "manifest.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text()).get("backend", {}).get("integer")


def table(out: Path, models: list[str], formats: list[str]) -> str:
    """Markdown: one row per model, one float-op column per format ("0", "3: ADD×2, ..." or "no artifact")."""
    from edgekit.export.integer import summary

    lines = ["| model | " + " | ".join(f"{TITLES.get(f, f)} float ops" for f in formats) + " |",
             "|---|" + "---|" * len(formats)]
    measured_on = set()
    for model_name in models:
        cells = []
        for format_name in formats:
            facts = integer_facts(out, model_name, format_name)
            cells.append(summary(facts) if facts else "no artifact")
            if facts:
                measured_on.add(f"{format_name}: {facts['measured_on']}")
        lines.append(f"| {model_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""] + [f"- {line}" for line in sorted(measured_on)])


def main(argv: list[str] | None = None) -> int:
    from edgekit.models import list_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgekit-float-ops"))
    parser.add_argument("--models", default=None, help="comma-separated (default: every zoo model)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--reuse", action="store_true", help="read the manifests in --out, export nothing")
    args = parser.parse_args(argv)
    models = args.models.split(",") if args.models else list_models("classification")
    formats = args.formats.split(",")
    if not args.reuse:
        for model_name in models:
            print(f"exporting {model_name} ({', '.join(formats)}, int8, {args.img_size} px)", file=sys.stderr, flush=True)
            export_int8(model_name, formats, args.img_size, args.num_classes, args.out)
    what = (f"the artifacts already in {args.out}" if args.reuse
            else f"random weights, {args.img_size} px, {args.num_classes} classes")
    print(f"float ops of int8 artifacts: {what}\n")
    print(table(args.out, models, formats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
