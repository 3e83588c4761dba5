"""`edgekit report`: the page from a real export folder (the session's trained mobilenet_v2 export) with and
without bench.json, bad input, no external URL, and a look at it in headless Chromium (slow)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.bench.rows import BenchRow
from edgekit.report import build_report, render_report
from edgekit.report.data import load_export, pareto_front

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def benched_export(benched_mobilenet_v2, tmp_path_factory) -> Path:
    """A copy of the session's benched export (conftest.benched_mobilenet_v2: `edgekit bench` at 1 and 2 threads,
    few iterations, top-1 on 3 shipped images per class) plus one phone row as the adb path writes it when its tool
    is missing."""
    folder = tmp_path_factory.mktemp("report") / "mobilenet_v2"
    shutil.copytree(benched_mobilenet_v2.folder, folder)
    bench = json.loads((folder / "bench.json").read_text())
    phone = BenchRow(model="mobilenet_v2", format="tflite", precision="int8", threads=1, device="adb:UYT5T18414003349",
                     runtime="benchmark_model", artifact="tflite-int8", status="skipped", source="benchmark_model",
                     reason="no benchmark_model in .tools/android/arm64-v8a (docs/device.md says where to get it)")
    bench["rows"].append(phone.to_dict())
    (folder / "bench.json").write_text(json.dumps(bench))
    return folder


def test_pareto_front():
    points = [(10.0, 80.0), (5.0, 79.0), (12.0, 79.5), (5.0, 70.0), (20.0, 81.0)]
    assert pareto_front(points) == {0, 1, 4}


def test_report_without_bench_says_how_to_get_latency(exported_mobilenet_v2, tmp_path):
    folder = tmp_path / "mobilenet_v2"
    shutil.copytree(exported_mobilenet_v2, folder)
    (folder / "bench.json").unlink(missing_ok=True)
    before = sorted(p.name for p in folder.iterdir())
    result = cli("report", str(folder))
    assert result.returncode == 0, result.stderr
    page_path = Path(result.stdout.strip())
    assert page_path == folder / "report.html"
    assert sorted(p.name for p in folder.iterdir()) == sorted(before + ["report.html"])  # nothing else written
    page = page_path.read_text()
    assert "not benchmarked: run <code>edgekit bench" in page
    for name in ("torchscript-fp32", "onnx-int8", "tflite-fp32", "executorch-int8"):
        assert f"<td>{name}</td>" in page
    assert page.count("data:image/png;base64,") == 1  # the size figure; no latency, so no accuracy figure


def test_report_with_bench_rows(benched_export, tmp_path):
    out = tmp_path / "r.html"
    assert build_report(benched_export, out) == out
    page = out.read_text()
    data = load_export(benched_export)
    folders = {p.parent.name for p in benched_export.glob("*/manifest.json")}
    assert {r.artifact for r in data.host_rows() if r.format != "pytorch"} == folders
    assert {a.name for a in data.artifacts} >= folders  # every artifact folder is in the export table
    assert len(data.device_rows()) == 1
    assert all(r.top1 is not None for r in data.host_rows() if r.status == "ok")
    assert page.count("data:image/png;base64,") == 2
    assert "Pareto front (" in page and "Accuracy: bench --data (30 images)" in page
    assert "speed-up vs eager" in page and "no benchmark_model in .tools/android/arm64-v8a" in page
    onnx_int8 = next(a for a in data.artifacts if a.name == "onnx-int8")
    low, high = onnx_int8.top1_interval
    assert low <= onnx_int8.top1 <= high
    assert f"{onnx_int8.top1:.1f} %" in page


def test_page_is_self_contained(benched_export):
    page = render_report(benched_export)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I), "the page must not name any URL"
    assert not re.search(r"<(script|link|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"""\b(src|href)\s*=\s*["'](?!data:)""", page, re.I)
    assert "@import" not in page and "url(" not in page


def test_bad_input_is_one_line_and_exit_1(tmp_path, benched_export):
    result = cli("report", str(tmp_path))
    assert result.returncode == 1 and "has no summary.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    result = cli("report", str(tmp_path / "missing"))
    assert result.returncode == 1 and "is not a folder" in result.stderr
    result = cli("report", str(benched_export), "--out", str(tmp_path / "no" / "such" / "r.html"))
    assert result.returncode == 1 and "does not exist" in result.stderr
    broken = tmp_path / "broken"
    shutil.copytree(benched_export, broken)
    (broken / "bench.json").write_text("{not json")
    page = render_report(broken)  # a broken bench.json is said on the page; the export part still renders
    assert "not benchmarked" in page and "not valid JSON" in page


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.d/20-adb-chromium.sh)")
def test_report_renders_in_chromium_and_the_check_can_fail(benched_export, tmp_path):
    from edgekit.report.check import check_page

    page = build_report(benched_export, tmp_path / "report.html")
    result = check_page(page, tmp_path / "report.png")
    assert result.ok, result.problems
    assert len(result.images) == 2 and all(p.natural_width > 300 for p in result.images)
    assert all(p.ink > 0.05 and p.colours > 50 for p in result.images)
    # the same page with one figure's data corrupted: the check must say so
    text = page.read_text()
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken = tmp_path / "broken.html"
    broken.write_text(text[:start] + "AAAA" + text[start + 400:])
    bad = check_page(broken, tmp_path / "broken.png")
    assert not bad.ok and any("did not decode" in p for p in bad.problems)
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    assert any("blank" in p for p in check_page(blank, tmp_path / "blank.png").problems)
