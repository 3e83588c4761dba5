"""What `edgekit quantize` is asked to do: one frozen, self-validating options object per report (torch-free).

    PtqOptions(checkpoint, calib=None, calib_size=200, method="minmax")     fp32 vs PT2E int8 top-1 (ptq_report)
    SensitivityOptions(..., eval_size=200, max_layers=None, worst=20, out)  one layer int8 at a time (sensitivity_report)
    QatOptions(..., epochs=2, lr=1e-4, batch_size=32, max_train_images, out) PT2E QAT -> qat.pt (quantization_aware_finetune)

`checkpoint` is an edgekit checkpoint (RUN/best.pt) or a run directory (its best.pt). Every value is checked when
the object is made: a bad one is one EdgekitError line naming the command-line option.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit import validate
from edgekit.errors import EdgekitError
from edgekit.formats import PT2E_METHODS
from edgekit.images import MAX_CALIBRATION_IMAGES, MIN_CALIBRATION_IMAGES
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES
from edgekit.rundir import RunDir


@dataclass(frozen=True)
class PtqOptions:
    """The PTQ report: fp32 and PT2E int8 (XNNPACK and litert-torch quantizers) top-1 on the validation split."""

    checkpoint: Path | str
    calib: Path | str | None = None  # None: as `edgekit export --int8` (the run's training split, else calibration/)
    calib_size: int = DEFAULT_CALIBRATION_IMAGES
    method: str = "minmax"  # the activation calibration method (PT2E observers)
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "checkpoint", Path(self.checkpoint))
        if self.calib is not None:
            object.__setattr__(self, "calib", Path(self.calib))
        validate.count("--calib-size", self.calib_size, low=MIN_CALIBRATION_IMAGES, high=MAX_CALIBRATION_IMAGES)
        if self.method not in PT2E_METHODS:
            raise EdgekitError(f"calibration method {self.method!r} is not available for PT2E (ExecuTorch, TFLite); "
                               f"choose one of: {', '.join(PT2E_METHODS)}")
        validate.count("seed", self.seed, low=0)

    def checkpoint_path(self) -> Path:
        """The checkpoint file (a run directory means its best.pt), or one EdgekitError line."""
        path = RunDir(self.checkpoint).best if self.checkpoint.is_dir() else self.checkpoint
        if not path.is_file():
            raise EdgekitError(f"checkpoint not found: {path} (give RUN/best.pt or a run directory)")
        return path


@dataclass(frozen=True)
class SensitivityOptions(PtqOptions):
    """Per-layer int8 sensitivity: sensitivity.json and sensitivity.png in `out` (default: the run directory)."""

    eval_size: int = 200  # validation images the logits are compared on (seeded sample)
    max_layers: int | None = None  # only the first N conv/linear layers, in model order
    worst: int = 20  # layers in the plot (and the table the CLI draws)
    out: Path | str | None = None

    def __post_init__(self):
        super().__post_init__()
        validate.count("--eval-size", self.eval_size)
        validate.count("--max-layers", self.max_layers, optional=True)
        validate.count("--worst", self.worst)
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))


@dataclass(frozen=True)
class QatOptions(PtqOptions):
    """Quantization-aware fine-tuning: qat.pt in `out` (default: the run directory, RunDir.qat)."""

    epochs: int = 2
    lr: float = 1e-4  # SGD with momentum 0.9; keep it small
    batch_size: int = 32
    max_train_images: int | None = None  # a seeded, class-balanced subset of the training split
    freeze_bn: bool = True  # batch norm keeps the run's statistics (see qat.qat_finetune)
    out: Path | str | None = None  # a folder; qat.pt is written into it

    def __post_init__(self):
        super().__post_init__()
        validate.count("--epochs", self.epochs)
        validate.number("--lr", self.lr, positive=True)
        validate.count("--batch-size", self.batch_size)
        validate.count("--max-train-images", self.max_train_images, optional=True)
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))
