"""The model zoo: `create_model(name, num_classes, **options)`, `list_models()`, `get_model_info()`."""
from edgekit.models.registry import ModelInfo, create_model, get_model_info, list_models, register_model

# importing the architecture modules registers their builders
from edgekit.models import mobilenet, shufflenet, squeezenet, xception, resnet, ssdlite  # noqa: E402,F401

__all__ = ["ModelInfo", "create_model", "get_model_info", "list_models", "register_model"]
