"""Per-layer int8 sensitivity on a trained MobileNetV2 (the fixed weights) and real validation images."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgekit.checkpoint import load_checkpoint
from edgekit.data.folder import load_splits
from edgekit.quantize.calibration import load_calibration_images
from edgekit.quantize.sensitivity import layer_sensitivity, plot_sensitivity, save_sensitivity_json, weight_layers

LAYERS = 6  # the first six conv layers keep the test short; the CLI does all


@pytest.mark.slow
def test_one_row_per_conv_layer_with_values_in_range_worst_first(fixed_run, tmp_path):
    run = fixed_run("mobilenet_v2")
    checkpoint = load_checkpoint(run.best_checkpoint)
    val = load_splits(run.run_dir / "splits").val[:64]
    images = checkpoint.preprocessing.load_batch([p for p, _ in val])
    labels = np.array([label for _, label in val])
    calibration = load_calibration_images(checkpoint.preprocessing, num_images=32)
    model = checkpoint.build_model()

    events = []
    rows = layer_sensitivity(model, calibration, images, labels, max_layers=LAYERS, on_progress=events.append)

    assert sorted(r.name for r in rows) == sorted(name for name, _ in weight_layers(model)[:LAYERS])
    for row in rows:
        assert 0.0 <= row.agreement <= 1.0 and -1.0 <= row.cosine <= 1.0 + 1e-6
        assert -100.0 <= row.top1_drop <= 100.0
    assert [(r.agreement, r.cosine) for r in rows] == sorted((r.agreement, r.cosine) for r in rows)
    assert any(r.cosine < 1.0 - 1e-7 for r in rows), "quantizing a layer changed no logit: nothing was quantized"

    data = json.loads(save_sensitivity_json(rows, tmp_path / "s.json", model="mobilenet_v2").read_text())
    assert [layer["name"] for layer in data["layers"]] == [r.name for r in rows]
    assert plot_sensitivity(rows, tmp_path / "s.png").stat().st_size > 1000
    assert [e.kind for e in events] == ["start", *["advance"] * LAYERS, "finish"] and events[0].total == LAYERS


@pytest.mark.parametrize("model_name,layer", [("squeezenet1_1", "features.3.expand3x3"), ("mobilenet_v2", "features.2.conv.1.0"),
                                              ("shufflenet_v2", "conv1.0")])
@pytest.mark.parametrize("factory_name", ["xnnpack_quantizer", "litert_quantizer"])
def test_single_layer_quantization_observes_that_layers_weight_and_no_other(model_name, layer, factory_name):
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from edgekit.models import create_model
    from edgekit.quantize import pt2e

    model = create_model(model_name, num_classes=10).eval()  # graph structure only: weights do not matter
    graph = torch.export.export(model, (torch.zeros(2, 3, 64, 64),)).module()
    prepared = prepare_pt2e(graph, pt2e.only_quantize(getattr(pt2e, factory_name)(), layer))
    observed = {arg.target for node in prepared.graph.nodes if node.op == "call_module"
                for arg in node.args if isinstance(arg, torch.fx.Node) and arg.op == "get_attr"}
    assert observed == {f"{layer.replace('.', '_')}_weight"} or observed == {f"{layer}.weight"}
    observers = [n for n in prepared.graph.nodes if n.op == "call_module" and "activation_post_process" in n.name]
    assert 2 <= len(observers) <= 8, "one layer's weight, input and output, not the whole graph"


def test_layers_argument_limits_the_rows_and_rejects_unknown_names():
    from edgekit.errors import EdgekitError
    from edgekit.models import create_model

    model = create_model("squeezenet1_1", num_classes=10).eval()  # row names only: weights do not matter
    images = np.random.default_rng(0).normal(size=(8, 3, 32, 32)).astype(np.float32)
    rows = layer_sensitivity(model, images, images, layers=["classifier.1", "features.0"])
    assert sorted(row.name for row in rows) == ["classifier.1", "features.0"]
    with pytest.raises(EdgekitError, match="features.99"):
        layer_sensitivity(model, images, images, layers=["features.99"])
