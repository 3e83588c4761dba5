"""Quantization-aware fine-tuning (QAT) with PT2E: a short run that lets the weights adapt to int8.

    best.pt -> torch.export (train mode) -> prepare_qat_pt2e (XNNPACK quantizer, is_qat=True:
    fake-quantize weights and activations, conv+BN simulated) -> a few epochs at a small learning
    rate on the run's training split -> the fine-tuned float weights, mapped back to the
    architecture's own state_dict names -> RUN/qat.pt, an ordinary edgekit checkpoint.

qat.pt exports like any checkpoint: `edgekit export MODEL --checkpoint RUN/qat.pt --int8`
statically quantizes it again (PTQ on the calibration set) from weights that learned to live
with int8 rounding. The report gives the validation top-1 of fp32 (best.pt), PTQ of best.pt,
the QAT graph converted directly, and PTQ of qat.pt (what export ships).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from edgekit.checkpoint import Checkpoint, load_checkpoint, load_state_dict_checked, save_checkpoint
from edgekit.data.datasets import ImageListDataset, train_transform
from edgekit.data.folder import subset_per_class
from edgekit.errors import EdgekitError
from edgekit.recipe import DEFAULT_CROP_SCALE
from edgekit.fileio import writable_folder
from edgekit.logcapture import append_log, captured, read_back
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.quantize.calibration import calibration_for
from edgekit.quantize.options import QatOptions
from edgekit.quantize.pt2e import quantize_pt2e, run_graph, xnnpack_qat_quantizer, xnnpack_quantizer
from edgekit.rundir import QUANTIZE_LOG, RunDir, recorded_train_config, run_or_sample_splits
from edgekit.stats import top1_accuracy


EVAL_BATCH = 50  # the batch the int8 graphs are exported with for evaluation here


@dataclass
class QatResult:
    checkpoint: Path      # RUN/qat.pt
    fp32_top1: float      # best.pt, float32, validation split
    ptq_top1: float       # best.pt quantized after training (PT2E + XNNPACK, calibration images)
    qat_top1: float       # the QAT graph converted to int8 directly
    qat_ptq_top1: float   # qat.pt quantized like any checkpoint (what `edgekit export --int8` ships)
    epochs: int
    lr: float
    val_images: int
    method: str = "minmax"  # the activation calibration method of both PTQ steps
    calibration: str = ""  # which images calibrated the PTQ steps

    def rows(self) -> list[tuple[str, float]]:
        """(what, validation top-1 0..1), in the order the report reads."""
        return [("fp32 (checkpoint)", self.fp32_top1), ("int8 PTQ of the checkpoint", self.ptq_top1),
                ("int8 QAT graph, converted", self.qat_top1), ("int8 PTQ of qat.pt (what export ships)", self.qat_ptq_top1)]

    def to_dict(self) -> dict:
        return {**self.__dict__, "checkpoint": str(self.checkpoint)}


def run_crop_scale(checkpoint_path: Path, checkpoint: Checkpoint) -> tuple[float, float]:
    """The random-crop scale the run trained with (QAT should not see harsher augmentation): the
    recorded recipe (what ran), else an explicit crop_scale_min, else the long-run default."""
    run = RunDir.of_checkpoint(checkpoint_path)
    try:
        recipe = run.recipe() if run.has_config() else {}
    except EdgekitError:
        recipe = {}
    if recipe.get("crop_scale"):
        return tuple(float(v) for v in recipe["crop_scale"])
    try:
        return (float(recorded_train_config(checkpoint_path, checkpoint.meta)["crop_scale_min"]), 1.0)
    except (KeyError, TypeError, ValueError):
        return DEFAULT_CROP_SCALE



def map_back(graph: nn.Module, model: nn.Module) -> dict[str, torch.Tensor]:
    """The graph's trained tensors under the architecture's own state_dict names.

    torch.export keeps parameter and buffer names; PT2E QAT adds fake-quantize state beside them
    and leaves the conv and batch-norm tensors in place, so each original key is found as is.
    """
    trained = graph.state_dict()
    own = model.state_dict()
    missing = [key for key in own if key not in trained or trained[key].shape != own[key].shape]
    if missing:
        raise EdgekitError(f"QAT could not map {len(missing)} trained tensor(s) back to {type(model).__name__} "
                           f"(e.g. {missing[0]}): the exported graph renamed them")
    return {key: trained[key].detach().clone().to(own[key].dtype) for key in own}


def qat_finetune(model: nn.Module, loader: DataLoader, example: torch.Tensor, epochs: int, lr: float,
                 freeze_bn: bool = True, on_progress: OnProgress | Reporter | None = None) -> nn.Module:
    """The prepared QAT graph after `epochs` of SGD-momentum fine-tuning.

    freeze_bn: batch norm uses (and keeps) the run's running statistics, and dropout is off, as
    usual for a short QAT fine-tune: the fake-quantized weights adapt without the statistics
    drifting to a few hundred augmented batches. The fake-quantize ranges still update.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    graph = torch.export.export(model.train(), (example,)).module()
    prepared = prepare_qat_pt2e(graph, xnnpack_qat_quantizer())
    if freeze_bn:
        move_exported_model_to_eval(prepared)
    optimizer = torch.optim.SGD(prepared.parameters(), lr=lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    with reporter(on_progress).task(f"QAT fine-tuning ({epochs} epochs)", epochs * len(loader)) as advance:
        for _ in range(epochs):
            for images, labels in loader:
                loss = criterion(prepared(images), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                advance()
    return prepared


def quantization_aware_finetune(options: QatOptions, on_progress: OnProgress | Reporter | None = None) -> QatResult:
    """Fine-tune a run's checkpoint with QAT, write qat.pt into the run (RunDir.qat) or `options.out`, report top-1s.

    Trains on the run's recorded training split (RUN/splits), or a seeded class-balanced subset of
    `max_train_images`; top-1s are measured on the run's validation split. `method` is the activation
    calibration method (PT2E observers) of the two PTQ steps, before and after QAT (the QAT graph itself learns
    its ranges with fake-quantize modules); both calibrate on the images `edgekit export --int8` would use.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    say = reporter(on_progress)
    with captured(None) as chatter:  # torch.export's and the quantizers' output: to quantize.log beside qat.pt
        checkpoint_path = options.checkpoint_path()
        say.stage("loading the checkpoint")
        checkpoint = load_checkpoint(checkpoint_path)
        splits = run_or_sample_splits(checkpoint_path).splits
        if options.max_train_images:
            splits.train = subset_per_class(splits.train, options.max_train_images, options.seed)
        if len(splits.train) < options.batch_size:
            raise EdgekitError(f"QAT needs at least --batch-size {options.batch_size} training images, "
                               f"found {len(splits.train)}")
        preprocessing = checkpoint.preprocessing
        say.stage("loading calibration images")
        calibration, calibrated_on = calibration_for(checkpoint_path, preprocessing, options.calib, options.calib_size,
                                                     options.seed, on_progress=say)
        out_path = RunDir(writable_folder(options.out)).qat if options.out else RunDir.of_checkpoint(checkpoint_path).qat
        torch.manual_seed(options.seed)
        method, epochs, lr, batch_size = options.method, options.epochs, options.lr, options.batch_size
        say.stage("loading the validation split")
        val_images = preprocessing.load_batch([p for p, _ in splits.val])
        val_labels = np.array([label for _, label in splits.val])
        model = checkpoint.build_model()
        example = torch.zeros(EVAL_BATCH, *val_images.shape[1:])  # batched graphs: evaluation in PyTorch is the slow part
        say.stage("fp32 top-1")
        fp32 = top1_accuracy(run_graph(model, val_images, EVAL_BATCH), val_labels)
        say.stage("int8 PTQ of the checkpoint")
        ptq = top1_accuracy(run_graph(quantize_pt2e(model, example, xnnpack_quantizer(method), calibration, on_progress=say),
                             val_images, EVAL_BATCH), val_labels)

        loader = DataLoader(ImageListDataset(splits.train, train_transform(preprocessing, run_crop_scale(checkpoint_path, checkpoint))), batch_size=batch_size,
                            shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(options.seed))
        prepared = qat_finetune(checkpoint.build_model(), loader, torch.zeros(batch_size, *val_images.shape[1:]), epochs, lr,
                                options.freeze_bn, say)
        move_exported_model_to_eval(prepared)
        state_dict = map_back(prepared, model)
        say.stage("int8 QAT graph top-1")
        qat_graph = convert_pt2e(prepared)
        qat = top1_accuracy(run_graph(qat_graph, val_images, batch_size), val_labels)

        tuned = checkpoint.build_model()
        load_state_dict_checked(tuned, state_dict, source="QAT fine-tuned weights")
        say.stage("int8 PTQ of the fine-tuned weights")
        qat_ptq = top1_accuracy(run_graph(quantize_pt2e(tuned, example, xnnpack_quantizer(method), calibration, on_progress=say),
                                 val_images, EVAL_BATCH), val_labels)
        log_text = read_back(chatter)
    meta = {**checkpoint.meta, "qat": True, "qat_from": str(checkpoint_path.resolve()), "qat_epochs": epochs, "qat_lr": lr,
            "qat_train_images": len(splits.train), "qat_freeze_bn": options.freeze_bn, "qat_calibration_method": method,
            "qat_calibration": calibrated_on,
            "qat_quantizer": "torchao PT2E QAT + XNNPACKQuantizer (symmetric, per-channel)",
            "val_acc_fp32": fp32, "val_acc_ptq_before_qat": ptq, "val_acc_qat_int8": qat, "val_acc_ptq_after_qat": qat_ptq}
    save_checkpoint(Checkpoint(checkpoint.model_name, checkpoint.num_classes, checkpoint.labels, preprocessing, state_dict,
                               checkpoint.model_options, meta), out_path)
    append_log(out_path.parent / QUANTIZE_LOG, log_text)
    return QatResult(out_path, fp32, ptq, qat, qat_ptq, epochs, lr, len(val_labels), method, calibrated_on)
