"""TFLite (LiteRT) through litert-torch.

fp32: litert_torch.convert. fp16: the float model with its weights cast to float16 by
ai-edge-quantizer's FLOAT_CASTING recipe (weights stored fp16, dequantized on load; compute stays
fp32 unless the GPU delegate runs it in fp16). int8: PT2E with litert-torch's quantizer, converted
with the same quantizer; the converter gives an int8 input tensor, so the predictor quantizes with
the input's scale/zero-point and dequantizes the output; both are recorded in the manifest.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgekit.export.base import ExportRequest, one_at_a_time

NUM_THREADS = 2


class TFLiteBackend:
    name = "tflite"

    def runs_here(self) -> tuple[bool, str]:
        return True, ""

    def export(self, request: ExportRequest, path: Path) -> dict:
        import litert_torch

        extra = {"converter": {"name": "litert-torch", "version": litert_torch.__version__}, "notes": []}
        if request.precision == "fp32":
            litert_torch.convert(request.model, (request.example_input,)).export(str(path))
        elif request.precision == "fp16":
            extra["fp16_converter"] = cast_weights_fp16(request, path)
        else:
            from edgekit.export.integer import tflite_integer

            extra["quantizer"] = export_int8(request, path)
            extra["integer"] = tflite_integer(path)
            facts = self.inspect(path)
            if request.options.int8_io != (facts["input"]["dtype"] in ("int8", "uint8")):
                extra["notes"].append(f"--int8-io={request.options.int8_io} asked, but litert-torch's PT2E path "
                                      f"gives a {facts['input']['dtype']} input; recorded as is")
        return {**extra, **self.inspect(path)}

    def load_predictor(self, path: Path, manifest: dict):
        return TFLitePredictor(path)

    def inspect(self, path: Path) -> dict:
        interpreter = _interpreter(path)
        return {"input": _tensor_facts(interpreter.get_input_details()[0]),
                "output": _tensor_facts(interpreter.get_output_details()[0])}


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


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=NUM_THREADS)
    interpreter.allocate_tensors()
    return interpreter


def _tensor_facts(details: dict) -> dict:
    shape = [int(d) for d in details["shape"]]
    scale, zero_point = details.get("quantization", (0.0, 0))
    facts = {"name": details["name"], "shape": shape, "dtype": np.dtype(details["dtype"]).name,
             "layout": _layout(shape)}
    if scale:
        facts["quantization"] = {"scale": float(scale), "zero_point": int(zero_point),
                                 "real_value": "scale * (q - zero_point)"}
    return facts


def _layout(shape: list[int]) -> str | None:
    if len(shape) != 4:
        return None
    return "NCHW" if shape[1] == 3 else "NHWC" if shape[3] == 3 else None


class TFLitePredictor:
    """Runs one image at a time; quantizes integer inputs and dequantizes integer outputs."""

    def __init__(self, path: Path):
        self.name = f"litert:{path.name}"
        self.interpreter = _interpreter(path)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.nhwc = _layout([int(d) for d in self.input["shape"]]) == "NHWC"

    def _run_one(self, image: np.ndarray) -> np.ndarray:
        if self.nhwc:
            image = image.transpose(0, 2, 3, 1)
        self.interpreter.set_tensor(self.input["index"], quantize(image, self.input))
        self.interpreter.invoke()
        return dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return one_at_a_time(self._run_one, np.asarray(images, dtype=np.float32))


def quantize(values: np.ndarray, details: dict) -> np.ndarray:
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=dtype)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(values, np.float32) / np.float32(scale)) + zero_point, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    if np.dtype(details["dtype"]).kind == "f":
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


BACKEND = TFLiteBackend()
