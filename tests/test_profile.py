"""`edgekit profile` on a copy of the session's real export of mobilenet_v2 (fp32 and int8 of every format that runs
here), in the real runtimes and their own profilers with few runs. Structure and honesty (every runnable artifact
profiled or said why not, positive op times, the ratio of op times to the whole run reported, LiteRT's missing op
profiler said, profile.json validated when read, 80-column tables, one-line errors), never speed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.profile import PROFILE_JSON, PROFILE_SCHEMA, ProfileOptions, profile, read_profile

FEW = dict(runs=3, warmup=1)


@pytest.fixture(scope="module")
def profiled(exported_mobilenet_v2, tmp_path_factory):
    """A copy of the shared export (read-only) with a bench.json row for two artifacts at 1 thread, profiled once."""
    from edgekit.bench.results import write_bench
    from edgekit.bench.rows import BenchRow

    folder = tmp_path_factory.mktemp("profile") / "mobilenet_v2"
    shutil.copytree(exported_mobilenet_v2, folder)
    rows = [BenchRow("mobilenet_v2", fmt, "fp32", 1, "host", "test", artifact=f"{fmt}-fp32", p50_ms=5.0)
            for fmt in ("onnx", "executorch")]
    write_bench(folder, rows, {"cpu": "test", "cores": 1}, command="written by the test")
    return folder, profile(folder, ProfileOptions(threads=1, **FEW))


def _runnable(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if (p / "manifest.json").is_file())


def test_profile_json_holds_every_artifact_and_reads_back(profiled):
    folder, result = profiled
    assert result.json_path == folder / PROFILE_JSON
    document, entries = read_profile(result.json_path)
    assert document["schema"] == PROFILE_SCHEMA and document["threads"] == 1 and document["runs"] == 3
    assert sorted(e.artifact for e in entries) == _runnable(folder)
    status = {e.artifact: e.status for e in entries}
    for name in ("onnx-fp32", "onnx-int8", "executorch-fp32", "executorch-int8"):
        assert status[name] == "ok", next(e for e in entries if e.artifact == name)
    assert status["tflite-fp32"] == status["tflite-int8"] == "counts-only"
    assert status.get("torchscript-fp32", "skipped") == "skipped"


def test_timed_artifacts_have_positive_op_type_sums_and_a_ratio_to_the_whole_run(profiled):
    _, result = profiled
    for entry in result.artifacts:
        if entry.status != "ok":
            continue
        assert entry.op_types and all(op.ms is not None and op.ms >= 0 and op.count >= 1 for op in entry.op_types)
        assert entry.ops_ms > 0 and entry.ops_ms == pytest.approx(sum(op.ms for op in entry.op_types))
        assert sum(op.count for op in entry.op_types) == len(entry.layers)
        assert entry.run_ms > 0 and entry.op_ratio > 0  # reported, not judged: timings belong in benchmarks
        assert entry.op_ratio == pytest.approx(entry.ops_ms / entry.run_ms)
        if entry.flag:
            assert "20 %" not in entry.flag and "%" in entry.flag  # says how far apart, and why


def test_bench_p50_at_the_same_threads_is_the_second_yardstick(profiled):
    _, result = profiled
    by_name = {e.artifact: e for e in result.artifacts}
    for name in ("onnx-fp32", "executorch-fp32"):
        entry = by_name[name]
        assert entry.bench_p50_ms == 5.0 and entry.bench_ratio == pytest.approx(entry.ops_ms / 5.0)
    assert by_name["onnx-int8"].bench_p50_ms is None and by_name["onnx-int8"].bench_ratio is None


def test_onnx_layers_map_to_pytorch_modules(profiled):
    _, result = profiled
    onnx = next(e for e in result.artifacts if e.artifact == "onnx-fp32")
    modules = [layer.module for layer in onnx.layers if layer.module]
    assert modules and any(m.startswith("features.") for m in modules), onnx.layers[:5]
    assert {m.module for m in onnx.modules} == set(modules)
    assert sum(m.count for m in onnx.modules) == len(modules) and all(m.ms >= 0 for m in onnx.modules)


def test_litert_says_it_has_no_op_times_and_lists_its_ops(profiled):
    _, result = profiled
    for entry in (e for e in result.artifacts if e.format == "tflite"):
        assert entry.reason.startswith("not available") and entry.ops_ms is None and entry.op_ratio is None
        assert entry.run_ms > 0 and entry.op_types and all(op.ms is None for op in entry.op_types)
        assert any(op.op_type == "CONV_2D" for op in entry.op_types)
        assert any(m.module == "features.0.0" and m.ms is None for m in entry.modules)  # litert-torch's names


def test_the_cli_table_fits_80_columns(profiled, cli, monkeypatch):
    folder, _ = profiled
    monkeypatch.setenv("COLUMNS", "80")
    done = cli("profile", folder, "--runs", "2", "--warmup", "0", "--no-write", "--layers", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, "\n".join(lines)
    for word in ("onnx: ms per run", "executorch: ms per run", "tflite: op counts", "ops/run", "not available",
                 "onnx-fp32: the 3 slowest layers", "features."):
        assert word in done.stdout


@pytest.mark.parametrize("case", ["missing", "file", "empty"])
def test_bad_input_is_one_error_line(case, cli, tmp_path):
    target = tmp_path / "export"
    if case == "file":
        target.write_text("not a folder")
    elif case == "empty":
        target.mkdir()
    done = cli("profile", target)
    assert done.returncode == 1
    assert done.stderr.count("error:") == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("values", [dict(runs=0), dict(warmup=-1), dict(threads=0), dict(threads=10_000)])
def test_options_are_checked_when_made(values):
    with pytest.raises(EdgekitError):
        ProfileOptions(**values)


@pytest.mark.parametrize("document", [
    "not json", [], {"schema": "edgekit-profile/9", "artifacts": []},
    {"schema": PROFILE_SCHEMA, "artifacts": [{"artifact": "x"}]},
    {"schema": PROFILE_SCHEMA, "artifacts": [{"artifact": "a", "model": "m", "format": "onnx", "precision": "fp32",
                                              "status": "ok", "threads": 1, "ops_ms": -1}]},
    {"schema": PROFILE_SCHEMA, "artifacts": [{"artifact": "a", "model": "m", "format": "onnx", "precision": "fp32",
                                              "status": "ok", "threads": 1, "op_types": [{"op_type": "Conv",
                                                                                          "ms": "1", "count": 1}]}]},
])
def test_an_untrusted_profile_json_is_one_error(document, tmp_path):
    path = tmp_path / PROFILE_JSON
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(EdgekitError) as raised:
        read_profile(path)
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_the_report_draws_the_profile_and_survives_a_bad_one(profiled, tmp_path):
    from edgekit.report import render_report

    folder, _ = profiled
    page = render_report(folder)
    assert "Where the time goes" in page and 'alt="time per op type"' in page
    copy = tmp_path / "mobilenet_v2"
    shutil.copytree(folder, copy)
    (copy / PROFILE_JSON).write_text('{"schema": "edgekit-profile/1", "artifacts": [7]}')
    page = render_report(copy)
    assert "not profiled" in page and "artifacts[0]" in page


def test_integer_kernels_line_up_under_their_float_op():
    from edgekit.profile import op_family

    assert [op_family("onnx", k) for k in ("QLinearConv", "QGemm", "QLinearAdd", "ConvInteger", "QuantizeLinear")] == [
        "Conv", "Gemm", "Add", "Conv", "QuantizeLinear"]
    assert op_family("tflite", "QLinearConv") == "QLinearConv"  # only ONNX Runtime names its integer kernels apart


def test_side_by_side_puts_fp32_beside_int8_per_format(profiled):
    from edgekit.profile import side_by_side

    _, result = profiled
    table = side_by_side(result.artifacts)
    assert set(table) == {"onnx", "executorch"}  # LiteRT gives no op times
    conv = next(row for row in table["onnx"] if row[0] == "Conv")
    assert conv[1] > 0 and conv[2] > 0
