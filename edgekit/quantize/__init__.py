"""Quantization: calibration, PT2E / onnxruntime / coremltools int8, sensitivity, QAT."""
