"""int8 for Core ML with coremltools.optimize.coreml.

Weights: `linear_quantize_weights`, int8 symmetric per output channel (every weight tensor,
however small). Activations: `linear_quantize_activations` calibrates by running the model on
the calibration samples, which needs the Core ML runtime (macOS only). Where that runtime is
missing (Linux, this project's CI) the model is left with int8 weights and float activations,
and the model's metadata says so: `edgekit.int8` is "weights+activations" or "weights only".
"""
from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError

METADATA_KEY = "edgekit.int8"
ACTIVATION_SAMPLES = 32  # coremltools runs the model once per sample; a few dozen fix the ranges


def quantize_coreml_int8(mlmodel, calibration: np.ndarray, input_name: str):
    """An MLModel (mlprogram, iOS17+) with int8 weights, and int8 activations where this host can calibrate."""
    import coremltools.optimize.coreml as cto

    if calibration is None or len(calibration) == 0:
        raise EdgekitError("int8 quantization needs at least one calibration image")
    activation_note = "float activations: activation calibration needs the Core ML runtime (macOS)"
    if core_ml_runtime_available():
        samples = [{input_name: image[None].astype(np.float32)} for image in calibration[:ACTIVATION_SAMPLES]]
        config = cto.OptimizationConfig(global_config=cto.experimental.OpActivationLinearQuantizerConfig(mode="linear_symmetric"))
        mlmodel = cto.experimental.linear_quantize_activations(mlmodel, config, samples)
        activation_note = f"int8 activations calibrated on {len(samples)} images"
    weights = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=0))
    mlmodel = cto.linear_quantize_weights(mlmodel, config=weights)
    mlmodel.user_defined_metadata[METADATA_KEY] = ("weights+activations" if core_ml_runtime_available() else "weights only")
    mlmodel.user_defined_metadata["edgekit.int8_note"] = f"int8 per-channel weights; {activation_note}"
    return mlmodel


def core_ml_runtime_available() -> bool:
    """coremltools can run models only where its native runtime extension loaded (macOS)."""
    try:
        import coremltools.libcoremlpython  # noqa: F401
    except ImportError:
        return False
    return True
