"""The int8 reports of `edgekit quantize`, as functions returning values (the CLI renders them):

    ptq_report(PtqOptions(...))                 -> PtqReport: fp32 and PT2E int8 top-1 on the validation split
    sensitivity_report(SensitivityOptions(...)) -> SensitivityReport: per-layer rows, sensitivity.json and .png written
    qat.quantization_aware_finetune(QatOptions(...)) -> QatResult (qat.pt written)

Each loads the checkpoint, calibrates on the images `edgekit export --int8` of it would use
(edgekit.quantize.calibration.calibration_for) and reports progress through `on_progress` (edgekit.progress).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.fileio import writable_folder
from edgekit.logcapture import append_log, captured, read_back
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.quantize.options import PtqOptions, SensitivityOptions
from edgekit.rundir import RunDir
from edgekit.stats import top1_accuracy

PTQ_QUANTIZERS = (("int8 PT2E, XNNPACK quantizer (ExecuTorch)", "xnnpack_quantizer"),
                  ("int8 PT2E, litert-torch quantizer (TFLite)", "litert_quantizer"))
SENSITIVITY_QUANTIZER = "torchao PT2E + XNNPACKQuantizer, one layer at a time"


@dataclass
class PtqRow:
    model: str  # "fp32", or the int8 quantizer
    top1: float  # validation top-1, 0..1


@dataclass
class PtqReport:
    model_name: str
    checkpoint: Path
    val_images: int
    method: str
    calibration: str  # which images calibrated int8
    rows: list[PtqRow] = field(default_factory=list)


@dataclass
class SensitivityReport:
    model_name: str
    checkpoint: Path
    rows: list  # LayerSensitivity, worst first
    eval_images: int
    calibration_images: int
    method: str
    json_path: Path
    png_path: Path

    def keep_float_command(self, layers: int = 3) -> str:
        """The export command that leaves the worst `layers` in float."""
        keep = ",".join(row.name for row in self.rows[:layers])
        return f"edgekit export {self.model_name} --checkpoint {self.checkpoint} --int8 --keep-float {keep}"


def validation_batch(checkpoint_path: Path, checkpoint, limit: int | None = None, seed: int = 0):
    """(images, labels) of a seeded sample of `limit` images (None: all) of the run's validation split (the shipped
    samples' when the run's splits are gone)."""
    from edgekit.images import seeded_sample
    from edgekit.rundir import run_or_sample_splits

    samples = seeded_sample(run_or_sample_splits(checkpoint_path).splits.val, limit or None, seed)
    return checkpoint.preprocessing.load_batch([p for p, _ in samples]), np.array([label for _, label in samples])


def _load(options: PtqOptions, say: Reporter):
    from edgekit.checkpoint import load_checkpoint
    from edgekit.quantize.calibration import calibration_for

    path = options.checkpoint_path()
    say.stage("loading the checkpoint")
    checkpoint = load_checkpoint(path)
    say.stage("loading calibration images")
    calibration, description = calibration_for(path, checkpoint.preprocessing, options.calib, options.calib_size,
                                               options.seed, on_progress=say)
    return path, checkpoint, calibration, description


def ptq_report(options: PtqOptions, on_progress: OnProgress | Reporter | None = None) -> PtqReport:
    """fp32 and int8 (PT2E with the ExecuTorch and the TFLite quantizer) top-1 on the whole validation split,
    evaluated in PyTorch: how the model survives int8 before anything is exported."""
    import torch

    from edgekit.quantize import pt2e
    from edgekit.quantize.qat import EVAL_BATCH

    say = reporter(on_progress)
    with captured(None):  # torch.export's and the quantizers' warnings: a report that writes no files drops them
        path, checkpoint, calibration, description = _load(options, say)
        say.stage("loading the validation split")
        images, labels = validation_batch(path, checkpoint, seed=options.seed)
        model = checkpoint.build_model()
        example = torch.zeros(EVAL_BATCH, *images.shape[1:])
        report = PtqReport(checkpoint.model_name, path, len(labels), options.method, description)
        say.stage("fp32 top-1")
        report.rows.append(PtqRow("fp32", top1_accuracy(pt2e.run_graph(model, images, EVAL_BATCH), labels)))
        for name, factory in PTQ_QUANTIZERS:
            say.stage(name)
            graph = pt2e.quantize_pt2e(model, example, getattr(pt2e, factory)(options.method), calibration,
                                       on_progress=say)
            report.rows.append(PtqRow(name, top1_accuracy(pt2e.run_graph(graph, images, EVAL_BATCH), labels)))
    return report


def sensitivity_report(options: SensitivityOptions, on_progress: OnProgress | Reporter | None = None) -> SensitivityReport:
    """One layer int8 at a time; writes sensitivity.json and sensitivity.png into the run (or `options.out`)."""
    from edgekit.quantize.sensitivity import layer_sensitivity, plot_sensitivity, save_sensitivity_json

    say = reporter(on_progress)
    with captured(None) as chatter:  # torch.export's and the quantizers' output: to RUN/quantize.log
        path, checkpoint, calibration, _ = _load(options, say)
        run = RunDir(writable_folder(options.out)) if options.out else RunDir.of_checkpoint(path)
        say.stage("loading validation images")
        images, labels = validation_batch(path, checkpoint, options.eval_size, options.seed)
        rows = layer_sensitivity(checkpoint.build_model(), calibration, images, labels, max_layers=options.max_layers,
                                 method=options.method, on_progress=say)
        log_text = read_back(chatter)
    append_log(run.quantize_log, log_text)
    json_path = save_sensitivity_json(rows, run.sensitivity_json, checkpoint=str(path.resolve()),
                                      model=checkpoint.model_name, eval_images=len(labels),
                                      calibration_images=len(calibration), method=options.method,
                                      quantizer=SENSITIVITY_QUANTIZER)
    png_path = plot_sensitivity(rows, run.sensitivity_png, options.worst)
    return SensitivityReport(checkpoint.model_name, path, rows, len(labels), len(calibration), options.method,
                             json_path, png_path)
