"""Cross-layer equalization and bias correction (edgekit.quantize.equalize) on the committed trained weights.

The exported artifacts built from an equalized model are judged in tests/test_int8_plan.py (the broken model is
repaired by it in ONNX, TFLite and ExecuTorch); here: which pairs are exact, that equalizing leaves the float function
alone while it brings a blown-up channel back, and that bias correction moves each layer's mean int8 error to zero.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import edgekit
from edgekit.checkpoint import load_checkpoint
from edgekit.quantize.equalize import correct_bias, equalize_for_int8, equalize_pairs, exact_pairs
from edgekit.quantize.sensitivity import fake_quantize_weight, fold_batchnorm
from int8_support import BROKEN_CHANNEL, BROKEN_LAYERS, NEXT_CONV, SCALED_BN

WEIGHTS = "tests/fixtures/weights/{}.pt"


def _trained(name: str, broken: bool = False) -> nn.Module:
    checkpoint = load_checkpoint(WEIGHTS.format(name))
    model = edgekit.create_model(checkpoint.model_name, num_classes=checkpoint.num_classes, **checkpoint.model_options)
    state = {key: value.clone() for key, value in checkpoint.state_dict.items()}
    if broken:  # as tests/int8_support.py breaks it
        state[f"{SCALED_BN}.weight"][BROKEN_CHANNEL] *= 300.0
        state[f"{SCALED_BN}.bias"][BROKEN_CHANNEL] *= 300.0
        state[f"{NEXT_CONV}.weight"][:, BROKEN_CHANNEL] /= 300.0
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """32 shipped images (3 or 4 of each class) as the fixture weights' preprocessing makes them."""
    from edgekit.paths import SAMPLE_DATA_DIR

    paths = sorted(SAMPLE_DATA_DIR.glob("*/*.png"))[::60][:32]
    return load_checkpoint(WEIGHTS.format("mobilenet_v2")).preprocessing.load_batch(paths).astype(np.float32)


def _outputs(model: nn.Module, images: np.ndarray, layer: str | None = None):
    seen = {}
    modules = dict(model.named_modules())
    handle = modules[layer].register_forward_hook(lambda m, i, o: seen.setdefault("out", o)) if layer else None
    with torch.no_grad():
        logits = model(torch.from_numpy(images))
    if handle:
        handle.remove()
    return logits, seen.get("out")


def test_only_links_exact_under_a_channel_scale_are_paired():
    pairs, left_alone = exact_pairs(fold_batchnorm(_trained("mobilenet_v2")))
    # mobilenet_v2: the projection of a block without a residual and the next block's expansion (nothing between)
    assert tuple(BROKEN_LAYERS) in pairs and ("features.17.conv.2", "features.18.0") in pairs and len(pairs) == 2
    assert left_alone["joined by ReLU6 (scaling would move its clip point)"] > 30
    assert left_alone["read by more than one layer (a residual sum or a branch)"] > 0
    # shufflenet_v2's branches: 1x1 -> ReLU -> depthwise -> 1x1, both links exact
    pairs, _ = exact_pairs(fold_batchnorm(_trained("shufflenet_v2")))
    modules = dict(_trained("shufflenet_v2").named_modules())
    assert len(pairs) > 20 and any(modules[b].groups > 1 for _, b in pairs)


@pytest.mark.parametrize("name", ["mobilenet_v2", "shufflenet_v2"])
def test_equalizing_leaves_the_float_function_alone(name, images):
    model = fold_batchnorm(_trained(name))
    before, _ = _outputs(model, images)
    pairs, _ = exact_pairs(model)
    assert equalize_pairs(model, pairs) >= 1
    after, _ = _outputs(model, images)
    assert float((after - before).abs().max() / before.abs().max()) < 1e-4
    assert torch.equal(after.argmax(1), before.argmax(1))


def test_equalizing_brings_the_blown_up_channel_back(images):
    model = fold_batchnorm(_trained("mobilenet_v2", broken=True))
    _, activation = _outputs(model, images, BROKEN_LAYERS[0])
    widths = activation.transpose(0, 1).flatten(1).abs().amax(1)
    assert widths[BROKEN_CHANNEL] > 50 * widths.median()  # the broken channel dwarfs the others
    equalize_pairs(model, exact_pairs(model)[0])
    _, activation = _outputs(model, images, BROKEN_LAYERS[0])
    widths = activation.transpose(0, 1).flatten(1).abs().amax(1)
    assert widths.max() < 5 * widths.median()


def test_bias_correction_removes_the_mean_error_of_int8_weights(images):
    model = fold_batchnorm(_trained("mobilenet_v2"))
    layer = "features.2.conv.1.0"  # a depthwise conv: few weights per channel, the largest mean error
    modules = dict(model.named_modules())
    inputs = {}
    handle = modules[layer].register_forward_pre_hook(lambda m, i: inputs.setdefault("x", i[0]))
    _outputs(model, images)
    handle.remove()
    conv = modules[layer]
    with torch.no_grad():
        exact = conv(inputs["x"])  # float weights, the bias as trained

    def mean_error() -> torch.Tensor:
        """int8 weights with the layer's bias as it is now, against float as trained, averaged per channel"""
        with torch.no_grad():
            rounded = nn.functional.conv2d(inputs["x"], fake_quantize_weight(conv.weight), conv.bias, conv.stride,
                                           conv.padding, conv.dilation, conv.groups)
        return (rounded - exact).mean(dim=(0, 2, 3))

    error = mean_error()
    assert float(error.abs().max()) > 1e-4
    shifts = correct_bias(model, {layer: conv}, torch.from_numpy(images), weight_levels=127)
    assert shifts[layer] == pytest.approx(float(error.abs().max()), rel=1e-3)
    # the same inputs, the corrected bias: the mean error of the int8 weights is gone (float rounding left)
    assert float(mean_error().abs().max()) < 1e-3 * float(error.abs().max()) + 1e-7


def test_equalize_for_int8_works_on_a_copy_and_says_what_it_did(images):
    model = _trained("mobilenet_v2", broken=True)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    equalized, facts = equalize_for_int8(model, images)
    assert all(torch.equal(state[key], value) for key, value in model.state_dict().items())  # the caller's is as it was
    assert list(BROKEN_LAYERS) in facts["pairs"] and facts["bias_corrected"] == 53 and facts["bias_images"] == 32
    # module names are kept (keep_float and the ranking name the same layers)
    assert {n for n, m in equalized.named_modules() if isinstance(m, nn.Conv2d)} == \
        {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    # a graph without conv modules (what a .pt2 program gives) is not acted on
    program = torch.export.export(_trained("squeezenet1_1"), (torch.from_numpy(images[:1]),)).module()
    nothing, why = equalize_for_int8(program, images)
    assert nothing is None and "no conv or linear module" in why["reason"]
