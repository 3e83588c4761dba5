"""Bench rows from a phone name what they timed: a tool row (a benchmark binary pushed over adb) records the sha256
of the model file it ran, checked on the device with sha256sum, as the app's rows record theirs (issue 37, item 6).
The device is a fake that answers adb's shell calls with captured tool output."""
from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

from edgekit.bench.adb import _DeviceSession

DATA = Path(__file__).resolve().parent / "data" / "tool_output"


class _Manifest(dict):
    folder: Path


class _FakeAdb:
    def __init__(self, device_sha: str):
        self.device_sha = device_sha
        self.calls: list[str] = []

    def shell(self, command: str, check: bool = True, timeout: float | None = None):
        self.calls.append(command)
        if command.startswith("sha256sum "):
            return SimpleNamespace(stdout=f"{self.device_sha}  {command.split()[1]}\n", returncode=0)
        if "onnxruntime_perf_test" in command:
            text = (DATA / "onnxruntime_perf_test_ort4647_android.txt").read_text()
            return SimpleNamespace(stdout=text, returncode=0)
        return SimpleNamespace(stdout="", returncode=0)

    def run(self, *args, **kwargs):
        self.calls.append(" ".join(map(str, args)))
        return SimpleNamespace(stdout="", returncode=0)


def _session(tmp_path: Path, device_sha: str | None = None):
    folder = tmp_path / "onnx-int8"
    folder.mkdir()
    model = folder / "model.onnx"
    model.write_bytes(b"not really a model")
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest = _Manifest(model="mobilenet_v2", format="onnx", precision="int8", file="model.onnx", sha256=sha)
    manifest.folder = folder
    tool = tmp_path / "tools" / "onnxruntime_perf_test"
    tool.parent.mkdir()
    tool.write_bytes(b"\x7fELF")
    adb = _FakeAdb(device_sha or sha)
    session = _DeviceSession(adb, "SERIAL", {"abi": "arm64-v8a"}, lambda message: None)
    session.before_row = lambda: {}
    return session, manifest, tool, sha


def test_a_tool_row_records_the_sha256_of_the_model_it_ran(tmp_path):
    session, manifest, tool, sha = _session(tmp_path)
    row = session.run_tool(manifest, tool, "onnxruntime_perf_test", 4, 10, 1)
    assert row.status == "ok", row.reason
    assert row.extra["model_sha256"] == sha


def test_a_tool_row_of_another_model_file_is_refused_and_says_which(tmp_path):
    session, manifest, tool, sha = _session(tmp_path, device_sha="0" * 64)
    row = session.run_tool(manifest, tool, "onnxruntime_perf_test", 4, 10, 1)
    assert row.status == "failed" and "0" * 64 in row.reason
    assert row.extra["model_sha256"] == "0" * 64
    assert not any("onnxruntime_perf_test -I" in call for call in session.adb.calls)   # nothing was timed
