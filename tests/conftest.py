"""Shared fixtures: real runs trained once per session on the shipped Fashion-MNIST subset.

    trained_run(model_name: str) -> edgekit.train.TrainResult
        A run trained on SAMPLE_DATA_DIR (10 classes, 2000 train / 500 val images) at 64 px,
        cached per model name for the whole session. Its best.pt has learned (well above the
        10 % chance level), so its logits are not degenerate: use it for export/int8 parity.
    sample_images -> list[pathlib.Path]
        Real image files from the shipped set, two per class (20 paths), sorted.
    tiny_data_dir -> pathlib.Path
        A class folder with 2 classes x 20 real images (bag, trouser).
    tiny_run -> edgekit.train.TrainResult
        A 2-epoch, 32 px run of TINY_MODEL on tiny_data_dir (seconds; for plumbing, not accuracy).
    probe_run(model_name: str) -> ProbeRun
        A run directory (config.json, labels.txt, splits/ of the shipped set, best.pt) whose checkpoint holds
        non-degenerate weights made without training (edgekit.models.probe: batch norms re-estimated, head fitted):
        seconds, identical on every CPU up to rounding, with outputs that separate classes. For every test whose
        subject is not accuracy (export, parity, int8 plumbing, bench, report, eval of artifacts, the app).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from edgekit.paths import SAMPLE_DATA_DIR

# Tuned on 2 idle CPU cores to reach >= 70 % validation accuracy in about 40-60 s each.
# SqueezeNet's ReLU after the last conv dies at AdamW 3e-3 (logits all zero, loss stuck at
# ln 10), hence its smaller learning rate, smaller batches and more (cheap) epochs.
TRAINED_RUN_IMG_SIZE = 64
_DEFAULT_RECIPE = {"epochs": 4, "lr": 5e-3, "batch_size": 64, "warmup_epochs": 0.5}
_RECIPES: dict[str, dict] = {
    "squeezenet1_0": {"epochs": 10, "lr": 2e-3, "batch_size": 32, "warmup_epochs": 1.0},
    # 14 epochs: at 10 the run reached 70 % on AMD EPYC hosts but 55.6 % on an Intel Xeon (same seed; the
    # CPU's kernels change the trajectory); at 14 it reached 71.4 % on that Xeon
    "squeezenet1_1": {"epochs": 14, "lr": 2e-3, "batch_size": 32, "warmup_epochs": 1.0},
}


def trained_run_config(model_name: str, out: Path):
    from edgekit.train import TrainConfig

    recipe = {**_DEFAULT_RECIPE, **_RECIPES.get(model_name, {})}
    return TrainConfig(model=model_name, data=str(SAMPLE_DATA_DIR), out=str(out), img_size=TRAINED_RUN_IMG_SIZE,
                       seed=0, device="cpu", **recipe)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Callable[[str], "TrainResult"]:  # noqa: F821
    from edgekit.train import train

    cache: dict = {}

    def get(model_name: str):
        if model_name not in cache:
            out = tmp_path_factory.mktemp(f"run-{model_name}") / "run"
            cache[model_name] = train(trained_run_config(model_name, out), show_progress=False)
        return cache[model_name]

    return get


@pytest.fixture(scope="session")
def sample_images() -> list[Path]:
    paths = []
    for class_dir in sorted(p for p in SAMPLE_DATA_DIR.iterdir() if p.is_dir()):
        paths.extend(sorted(class_dir.glob("*.png"))[:2])
    assert len(paths) == 20, f"the shipped sample set is incomplete: {len(paths)} images found"
    return paths


PROBE_IMG_SIZE = 64


@dataclass(frozen=True)
class ProbeRun:
    """What a test needs of a run (the fields of TrainResult that plumbing uses)."""

    run_dir: Path
    best_checkpoint: Path


def make_probe_run(model_name: str, out: Path, img_size: int = PROBE_IMG_SIZE) -> ProbeRun:
    """A run directory written through RunDir, its best.pt holding probe weights (no training)."""
    from edgekit.checkpoint import Checkpoint, save_checkpoint
    from edgekit.data.folder import load_splits
    from edgekit.models.probe import non_degenerate_weights
    from edgekit.preprocess import Preprocessing
    from edgekit.rundir import RunDir

    splits = load_splits(SAMPLE_DATA_DIR)
    preprocessing = Preprocessing(img_size=img_size)
    run = RunDir(out)
    out.mkdir(parents=True)
    run.write_config({"model": model_name, "img_size": img_size, "probe": True}, splits.classes, preprocessing, splits)
    run.write_labels(splits.classes)
    run.write_splits(splits)
    state = non_degenerate_weights(model_name, img_size)
    save_checkpoint(Checkpoint(model_name=model_name, num_classes=len(splits.classes), labels=list(splits.classes),
                               preprocessing=preprocessing, state_dict=state,
                               meta={"probe": "edgekit.models.probe: batch norms re-estimated, head fitted; not trained"}),
                    run.best)
    return ProbeRun(run_dir=out, best_checkpoint=run.best)


@pytest.fixture(scope="session")
def probe_run(tmp_path_factory) -> Callable[[str], ProbeRun]:
    cache: dict = {}

    def get(model_name: str) -> ProbeRun:
        if model_name not in cache:
            cache[model_name] = make_probe_run(model_name, tmp_path_factory.mktemp(f"probe-{model_name}") / "run")
        return cache[model_name]

    return get


TINY_MODEL = "mobilenet_v2"  # the model the tiny runs of the training tests use


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A class folder of 2 classes x 20 real shipped images (trouser, bag): trains in seconds."""
    import shutil

    root = tmp_path_factory.mktemp("tiny-data") / "data"
    for class_name in ("bag", "trouser"):
        (root / class_name).mkdir(parents=True)
        for path in sorted((SAMPLE_DATA_DIR / class_name).glob("*.png"))[:20]:
            shutil.copy(path, root / class_name / path.name)
    return root


def tiny_config(data_dir: Path, out: Path, **overrides):
    """A TrainConfig that trains TINY_MODEL on tiny_data_dir at 32 px in a few seconds."""
    from edgekit.train import TrainConfig

    settings = dict(model=TINY_MODEL, data=str(data_dir), out=str(out), epochs=2, batch_size=8, img_size=32,
                    lr=5e-3, warmup_epochs=0.0, seed=0, device="cpu")
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def tiny_run(tiny_data_dir, tmp_path_factory):
    """A finished 2-epoch run of TINY_MODEL on tiny_data_dir (a TrainResult); do not modify its files."""
    from edgekit.train import train

    return train(tiny_config(tiny_data_dir, tmp_path_factory.mktemp("tiny-run") / "run"), show_progress=False)


@pytest.fixture(scope="session")
def exported_mobilenet_v2(trained_run, tmp_path_factory):
    """fp32 and int8 of every format that runs here, from the trained mobilenet_v2 run, exported once per
    session (parity on 64 images): the export folder `OUT/mobilenet_v2` (artifact folders, manifests,
    summary.json). Shared by the bench, report, eval-of-artifacts and Android tests; treat it as read-only
    (copy it before changing anything)."""
    from edgekit import ExportOptions, export_model

    run = trained_run("mobilenet_v2")
    out = tmp_path_factory.mktemp("export-mobilenet_v2")
    # TorchScript has no int8 and an explicitly named format must export every precision asked for: two calls
    # into the same folder (summary.json holds the second call's rows; every artifact folder has its manifest).
    export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["fp32"],
                               formats=["torchscript"], out=out, parity_size=64))
    # 64 images cannot resolve export's 1-point int8 gate (one image is 1.6 points; on an Intel Xeon the
    # ExecuTorch int8 once missed 2 of 64): the gate is tested on whole validation splits in test_int8_export.py
    # and test_export_gate.py; this fixture only needs real artifacts, so its gate is 5 points (3 images).
    export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["fp32", "int8"],
                               formats=["onnx", "tflite", "executorch"], out=out, parity_size=64, max_drop=5.0))
    return out / "mobilenet_v2"


# ============================================================================ brought models (issue 24) — byom tests
BROUGHT_IMG_SIZE = 64


@dataclass(frozen=True)
class BroughtModel:
    """A torchvision classifier as a user brings it: the module (probe weights, eval mode), its state dict and a
    program saved with torch.export.save, a labels file, and the class folder of the shipped validation images."""

    name: str  # torchvision builder name
    module: "torch.nn.Module"  # noqa: F821
    weights: Path  # torch.save(state_dict)
    program: Path  # torch.export.save at [1, 3, 64, 64]
    labels: Path  # one class per line
    classes: list
    img_size: int = BROUGHT_IMG_SIZE


@pytest.fixture(scope="session")
def brought_model(tmp_path_factory) -> Callable[[str], BroughtModel]:
    """brought_model("squeezenet1_1"): made once per session in seconds (edgekit.models.probe: batch norms
    re-estimated, the head fitted on the shipped images; no training), read-only for the tests."""
    cache: dict = {}

    def get(name: str) -> BroughtModel:
        if name not in cache:
            import torch
            import torchvision

            from edgekit.models.probe import probe_images, probe_weights

            folder = tmp_path_factory.mktemp(f"brought-{name}")
            images, labels, classes = probe_images(BROUGHT_IMG_SIZE)
            torch.manual_seed(0)
            module = torchvision.models.get_model(name, num_classes=len(classes))
            probe_weights(module, images, labels, len(classes))
            torch.save(module.state_dict(), folder / f"{name}.pth")
            program = torch.export.export(module, (images[:1].contiguous(),))
            torch.export.save(program, str(folder / f"{name}.pt2"))
            (folder / "labels.txt").write_text("\n".join(classes) + "\n")
            cache[name] = BroughtModel(name, module, folder / f"{name}.pth", folder / f"{name}.pt2",
                                       folder / "labels.txt", list(classes))
        return cache[name]

    return get
# ============================================================================ end of the byom block
