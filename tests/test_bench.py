"""`edgekit bench` on the session's real export of the trained mobilenet_v2 (every format that runs here,
fp32 and int8), in the real runtimes with few iterations. These tests assert structure and honesty
(ordered percentiles, exact speed-ups, the thread check, files that parse, clear errors), never speed."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.bench.results import pick_for_budget, read_bench
from edgekit.bench.rows import BENCH_SCHEMA, ROW_FIELDS, BenchRow

from conftest import BENCH_THREADS as THREADS


def run_cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}  # rich wraps at 80 columns on a pipe; keep messages on one line
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], capture_output=True, text=True,
                          timeout=900, env=env)


@pytest.fixture(scope="module")
def bench_run(benched_mobilenet_v2):
    """The session's interleaved bench of a copy of the export at 1 and 2 threads, with accuracy on a labelled
    folder (conftest.benched_mobilenet_v2)."""
    return benched_mobilenet_v2.folder, benched_mobilenet_v2.rows, benched_mobilenet_v2.stderr


def _artifacts(export: Path) -> list[str]:
    return sorted(p.name for p in export.iterdir() if (p / "manifest.json").is_file())


def test_every_artifact_and_the_eager_baseline_get_ok_rows_at_every_thread_count(bench_run):
    export, rows, _ = bench_run
    assert {(r["artifact"], r["threads"]) for r in rows} == (
        {(a, t) for a in _artifacts(export) for t in THREADS} | {(None, t) for t in THREADS})
    for row in rows:
        assert row["status"] == "ok", row
        assert row["device"] == "host" and row["runtime"] and row["runtime_version"]
        assert row["iterations"] == 6 and row["warmup"] == 1
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["mean_ms"] > 0 and row["std_ms"] >= 0 and row["throughput_ips"] == pytest.approx(1000 / row["mean_ms"])
        assert row["load_ms"] > 0 and row["first_ms"] > 0 and row["peak_rss_mb"] > 0
        assert row["extra"]["rounds"] == 2 and len(row["extra"]["round_medians_ms"]) == 2
    for row in rows:
        if row["format"] != "pytorch":
            manifest = json.loads((export / row["artifact"] / "manifest.json").read_text())
            assert row["size_bytes"] == manifest["size_bytes"]
            assert (row["format"], row["precision"]) == (manifest["format"], manifest["precision"])


def test_speedup_is_the_eager_p50_over_the_row_p50_at_the_same_threads(bench_run):
    _, rows, _ = bench_run
    for threads in THREADS:
        base = [r for r in rows if r["format"] == "pytorch" and r["threads"] == threads]
        assert len(base) == 1 and base[0]["precision"] == "fp32" and base[0]["speedup"] == 1.0
        for row in (r for r in rows if r["threads"] == threads):
            assert row["speedup"] == base[0]["p50_ms"] / row["p50_ms"]


def test_each_runtime_honours_the_thread_count(bench_run):
    """CPU time over wall time of the timed loop: a 1-thread row may not use more than one core (a runtime
    ignoring the setting, e.g. ExecuTorch's threadpool without its reset, shows ~2 on an idle 2-core host)."""
    _, rows, _ = bench_run
    for row in rows:
        assert 0 < row["cpu_per_wall"] <= row["threads"] + 0.3, row
    settings = {r["format"]: r["extra"]["threads_setting"] for r in rows if r["threads"] == 1}
    assert "_unsafe_reset_threadpool(1)" in settings["executorch"]
    assert "intra_op_num_threads=1" in settings["onnx"] and "num_threads=1" in settings["tflite"]


def test_bench_json_and_csv_are_written_beside_the_artifacts(bench_run):
    export, rows, _ = bench_run
    document, stored = read_bench(export / "bench.json")
    assert document["schema"] == BENCH_SCHEMA and document["host"]["cores"] == os.cpu_count()
    assert document["host"]["cpu"] and "bench" in document["command"]
    assert [r.to_dict() for r in stored] == rows
    with open(export / "bench.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ROW_FIELDS and len(table) == len(rows) + 1
    for line, row in zip(table[1:], rows):
        assert float(line[ROW_FIELDS.index("p50_ms")]) == pytest.approx(row["p50_ms"])
        assert json.loads(line[ROW_FIELDS.index("extra")]) == row["extra"]


def test_data_joins_each_artifacts_own_top1_with_its_interval(bench_run, benched_mobilenet_v2):
    _, rows, stderr = bench_run
    images = sum(1 for _ in benched_mobilenet_v2.data.rglob("*.png"))
    for row in rows:
        assert row["accuracy_images"] == images
        low, high = row["top1_ci"]
        assert 0 <= low <= row["top1"] <= high <= 100
    fp32 = {r["format"]: r["top1"] for r in rows if r["precision"] == "fp32"}
    assert fp32["pytorch"] > 50  # the trained weights are far above the 10 % of chance on 30 of the shipped images
    assert "budget 100000 ms at 1 thread(s)" in stderr and "top1 measured in each runtime on --data" in stderr


def test_budget_names_the_most_accurate_that_fits_or_says_none_fits(bench_run):
    export, _, _ = bench_run
    rows = read_bench(export / "bench.json")[1]
    one = [r for r in rows if r.threads == 1]
    everything = pick_for_budget(rows, 1e9, 1, {})
    assert everything.fitting == len(one)
    assert everything.accuracy == max(r.top1 for r in one)
    fastest = min(one, key=lambda r: r.p50_ms)
    tight = pick_for_budget(rows, fastest.p50_ms, 1, {})
    assert tight.choice.key == fastest.key and tight.fitting == 1
    nothing = pick_for_budget(rows, fastest.p50_ms / 2, 1, {})
    assert nothing.choice is None and nothing.fastest.key == fastest.key


def test_compare_marks_a_row_slower_than_an_earlier_run_as_a_regression(bench_run, tmp_path):
    export, rows, _ = bench_run
    earlier = json.loads((export / "bench.json").read_text())
    for row in earlier["rows"]:  # an earlier run in which everything was 10x faster
        row["p50_ms"] /= 10
    (tmp_path / "old.json").write_text(json.dumps(earlier))
    result = run_cli("bench", export / "onnx-int8", "--threads", 1, "--iterations", 3, "--warmup", 0,
                     "--compare", tmp_path / "old.json", "--no-write")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [l for l in result.stdout.splitlines() if "onnx-int8" in l and "REGRESSION" in l]
    assert len(lines) == 1 and "pytorch" not in lines[0]
    assert sum("REGRESSION" in l for l in result.stdout.splitlines()) == 2  # onnx-int8 and the eager baseline


# ----------------------------------------------------------------------------- bad input

def _one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr and all(w in lines[0] for w in words), lines[0]


def test_a_changed_artifact_is_refused_by_its_checksum(exported_mobilenet_v2, tmp_path):
    folder = tmp_path / "onnx-fp32"
    shutil.copytree(exported_mobilenet_v2 / "onnx-fp32", folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    _one_line_error(run_cli("bench", folder, "--iterations", 2), "sha256", "does not match")
    assert not (tmp_path / "bench.json").exists()


def test_a_folder_without_manifests_and_bad_thread_counts_are_one_line_errors(exported_mobilenet_v2, tmp_path):
    _one_line_error(run_cli("bench", tmp_path), "holds no manifest.json")
    _one_line_error(run_cli("bench", tmp_path / "missing"), "does not exist")
    for bad in ("0", "abc", "1,-2"):
        _one_line_error(run_cli("bench", exported_mobilenet_v2, "--threads", bad), "--threads")
    _one_line_error(run_cli("bench", exported_mobilenet_v2, "--threads", str((os.cpu_count() or 1) + 1)), "exceeds")
    _one_line_error(run_cli("bench", exported_mobilenet_v2, "--device", "usb"), "--device")
    assert not (exported_mobilenet_v2 / "bench.json").exists()


def test_merge_keeps_rows_of_other_devices():
    from edgekit.bench.results import merge_rows

    host = BenchRow("m", "onnx", "int8", 1, "host", "onnxruntime", p50_ms=2.0)
    phone = BenchRow("m", "onnx", "int8", 1, "adb:X", "onnxruntime_perf_test", p50_ms=9.0)
    again = BenchRow("m", "onnx", "int8", 1, "host", "onnxruntime", p50_ms=3.0)
    assert [r.p50_ms for r in merge_rows([host, phone], [again])] == [9.0, 3.0]


@pytest.mark.slow
def test_a_core_ml_artifact_gets_a_not_run_here_row_never_a_timing(tmp_path):
    """A real Core ML export (coremltools converts on Linux; only Apple platforms run it)."""
    exported = run_cli("export", "mobilenet_v2", "--formats", "coreml", "--img-size", 32, "--num-classes", 4,
                       "--out", tmp_path, "--parity-size", 4)
    assert exported.returncode == 0, exported.stderr[-2000:]
    result = run_cli("bench", tmp_path / "mobilenet_v2", "--threads", 1, "--iterations", 2, "--warmup", 0, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {r["format"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"coreml", "pytorch"}
    coreml = rows["coreml"]
    assert coreml["status"] == "skipped" and coreml["reason"].startswith("not run here: Core ML runs only on Apple")
    assert all(coreml[f] is None for f in ("p50_ms", "mean_ms", "speedup", "load_ms", "cpu_per_wall"))
    assert coreml["size_bytes"] > 0 and rows["pytorch"]["status"] == "ok"


def test_a_row_that_used_more_cores_than_threads_is_failed_without_timings():
    """The rule applied to a timed loop's figures (the real runtimes' behaviour without their setting is
    measured by benchmarks/thread_check.py: it depends on idle cores, so it is not a test)."""
    from edgekit.bench.host import BenchOptions, Worker, _fill

    ready = {"runtime": "executorch", "runtime_version": "x", "delegate": "XNNPACK", "load_ms": 1.0, "first_ms": 2.0,
             "threads_setting": "none: the threadpool's default size (every core)"}
    for cpu_s, status in ((1.9, "failed"), (1.05, "ok")):
        worker = Worker(BenchRow("m", "executorch", "fp32", 1, "host", "executorch"), {})
        worker.ready, worker.times, worker.round_medians = ready, [1.0, 1.2, 1.1], [1.1]
        worker.cpu_s, worker.wall_s = cpu_s, 1.0
        _fill(worker, 50.0, 1, BenchOptions(threads=[1]))
        worker.close()
        assert worker.row.status == status and worker.row.cpu_per_wall == cpu_s
        if status == "failed":
            assert "thread limit not honoured" in worker.row.reason and worker.row.p50_ms is None
        else:
            assert worker.row.p50_ms == pytest.approx(1.1)
