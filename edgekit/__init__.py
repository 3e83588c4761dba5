"""edgekit: a lightweight image classifier from training to a phone, every artifact checked."""
from __future__ import annotations

from edgekit.version import __version__

from edgekit.errors import EdgekitError
from edgekit.models import create_model, get_model_info, list_models

__all__ = ["__version__", "EdgekitError", "create_model", "get_model_info", "list_models", "export"]


def export(*args, **kwargs):
    """Export a model to mobile formats; see `edgekit.export.api.export_model`."""
    from edgekit.export.api import export_model  # heavy converters load only when used

    return export_model(*args, **kwargs)
