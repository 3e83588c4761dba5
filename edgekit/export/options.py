"""What an export is asked to do (`ExportOptions`, every default in one place) and what it reports
while it runs (edgekit.progress events, handed to the caller's `on_progress` callback; the library never prints).

    from edgekit import ExportOptions, export_model
    summary = export_model(ExportOptions("mobilenet_v2", checkpoint="runs/mnv2/best.pt", precisions=("fp32", "int8")))
    summary = export_model(ExportOptions(my_module, preprocessing=edgekit.Preprocessing(224), labels="labels.txt",
                                         precisions=("fp32", "int8"), calib="calib/", val="val/"))

This module is light (no converter, no torch import): `edgekit.ExportOptions` costs nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgekit import validate
from edgekit.export.int8_plan import FIXES as INT8_FIXES
from edgekit.formats import PRECISIONS  # noqa: F401  (the precisions an export can ask for)
from edgekit.images import MAX_CALIBRATION_IMAGES, MIN_CALIBRATION_IMAGES
from edgekit.paths import DEFAULT_EXPORT_DIR
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES

DEFAULT_MAX_DROP = 1.0  # accuracy points an artifact may lose against PyTorch on labelled images
MAX_PARITY_IMAGES = 1000  # a larger labelled validation split is sampled (seeded) down to this many


@dataclass(frozen=True)
class ExportOptions:
    """One export: which model and weights, which formats and precisions, how to check and calibrate.

    model            where the model comes from (edgekit.model_source): a zoo name (`edgekit models list`),
                     "torchvision:NAME", "timm:NAME", a .pt2 file saved with torch.export.save, or an nn.Module
    checkpoint       an edgekit checkpoint (RUN/best.pt): classes, labels, input size, normalisation
    weights          a state dict for the architecture (torchvision's own .pth included; the class count is read
                     off its head unless num_classes says it)
    labels           a labels file (one name per line, output order) or a list of names; default: what the source
                     carries, else (brought models) the class folders of `val`, else class_0 ... class_N-1
    img_size, mean, std, resize   preprocessing where the source does not carry it (or to override timm's or
                     torchvision's published one); or `preprocessing`, an edgekit.Preprocessing
    name             the export folder and the manifest's `model` (default: the source's safe name, e.g.
                     torchvision-mobilenet_v3_small)
    pretrained       without checkpoint/weights: ImageNet weights from torchvision's local cache where
                     torchvision publishes them; else random weights
    download_weights let `pretrained` fetch torchvision's file (5 s timeout) when it is not cached
    formats          None = every format that supports the precisions; explicit names are validated
    precisions       subset of ("fp32", "fp16", "int8"); fp32 is the reference and always useful
    parity_size      None = the whole labelled validation split (a seeded sample of MAX_PARITY_IMAGES
                     when larger); a number for a quick run
    calib            calibration images; None = a seeded sample of the run's own training split
                     (the shipped calibration/ set when there is no run; natural photos for ImageNet weights)
    calib_method     None = the format's default ("minmax" where selectable)
    int8_policy      "repair" (default): an int8 artifact that misses max_drop is repaired by export itself, cheapest
                     fix first, each re-verified in its runtime (edgekit.export.int8_plan: reduce_range on x86
                     without VNNI, cross-layer equalization + bias correction, calibration method, more
                     calibration images, the fewest layers in float);
                     "strict": the gate only, as before; the plan is recorded in the manifest (`int8_plan`)
    int8_fixes       the kinds of fix the repair may use, cheapest first: "calibration" (the other method; reduce_range
                     on x86 without VNNI), "equalize" (cross-layer equalization + bias correction), "images" (more
                     calibration images), "float-layers" (the fewest layers kept in float); default all
    latency_target   None, or "host": each int8 artifact that passes its gate is timed against the same format's
                     fp32 on this machine (1 thread, interleaved) and the layers slower in int8 there are kept in
                     float when that makes int8 faster, re-verified (edgekit.export.int8_plan.plan_latency;
                     ONNX has per-layer times; a phone over adb is not built)
    reduce_range     ONNX int8: 7-bit weights (onnxruntime's remedy for u8 x s8 saturation on x86 without VNNI)
    require_integer  int8: an artifact with any op computing in float between input and output
                     (manifest `backend.integer`) fails verification, as an NPU target needs
    """

    model: Any  # str | Path | torch.nn.Module (this module imports no torch)
    checkpoint: str | Path | None = None
    weights: str | Path | None = None
    pretrained: bool = True
    download_weights: bool = False
    formats: Sequence[str] | str | None = None
    precisions: Sequence[str] = ("fp32",)
    img_size: int | None = None
    num_classes: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    resize: str | None = None
    preprocessing: Any = None  # edgekit.Preprocessing
    labels: str | Path | Sequence[str] | None = None
    name: str | None = None
    out: str | Path = DEFAULT_EXPORT_DIR
    allow_mismatch: bool = False
    dynamic_batch: bool = False
    int8_io: bool = False
    calib: str | Path | None = None
    calib_size: int = DEFAULT_CALIBRATION_IMAGES
    calib_method: str | None = None
    keep_float: tuple[str, ...] = ()
    require_integer: bool = False
    int8_policy: str = "repair"
    int8_fixes: Sequence[str] = INT8_FIXES
    latency_target: str | None = None
    reduce_range: bool = False
    val: str | Path | None = None
    max_drop: float = DEFAULT_MAX_DROP
    parity_size: int | None = None
    seed: int = 0

    def __post_init__(self):
        # callers pass lists; a frozen dataclass keeps tuples so the options stay hashable and unchanged
        if isinstance(self.precisions, str):
            object.__setattr__(self, "precisions", (self.precisions,))
        object.__setattr__(self, "precisions", tuple(self.precisions))
        object.__setattr__(self, "keep_float", tuple(self.keep_float))
        if isinstance(self.int8_fixes, str):
            object.__setattr__(self, "int8_fixes", tuple(n.strip() for n in self.int8_fixes.split(",") if n.strip()))
        object.__setattr__(self, "int8_fixes", tuple(self.int8_fixes))
        for key in ("mean", "std"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, tuple(getattr(self, key)))
        if self.labels is not None and not isinstance(self.labels, (str, Path)):
            object.__setattr__(self, "labels", tuple(self.labels))
        # numbers that mean nothing are refused here, before any work (one line each; the CLI exits 1)
        validate.count("--img-size", self.img_size, optional=True)
        validate.count("--num-classes", self.num_classes, optional=True)
        validate.count("--parity-size", self.parity_size, optional=True)
        validate.count("--calib-size", self.calib_size, low=MIN_CALIBRATION_IMAGES, high=MAX_CALIBRATION_IMAGES)
        validate.number("--max-drop", self.max_drop, low=0, high=100, why="accuracy points")
        validate.count("seed", self.seed, low=0)
        validate.choice("--int8-policy", self.int8_policy, ("repair", "strict"))
        for fix in self.int8_fixes:
            validate.choice("--int8-fixes", fix, INT8_FIXES)
        if self.latency_target is not None:
            validate.choice("--latency-target", self.latency_target, ("host",))  # adb: not built
