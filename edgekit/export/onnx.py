"""ONNX: the dynamo exporter, one self-contained file, simplified with onnxslim, checked with onnx.checker.

fp16 converts the float graph with onnxruntime.transformers.float16 keeping float32 input and
output; int8 quantizes the float graph statically through edgekit.quantize.onnx_static.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

from edgekit.export.base import INPUT_NAME, OUTPUT_NAME, ExportRequest, declared_tensors

NAME_SCOPES = "pkg.torch.onnx.name_scopes"  # a node's PyTorch module path, as torch.onnx's exporter records it
OPSET = 18  # the dynamo exporter's default and lowest supported opset; stated in the manifest


class OnnxBackend:
    name = "onnx"

    def export(self, request: ExportRequest, path: Path) -> dict:
        import onnx
        import onnxruntime
        import onnxslim

        with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as scratch:
            float_path = Path(scratch) / "float.onnx"
            export_float(request, float_path)
            extra = {"converter": {"name": "torch.onnx (dynamo)", "version": torch.__version__},
                     "simplifier": {"name": "onnxslim", "version": onnxslim.__version__}}
            if request.precision == "fp32":
                without_scopes(float_path, path)
            elif request.precision == "fp16":
                from onnxruntime.transformers.float16 import convert_float_to_float16

                from onnxruntime.transformers.onnx_model import OnnxModel

                half = OnnxModel(convert_float_to_float16(onnx.load(str(float_path)), keep_io_types=True))
                half.topological_sort()  # the converter appends its input casts after their consumers
                onnx.save(half.model, str(path))
                without_scopes(path, path)
                extra["fp16_converter"] = {"name": "onnxruntime.transformers.float16", "version": onnxruntime.__version__,
                                           "io": "float32 input and output, float16 inside"}
            else:
                from edgekit.quantize.onnx_static import quantize_onnx_static

                quantize_onnx_static(float_path, path, request.calibration, method=request.options.calib_method,
                                     per_channel=True, nodes_to_exclude=list(request.options.keep_float),
                                     reduce_range=request.options.reduce_range)
                without_scopes(path, path)
                from edgekit.export.integer import onnx_integer

                extra["quantizer"] = {"name": "onnxruntime.quantization.quantize_static (QDQ)",
                                      "version": onnxruntime.__version__, "method": request.options.calib_method,
                                      "per_channel": True, "activations": "uint8 (asymmetric, per tensor)",
                                      "weights": ("int8 (symmetric, per channel" +
                                                  (", 7-bit range: reduce_range)" if request.options.reduce_range else ")")),
                                      "reduce_range": request.options.reduce_range,
                                      "keep_float": list(request.options.keep_float),
                                      "calibration_images": len(request.calibration)}
                extra["integer"] = onnx_integer(path)
        onnx.checker.check_model(str(path), full_check=True)
        return {**extra, **self.inspect(path)}

    def inspect(self, path: Path) -> dict:
        import onnx

        opsets = {entry.domain or "ai.onnx": entry.version
                  for entry in onnx.load(str(path), load_external_data=False).opset_import}
        return {**declared_tensors("onnx", path), "opset": opsets.get("ai.onnx")}


def export_float(request: ExportRequest, path: Path) -> None:
    """torch.onnx.export (dynamo) into a single file, then onnxslim."""
    import onnxslim

    dynamic_shapes = ({"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
                      if request.options.dynamic_batch else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(request.model, (request.example_input,), dynamo=True, external_data=False,
                                    opset_version=OPSET, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_shapes=_named_dynamic_shapes(request.model, dynamic_shapes), verbose=False)
    program.save(str(path), external_data=False)
    import onnx

    scopes = {node.name: [prop for prop in node.metadata_props if prop.key == NAME_SCOPES]
              for node in onnx.load(str(path)).graph.node}
    slim = onnxslim.slim(str(path))
    # onnxslim drops the nodes' metadata, where the exporter records the PyTorch modules each node came from: the
    # scopes alone are put back (--keep-float and the int8 repair name layers by module; the exporter's other
    # entries, class hierarchies and FX nodes, would add ~4 % to a small model's file)
    for node in slim.graph.node:
        if not node.metadata_props and scopes.get(node.name):
            node.metadata_props.extend(scopes[node.name])
    onnx.save(slim, str(path))


def without_scopes(source: Path, path: Path) -> None:
    """`source` saved at `path` without the module scopes export_float kept for naming layers: the artifact a phone
    loads carries no bytes it never reads (as before onnxslim's metadata loss was undone)."""
    import onnx

    model = onnx.load(str(source))
    for node in model.graph.node:
        kept = [prop for prop in node.metadata_props if prop.key != NAME_SCOPES]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))


def _named_dynamic_shapes(model, shapes):
    """torch.export wants dynamic shapes keyed by the forward argument's own name."""
    if shapes is None:
        return None
    import inspect

    first_argument = next(iter(inspect.signature(model.forward).parameters))
    return {first_argument: shapes["x"]}


BACKEND = OnnxBackend()
