"""Short runs that learn: edgekit's `train()` vs a plain torchvision loop, at a few epoch counts.

    .venv/bin/python benchmarks/short_runs.py [--epochs 2 4 8] [--threads 2] [--heldout N]

All on the shipped Fashion-MNIST subset (samples/fashion-mnist, default seeded split: 2000 train,
500 val), mobilenet_v2 at 64 px, batch 64, CPU, seed 0. Three trainers per epoch count:

    plain    ~20 lines: torchvision mobilenet_v2, Adam lr 1e-3, cross-entropy, no augmentation
             (the evaluation transform: resize + centre crop + the split's normalisation)
    edgekit  `edgekit.train.train` with its defaults (the budget-scaled recipe, edgekit.recipe)
    old      `train` with the former fixed defaults: warm-up 1 epoch, crops down to 35 %, flips on

Reported per trainer: validation top-1 of the final epoch (500 images) and, when the Debian
package dataset-fashion-mnist is installed, held-out top-1 on the first N images of the
Fashion-MNIST *test* set (never seen by any trainer, never used to pick anything), final weights.
Each result is also appended as one JSON line to --jsonl.
"""
from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from edgekit.checkpoint import load_checkpoint
from edgekit.data.datasets import ImageListDataset
from edgekit.data.folder import load_splits
from edgekit.data.stats import compute_mean_std
from edgekit.models import create_model
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.preprocess import Preprocessing
from edgekit.train import TrainConfig, train

IMG_SIZE, BATCH, SEED = 64, 64, 0
TEST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Fashion-MNIST label index -> the shipped folder name
FMNIST_CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


def load_heldout(limit: int) -> list[tuple[Image.Image, str]]:
    images_path, labels_path = TEST_DIR / "t10k-images-idx3-ubyte.gz", TEST_DIR / "t10k-labels-idx1-ubyte.gz"
    if limit <= 0 or not images_path.is_file():
        return []
    raw = gzip.open(images_path).read()
    labels = np.frombuffer(gzip.open(labels_path).read(), dtype=np.uint8, offset=8)
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    return [(Image.fromarray(images[i]).convert("RGB"), FMNIST_CLASSES[labels[i]]) for i in range(min(limit, len(labels)))]


@torch.no_grad()
def accuracy(model: nn.Module, batches) -> float:
    model.eval()
    correct = count = 0
    for images, labels in batches:
        correct += int((model(images).argmax(1) == labels).sum())
        count += len(labels)
    return correct / max(count, 1)


def heldout_batches(heldout, classes: list[str], preprocessing: Preprocessing):
    transform = preprocessing.eval_transform()
    for start in range(0, len(heldout), 256):
        chunk = heldout[start:start + 256]
        yield (torch.stack([transform(image) for image, _ in chunk]),
               torch.tensor([classes.index(name) for _, name in chunk]))


def plain_loop(splits, preprocessing: Preprocessing, epochs: int) -> tuple[nn.Module, float]:
    """The baseline: Adam, no augmentation, final-epoch weights."""
    torch.manual_seed(SEED)
    transform = preprocessing.eval_transform()
    train_loader = DataLoader(ImageListDataset(splits.train, transform), batch_size=BATCH, shuffle=True,
                              generator=torch.Generator().manual_seed(SEED))
    val_loader = DataLoader(ImageListDataset(splits.val, transform), batch_size=256)
    model = torchvision.models.mobilenet_v2(num_classes=len(splits.classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            criterion(model(images), labels).backward()
            optimizer.step()
    return model, accuracy(model, val_loader)


def edgekit_run(epochs: int, out: Path, **overrides) -> tuple[nn.Module, float, Preprocessing, dict]:
    config = TrainConfig(model="mobilenet_v2", data=str(SAMPLE_DATA_DIR), out=str(out), epochs=epochs,
                         batch_size=BATCH, img_size=IMG_SIZE, seed=SEED, device="cpu", **overrides)
    result = train(config, show_progress=False)
    ckpt = load_checkpoint(result.last_checkpoint)
    model = create_model("mobilenet_v2", num_classes=ckpt.num_classes)
    model.load_state_dict(ckpt.state_dict)
    recipe = json.loads((out / "config.json").read_text())["recipe"]
    return model, result.history[-1]["val_acc"], ckpt.preprocessing, recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--trainers", nargs="+", default=["plain", "edgekit", "old"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heldout", type=int, default=2000, help="test-set images scored (0: none)")
    parser.add_argument("--jsonl", type=Path, default=Path("short_runs.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = load_splits(SAMPLE_DATA_DIR, val_fraction=0.2, seed=SEED)
    mean, std = compute_mean_std([p for p, _ in splits.train])
    preprocessing = Preprocessing(img_size=IMG_SIZE, mean=tuple(mean), std=tuple(std), resize="center_crop")
    heldout = load_heldout(args.heldout)
    print(f"{len(splits.train)} train / {len(splits.val)} val images; held-out: {len(heldout)} test-set images")
    print(f"{'epochs':>6} {'trainer':>8} {'val top-1':>10} {'held-out':>9} {'seconds':>8}  recipe")
    for epochs in args.epochs:
        for trainer in args.trainers:
            start = time.perf_counter()
            recipe = None
            with tempfile.TemporaryDirectory() as tmp:
                if trainer == "plain":
                    model, val_acc = plain_loop(splits, preprocessing, epochs)
                    run_pre = preprocessing
                elif trainer == "edgekit":
                    model, val_acc, run_pre, recipe = edgekit_run(epochs, Path(tmp) / "run")
                else:
                    model, val_acc, run_pre, recipe = edgekit_run(epochs, Path(tmp) / "run", warmup_epochs=1.0,
                                                                  crop_scale_min=0.35, hflip=True)
            held = accuracy(model, heldout_batches(heldout, splits.classes, run_pre)) if heldout else None
            seconds = time.perf_counter() - start
            short = "" if recipe is None else (f"warmup {recipe['warmup_epochs']:.2f} ep, crop {recipe['crop_scale'][0]:.2f}, "
                                               f"flip {'on' if recipe['hflip'] else 'off'}")
            held_text = f"{held:.3f}" if held is not None else "-"
            print(f"{epochs:>6} {trainer:>8} {val_acc:>10.3f} {held_text:>9} {seconds:>8.0f}  {short}", flush=True)
            with args.jsonl.open("a") as f:
                f.write(json.dumps({"epochs": epochs, "trainer": trainer, "val_acc": val_acc, "heldout_acc": held,
                                    "heldout_images": len(heldout), "seconds": seconds, "recipe": recipe}) + "\n")


if __name__ == "__main__":
    main()
