"""edgekit: a lightweight image classifier from training to a phone, every artifact checked.

Public API (torch and the converters load only when a function that needs them runs):
    edgekit.create_model, edgekit.get_model_info, edgekit.list_models
    edgekit.Preprocessing       how an image file becomes the model's input (travels into every manifest)
    edgekit.ExportOptions       what to export, every default in one place
    edgekit.export_model        export_model(options, *, on_progress=None) -> ExportSummary
Every other stage is an options object (checked when made) and a function returning values, progress through
`on_progress` (edgekit.progress.Progress events); nothing in the library prints:
    edgekit.EvalOptions / PredictOptions   edgekit.evaluate.evaluate(options) / predict(options)
    edgekit.PtqOptions / SensitivityOptions / QatOptions
                                edgekit.quantize.report.ptq_report / sensitivity_report,
                                edgekit.quantize.qat.quantization_aware_finetune
    edgekit.BenchOptions        edgekit.bench.api.bench(path, options)
`edgekit.export`, `edgekit.evaluate` and `edgekit.bench` are modules, never functions.
"""
from __future__ import annotations

from edgekit.version import __version__

from edgekit.errors import EdgekitError

__all__ = ["__version__", "EdgekitError", "Preprocessing", "create_model", "get_model_info", "list_models",
           "ExportOptions", "export_model", "EvalOptions", "PredictOptions", "PtqOptions", "SensitivityOptions",
           "QatOptions", "BenchOptions"]

_LAZY = {"ExportOptions": "edgekit.export.options", "export_model": "edgekit.export.api",
         "create_model": "edgekit.models", "get_model_info": "edgekit.models", "list_models": "edgekit.models",
         "Preprocessing": "edgekit.preprocess", "EvalOptions": "edgekit.evaluate_options", "PredictOptions": "edgekit.evaluate_options",
         "PtqOptions": "edgekit.quantize.options", "SensitivityOptions": "edgekit.quantize.options",
         "QatOptions": "edgekit.quantize.options", "BenchOptions": "edgekit.bench.options"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
