"""Train the test suite's fixed detector once and write it to tests/fixtures/weights/ (committed).

    python scripts/make_test_detector.py [--steps N] [--out DIR]

Why: the detection export tests judge artifacts on mAP and matched boxes, which means nothing on a detector that
has not learned (its scores tie at 1/(K+1) and every box order is arbitrary). Like scripts/make_test_weights.py,
the suite trains it once, here, and every test loads the same bytes on every CPU.

The file is an ordinary edgekit detector checkpoint (`task: detection`): ssdlite_mobilenet_v2 for the 10 classes
of samples/detection-fashion at 128 px, plain resize, its backbone started from the classification fixture
tests/fixtures/weights/mobilenet_v2.pt (trained on the same Fashion-MNIST items), its state dict stored as float16.
It is trained by a plain loop here, not by `edgekit train`: SSD's full box-aware augmentation (zoom-out to 4x, IoU
crops) is right for real data but needs thousands of steps, and `edgekit train` for 40 epochs (160 steps) on the
sample's 60 training images left it at 0.3 mAP points; 1,000 plain steps on those 60 memorised them (loss 0.008,
validation mAP 1.5 points). So the training images are TRAIN_IMAGES fresh compositions drawn by
scripts/make_detection_sample.py's own `compose` with seed 1 (the sample is seed 0; the pasted items come from the
same shipped Fashion-MNIST pool, so the validation split's items are not unseen, only their compositions). The
loop: random horizontal flips, batch 16, AdamW (lr 3e-3, weight decay 1e-4, 20 warm-up steps, cosine to 0),
STEPS steps, seed 0, torchvision's SSD loss.
`meta.fixed_weights` records the CPU, the recipe and the validation mAP measured after the float16 rounding
(edgekit.detection_eval on the sample's val split).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

OUT = REPO / "tests" / "fixtures" / "weights"
MODEL = "ssdlite_mobilenet_v2"
TRAIN_IMAGES = 1200
RECIPE = {"img_size": 128, "train_images": TRAIN_IMAGES, "train_seed": 1, "steps": 400, "batch_size": 16, "lr": 3e-3, "weight_decay": 1e-4, "warmup_steps": 20}


def make(out: Path, steps: int) -> dict:
    import math
    import time

    import torch
    from torchvision.transforms import v2

    from make_test_weights import cpu_name

    from edgekit.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from edgekit.data.detection import read_detection
    from edgekit.detection_eval import evaluate_detection
    from edgekit.detector import DetectionDataset, build_detector_for, collate, detector_preprocessing
    from edgekit.evaluate_options import EvalOptions
    from edgekit.models.ssdlite import init_backbone_from_file

    torch.manual_seed(0)
    recipe = {**RECIPE, "steps": steps}
    sample = REPO / "samples" / "detection-fashion"
    dataset = read_detection(sample)
    classes = list(dataset.classes)
    work_dir = tempfile.TemporaryDirectory()
    train_images = composed_training_set(Path(work_dir.name), recipe["train_images"], recipe["train_seed"], classes)
    model = build_detector_for(MODEL, len(classes), recipe["img_size"])
    init_backbone_from_file(model, OUT / "mobilenet_v2.pt")
    preprocessing = detector_preprocessing(model, recipe["img_size"], "resize")
    loader = torch.utils.data.DataLoader(
        DetectionDataset(train_images, preprocessing, augment=v2.RandomHorizontalFlip(0.5)),
        batch_size=recipe["batch_size"], shuffle=True, collate_fn=collate, drop_last=True,
        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    warmup = recipe["warmup_steps"]
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(step, steps) / steps)))
    model.train()
    step, started = 0, time.perf_counter()
    while step < steps:
        for images, targets, _ in loader:
            loss = sum(model(images, targets).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{steps}  loss {loss.item():.3f}  {time.perf_counter() - started:.0f} s", flush=True)
            if step == steps:
                break
    state = {k: v.detach().half() if v.is_floating_point() else v for k, v in model.eval().state_dict().items()}
    checkpoint = Checkpoint(model_name=MODEL, num_classes=len(classes), labels=classes, preprocessing=preprocessing,
                            state_dict=state, task="detection", meta={"recipe": recipe})
    target = out / f"{MODEL}.pt"
    with tempfile.TemporaryDirectory() as work:
        rounded = Path(work) / "rounded.pt"
        save_checkpoint(checkpoint, rounded)
        scored = evaluate_detection(EvalOptions(rounded, data=sample, split="val", out=Path(work) / "eval"))
    checkpoint.meta["fixed_weights"] = {
        "made_by": "scripts/make_test_detector.py", "cpu": cpu_name(), "torch": str(torch.__version__),
        "recipe": recipe, "data": "samples/detection-fashion", "stored_as": "float16",
        "val_map_after_rounding": scored.report.map, "val_map50_after_rounding": scored.report.map50}
    save_checkpoint(checkpoint, target)
    load_checkpoint(target, task="detection")  # it reads back
    work_dir.cleanup()
    return {"model": MODEL, "file": str(target), "bytes": target.stat().st_size, "seconds": round(time.perf_counter() - started),
            "val_map_after_rounding": scored.report.map, "val_map50_after_rounding": scored.report.map50}


def composed_training_set(folder: Path, count: int, seed: int, classes: list[str]) -> list:
    """`count` pictures made like the sample's (make_detection_sample.compose) with another seed, as DetectionImages."""
    import numpy as np
    from PIL import Image

    import make_detection_sample as sample

    from edgekit.data.detection import Box, DetectionImage

    names = sorted(p.name for p in sample.SOURCE.iterdir() if p.is_dir())
    assert names == classes, (names, classes)
    pool = [(path, label) for label, name in enumerate(names) for path in sorted((sample.SOURCE / name).glob("*.png"))]
    rng = np.random.default_rng(seed)
    images = []
    for index in range(count):
        canvas, placed = sample.compose(rng, pool)
        path = folder / f"train_{index:04d}.jpg"
        Image.fromarray(np.round(canvas).astype(np.uint8)).save(path, quality=sample.JPEG_QUALITY)
        boxes = [Box(label, x1, y1, x2 - x1, y2 - y1) for label, (x1, y1, x2, y2) in placed]
        images.append(DetectionImage(path, path.name, "train", sample.SIZE, sample.SIZE, boxes))
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=RECIPE["steps"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(make(args.out, args.steps)), flush=True)


if __name__ == "__main__":
    main()
