"""The int8 plan (edgekit.export.int8_plan): an int8 artifact that misses --max-drop is repaired by export itself.

The first tests drive `plan_repair` with a build function whose drops are given (the order of the fixes, the
bisection to the fewest float layers, strict, require-integer); the last ones export a model built to break int8
(tests/int8_support.py: one activation channel scaled up 300x and its reader scaled down, the float function
unchanged) through the CLI in ONNX, TFLite and ExecuTorch, under strict (fails) and by default (repaired, the plan in
the manifest and summary.json).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from edgekit.export.int8_plan import Attempt, Int8Settings, plan_repair, score

VNNI = {"name": "test CPU", "arch": "x86_64", "int8_flags": ["avx2", "avx512_vnni"], "int8_class": "x86-vnni",
        "int8_note": "VNNI"}
AVX2 = {**VNNI, "int8_flags": ["avx2"], "int8_class": "x86-avx2", "int8_note": "AVX2 without VNNI"}


@dataclass
class Verdict:
    """What edgekit.export.verify.Parity carries that the plan reads."""

    status: str
    drop_points: float | None
    agreement: float = 0.97
    drop_interval: tuple = (0.0, 0.0)
    reason: str = ""


class Builds:
    """A build function whose drop is a function of the settings; it records what it was asked to build."""

    def __init__(self, drop, max_drop=1.0):
        self.drop, self.max_drop, self.asked = drop, max_drop, []

    def __call__(self, settings: Int8Settings) -> Attempt:
        self.asked.append(settings)
        drop = self.drop(settings)
        if drop is None:
            return Attempt(settings, None, error="RuntimeError: converter crashed")
        return Attempt(settings, Verdict("passed" if drop <= self.max_drop else "failed", drop))


RANKING = ["features.1.conv.1", "features.2.conv.0.0", "classifier.1", "features.0.0", "features.18.0",
           "features.3.conv.2", "features.4.conv.2", "features.5.conv.2", "features.6.conv.2"]


def _plan(builds: Builds, cpu=VNNI, format_name="tflite", policy="repair", require_integer=False, more=800):
    asked = Int8Settings("minmax", 200)
    ranked = []

    def ranking():
        ranked.append(1)
        return list(RANKING), {"layers": RANKING}

    chosen, plan = plan_repair(format_name, builds(asked), builds, max_drop=1.0, policy=policy, ranking=ranking,
                               more_images=more, require_integer=require_integer, cpu=cpu)
    return chosen, plan, ranked


def test_a_passing_artifact_is_left_as_asked_and_nothing_is_ranked():
    builds = Builds(lambda s: 0.4)
    chosen, plan, ranked = _plan(builds)
    assert plan.outcome == "met as asked" and len(builds.asked) == 1 and not ranked
    assert chosen.settings == Int8Settings("minmax", 200) and plan.fixes == []


def test_strict_fails_without_trying_anything():
    builds = Builds(lambda s: 1.2)
    chosen, plan, ranked = _plan(builds, policy="strict")
    assert plan.outcome == "strict" and len(builds.asked) == 1 and not ranked
    assert chosen.parity.status == "failed"


def test_free_fixes_come_first_and_a_fix_that_works_ends_the_search():
    builds = Builds(lambda s: 0.6 if s.calib_method == "histogram" else 1.2)
    chosen, plan, ranked = _plan(builds)
    assert plan.outcome == "repaired" and not ranked
    assert [step.action for step in plan.steps] == ["as asked", "calibration: histogram"]
    assert chosen.settings.calib_method == "histogram" and plan.fixes == ["calibration: histogram"]


def test_float_layers_double_then_bisect_to_the_fewest_that_pass():
    # the drop falls with each of the worst layers kept in float: 3 of them are needed
    builds = Builds(lambda s: 1.5 - 0.2 * len(s.keep_float))
    chosen, plan, ranked = _plan(builds)
    assert ranked == [1]
    counts = [len(s.keep_float) for s in builds.asked]
    assert counts == [0, 0, 0, 1, 2, 4, 3]  # as asked, histogram, 800 images, then 1, 2, 4 and back to 3
    assert chosen.settings.keep_float == tuple(RANKING[:3]) and plan.outcome == "repaired"
    assert plan.fixes == [f"3 layer(s) in float ({', '.join(RANKING[:3])})"]
    steps = plan.to_dict()["steps"]
    assert [s["kept"] for s in steps] == [True, False, False, True, True, True, True]


def test_a_fix_that_does_not_help_is_not_kept():
    builds = Builds(lambda s: (1.4 if s.calib_images == 800 else 1.2) - 0.3 * len(s.keep_float))
    chosen, plan, _ = _plan(builds)
    assert chosen.settings.calib_images == 200 and chosen.settings.keep_float == tuple(RANKING[:1])
    assert plan.steps[2].action == "calibration images: 800" and not plan.steps[2].kept


def test_nothing_fits_fails_naming_what_was_tried_and_the_best_drop():
    builds = Builds(lambda s: 3.0 - 0.1 * len(s.keep_float))
    chosen, plan, _ = _plan(builds)
    assert plan.outcome == "not repaired" and chosen.parity.status == "failed"
    assert len(chosen.settings.keep_float) == 8
    line = plan.summary_line()
    assert "keep float: 8 layer(s)" in line and "best drop 2.2 points > --max-drop 1.0" in line


def test_require_integer_never_keeps_a_layer_in_float():
    builds = Builds(lambda s: 1.2)
    chosen, plan, ranked = _plan(builds, require_integer=True)
    assert not ranked and all(not s.keep_float for s in builds.asked) and plan.outcome == "not repaired"


def test_onnx_tries_reduce_range_first_on_a_cpu_without_vnni_only():
    builds = Builds(lambda s: 0.5 if s.reduce_range else 1.7)
    _, plan, _ = _plan(builds, cpu=AVX2, format_name="onnx")
    assert plan.steps[1].action.startswith("reduce_range") and plan.fixes == ["reduce_range"]
    builds = Builds(lambda s: 0.5 if s.reduce_range else 1.7)
    _, plan, _ = _plan(builds, cpu=VNNI, format_name="onnx")
    assert all(not s.reduce_range for s in builds.asked)
    assert plan.steps[1].action == "calibration: percentile"


def test_a_converter_crash_during_repair_is_a_step_not_a_failure():
    builds = Builds(lambda s: None if s.calib_method == "histogram" else 1.2 - 0.5 * len(s.keep_float))
    chosen, plan, _ = _plan(builds)
    assert plan.steps[1].status == "failed to export" and "converter crashed" in plan.steps[1].reason
    assert plan.outcome == "repaired" and len(chosen.settings.keep_float) == 1


def test_score_prefers_a_pass_then_the_smaller_drop():
    assert score(Verdict("passed", 0.9)) < score(Verdict("failed", 0.2)) < score(Verdict("failed", 1.5)) < score(None)
