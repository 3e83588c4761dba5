"""TFLite (LiteRT) through litert-torch.

fp32: litert_torch.convert. fp16: the float model with its weights cast to float16 by
ai-edge-quantizer's FLOAT_CASTING recipe (weights stored fp16, dequantized on load; compute stays
fp32 unless the GPU delegate runs it in fp16). int8: PT2E with litert-torch's quantizer, converted
with the same quantizer; the converter gives an int8 input tensor, so every consumer (edgekit.runtime.tflite,
the app) quantizes with the input's scale/zero-point and dequantizes the output; both are recorded in the
manifest.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from edgekit.export.base import ExportRequest, declared_tensors
from edgekit.export.integer import Op, count_float_ops, report


class TFLiteBackend:
    name = "tflite"

    def export(self, request: ExportRequest, path: Path) -> dict:
        import litert_torch

        extra = {"converter": {"name": "litert-torch", "version": litert_torch.__version__}, "notes": []}
        if request.precision == "fp32":
            litert_torch.convert(request.model, (request.example_input,)).export(str(path))
        elif request.precision == "fp16":
            extra["fp16_converter"] = cast_weights_fp16(request, path)
        else:

            extra["quantizer"] = export_int8(request, path)
            extra["integer"] = tflite_integer(path)
            facts = declared_tensors("tflite", path)
            if request.options.int8_io != (facts["input"]["dtype"] in ("int8", "uint8")):
                extra["notes"].append(f"--int8-io={request.options.int8_io} asked, but litert-torch's PT2E path "
                                      f"gives a {facts['input']['dtype']} input; recorded as is")
        return {**extra, **declared_tensors("tflite", path)}


def cast_weights_fp16(request: ExportRequest, path: Path) -> dict:
    import litert_torch
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    with tempfile.TemporaryDirectory(prefix="edgekit-tflite-") as scratch:
        float_path = Path(scratch) / "float.tflite"
        litert_torch.convert(request.model, (request.example_input,)).export(str(float_path))
        fp16 = quantizer.Quantizer(str(float_path))
        fp16.update_quantization_recipe(
            regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, algorithm_key=AlgorithmName.FLOAT_CASTING,
            op_config=qtyping.OpQuantizationConfig(
                weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
                compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True))
        fp16.quantize().export_model(str(path), overwrite=True)
    from importlib.metadata import version

    return {"name": "ai-edge-quantizer FLOAT_CASTING", "version": version("ai-edge-quantizer"),
            "what": "weights stored as float16 and dequantized at load; float32 input, output and CPU compute"}


def export_int8(request: ExportRequest, path: Path) -> dict:
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig

    from edgekit.quantize.pt2e import litert_quantizer, quantize_pt2e

    quantizer = litert_quantizer(request.options.calib_method)
    graph = quantize_pt2e(request.model, request.example_input, quantizer=quantizer, calibration=request.calibration,
                          fold_quantize=False, keep_float=request.options.keep_float)
    litert_torch.convert(graph, (request.example_input,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    return {"name": "torchao PT2E + litert-torch PT2EQuantizer", "method": request.options.calib_method,
            "per_channel": True, "calibration_images": len(request.calibration),
            "keep_float": list(request.options.keep_float)}


BACKEND = TFLiteBackend()


# ----------------------------------------------------------------------------- integer check (edgekit.export.integer's rule)

def tflite_integer(path: Path | str) -> dict:
    """Float ops of a .tflite file, read by LiteRT's interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = {index: _dtype_name(t["dtype"]) for index, t in tensors.items()}
    details = interpreter._get_ops_details()
    produced = {int(i) for op in details for i in op["outputs"]}
    graph_inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    graph_outputs = {int(d["index"]) for d in interpreter.get_output_details()}
    activations = produced | graph_inputs
    ops = [Op(op["op_name"], [int(i) for i in op["inputs"] if int(i) in activations], [int(i) for i in op["outputs"]])
           for op in details]
    found = count_float_ops(ops, dtypes, graph_inputs, graph_outputs, {"QUANTIZE"}, {"DEQUANTIZE"})
    return report(found, "the .tflite flatbuffer as LiteRT's interpreter reads it (any CPU)")


def _dtype_name(dtype) -> str:
    import numpy as np

    return np.dtype(dtype).name
