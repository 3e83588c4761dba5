"""int8 on the activations brought architectures use (issue 24, item 4): hardswish, hardsigmoid squeeze-excitation
(MobileNetV3), SiLU and sigmoid gates (EfficientNet), LayerNorm and GELU (ConvNeXt), through all three int8 paths.

Random weights are enough: these tests are about which ops each runtime runs in integer (the graph's types,
counted by edgekit.export.integer), not accuracy; each artifact must still run and follow PyTorch loosely.
Where a runtime has no integer kernel (XNNPACK's sigmoid and GELU, every runtime's LayerNorm), the artifact works
and its float-op count names the op."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.export.base import ExportRequest
from edgekit.export.options import ExportOptions
from edgekit.formats import FORMATS
from edgekit.preprocess import Preprocessing
from edgekit.runtime import open_runtime

SIZE = 16


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, gate: nn.Module):
        super().__init__()
        self.pool, self.reduce, self.expand, self.gate = (nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 4, 1),
                                                          nn.Conv2d(4, channels, 1), gate)

    def forward(self, x):
        return x * self.gate(self.expand(torch.relu(self.reduce(self.pool(x)))))


class ChannelsLastNorm(nn.Module):
    """ConvNeXt's LayerNorm over channels, applied channels-last."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def net(kind: str) -> nn.Module:
    c = 16
    body = {"mobilenet_v3": [nn.Hardswish(), nn.Conv2d(c, c, 3, 1, 1, groups=c), nn.Hardswish(),
                             SqueezeExcite(c, nn.Hardsigmoid())],
            "efficientnet": [nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1, groups=c), nn.SiLU(), SqueezeExcite(c, nn.Sigmoid())],
            "convnext": [nn.Conv2d(c, c, 7, 1, 3, groups=c), ChannelsLastNorm(c), nn.Conv2d(c, 4 * c, 1), nn.GELU(),
                         nn.Conv2d(4 * c, c, 1)]}[kind]
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.BatchNorm2d(c), *body, nn.Conv2d(c, 24, 1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 5)).eval()


def images(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)  # per-image colour plus texture: logits that differ between images
    return (rng.standard_normal((count, 3, 1, 1)) + 0.5 * rng.standard_normal((count, 3, SIZE, SIZE))).astype(np.float32)


@pytest.fixture(scope="module")
def int8_artifacts(tmp_path_factory):
    """{(net, format): (backend facts, logits of the artifact, PyTorch's logits)} for every net and int8 format."""
    folder = tmp_path_factory.mktemp("int8-activations")
    calibration, probe = images(32), images(16)
    found = {}
    for kind in ("mobilenet_v3", "efficientnet", "convnext"):
        model = net(kind)
        with torch.no_grad():
            reference = model(torch.from_numpy(probe)).numpy()
        for fmt in ("onnx", "tflite", "executorch"):
            spec = FORMATS[fmt]
            request = ExportRequest(model=model, model_name=kind, example_input=torch.from_numpy(probe[:1].copy()),
                                    precision="int8", preprocessing=Preprocessing(SIZE), labels=list("abcde"),
                                    calibration=calibration,
                                    options=ExportOptions(model=kind, calib_method=spec.default_calib_method()))
            path = folder / f"{kind}{spec.artifact[spec.artifact.rindex('.'):]}"
            facts = spec.converter().export(request, path)
            runtime = open_runtime(fmt, path)
            logits = np.concatenate([runtime(probe[i:i + 1]) for i in range(len(probe))])
            found[kind, fmt] = facts, logits, reference
    return found


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "tflite", "executorch"])
def test_hardswish_and_a_hardsigmoid_gate_run_in_integer_everywhere(int8_artifacts, fmt):
    facts, logits, reference = int8_artifacts["mobilenet_v3", fmt]
    assert facts["integer"]["float_ops"] == 0, facts["integer"]
    assert _cosine(logits, reference) > 0.98


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_silu_and_a_sigmoid_gate_run_in_integer_where_the_runtime_has_sigmoid(int8_artifacts, fmt):
    facts, logits, reference = int8_artifacts["efficientnet", fmt]
    assert facts["integer"]["float_ops"] == 0, facts["integer"]
    assert _cosine(logits, reference) > 0.98


@pytest.mark.slow
def test_xnnpack_has_no_int8_sigmoid_and_the_count_says_so(int8_artifacts):
    facts, logits, reference = int8_artifacts["efficientnet", "executorch"]
    which = facts["integer"]["which"]
    assert which.get("xnnpack:Sigmoid") == 3, which  # two SiLUs and the gate, in fp32 between Converts
    assert which.get("xnnpack:Convert", 0) >= 6 and "xnnpack:Multiply" not in which, which  # the muls are int8
    assert _cosine(logits, reference) > 0.98


@pytest.mark.slow
@pytest.mark.parametrize("fmt, names", [("onnx", ("LayerNormalization", "Erf")),
                                        ("tflite", ("RSQRT", "SQUARED_DIFFERENCE")),
                                        ("executorch", ("aten.native_layer_norm.default", "xnnpack:Gelu"))])
def test_layer_norm_and_gelu_stay_in_float_and_the_artifact_still_works(int8_artifacts, fmt, names):
    facts, logits, reference = int8_artifacts["convnext", fmt]
    which = facts["integer"]["which"]
    assert all(name in which for name in names), which
    assert np.isfinite(logits).all() and _cosine(logits, reference) > 0.98


def test_the_decomposed_activations_compute_exactly_what_pytorch_does():
    """hardsigmoid, hardswish and SiLU written as add/hardtanh/mul/sigmoid give PyTorch's own values (to float32
    rounding) on an exported graph, in place, with the nodes' module stack kept for keep-float filters."""
    from edgekit.quantize.pt2e_patterns import XNNPACK_DECOMPOSED, _op, decompose_activations

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Hardswish(inplace=True), nn.Conv2d(8, 8, 1), nn.SiLU(),
                          SqueezeExcite(8, nn.Hardsigmoid())).eval()
    x = torch.randn(2, 3, 12, 12) * 4
    graph = torch.export.export(model, (x,)).module()
    before = {_op(n).split(".")[0] for n in graph.graph.nodes}
    assert {"hardswish_", "silu", "hardsigmoid"} <= before, before
    decompose_activations(graph, XNNPACK_DECOMPOSED)
    after = [n for n in graph.graph.nodes if n.op == "call_function"]
    assert not {"hardswish", "hardswish_", "silu", "hardsigmoid"} & {_op(n).split(".")[0] for n in after}
    assert all(n.meta.get("nn_module_stack") for n in after if _op(n).startswith(("add", "hardtanh", "mul", "sigmoid")))
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=1e-5, atol=1e-5)
