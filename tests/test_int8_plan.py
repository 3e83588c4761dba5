"""The int8 plan (edgekit.export.int8_plan): an int8 artifact that misses --max-drop is repaired by export itself.

The first tests drive `plan_repair` with a build function whose drops are given (the order of the fixes, the
bisection to the fewest float layers, strict, require-integer); the last ones export a model built to break int8
(tests/int8_support.py: one activation channel scaled up 300x and its reader scaled down, the float function
unchanged) through the CLI in ONNX, TFLite and ExecuTorch, under strict (fails), by default (repaired by cross-layer
equalization, the plan in the manifest and summary.json) and, in ONNX, limited to float layers (the pair kept in
float).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from edgekit.export.int8_plan import FIXES, Attempt, Int8Settings, plan_repair, score

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


def _plan(builds: Builds, cpu=VNNI, format_name="tflite", policy="repair", require_integer=False, more=800,
          equalization=None, fixes=FIXES):
    asked = Int8Settings("minmax", 200)
    ranked = []

    def ranking():
        ranked.append(1)
        return list(RANKING), {"layers": RANKING}

    chosen, plan = plan_repair(format_name, builds(asked), builds, max_drop=1.0, policy=policy, ranking=ranking,
                               more_images=more, require_integer=require_integer, cpu=cpu,
                               equalization=equalization, fixes=fixes)
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


def test_equalization_comes_first_then_the_calibration_method_then_more_images_and_float_layers():
    builds = Builds(lambda s: 1.5 - 0.2 * len(s.keep_float))
    chosen, plan, ranked = _plan(builds, equalization=lambda: {"pairs": [], "pairs_left_alone": {}})
    assert [step.action for step in plan.steps][:5] == [
        "as asked", "equalize: 0 layer pair(s) + bias correction", "calibration: histogram",
        "calibration images: 800", "keep float: 1 layer(s)"]
    builds = Builds(lambda s: 0.3 if s.equalize else 1.2)
    equalized = {"pairs": [["features.1.conv.1", "features.2.conv.0.0"]], "pairs_left_alone": {}}
    chosen, plan, ranked = _plan(builds, equalization=lambda: equalized)
    assert [step.action for step in plan.steps] == ["as asked", "equalize: 1 layer pair(s) + bias correction"]
    assert chosen.settings.equalize and plan.outcome == "repaired" and not ranked
    assert plan.fixes == ["cross-layer equalization + bias correction"]
    assert plan.to_dict()["equalization"] == equalized and plan.to_dict()["equalize"] is True
    # a model equalization cannot act on (a program's graph) is not offered it; the reason is recorded
    builds = Builds(lambda s: 0.3 if s.equalize else 1.2)
    chosen, plan, ranked = _plan(builds, equalization=lambda: {"reason": "no conv or linear module"})
    assert not any(s.equalize for s in builds.asked) and plan.equalization == {"reason": "no conv or linear module"}


def test_int8_fixes_limits_what_the_repair_may_use():
    builds = Builds(lambda s: 1.5 - 0.2 * len(s.keep_float) - (0.4 if s.equalize else 0))
    chosen, plan, ranked = _plan(builds, equalization=lambda: {"pairs": []}, fixes=("float-layers",))
    assert [step.action for step in plan.steps][:3] == ["as asked", "keep float: 1 layer(s)", "keep float: 2 layer(s)"]
    assert not any(s.equalize or s.calib_method != "minmax" or s.calib_images != 200 for s in builds.asked)
    builds = Builds(lambda s: 0.3 if s.equalize else 1.2)
    chosen, plan, ranked = _plan(builds, equalization=lambda: {"pairs": []}, fixes=("calibration", "images"))
    assert plan.outcome == "not repaired" and not ranked and not any(s.equalize for s in builds.asked)


def test_export_options_refuse_an_unknown_fix():
    from edgekit.errors import EdgekitError
    from edgekit.export.options import ExportOptions

    assert ExportOptions("mobilenet_v2", int8_fixes="equalize, images").int8_fixes == ("equalize", "images")
    with pytest.raises(EdgekitError, match="--int8-fixes must be one of"):
        ExportOptions("mobilenet_v2", int8_fixes=("float",))


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


# ----------------------------------------------------------------------------- a model built to break int8

FORMATS = ("onnx", "tflite", "executorch")


def _export(run_dir, out, *extra):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", "export", "mobilenet_v2",
                           "--checkpoint", str(run_dir / "best.pt"), "--int8", "--calib-size", "64",
                           "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def broken_run(fixed_run, tmp_path_factory):
    from int8_support import break_int8

    return break_int8(fixed_run("mobilenet_v2").run_dir, tmp_path_factory.mktemp("broken") / "run").parent


@pytest.fixture(scope="module")
def repaired(broken_run, tmp_path_factory):
    """The demo's export step (`edgekit export mobilenet_v2 --checkpoint ... --int8`) on the broken model, default
    policy, in the three formats that run int8 here."""
    out = tmp_path_factory.mktemp("repaired")
    done = _export(broken_run, out, "--formats", ",".join(FORMATS))
    return done, out / "mobilenet_v2"


def test_the_broken_model_computes_what_the_trained_one_does(fixed_run, broken_run):
    import torch

    from int8_support import same_function

    images = torch.rand(8, 3, 64, 64)
    assert same_function(fixed_run("mobilenet_v2").best_checkpoint, broken_run / "best.pt", images) < 1e-3  # relative


@pytest.mark.slow  # a real export (ONNX, strict)
def test_strict_fails_the_broken_model_without_repairing_it(broken_run, tmp_path):
    done = _export(broken_run, tmp_path, "--formats", "onnx", "--int8-policy", "strict")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 artifact(s) failed (onnx-int8)" in done.stderr and "Traceback" not in done.stderr
    manifest_less = tmp_path / "mobilenet_v2" / "onnx-int8"
    summary = json.loads((tmp_path / "mobilenet_v2" / "summary.json").read_text())
    row = next(r for r in summary["artifacts"] if r["precision"] == "int8")
    assert row["status"] == "failed verification" and row["parity"]["drop_points"] > 10
    plan = row["int8_plan"]
    assert plan["policy"] == "strict" and plan["outcome"] == "strict" and len(plan["steps"]) == 1
    assert (manifest_less / "manifest.json").is_file()  # a failed artifact keeps its manifest saying so


@pytest.fixture(scope="module")
def kept_in_float(broken_run, tmp_path_factory):
    """The same export, ONNX only, with the repair limited to float layers (`--int8-fixes float-layers`) and the host
    as the latency target (layers ranked by int8 damage per ms of float here, then the latency step)."""
    out = tmp_path_factory.mktemp("kept-in-float")
    done = _export(broken_run, out, "--formats", "onnx", "--int8-fixes", "float-layers", "--latency-target", "host")
    return done, out / "mobilenet_v2"


def _plan_of(repaired, format_name):
    done, folder = repaired
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = json.loads((folder / f"{format_name}-int8" / "manifest.json").read_text())
    assert manifest["status"] == "verified"
    plan = manifest["int8_plan"]
    first = plan["steps"][0]
    # the first step is what strict gives: the artifact as asked fails by far
    assert first["action"] == "as asked" and first["status"] == "failed" and first["drop_points"] > 10
    assert plan["outcome"] == "repaired" and manifest["parity"]["drop_points"] <= 1.0
    assert plan["cpu"]["int8_class"] and plan["cpu"]["name"]
    # the summary carries the same plan, and the console's footnote says it in one line
    summary = json.loads((folder / "summary.json").read_text())
    row = next(r for r in summary["artifacts"] if r["format"] == format_name and r["precision"] == "int8")
    assert row["int8_plan"] == plan
    assert f"{format_name} int8: int8 repaired:" in " ".join(done.stdout.split())
    return plan


@pytest.mark.slow  # real exports in three formats (minutes)
@pytest.mark.parametrize("format_name", FORMATS)
def test_the_default_policy_repairs_the_broken_model_by_equalizing_the_scaled_pair(repaired, format_name):
    from int8_support import BROKEN_LAYERS

    plan = _plan_of(repaired, format_name)
    # cross-layer equalization finds the scaled pair (nothing between the projection and the next expansion) and
    # scales the channel back; nothing is kept in float
    assert list(BROKEN_LAYERS) in plan["equalization"]["pairs"]
    assert plan["equalization"]["bias_corrected"] > 0 and "joined by ReLU6" in " ".join(plan["equalization"]["pairs_left_alone"])
    assert plan["equalize"] is True and plan["keep_float"] == [] and plan["ranking"] is None
    assert "cross-layer equalization + bias correction" in plan["fixes"]
    step = next(step for step in plan["steps"] if step["action"].startswith("equalize:"))
    assert step["kept"] and step["status"] == "passed"


@pytest.mark.slow  # a real export (ONNX, float layers, the host as latency target)
def test_limited_to_float_layers_the_repair_keeps_the_scaled_pair_in_float(kept_in_float):
    from int8_support import BROKEN_LAYERS

    plan = _plan_of(kept_in_float, "onnx")
    assert all(not step["action"].startswith(("equalize", "calibration")) for step in plan["steps"])
    # the two layers around the scaled channel are ranked worst, on calibration images, and kept in float
    assert {entry["name"] for entry in plan["ranking"]["layers"][:2]} == set(BROKEN_LAYERS)
    assert "gate" in plan["ranking"]["images"]
    # with the host as the latency target the order is damage per ms of float here (ORT's profiler): the two broken
    # layers, far worse than any other, still come first, each with its measured cost
    per_ms = plan["ranking"]["by_damage_per_ms"]
    assert {entry["name"] for entry in per_ms[:2]} == set(BROKEN_LAYERS) and "per ms" in plan["ranking"]["order"]
    assert all(entry["cost_ms"] is not None for entry in per_ms[:2])
    latency = plan["latency"]
    first = latency["steps"][0]
    assert latency["target"] == "host" and first["action"] == "as verified" and first["kept"]
    assert first["fp32_ms"] > 0 and first["int8_ms"] > 0
    assert first["int8_vs_fp32"] == pytest.approx(first["fp32_ms"] / first["int8_ms"], rel=1e-2)
    slower = latency["slower_in_int8"]  # ORT's profiler, mapped to the model's conv/linear modules
    assert slower is not None and all(row["int8_ms"] > row["fp32_ms"] for row in slower)
    assert all(row["module"].startswith(("features.", "classifier.")) for row in slower)
    for step in latency["steps"][1:]:  # each latency step was built, re-verified and (when it passed) re-timed
        assert step["keep_float"] and set(step["keep_float"]) <= {row["module"] for row in slower}
        assert step["status"] != "passed" or step["int8_ms"] > 0
    assert latency["outcome"] in " ".join(kept_in_float[0].stdout.split())
    # both are needed (one alone leaves the scaled tensor quantized); two more at most if the gate's 500 images want
    # them (the worst 1, 2, 4 are tried, then bisected down)
    repaired_with = [step for step in plan["steps"] if step["kept"]][-1]["settings"]["keep_float"]
    assert set(BROKEN_LAYERS) <= set(repaired_with) and len(repaired_with) <= 4
    # the latency step may add layers slower in int8 here, when that made int8 faster (measured, so either way)
    for_speed = [step for step in plan["latency"]["steps"][1:] if step["kept"]]
    assert plan["keep_float"] == repaired_with + (for_speed[-1]["keep_float"] if for_speed else [])
    assert any(fix.endswith(f"layer(s) in float ({', '.join(plan['keep_float'])})") for fix in plan["fixes"])
    one_layer = next(step for step in plan["steps"] if step["action"] == "keep float: 1 layer(s)")
    assert one_layer["status"] == "failed" and one_layer["drop_points"] > 10


def test_an_artifact_that_cannot_run_here_is_not_repaired_and_says_nothing_of_it():
    builds = Builds(lambda s: 1.2)
    asked = Int8Settings("minmax", 200)
    first = Attempt(asked, Verdict("not run", None, agreement=None))
    chosen, plan = plan_repair("coreml", first, builds, max_drop=1.0, policy="repair", ranking=lambda: ([], {}),
                               more_images=800, require_integer=False, cpu=VNNI)
    assert chosen is first and plan.outcome == "not run" and not builds.asked and plan.summary_line() == ""
