"""Quantization: calibration, PT2E / onnxruntime / coremltools int8, sensitivity, QAT.

    calibration.load_calibration_images(preprocessing, directory=None, num_images=DEFAULT_CALIBRATION_IMAGES, seed=0)
    pt2e.xnnpack_quantizer(method="minmax", per_channel=True)      ExecuTorch
    pt2e.litert_quantizer(method="minmax", per_channel=True)       TFLite (LiteRT)
    pt2e.quantize_pt2e(model, example_input, quantizer, calibration, *, fold_quantize=True, keep_float=())
    onnx_static.quantize_onnx_static(fp32_path, out_path, calibration, *, method="minmax", per_channel=True, nodes_to_exclude=())
    coreml.quantize_coreml_int8(mlmodel, calibration, input_name)
    sensitivity.layer_sensitivity(model, calibration, images, labels, *, layers, max_layers, method, on_progress)
                                          one layer int8 at a time: which layers to keep in float

The stages of `edgekit quantize`, each an options object (options.py, validated when made) and a function
returning values, progress through `on_progress` (edgekit.progress); nothing here prints:
    report.ptq_report(PtqOptions(checkpoint, ...))                   fp32 vs PT2E int8 top-1 rows
    report.sensitivity_report(SensitivityOptions(checkpoint, ...))   per-layer rows; sensitivity.json/.png
    qat.quantization_aware_finetune(QatOptions(checkpoint, ...))     short PT2E QAT -> RUN/qat.pt

Method names (docs/quantization.md): "minmax", "moving_average", "histogram" everywhere PT2E or
ONNX Runtime runs; ONNX Runtime adds "entropy", "percentile", "distribution".
"""

DEFAULT_CALIBRATION_IMAGES = 200  # the one default for how many images calibrate int8 ranges
