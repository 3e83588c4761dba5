"""int8 artifacts are integer graphs: edgekit.export.integer counts the ops that compute in float,
with the real runtimes (onnxruntime's optimizer, LiteRT's interpreter), and --require-integer
turns any float op into a failed verification."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.export.integer import summary
from edgekit.export.onnx import onnx_integer
from edgekit.export.tflite import tflite_integer


def _qdq_graph(path, middle_op: str) -> None:
    """input -> QuantizeLinear(uint8) -> DQ -> middle_op(x, x) or (x) -> Q -> DQ -> output."""
    import onnx
    from onnx import TensorProto, helper

    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.05])
    zero = helper.make_tensor("zero", TensorProto.UINT8, [], [128])
    scale_out = helper.make_tensor("scale_out", TensorProto.FLOAT, [], [0.1])
    binary = middle_op in ("Add", "Mul")
    nodes = [helper.make_node("QuantizeLinear", ["input", "scale", "zero"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq_a"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq_b"]),
             helper.make_node(middle_op, ["dq_a", "dq_b"] if binary else ["dq_a"], ["mid"]),
             helper.make_node("QuantizeLinear", ["mid", "scale_out", "zero"], ["q2"]),
             helper.make_node("DequantizeLinear", ["q2", "scale_out", "zero"], ["output"])]
    if not binary:
        nodes.pop(2)
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8])],
                              initializer=[scale, zero, scale_out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_onnx_counts_what_onnxruntime_leaves_in_float(tmp_path):
    """A uint8 DQ->Add->Q island is fused by ORT into QLinearAdd (0 float ops); Exp has no integer
    kernel, so DQ, Exp and Q stay: 3 float ops. The boundary Q of the input and DQ of the output
    do not count."""
    _qdq_graph(tmp_path / "add.onnx", "Add")
    fused = onnx_integer(tmp_path / "add.onnx")
    assert fused["float_ops"] == 0, fused
    assert "onnxruntime" in fused["measured_on"] and "ORT_ENABLE_ALL" in fused["measured_on"]
    _qdq_graph(tmp_path / "exp.onnx", "Exp")
    island = onnx_integer(tmp_path / "exp.onnx")
    assert island["which"] == {"DequantizeLinear": 1, "Exp": 1, "QuantizeLinear": 1}, island
    assert island["float_ops"] == 3 and summary(island) == "3: DequantizeLinear, Exp, QuantizeLinear"


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU6(), nn.Conv2d(channels, channels, 1))

    def forward(self, x):
        return x + self.body(x)


class TinyNet(nn.Module):
    """Residual adds in a chain (MobileNetV2's pattern), a concatenation (SqueezeNet's Fire), a
    channel shuffle (ShuffleNet), a global mean and a classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(Residual(8), Residual(8), Residual(8))
        self.left, self.right = nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem(x)))
        x = torch.cat([torch.relu(self.left(x)), torch.relu(self.right(x))], 1)
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(x.mean((2, 3)))


@pytest.mark.slow
def test_tflite_int8_is_fully_integer_and_counting_sees_the_difference(tmp_path):
    """litert-torch's own quantizer leaves the chained residual adds (and the mean) in float on this
    torch; edgekit's completed annotations make every op int8. Random weights are enough: this is
    about the graph's types, not its accuracy (test_int8_export holds the accuracy gate)."""
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    from edgekit.quantize.pt2e import litert_quantizer, quantize_pt2e

    torch.manual_seed(0)
    model, example = TinyNet().eval(), torch.randn(1, 3, 16, 16)
    calibration = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    counts = {}
    for name, quantizer in (("edgekit", litert_quantizer("minmax")),
                            ("litert-torch alone", PT2EQuantizer().set_global(
                                get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)))):
        graph = quantize_pt2e(model, example, quantizer, calibration, fold_quantize=False)
        path = tmp_path / f"{name}.tflite"
        litert_torch.convert(graph, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
        counts[name] = tflite_integer(path)
    assert counts["edgekit"]["float_ops"] == 0, counts["edgekit"]
    assert counts["litert-torch alone"]["which"].get("ADD", 0) >= 2, counts["litert-torch alone"]


class SkipReluBlock(nn.Module):
    """Xception's middle-flow block: ReLU -> conv, plus the identity. The block's input, the previous
    block's add, feeds both this ReLU and this add."""

    def __init__(self, channels: int):
        super().__init__()
        self.branch = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return self.branch(x) + x


class SkipReluNet(nn.Module):
    """Three chained SkipReluBlocks between a conv + ReLU stem and a mean + classifier: every add but
    the last has two readers, the next ReLU and the next add."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(SkipReluBlock(8), SkipReluBlock(8), SkipReluBlock(8))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


# int8 against float logits, in _error's units: 0.10 (TFLite) and 0.11 (ONNX) measured 2026-11-26;
# leaving out the ReLUs moves them by 8.5
ERROR_BOUND = 0.3


def skip_relu_net() -> nn.Module:
    """Non-degenerate weights: the branches' random biases (std 0.5) and a classifier of unit-scale
    weights make the ReLUs change the logits (the tests check it with _relu_matters) and spread the
    logits well beyond int8 rounding."""
    torch.manual_seed(0)
    model = SkipReluNet().eval()
    with torch.no_grad():
        for block in model.blocks:
            block.branch[1].bias.normal_(0.0, 0.5)
        model.fc.weight.normal_(0.0, 1.0)
    return model


def _images(rng, count: int) -> np.ndarray:
    """Each image its own colour plus texture: after the global mean, the logits still differ from
    image to image (pure noise would average out to near-constant logits)."""
    return (rng.standard_normal((count, 3, 1, 1)) + 0.5 * rng.standard_normal((count, 3, 16, 16))).astype(np.float32)


def _error(logits: np.ndarray, reference: np.ndarray) -> float:
    """Largest logit difference, in units of the reference logits' spread from image to image."""
    return float(np.abs(logits - reference).max() / reference.std(axis=0).mean())


def _relu_matters(model: nn.Module, images: np.ndarray) -> float:
    """How far the logits move when the blocks' ReLUs are left out (in _error's units)."""
    import copy

    without = copy.deepcopy(model)
    for block in without.blocks:
        block.branch[0] = nn.Identity()
    with torch.no_grad():
        x = torch.from_numpy(images)
        return _error(without(x).numpy(), model(x).numpy())


@pytest.mark.slow
def test_tflite_relu_after_an_add_with_another_reader_is_integer(tmp_path):
    """litert-torch annotates add -> ReLU as one fused op (the add's output unquantized) even when the
    add's output also feeds the next add, so ADD and RELU ran in float (Xception: 66 float ops).
    edgekit quantizes that output: 0 float ops, and the int8 logits follow the float model's."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig

    from edgekit.quantize.pt2e import litert_quantizer, quantize_pt2e
    from edgekit.runtime import open_runtime

    model, example = skip_relu_net(), torch.randn(1, 3, 16, 16)
    rng = np.random.default_rng(0)
    images = _images(rng, 8)
    calibration = np.concatenate([_images(rng, 32), images])  # ranges that cover the images compared
    assert _relu_matters(model, images) > 2
    quantizer = litert_quantizer("minmax")
    graph = quantize_pt2e(model, example, quantizer, calibration, fold_quantize=False)
    path = tmp_path / "skip_relu.tflite"
    litert_torch.convert(graph, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    integer = tflite_integer(path)
    assert integer["float_ops"] == 0, integer
    with torch.no_grad():
        float_logits = model(torch.from_numpy(images)).numpy()
    assert _error(open_runtime("tflite", path)(images), float_logits) < ERROR_BOUND


@pytest.mark.slow
def test_onnx_relu_after_an_add_with_another_reader_is_integer(tmp_path):
    """ORT's quantizer folds a Relu into the op before it only when it is that op's single reader; a
    Relu reading a shared add kept its own qparams and left a DequantizeLinear -> QuantizeLinear pair
    per block in float. Before quantizing, each such Relu gets its own copy of the add (the same
    values in float); after ORT's optimizer the int8 graph has 0 float ops and follows the float model."""
    import warnings

    import onnx
    import onnxruntime

    from edgekit.quantize.onnx_static import copies_of, own_copy_for_activations, quantize_onnx_static

    model, example = skip_relu_net(), torch.randn(1, 3, 16, 16)
    rng = np.random.default_rng(0)
    images = _images(rng, 8)
    calibration = np.concatenate([_images(rng, 32), images])  # ranges that cover the images compared
    float_path = tmp_path / "float.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), dynamo=True, external_data=False, opset_version=18,
                          input_names=["input"], output_names=["logits"], verbose=False).save(str(float_path))

    copied = onnx.load(str(float_path))
    assert own_copy_for_activations(copied) == 2  # the last add feeds the mean only
    adds = [n.name for n in copied.graph.node if n.op_type == "Add"]
    assert len(adds) == 5 and len(copies_of(copied, adds)) == 2  # a keep-float add keeps its copy in float too
    onnx.save(copied, str(tmp_path / "copied.onnx"))
    run = lambda path, batch: onnxruntime.InferenceSession(str(path)).run(None, {"input": batch})[0]
    for image in images:
        np.testing.assert_allclose(run(tmp_path / "copied.onnx", image[None]), run(float_path, image[None]),
                                   rtol=1e-5, atol=1e-6)

    int8_path = tmp_path / "int8.onnx"
    quantize_onnx_static(float_path, int8_path, calibration)
    integer = onnx_integer(int8_path)
    assert integer["float_ops"] == 0, integer
    float_logits = np.concatenate([run(float_path, image[None]) for image in images])
    int8_logits = np.concatenate([run(int8_path, image[None]) for image in images])
    assert _error(int8_logits, float_logits) < ERROR_BOUND


@pytest.mark.slow
def test_onnx_int8_trained_is_integer_accurate_and_require_integer_fails_on_a_float_layer(fixed_run, tmp_path):
    """The trained mobilenet_v2 (fixed weights): ONNX int8 has 0 float ops after ORT's optimizer, keeps top-1
    within 1 point on the whole validation split with --require-integer; keeping one layer in float
    turns the same export into a failed verification that names the float ops."""
    from edgekit import ExportOptions, export_model

    run = fixed_run("mobilenet_v2")
    summary_ = export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["int8"],
                                          formats=["onnx"], out=tmp_path / "integer", require_integer=True))
    int8 = summary_.results[0]
    assert int8.status == "verified", int8.reason
    assert int8.extra["integer"]["float_ops"] == 0
    assert int8.parity["reference_top1"] - int8.parity["artifact_top1"] <= 1.0
    import json

    manifest = json.loads((int8.folder / "manifest.json").read_text())
    assert manifest["backend"]["integer"] == int8.extra["integer"]

    import onnx

    classifier = next(node.name for node in onnx.load(str(int8.folder / "model.onnx")).graph.node
                      if node.op_type == "Gemm")  # the QDQ graph keeps the float graph's node names
    mixed = export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["int8"],
                                       formats=["onnx"], out=tmp_path / "mixed", require_integer=True,
                                       keep_float=(classifier,), allow_mismatch=True)).results[0]
    assert mixed.status == "failed verification"
    assert "--require-integer" in mixed.reason and mixed.extra["integer"]["float_ops"] > 0
    assert "Gemm" in mixed.reason or "MatMul" in mixed.reason


@pytest.mark.parametrize("keepdims", [1, 0])
def test_global_mean_becomes_global_average_pool_with_the_same_values(tmp_path, keepdims):
    """ORT has no integer ReduceMean: the float graph's mean over H, W is rewritten as
    GlobalAveragePool (+ Flatten without keepdims) before quantizing; onnxruntime gives the same values."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.quantize.onnx_static import mean_as_global_pool

    axes = numpy_helper.from_array(np.array([-2, -1], dtype=np.int64), "axes")
    out_shape = [1, 8, 1, 1] if keepdims else [1, 8]
    graph = helper.make_graph([helper.make_node("ReduceMean", ["input", "axes"], ["output"], keepdims=keepdims)],
                              "mean", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8, 5, 7])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(tmp_path / "mean.onnx"))
    assert mean_as_global_pool(model) == 1
    assert [n.op_type for n in model.graph.node] == ["GlobalAveragePool"] + ["Flatten"] * (1 - keepdims)
    onnx.save(model, str(tmp_path / "pool.onnx"))
    x = np.random.default_rng(0).standard_normal((1, 8, 5, 7)).astype(np.float32)
    before, after = (onnxruntime.InferenceSession(str(tmp_path / name)).run(None, {"input": x})[0]
                     for name in ("mean.onnx", "pool.onnx"))
    assert before.shape == after.shape
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
