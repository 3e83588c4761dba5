"""Core ML: an ML Program (.mlpackage, a directory) converted by coremltools from the traced model.

Input: a TensorType named "input" holding the normalised float NCHW image, like every other
format (an ImageType folds normalisation in with one scale for all channels, which is exact only
when std is equal across channels; ours is per channel, so the app normalises as the manifest says).
fp32 uses float32 compute precision, fp16 uses float16 (Apple's recommended default), int8 quantizes
the float32 program through edgekit.quantize.coreml. Core ML cannot run on Linux: here the package is
checked structurally (spec loads, input/output names and shapes), never run.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from edgekit.export.base import INPUT_NAME, OUTPUT_NAME, ExportRequest

# coremltools logs a dozen warnings on import off macOS (no native runtime, untested torch
# version, scikit-learn); the table already says Core ML is not run here, and the manifest
# records the versions.
logging.getLogger("coremltools").setLevel(logging.ERROR)


class CoreMLBackend:
    name = "coreml"

    def export(self, request: ExportRequest, path: Path) -> dict:
        import coremltools as ct

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(request.model, request.example_input).eval()
            precision = ct.precision.FLOAT16 if request.precision == "fp16" else ct.precision.FLOAT32
            target = ct.target.iOS17 if request.precision == "int8" else ct.target.iOS15
            mlmodel = ct.convert(traced, convert_to="mlprogram", compute_precision=precision,
                                 minimum_deployment_target=target,
                                 inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(request.example_input.shape),
                                                       dtype=np.float32)],
                                 outputs=[ct.TensorType(name=OUTPUT_NAME)])
        extra = {"converter": {"name": "coremltools", "version": ct.__version__},
                 "compute_precision": "float16" if request.precision == "fp16" else "float32",
                 "minimum_deployment_target": str(target).split(".")[-1]}
        if request.precision == "int8":
            from edgekit.quantize.coreml import quantize_coreml_int8

            mlmodel = quantize_coreml_int8(mlmodel, request.calibration, INPUT_NAME)
            extra["quantizer"] = {"name": "coremltools.optimize (activations + weights int8)",
                                  "calibration_images": len(request.calibration)}
        mlmodel.save(str(path))
        return {**extra, **self.inspect(path)}

    def inspect(self, path: Path) -> dict:
        """Load the spec without compiling it (works on Linux) and read the declared tensors."""
        import coremltools as ct

        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
        return {"input": _feature_facts(spec.description.input[0]), "output": _feature_facts(spec.description.output[0]),
                "spec_version": spec.specificationVersion}


def _feature_facts(feature) -> dict:
    array = feature.type.multiArrayType
    import coremltools as ct

    dtype = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType).lower()
    return {"name": feature.name, "shape": [int(d) for d in array.shape], "dtype": dtype}


BACKEND = CoreMLBackend()
