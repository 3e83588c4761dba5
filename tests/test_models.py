"""The model zoo: every architecture matches its paper's size and cost, builds for any class count and
input size from 32 px, exports with torch.export, and refuses bad names and option values clearly."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.models import create_model, get_model_info, list_models
from edgekit.models.complexity import (BUDGET_TOLERANCE, check_input_size, check_paper_budget, count_macs,
                                       count_params, measure)
from edgekit.models.pretrained import pretrained_state_dict, pretrained_weights

ALL_MODELS = ["mobilenet_v1", "mobilenet_v2", "resnet18", "shufflenet_v1", "shufflenet_v2",
              "squeezenet1_0", "squeezenet1_1", "xception"]
WITH_PAPER_FIGURES = [name for name in ALL_MODELS if name != "squeezenet1_1"]  # 1.1 has no paper table


def within(ours: float, paper: float, tolerance: float = BUDGET_TOLERANCE) -> bool:
    return abs(ours - paper) <= tolerance * paper


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def test_the_zoo_lists_all_eight_architectures():
    assert list_models("classification") == sorted(ALL_MODELS)
    assert list_models() == sorted(ALL_MODELS + list_models("detection"))  # the detectors: tests/test_ssdlite.py


# ----------------------------------------------------------------------------- paper budgets

@pytest.mark.parametrize("name", WITH_PAPER_FIGURES)
def test_default_configuration_matches_the_papers_table_within_5_percent(name):
    info = get_model_info(name)
    assert info.paper_params_m is not None or info.paper_macs_m is not None
    measured = measure(name)  # on the meta device; test_counting_on_the_meta_device_... pins that it equals real
    params, macs = measured.params, measured.macs
    if info.paper_params_m is not None:
        assert within(params / 1e6, info.paper_params_m), f"{params / 1e6:.3f}M params vs {info.paper_params_m}M"
    if info.paper_macs_m is not None:
        assert within(macs / 1e6, info.paper_macs_m), f"{macs / 1e6:.1f}M MACs vs {info.paper_macs_m}M"
    assert measured.img_size == info.default_img_size
    assert check_paper_budget(name).met is True


def test_the_headline_figures_are_the_ones_the_brief_names():
    expected = {"mobilenet_v1": (224, 4.2, 569), "mobilenet_v2": (224, 3.4, 300), "shufflenet_v1": (224, None, 140),
                "shufflenet_v2": (224, 2.3, 146), "squeezenet1_0": (224, 1.25, None), "xception": (299, 22.9, None)}
    for name, (img_size, params_m, macs_m) in expected.items():
        info = get_model_info(name)
        assert (info.default_img_size, info.paper_params_m, info.paper_macs_m) == (img_size, params_m, macs_m), name


def test_squeezenet_1_1_needs_about_2_4_times_less_computation_than_1_0():
    ratio = measure("squeezenet1_0").macs / measure("squeezenet1_1").macs
    assert within(ratio, 2.4), ratio


# (options, img_size, paper params M or None, paper MACs M or None); None where the paper gives no figure
# or rounds it too coarsely to test (0.25 MobileNet's "0.5M")
PAPER_VARIANTS = {
    "mobilenet_v1": [({"width_mult": 0.75}, 224, 2.6, 325), ({"width_mult": 0.5}, 224, 1.3, 149),
                     ({"width_mult": 0.25}, 224, None, 41), ({}, 192, 4.2, 418), ({}, 160, 4.2, 290),
                     ({}, 128, 4.2, 186)],  # Howard et al. Tables 6 and 7
    "mobilenet_v2": [({"width_mult": 1.4}, 224, None, 585)],  # Sandler et al. Table 4 (its 6.9M counts differently)
    "shufflenet_v1": [({"groups": g}, 224, None, 140) for g in (1, 2, 3, 4, 8)]  # Zhang et al. Table 2
                     + [({"groups": 3, "width_mult": 0.5}, 224, None, 38), ({"groups": 3, "width_mult": 2.0}, 224, None, 524)],
    "shufflenet_v2": [({"width_mult": 0.5}, 224, 1.4, 41), ({"width_mult": 1.5}, 224, 3.5, 299),
                      ({"width_mult": 2.0}, 224, 7.4, 591)],  # Ma et al. Table 8
}


@pytest.mark.parametrize("name,options,img_size,params_m,macs_m",
                         [(name, *variant) for name, variants in PAPER_VARIANTS.items() for variant in variants])
def test_width_groups_and_resolution_variants_match_the_papers_tables(name, options, img_size, params_m, macs_m):
    measured = measure(name, img_size=img_size, **options)
    if params_m is not None:
        assert within(measured.params / 1e6, params_m), f"{measured.params / 1e6:.3f}M vs {params_m}M"
    if macs_m is not None:
        assert within(measured.macs / 1e6, macs_m), f"{measured.macs / 1e6:.1f}M vs {macs_m}M"


def test_count_macs_counts_multiply_accumulates_of_a_convolution():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False))
    assert count_macs(conv, 10) == 3 * 8 * 9 * 10 * 10
    assert count_macs(conv, (10, 20)) == 3 * 8 * 9 * 10 * 20


def test_counting_on_the_meta_device_equals_counting_a_real_model():
    real = create_model("shufflenet_v1", num_classes=10)
    on_meta = measure("shufflenet_v1", num_classes=10, img_size=64)
    assert (on_meta.params, on_meta.macs) == (count_params(real), count_macs(real, 64))
    assert real.training  # counting leaves the mode as it was


# ----------------------------------------------------------------------------- shapes and export

@pytest.mark.parametrize("name", ALL_MODELS)
def test_any_class_count_and_input_size_from_32_px_gives_one_logit_per_class(name):
    model = create_model(name, num_classes=7).eval()
    with torch.no_grad():
        for height, width in [(32, 32), (48, 80), (96, 64)]:
            logits = model(torch.randn(2, 3, height, width))
            assert logits.shape == (2, 7), (height, width)
            assert torch.isfinite(logits).all()
    assert create_model(name, num_classes=1).eval()(torch.randn(1, 3, 40, 40)).shape == (1, 1)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_exports_with_torch_export_and_computes_what_eager_does(name):
    model = create_model(name, num_classes=10).eval()
    example = torch.randn(2, 3, 64, 64)
    program = torch.export.export(model, (example,))
    other = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other), model(other), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_min_img_size_is_32_and_smaller_inputs_are_refused(name):
    assert get_model_info(name).min_img_size == 32
    check_input_size(name, 32)
    check_input_size(name, (32, 200))
    with pytest.raises(EdgekitError, match="at least 32 px"):
        check_input_size(name, 31)
    with pytest.raises(EdgekitError, match="at least 32 px"):
        check_input_size(name, (200, 16))
    with pytest.raises(EdgekitError, match="at least 32 px"):
        measure(name, img_size=16)


# ----------------------------------------------------------------------------- options

def test_options_are_named_alike_across_models():
    for name in ALL_MODELS:
        assert set(get_model_info(name).options) <= {"width_mult", "groups", "dropout"}, name


def test_shufflenet_v1_groups_become_grouped_convolutions():
    model = create_model("shufflenet_v1", groups=8)
    grouped = {m.groups for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)}
    assert grouped == {1, 8}  # 1: the first unit's first pointwise conv, as in the paper


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if "dropout" in get_model_info(n).options])
def test_dropout_option_sets_the_classifier_dropout(name):
    rates = [m.p for m in create_model(name, num_classes=3, dropout=0.3).modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.3]


def test_width_mult_shrinks_mobilenet_v2():
    assert count_params(create_model("mobilenet_v2", width_mult=0.5)) < count_params(create_model("mobilenet_v2"))


BAD_OPTIONS = [
    ("mobilenet_v1", {"width_mult": 1.5}, "width_mult must be in 0.25–1.0"),
    ("mobilenet_v1", {"width_mult": 0.1}, "width_mult must be in 0.25–1.0"),
    ("mobilenet_v2", {"width_mult": 2.0}, "width_mult must be in 0.35–1.4"),
    ("mobilenet_v2", {"width_mult": "wide"}, "width_mult must be a number in 0.35–1.4"),
    ("shufflenet_v1", {"groups": 5}, "groups must be one of 1, 2, 3, 4, 8"),
    ("shufflenet_v1", {"width_mult": 3.0}, "width_mult must be in 0.5–2.0"),
    ("shufflenet_v2", {"width_mult": 0.75}, "width_mult must be one of 0.5, 1.0, 1.5, 2.0"),
    ("squeezenet1_0", {"dropout": 1.5}, "dropout must be in 0.0–0.99"),
    ("xception", {"dropout": -0.1}, "dropout must be in 0.0–0.99"),
    ("resnet18", {"width_mult": 0.5}, "resnet18 takes no option width_mult"),
    ("squeezenet1_1", {"groups": 2}, "its options: dropout"),
]


@pytest.mark.parametrize("name,options,message", BAD_OPTIONS)
def test_bad_option_values_are_refused_with_the_allowed_values(name, options, message):
    with pytest.raises(EdgekitError, match=message):
        create_model(name, num_classes=10, **options)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(EdgekitError) as raised:
        create_model("mobilenet_v9")
    assert "unknown model 'mobilenet_v9'" in str(raised.value)
    assert all(name in str(raised.value) for name in ALL_MODELS)
    with pytest.raises(EdgekitError, match="unknown model"):
        measure("nope")
    with pytest.raises(EdgekitError, match="unknown model"):
        pretrained_state_dict("nope")


def test_shufflenet_v2_refuses_dropout_instead_of_ignoring_it():
    with pytest.raises(EdgekitError, match="shufflenet_v2 takes no option dropout; its options: width_mult"):
        create_model("shufflenet_v2", num_classes=10, dropout=0.2)


def test_zero_classes_is_refused():
    with pytest.raises(EdgekitError, match="num_classes"):
        create_model("mobilenet_v2", num_classes=0)


# ----------------------------------------------------------------------------- pretrained weights

@pytest.mark.parametrize("name", ["mobilenet_v1", "shufflenet_v1", "xception"])
def test_models_without_torchvision_weights_point_to_a_weights_file(name):
    assert pretrained_weights(name) is None
    with pytest.raises(EdgekitError, match="--weights PATH"):
        pretrained_state_dict(name)


def test_a_width_without_published_weights_names_the_widths_that_have_them():
    with pytest.raises(EdgekitError, match=r"only at 0.5, 1.0, 1.5, 2.0.*--weights PATH"):
        pretrained_state_dict("shufflenet_v2", width_mult=0.75)


def test_torchvision_weights_either_load_strictly_or_fail_with_one_clear_error():
    """Offline (as on the dev machine) the fetch fails: one EdgekitError; online they must fit the model."""
    assert pretrained_weights("squeezenet1_1").name == "IMAGENET1K_V1"
    try:
        state_dict = pretrained_state_dict("squeezenet1_1")
    except EdgekitError as error:
        assert "--weights PATH" in str(error) and "squeezenet1_1" in str(error)
    else:
        create_model("squeezenet1_1", num_classes=1000).load_state_dict(state_dict, strict=True)
