"""edgekit: a lightweight image classifier from training to a phone, every artifact checked.

Public API (torch and the converters load only when a function that needs them runs):
    edgekit.create_model, edgekit.get_model_info, edgekit.list_models
    edgekit.Preprocessing       how an image file becomes the model's input (travels into every manifest)
    edgekit.ExportOptions       what to export, every default in one place
    edgekit.export_model        export_model(options, *, on_event=None) -> ExportSummary
`edgekit.export` is the subpackage, never a function.
"""
from __future__ import annotations

from edgekit.version import __version__

from edgekit.errors import EdgekitError

__all__ = ["__version__", "EdgekitError", "Preprocessing", "create_model", "get_model_info", "list_models",
           "ExportOptions", "export_model"]

_LAZY = {"ExportOptions": "edgekit.export.options", "export_model": "edgekit.export.api",
         "create_model": "edgekit.models", "get_model_info": "edgekit.models", "list_models": "edgekit.models",
         "Preprocessing": "edgekit.preprocess"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
