"""The accuracy gate's paired 95 % interval (maths on constructed arrays) and the FORMATS capabilities."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS, ONNX_METHODS, PT2E_METHODS, parse_formats
from edgekit.export.options import ExportOptions
from edgekit.export.verify import compare
from edgekit.stats import paired_drop_interval


def test_paired_interval_known_values():
    # 100 images: 90 both right, 4 only PyTorch right, 1 only the artifact right, 5 both wrong
    reference = np.array([1] * 90 + [1] * 4 + [0] * 1 + [0] * 5, dtype=bool)
    artifact = np.array([1] * 90 + [0] * 4 + [1] * 1 + [0] * 5, dtype=bool)
    drop, low, high = paired_drop_interval(reference, artifact)
    d = np.array([0] * 90 + [1] * 4 + [-1] * 1 + [0] * 5, dtype=float)
    half = 1.959963984540054 * d.std(ddof=1) / math.sqrt(100)
    assert drop == pytest.approx(3.0)
    assert (low, high) == pytest.approx((3.0 - 100 * half, 3.0 + 100 * half))
    # var(d) = (5 - 100 * 0.03^2) / 99 = 0.049596, sd 0.22270: +-1.96 * 0.2227 / 10 = +-4.365 points
    assert 100 * half == pytest.approx(4.365, abs=0.001)


def test_pairing_ignores_images_both_get_right_or_wrong():
    # the same 3 discordant images among 100 or among 10,000: the interval narrows with n
    def interval(n):
        reference = np.zeros(n, dtype=bool)
        artifact = np.zeros(n, dtype=bool)
        reference[:3] = True
        return paired_drop_interval(reference, artifact)

    small, large = interval(100), interval(10_000)
    assert small[0] == pytest.approx(3.0) and large[0] == pytest.approx(0.03)
    assert (small[2] - small[1]) > 9 * (large[2] - large[1])


def test_identical_predictions_give_a_zero_width_interval():
    correct = np.array([True, False, True, True])
    assert paired_drop_interval(correct, correct) == (0.0, 0.0, 0.0)


def test_compare_reports_the_interval_and_says_when_it_is_wider_than_the_gate():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=128)
    reference = np.eye(10, dtype=np.float32)[labels] * 5 + rng.normal(0, 0.1, (128, 10)).astype(np.float32)
    candidate = reference.copy()
    candidate[:2] = np.roll(candidate[:2], 1, axis=1)  # two images lose their top-1 (1.6 points)
    candidate[2] = np.roll(candidate[2], 2)
    wide = compare(reference, candidate, labels, "int8", max_drop=1.0, source="constructed")
    assert wide.drop_points == pytest.approx(300 / 128)
    assert wide.gate_resolves is False
    assert wide.status == "failed" and "the gate cannot resolve" in wide.reason
    low, high = wide.drop_interval
    assert low < wide.drop_points < high and (high - low) / 2 > 1.0
    loose = compare(reference, candidate, labels, "int8", max_drop=5.0, source="constructed")
    assert loose.gate_resolves is True and "cannot resolve" not in loose.reason


def test_every_format_row_declares_its_capabilities():
    for spec in FORMATS.values():
        if "int8" in spec.precisions and spec.calib_methods:
            assert spec.default_calib_method() == "minmax"
    from edgekit.quantize.onnx_static import ONNX_METHODS as ORT
    from edgekit.quantize.pt2e import PT2E_METHODS as PT2E

    assert ONNX_METHODS == ORT and PT2E_METHODS == PT2E  # the table mirrors what the quantizers accept


@pytest.mark.parametrize("option,value,capability", [
    ("dynamic_batch", True, "dynamic_batch"),
    ("int8_io", True, "int8_io"),
    ("keep_float", ("features.0.0",), "keep_float"),
    ("calib_method", "entropy", "calib_methods"),
])
def test_an_explicit_format_that_cannot_honour_an_option_is_refused(option, value, capability):
    options = ExportOptions("mobilenet_v2", precisions=("fp32", "int8"), **{option: value})
    for name, spec in FORMATS.items():
        honours = getattr(spec, capability)
        if capability == "calib_methods":
            honours = value in honours
        if "int8" not in spec.precisions and option != "dynamic_batch":
            continue
        precisions = [p for p in options.precisions if p in spec.precisions]
        if honours:
            assert parse_formats(name, precisions, options) == [name]
        else:
            with pytest.raises(EdgekitError, match=name):
                parse_formats(name, precisions, options)
        # with every format (no explicit list) nothing is refused; the row says what was ignored
        assert parse_formats(None, [], options) == list(FORMATS)
        assert bool(spec.cannot_honour(options)) == (not honours)
