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

A checkpoint's run is the folder it lies in. Later stages never import the training module.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgekit.data.folder import Splits, is_prepared, load_splits
from edgekit.errors import EdgekitError
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.preprocess import Preprocessing

CONFIG_NAME = "config.json"
LABELS_NAME = "labels.txt"
SPLITS_DIR = "splits"
BEST_NAME = "best.pt"
LAST_NAME = "last.pt"
QAT_NAME = "qat.pt"
METRICS_NAME = "metrics.csv"


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
            return json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise EdgekitError(f"{self.config_path} is not readable JSON: {error}") from None

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
