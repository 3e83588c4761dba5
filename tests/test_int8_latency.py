"""Latency-aware int8 (`--latency-target host`; edgekit.export.int8_plan.plan_latency, edgekit.export.latency).

The decisions are driven with given timings (which layers are tried, what is kept, what the record and the footnote
say). The real measurement (the int8 artifact timed against fp32 on this host, ORT's profiler naming the modules
slower in int8, each latency step re-verified) runs in tests/test_int8_plan.py's float-layers export of the broken
model, which names the host as its target; whether int8 is faster here depends on the CPU, so that test asserts what
was measured and recorded, not which way it went.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgekit.export.int8_plan import Attempt, Int8Settings, plan_latency, plan_repair
from test_int8_plan import AVX2, Verdict

SLOWER = [("features.0.0", 0.04, 0.07), ("features.2.conv.1.0", 0.02, 0.03), ("features.3.conv.1.0", 0.01, 0.012)]


class Timed:
    """Builds whose gate result and (fp32 ms, int8 ms) are functions of the layers kept in float."""

    def __init__(self, timing, passes=lambda s: True):
        self.timing, self.passes, self.asked = timing, passes, []

    def build(self, settings: Int8Settings) -> Attempt:
        self.asked.append(settings.keep_float)
        return Attempt(settings, Verdict("passed" if self.passes(settings) else "failed", 0.3))

    def time(self, attempt: Attempt) -> tuple[float, float]:
        return self.timing(attempt.settings.keep_float)


def _run(timed: Timed, slower=SLOWER, keep=()):
    settings = Int8Settings("minmax", 200, keep_float=tuple(keep))
    first, plan = plan_repair("onnx", Attempt(settings, Verdict("passed", 0.3)), timed.build, max_drop=1.0,
                              policy="repair", ranking=lambda: ([], {}), more_images=None, require_integer=False,
                              cpu=AVX2)
    chosen = plan_latency("onnx", first, plan, timed.build, time_int8=timed.time, slower=lambda attempt: slower)
    return chosen, plan


def test_int8_slower_than_fp32_keeps_the_layers_slower_in_int8_in_float_when_that_is_faster():
    timed = Timed(lambda keep: (1.0, 1.1 - 0.1 * len(keep)))  # each float layer saves 0.1 ms
    chosen, plan = _run(timed)
    assert timed.asked == [tuple(name for name, _, _ in SLOWER)]  # all of them first: int8 0.8 ms, kept
    assert chosen.settings.keep_float == tuple(name for name, _, _ in SLOWER) and plan.settings == chosen.settings
    steps = plan.latency["steps"]
    assert [s["kept"] for s in steps] == [True, True] and steps[0]["int8_vs_fp32"] == pytest.approx(1 / 1.1, abs=1e-3)
    assert plan.latency["outcome"] == ("int8 1.25x fp32 on the host (test CPU, 1 thread), "
                                       "3 layer(s) kept in float for speed")
    assert plan.latency["slower_in_int8"][0] == {"module": "features.0.0", "fp32_ms": 0.04, "int8_ms": 0.07}
    assert "3 layer(s) in float" in plan.summary_line() and "1.25x fp32" in plan.summary_line()


def test_a_step_that_is_not_faster_or_fails_the_gate_is_not_kept_and_the_slower_row_says_why():
    # float layers cost time here, and the half that would not fails the gate: nothing is kept
    timed = Timed(lambda keep: (1.0, 1.1 + 0.05 * len(keep)), passes=lambda s: len(s.keep_float) != 1)
    chosen, plan = _run(timed)
    assert timed.asked == [tuple(n for n, _, _ in SLOWER), (SLOWER[0][0],)]  # all, then the slower half
    assert chosen.settings.keep_float == () and [s["kept"] for s in plan.latency["steps"]] == [True, False, False]
    assert plan.latency["steps"][2]["status"] == "failed" and "int8_ms" not in plan.latency["steps"][2]
    assert plan.latency["outcome"] == ("int8 is slower than fp32 on the host (test CPU, 1 thread): 0.91x "
                                       "(AVX2 without VNNI; no layer is faster in float there)")


def test_a_runtime_without_per_layer_times_is_timed_and_says_it_cannot_choose():
    timed = Timed(lambda keep: (1.0, 1.25))
    chosen, plan = _run(timed, slower=None)
    assert timed.asked == [] and chosen.settings.keep_float == () and plan.latency["slower_in_int8"] is None
    assert "gives no per-layer times" in plan.latency["outcome"] and "0.80x" in plan.latency["outcome"]


def test_layers_already_in_float_are_not_tried_again_and_no_slower_layer_means_no_step():
    timed = Timed(lambda keep: (1.0, 0.5))
    _run(timed, keep=("features.0.0",))
    assert timed.asked[0] == ("features.0.0", "features.2.conv.1.0", "features.3.conv.1.0")
    timed = Timed(lambda keep: (1.0, 0.5))
    chosen, plan = _run(timed, slower=[])
    assert timed.asked == [] and len(plan.latency["steps"]) == 1 and plan.latency["outcome"].startswith("int8 2.00x")


def test_with_a_target_float_layers_are_ranked_by_damage_per_millisecond():
    from edgekit.export.int8_context import LATENCY_FLOOR_MS, Int8Context

    context = Int8Context(np.zeros((1, 3, 8, 8), np.float32), "calibration images")
    context._ranking = (["a", "b", "c", "d"], {"layers": []})  # worst first by damage alone
    context.badness = {"a": 0.40, "b": 0.20, "c": 0.05, "d": 0.01}
    # a costs 1 ms in float here, b 0.1 ms, c is faster in float (negative cost: the floor), d is unknown
    order, facts = context.ranking_per_ms({"a": 1.0, "b": 0.1, "c": -0.02})
    assert order == ["c", "b", "d", "a"]  # 10 / 2 / 2 / 0.4 per ms; d's unknown cost counts as the floor
    assert facts["by_damage_per_ms"][0] == {"name": "c", "damage": 0.05, "cost_ms": -0.02}
    assert facts["by_damage_per_ms"][2]["cost_ms"] is None and f"{LATENCY_FLOOR_MS} ms" in facts["order"]


def test_the_latency_target_is_checked():
    from edgekit.errors import EdgekitError
    from edgekit.export.options import ExportOptions

    assert ExportOptions("mobilenet_v2", latency_target="host").latency_target == "host"
    with pytest.raises(EdgekitError, match="--latency-target must be one of host"):
        ExportOptions("mobilenet_v2", latency_target="adb")
