"""int8 on a trained MobileNetV2 (the fixed weights: the same bytes on every CPU), measured on the real validation
split of its run.

PT2E with both quantizers is evaluated in PyTorch (the converted graph); ONNX Runtime's static
QDQ model runs in onnxruntime. Each must keep top-1 within MAX_DROP_POINTS of float32.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekit.checkpoint import load_checkpoint
from edgekit.data.folder import load_splits
from edgekit.stats import paired_drop_interval
from edgekit.quantize.calibration import load_calibration_images
from edgekit.quantize.pt2e import litert_quantizer, quantize_pt2e, run_graph, xnnpack_quantizer

MAX_DROP_POINTS = 1.0
MAX_SIZE_RATIO = 0.30
BATCH = 50  # graphs are exported with this static batch: evaluating 500 images one by one is slow


@pytest.fixture(scope="module")
def mobilenet(fixed_run):
    run = fixed_run("mobilenet_v2")
    checkpoint = load_checkpoint(run.best_checkpoint)
    splits = load_splits(run.run_dir / "splits")
    images = checkpoint.preprocessing.load_batch([p for p, _ in splits.val])
    labels = np.array([label for _, label in splits.val])
    calibration = load_calibration_images(checkpoint.preprocessing, num_images=200)
    model = checkpoint.build_model()
    fp32_top1 = 100 * float((run_graph(model, images, BATCH).argmax(1) == labels).mean())
    return model, images, labels, calibration, fp32_top1


def top1_points(logits: np.ndarray, labels: np.ndarray) -> float:
    return 100 * float((logits.argmax(1) == labels).mean())


@pytest.mark.slow
@pytest.mark.parametrize("quantizer_factory", [xnnpack_quantizer, litert_quantizer], ids=["xnnpack", "litert"])
def test_pt2e_int8_keeps_top1_within_one_point_of_fp32(mobilenet, quantizer_factory):
    model, images, labels, calibration, fp32_top1 = mobilenet
    assert fp32_top1 > 50, "the fixture run did not learn; the comparison would mean nothing"
    graph = quantize_pt2e(model, torch.from_numpy(images[:BATCH]), quantizer_factory(), calibration)
    quantized_ops = [n for n in graph.graph.nodes if "quantize_per" in str(n.target)]
    assert quantized_ops, "convert_pt2e left no quantize/dequantize nodes: nothing was quantized"
    # The gate on 500 images: the paired 95 % interval of the drop (export's own statistic) must not lie wholly
    # above MAX_DROP_POINTS. A bare "drop <= 1.0" on 500 images judges 5 images of noise; a quantizer that really
    # loses points (about 3 or more here) still fails.
    fp32_correct = run_graph(model, images, BATCH).argmax(1) == labels
    int8_correct = run_graph(graph, images, BATCH).argmax(1) == labels
    drop, low, high = paired_drop_interval(fp32_correct, int8_correct)
    assert low <= MAX_DROP_POINTS, f"int8 loses more than {MAX_DROP_POINTS} points: drop {drop:.2f} [{low:.2f}, {high:.2f}]"


@pytest.mark.slow
@pytest.mark.parametrize("quantizer_factory", [xnnpack_quantizer, litert_quantizer], ids=["xnnpack", "litert"])
def test_keep_float_leaves_the_named_layer_unquantized(mobilenet, quantizer_factory):
    model, images, _, calibration, _ = mobilenet
    head = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    example = torch.from_numpy(images[:1])

    def weight_is_dequantized(graph) -> bool:  # a quantized linear reads its weight through a dequantize node
        linear = [n for n in graph.graph.nodes if n.target == torch.ops.aten.linear.default][-1]
        return "dequantize" in str(linear.args[1].target)

    assert weight_is_dequantized(quantize_pt2e(model, example, quantizer_factory(), calibration[:16]))
    assert not weight_is_dequantized(quantize_pt2e(model, example, quantizer_factory(), calibration[:16],
                                                   keep_float=[head]))


@pytest.mark.slow
def test_onnx_static_int8_runs_in_onnxruntime_small_and_accurate(mobilenet, tmp_path):
    import onnxruntime

    from edgekit.quantize.onnx_static import quantize_onnx_static

    model, images, labels, calibration, fp32_top1 = mobilenet
    fp32_path, int8_path = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    torch.onnx.export(model, (torch.from_numpy(images[:1]),), str(fp32_path), dynamo=True, external_data=False)
    quantize_onnx_static(fp32_path, int8_path, calibration)
    session = onnxruntime.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.concatenate([session.run(None, {name: images[i:i + 1]})[0] for i in range(len(images))])
    assert int8_path.stat().st_size <= MAX_SIZE_RATIO * fp32_path.stat().st_size
    # judged like the PT2E test above: the paired 95 % interval of the drop must not lie wholly above the gate
    fp32_correct = run_graph(model, images, BATCH).argmax(1) == labels
    drop, low, high = paired_drop_interval(fp32_correct, logits.argmax(1) == labels)
    assert low <= MAX_DROP_POINTS, (f"ONNX int8 {top1_points(logits, labels):.1f} vs fp32 {fp32_top1:.1f}: "
                                    f"drop {drop:.2f} [{low:.2f}, {high:.2f}]")


@pytest.mark.slow
def test_each_onnx_calibration_method_measures_its_own_ranges(mobilenet, tmp_path):
    """No method name may be a silent alias of min-max (ORT's default 128-bin entropy search was one)."""
    import onnx
    from onnx import numpy_helper

    from edgekit.quantize.onnx_static import quantize_onnx_static

    model, images, _, calibration, _ = mobilenet
    fp32_path = tmp_path / "fp32.onnx"
    torch.onnx.export(model, (torch.from_numpy(images[:1]),), str(fp32_path), dynamo=True, external_data=False)

    def activation_scales(method: str) -> np.ndarray:
        path = tmp_path / f"{method}.onnx"
        quantize_onnx_static(fp32_path, path, calibration[:32], method=method)
        graph = onnx.load(str(path)).graph
        constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        scales = [constants[node.input[1]] for node in graph.node
                  if node.op_type == "QuantizeLinear" and node.input[0] not in constants]
        return np.array([float(scale) for scale in scales])

    minmax = activation_scales("minmax")
    for method in ("entropy", "percentile"):
        other = activation_scales(method)
        assert other.shape == minmax.shape
        assert np.any(other < 0.99 * minmax), f"{method}: no range narrower than min-max's: an alias of min-max"


def test_unknown_method_names_what_each_backend_supports():
    from edgekit.errors import EdgekitError
    from edgekit.quantize.onnx_static import calibration_settings

    with pytest.raises(EdgekitError, match="minmax, moving_average, histogram"):
        xnnpack_quantizer("percentile")
    with pytest.raises(EdgekitError, match="entropy, percentile, distribution"):
        calibration_settings("kl-magic")
