"""The run directory: the one module that knows its layout. Training writes it through here;
eval, quantize, export (and the harness and the Android tools) read it through here.

    RUN/config.json      {"train_config": {...}, "classes": [...], "preprocessing": {...},
                          "edgekit_version": "...", "split_sizes": {...}}
    RUN/labels.txt       class names, index order
    RUN/splits/          the run's train/val(/test) lists as a prepared directory (data/folder.py format)
    RUN/best.pt          best validation accuracy (edgekit checkpoint)
    RUN/last.pt          last epoch, with optimizer/scheduler/scaler/RNG state for --resume
    RUN/metrics.csv      one row per epoch
    RUN/qat.pt           written by `edgekit quantize --qat`
    RUN/sensitivity.json, sensitivity.png   written by `edgekit quantize --sensitivity`
    RUN/quantize.log     what torch and the quantizers printed during --sensitivity or --qat

A checkpoint's run is the folder it lies in. Later stages never import the training module.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgekit.data.folder import Splits, is_prepared, load_splits, write_prepared_splits
from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_json, atomic_write_text
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.preprocess import Preprocessing

CONFIG_NAME = "config.json"
LABELS_NAME = "labels.txt"
SPLITS_DIR = "splits"
BEST_NAME = "best.pt"
LAST_NAME = "last.pt"
QAT_NAME = "qat.pt"
SENSITIVITY_JSON = "sensitivity.json"
SENSITIVITY_PNG = "sensitivity.png"
QUANTIZE_LOG = "quantize.log"
METRICS_NAME = "metrics.csv"
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s", "seconds")


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def of_checkpoint(cls, checkpoint: Path | str) -> "RunDir":
        return cls(Path(checkpoint).parent)

    # ------------------------------------------------------------------ where things are
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def labels_path(self) -> Path:
        return self.path / LABELS_NAME

    @property
    def splits_dir(self) -> Path:
        return self.path / SPLITS_DIR

    @property
    def best(self) -> Path:
        return self.path / BEST_NAME

    @property
    def last(self) -> Path:
        return self.path / LAST_NAME

    @property
    def qat(self) -> Path:
        return self.path / QAT_NAME

    @property
    def sensitivity_json(self) -> Path:
        return self.path / SENSITIVITY_JSON

    @property
    def sensitivity_png(self) -> Path:
        return self.path / SENSITIVITY_PNG

    @property
    def quantize_log(self) -> Path:
        return self.path / QUANTIZE_LOG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_NAME

    # ------------------------------------------------------------------ reading
    def has_config(self) -> bool:
        return self.config_path.is_file()

    def has_splits(self) -> bool:
        return is_prepared(self.splits_dir)

    def read_config(self) -> dict:
        """The whole config.json document; a clear error when it is missing or broken."""
        if not self.has_config():
            raise EdgekitError(f"{self.path} is not an edgekit run: {CONFIG_NAME} not found")
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise EdgekitError(f"{self.config_path} is not readable JSON: {error}") from None
        if not isinstance(config, dict) or config.get("schema", contracts.RUN_CONFIG) != contracts.RUN_CONFIG:
            raise EdgekitError(f"{self.config_path} is not an {contracts.RUN_CONFIG} run configuration")
        return config

    def train_config(self) -> dict:
        """The training options the run was started with (a plain dict; unknown keys tolerated)."""
        return dict(self.read_config().get("train_config", {}))

    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.read_config()["preprocessing"])

    def splits(self) -> Splits:
        """The run's recorded splits (exactly what training used)."""
        if not self.has_splits():
            raise EdgekitError(f"{self.path} has no recorded splits ({SPLITS_DIR}/)")
        return load_splits(self.splits_dir)

    # ------------------------------------------------------------------ writing (training)
    def write_config(self, train_config: dict, classes: list[str], preprocessing: Preprocessing, splits: Splits) -> Path:
        from edgekit.version import __version__

        return atomic_write_json(self.config_path, {
            "schema": contracts.RUN_CONFIG, "train_config": train_config, "classes": list(classes), "preprocessing": preprocessing.to_dict(),
            "edgekit_version": __version__,
            "split_sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}})

    def write_recipe(self, record: dict) -> Path:
        """What the run actually trained with (edgekit.recipe: warm-up, crop, flip) as config.json's `recipe`."""
        return atomic_write_json(self.config_path, {**self.read_config(), "recipe": record})

    def recipe(self) -> dict:
        """The recorded recipe; {} for runs from before it was recorded."""
        return dict(self.read_config().get("recipe") or {})

    def write_labels(self, classes: list[str]) -> Path:
        return atomic_write_text(self.labels_path, "\n".join(classes) + "\n")

    def write_splits(self, splits: Splits) -> Path:
        """The splits as a prepared directory (the data/prepare format; load_splits reads it back).
        An empty test split is not written."""
        parts = {name: getattr(splits, name) for name in ("train", "val", "test") if name != "test" or splits.test}
        return write_prepared_splits(self.splits_dir, splits.classes, Path(splits.root).resolve(), parts)

    def write_metrics(self, history: list[dict], columns: tuple[str, ...] = METRIC_COLUMNS) -> Path:
        """One row per epoch; a detector's columns are edgekit.train.detection.METRIC_COLUMNS (val_map, ...)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        return atomic_write_text(self.metrics_path, buffer.getvalue())

    def remove_unfinished(self, existed_before: bool) -> None:
        """A run that failed before its first epoch ended leaves nothing behind (a later one may resume)."""
        if self.last.exists() or not self.path.exists():
            return
        if not existed_before:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for path in (self.config_path, self.labels_path):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.splits_dir, ignore_errors=True)


def recorded_train_config(checkpoint_path: Path | str, meta: dict) -> dict:
    """The training options a checkpoint came from: its run's config.json, else the JSON string
    training records in the checkpoint's meta; {} when neither is there or readable."""
    run = RunDir.of_checkpoint(checkpoint_path)
    if run.has_config():
        try:
            return run.train_config()
        except EdgekitError:
            pass
    try:
        recorded = meta["train_config"]
        return dict(json.loads(recorded) if isinstance(recorded, str) else recorded)
    except (KeyError, TypeError, ValueError):
        return {}


@dataclass(frozen=True)
class LabelledData:
    """Splits to evaluate or calibrate on, and where they came from (for manifests and tables)."""

    splits: Splits
    source: str  # "run" (the run's recorded splits) or "samples" (the shipped data set)
    description: str


def run_or_sample_splits(checkpoint: Path | str | None) -> LabelledData:
    """The splits of the run a checkpoint belongs to; the shipped samples when there is no run."""
    if checkpoint is not None:
        run = RunDir.of_checkpoint(checkpoint)
        if run.has_splits():
            return LabelledData(run.splits(), "run", f"the run's splits ({run.splits_dir})")
    return LabelledData(load_splits(SAMPLE_DATA_DIR), "samples", f"the shipped samples ({SAMPLE_DATA_DIR.name})")
