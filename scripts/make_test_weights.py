"""Train the test suite's fixed weights once and write them to tests/fixtures/weights/ (committed).

    python scripts/make_test_weights.py [--models mobilenet_v2,shufflenet_v2,squeezenet1_1] [--out DIR]

Why: tests whose subject is not training (export, parity, int8 gates, bench, report, the app's tools) need a model
that has really learned, and must mean the same on every CPU. A seeded training run does not: its trajectory
depends on the CPU's kernels (squeezenet1_1's 10-epoch fixture reached 70 % on AMD EPYC and 55.6 % on an Intel Xeon).
So the suite trains these once, here, and every test loads the same bytes: bit-identical weights everywhere.

Each file is an ordinary edgekit checkpoint (`edgekit-checkpoint/1`) trained on the shipped Fashion-MNIST samples
(`samples/fashion-mnist`, the seeded default split) at 64 px with the recipe below, its state dict stored as
float16 to keep the files small (the tensors load into the float32 architecture unchanged in value; the accuracy
printed is measured after that rounding). `meta` records the training CPU, the recipe, the validation accuracy
after rounding, and the sha256 of the validation split's file list, so a test can tell when the shipped split
changed under it (tests/conftest.py refuses to use stale weights then).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "tests" / "fixtures" / "weights"
IMG_SIZE = 64
DEFAULT_RECIPE = {"epochs": 4, "lr": 5e-3, "batch_size": 64, "warmup_epochs": 0.5}
# SqueezeNet's ReLU after the last conv dies at AdamW 3e-3 (logits all zero, loss stuck at ln 10), hence its smaller
# learning rate, smaller batches and more (cheap) epochs.
RECIPES = {"squeezenet1_1": {"epochs": 14, "lr": 2e-3, "batch_size": 32, "warmup_epochs": 1.0},
           "squeezenet1_0": {"epochs": 10, "lr": 2e-3, "batch_size": 32, "warmup_epochs": 1.0}}
MODELS = ("mobilenet_v2", "shufflenet_v2", "squeezenet1_1")


def split_digest(samples) -> str:
    """sha256 of the split's files (paths relative to the shipped data folder) and labels, in order."""
    from edgekit.paths import SAMPLE_DATA_DIR

    text = "\n".join(f"{Path(p).resolve().relative_to(SAMPLE_DATA_DIR.resolve()).as_posix()}\t{label}"
                     for p, label in samples)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make(model_name: str, out: Path) -> dict:
    import torch

    from edgekit.checkpoint import load_checkpoint, save_checkpoint
    from edgekit.data.folder import load_splits
    from edgekit.evaluate import checkpoint_predictor, evaluate_predictor
    from edgekit.paths import SAMPLE_DATA_DIR
    from edgekit.train import TrainConfig, train

    recipe = {**DEFAULT_RECIPE, **RECIPES.get(model_name, {})}
    with tempfile.TemporaryDirectory() as work:
        result = train(TrainConfig(model=model_name, data=str(SAMPLE_DATA_DIR), out=str(Path(work) / "run"),
                                   img_size=IMG_SIZE, seed=0, device="cpu", **recipe), show_progress=False)
        checkpoint = load_checkpoint(result.best_checkpoint)
    checkpoint.state_dict = {k: v.half() if v.is_floating_point() else v for k, v in checkpoint.state_dict.items()}
    val = load_splits(SAMPLE_DATA_DIR).val
    report = evaluate_predictor(checkpoint_predictor(checkpoint), val, checkpoint.labels, checkpoint.preprocessing)
    checkpoint.meta = {**checkpoint.meta, "fixed_weights": {
        "made_by": "scripts/make_test_weights.py", "cpu": cpu_name(), "torch": str(torch.__version__),
        "recipe": recipe, "img_size": IMG_SIZE, "stored_as": "float16",
        "val_acc_after_rounding": report.accuracy, "val_images": len(val), "val_split_sha256": split_digest(val)}}
    target = out / f"{model_name}.pt"
    save_checkpoint(checkpoint, target)
    return {"model": model_name, "file": str(target.relative_to(REPO)), "bytes": target.stat().st_size,
            "val_acc_trained": result.best_val_acc, "val_acc_after_rounding": report.accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        print(json.dumps(make(name.strip(), args.out)), flush=True)


if __name__ == "__main__":
    main()
