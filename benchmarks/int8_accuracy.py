"""int8 accuracy and size: fp32 vs int8 per model and format, measured in one run, as a markdown table.

    .venv/bin/python benchmarks/int8_accuracy.py [--models mobilenet_v2,shufflenet_v2,squeezenet1_1]
        [--formats executorch,tflite,onnx] [--checkpoint MODEL=RUN/best.pt ...] [--calib-method minmax]

Each model is trained briefly on the shipped Fashion-MNIST subset at 64 px (the test fixture's
recipe, tests/conftest.py) unless a checkpoint is given, then exported through
edgekit.export.api.export_model in fp32 and int8; top-1 is the export's own parity measurement
on the run's whole validation split (every image through the artifact's runtime).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
from pathlib import Path

from edgekit import ExportOptions, export_model

REPO = Path(__file__).resolve().parent.parent
VALIDATION_IMAGES = 500


def train_quickly(model_name: str, out: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import trained_run_config  # the fixture's tuned recipe, one source of truth

    from edgekit.train import train

    return train(trained_run_config(model_name, out), show_progress=True).best_checkpoint


def rows_for(model_name: str, checkpoint: Path, formats: list[str], method: str, out: Path) -> list[str]:
    summary = export_model(ExportOptions(model_name, checkpoint=checkpoint, formats=formats, precisions=["fp32", "int8"],
                                         out=out, parity_size=VALIDATION_IMAGES, calib_method=method, allow_mismatch=True))
    by_key = {(r.format, r.precision): r for r in summary.results}
    rows = []
    for format_name in formats:
        fp32, int8 = by_key[(format_name, "fp32")], by_key[(format_name, "int8")]
        if not (fp32.parity and int8.parity and fp32.size_bytes and int8.size_bytes):
            rows.append(f"| {model_name} | {format_name} | {fp32.status} | {int8.status}: {int8.reason[:60]} | | | | |")
            continue
        rows.append(f"| {model_name} | {format_name} | {fp32.parity['artifact_top1']:.1f} | {int8.parity['artifact_top1']:.1f} | "
                    f"{fp32.parity['artifact_top1'] - int8.parity['artifact_top1']:+.1f} | {fp32.size_bytes / 1e6:.2f} | "
                    f"{int8.size_bytes / 1e6:.2f} | {int8.size_bytes / fp32.size_bytes:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,shufflenet_v2,squeezenet1_1", help="comma-separated model names")
    parser.add_argument("--formats", default="executorch,tflite,onnx", help="comma-separated formats that run on this host")
    parser.add_argument("--checkpoint", action="append", default=[], help="MODEL=PATH: use this checkpoint instead of training")
    parser.add_argument("--calib-method", default="minmax", help="calibration method (docs/quantization.md)")
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.checkpoint)
    formats = args.formats.split(",")
    lines = [f"int8 vs fp32, top-1 (%) on {VALIDATION_IMAGES} validation images of the shipped Fashion-MNIST subset, 64 px; "
             f"{datetime.date.today()}, {platform.machine()} {platform.processor() or ''}, calibration: 200 images, {args.calib_method}",
             "", "| model | format | fp32 top-1 | int8 top-1 | drop (pts) | fp32 MB | int8 MB | int8/fp32 size |",
             "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-int8-bench-") as work:
        for model_name in args.models.split(","):  # rows printed as each model finishes
            checkpoint = Path(given[model_name]) if model_name in given else train_quickly(model_name, Path(work) / f"run-{model_name}")
            print("\n".join(rows_for(model_name, checkpoint, formats, args.calib_method, Path(work) / "export")), flush=True)


if __name__ == "__main__":
    main()
