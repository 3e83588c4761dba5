"""The adb path without a phone: the real `adb` binary (Debian package `adb`) with no device attached, and the
device-listing / device-facts parsers on real captured output (sources in each file's header):
  adb_devices_one.txt              prife/goadb#2 (one phone, with adb's header)
  adb_devices_two.txt              paulo-raca/adb-proxy#31 (a USB phone and a TCP transport)
  dumpsys_thermalservice_shield.txt bryanroscoe/shield_optimizer#6
  dumpsys_power_uiautomator2_444.txt openatx/uiautomator2#444 (an awake phone)
  dumpsys_power_denied_slideshow59.txt Slideshow-digital/slideshow-support#59 (dumpsys without permission)
  cpu_max_freq_benchmark1385.txt   google/benchmark#1385 (per-CPU max frequencies of a big.LITTLE board)
What needs a phone (pushing, running the tools, the app's benchmark mode) is not exercised here: see docs/device.md.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.bench.adb import bench_on_device, check_app_row, check_tool
from edgekit.bench.adb_device import (AdbDevice, big_cores, choose_device, cpu_mask, governors_summary, parse_devices,
                                      screen_awake, thermal_status, thermal_summary)
from edgekit.bench.options import BenchOptions
from edgekit.bench.rows import BenchRow
from edgekit.errors import EdgekitError

DATA = Path(__file__).parent / "data" / "tool_output"
ADB = shutil.which("adb")
needs_adb = pytest.mark.skipif(ADB is None, reason="adb is not installed (scripts/setup.d/20-adb-chromium.sh)")


def call(tmp_path, **overrides):
    options = dict(device="adb", tool=None, threads=[1], iterations=5, warmup=1)
    options.update(overrides)
    return bench_on_device(tmp_path, [], BenchOptions(**options))


def test_parse_one_device_with_header():
    devices = parse_devices((DATA / "adb_devices_one.txt").read_text())
    assert [(d.serial, d.state) for d in devices] == [("UYT5T18414003349", "device")]
    assert devices[0].props["model"] == "ALP_AL00" and devices[0].props["transport_id"] == "23"


def test_two_devices_need_a_serial_and_a_serial_picks_one():
    devices = parse_devices((DATA / "adb_devices_two.txt").read_text())
    assert [d.serial for d in devices] == ["RQCWB06ZY2X", "127.0.0.1:34381"]
    with pytest.raises(EdgekitError, match=r"several devices attached \(RQCWB06ZY2X \(device\), 127.0.0.1:34381"):
        choose_device(devices, None)
    assert choose_device(devices, "127.0.0.1:34381").serial == "127.0.0.1:34381"
    with pytest.raises(EdgekitError, match="no device with serial NOPE: adb devices lists RQCWB06ZY2X"):
        choose_device(devices, "NOPE")


def test_no_device_and_unauthorized_device():
    with pytest.raises(EdgekitError, match="no Android device attached"):
        choose_device(parse_devices("List of devices attached\n\n"), None)
    # a phone that has not accepted this host's key (a device object, not captured adb output)
    with pytest.raises(EdgekitError, match="is unauthorized: accept the USB debugging prompt"):
        choose_device([AdbDevice("UYT5T18414003349", "unauthorized")], None)


def test_thermal_and_governor_summaries():
    assert thermal_summary((DATA / "dumpsys_thermalservice_shield.txt").read_text()) == "status 0 (none)"
    assert thermal_summary("Permission Denial: can't dump thermalservice") is None
    assert governors_summary("schedutil\nschedutil\nperformance\n") == "schedutil (2 CPUs), performance (1 CPU)"
    assert governors_summary("") is None


@needs_adb
def test_real_adb_without_a_device_is_one_clear_error(tmp_path):
    listing = subprocess.run([ADB, "devices", "-l"], capture_output=True, text=True, timeout=60)
    if parse_devices(listing.stdout):
        pytest.skip("a device is attached to this machine: the no-device case cannot be checked")
    with pytest.raises(EdgekitError, match=r"^no Android device attached: connect a phone"):
        call(tmp_path)
    with pytest.raises(EdgekitError, match="no device with serial emulator-5554: adb devices lists none"):
        call(tmp_path, device="adb:emulator-5554")


def test_adb_missing_from_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no adb anywhere on PATH
    monkeypatch.delenv("ADB", raising=False)
    with pytest.raises(EdgekitError, match="^adb not found on PATH: install it"):
        call(tmp_path)


def test_tool_checks_happen_before_adb(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb: the tool error must come first
    with pytest.raises(EdgekitError, match="^--tool /etc/passwd is not executable"):
        call(tmp_path, tool="/etc/passwd")
    with pytest.raises(EdgekitError, match="no such file"):
        call(tmp_path, tool=str(tmp_path / "benchmark_model"))
    other = tmp_path / "some_binary"
    shutil.copy(sys.executable, other)
    with pytest.raises(EdgekitError, match="cannot tell which runtime it serves"):
        call(tmp_path, tool=str(other))
    with pytest.raises(EdgekitError, match="adb or adb:SERIAL"):
        call(tmp_path, device="usb")


def test_tool_name_says_which_runtime_it_serves(tmp_path):
    for name, expected in [("benchmark_model", "benchmark_model"), ("xnn_executor_runner", "executor_runner"),
                           ("onnxruntime_perf_test", "onnxruntime_perf_test")]:
        path = tmp_path / name
        shutil.copy(sys.executable, path)  # a real executable file; only its name and mode are checked here
        assert os.access(path, os.X_OK)
        assert check_tool(str(path)) == expected
    assert check_tool("app") is None and check_tool(None) is None


@needs_adb
def test_bench_cli_device_errors_are_one_line_and_change_nothing(exported_mobilenet_v2, tmp_path):
    """`edgekit bench EXPORT --device adb...` end to end with the real adb and no phone."""
    listing = subprocess.run([ADB, "devices", "-l"], capture_output=True, text=True, timeout=60)
    if parse_devices(listing.stdout):
        pytest.skip("a device is attached to this machine")
    folder = tmp_path / "mobilenet_v2"
    shutil.copytree(exported_mobilenet_v2, folder)
    (folder / "bench.json").unlink(missing_ok=True)
    before = sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*"))
    cases = [([], {}, "error: no Android device attached"),
             (["--tool", "/etc/passwd"], {}, "error: --tool /etc/passwd is not executable"),
             ([], {"PATH": str(tmp_path / "empty")}, "error: adb not found on PATH"),
             (["--device", "adb:R58M12ABCDE"], {}, "error: no device with serial R58M12ABCDE")]
    for extra, env, expected in cases:
        args = ["--device", "adb", *extra] if "--device" not in extra else extra
        result = subprocess.run([sys.executable, "-m", "edgekit.cli.main", "bench", str(folder), *args],
                                capture_output=True, text=True, timeout=300, env={**os.environ, **env})
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.strip().startswith(expected), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*")) == before


@needs_adb
def test_the_phone_is_found_before_any_artifact_is_loaded(exported_mobilenet_v2, tmp_path, cli):
    """With no phone and an artifact that does not load (its manifest's checksum updated to match, so only loading
    it shows the fault), the error is the phone's: bench does not load every artifact on the host (seconds of
    runtime start-up) before it knows there is a device to time them on."""
    import hashlib
    import json

    listing = subprocess.run([ADB, "devices", "-l"], capture_output=True, text=True, timeout=60)
    if parse_devices(listing.stdout):
        pytest.skip("a device is attached to this machine")
    folder = tmp_path / "mobilenet_v2"
    shutil.copytree(exported_mobilenet_v2, folder)
    model, manifest_path = folder / "onnx-fp32" / "model.onnx", folder / "onnx-fp32" / "manifest.json"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    manifest = json.loads(manifest_path.read_text())
    manifest.update(sha256=hashlib.sha256(model.read_bytes()).hexdigest(), size_bytes=model.stat().st_size)
    manifest_path.write_text(json.dumps(manifest))
    done = cli("bench", folder, "--device", "adb")
    assert done.returncode == 1 and done.stderr.startswith("error: no Android device attached"), done.stderr
    # on the host the same folder is refused for that artifact: the load check the phone path now runs second
    host = cli("bench", folder, "--iterations", "2", "--no-write")
    assert host.returncode == 1 and "onnx-fp32" in host.stderr and "no Android" not in host.stderr, host.stderr


def _data(name: str) -> str:
    """A captured output file without its '# ' source header."""
    return "".join(l for l in (DATA / name).read_text().splitlines(True) if not l.startswith("# "))


def test_screen_state_from_captured_dumpsys_power():
    assert screen_awake(_data("dumpsys_power_uiautomator2_444.txt")) is True
    assert screen_awake(_data("dumpsys_power_denied_slideshow59.txt")) is None   # unreadable: not "off"
    assert thermal_status(_data("dumpsys_thermalservice_shield.txt")) == 0


def test_big_cores_from_captured_max_frequencies():
    text = _data("cpu_max_freq_benchmark1385.txt")
    assert big_cores(text) == [4, 5]
    assert cpu_mask(big_cores(text)) == "30"             # taskset 30: CPUs 4 and 5
    # the same values as `grep -H` prints them (path:value; the form device_facts asks for)
    lines = [f"/sys/devices/system/cpu/cpu{i}/cpufreq/cpuinfo_max_freq:{v}" for i, v in enumerate(text.split())]
    assert big_cores("\n".join(lines)) == [4, 5]
    assert big_cores("\n".join(text.split()[:4])) is None   # one cluster: the device does not say which are big
    assert big_cores("") is None


class _State:
    last_pid = None


def _app_row(sha: str, pid: int) -> BenchRow:
    return BenchRow(model="mobilenet_v2", format="onnx", precision="int8", threads=4, device="adb:X",
                    runtime="onnxruntime", status="ok", p50_ms=10.0, mean_ms=10.5,
                    extra={"model_sha256": sha, "pid": pid})


def test_an_app_row_from_a_stale_apk_or_a_reused_process_is_refused():
    manifest = {"sha256": "a" * 64}
    state = _State()
    ok = check_app_row(_app_row("a" * 64, 101), manifest, {"thermal_at_start": "status 0 (none)"}, state)
    assert ok.status == "ok" and ok.extra["thermal_at_start"] == "status 0 (none)"
    stale = check_app_row(_app_row("b" * 64, 102), manifest, {}, state)
    assert stale.status == "failed" and stale.reason.startswith("stale APK") and "edgekit android sync" in stale.reason
    assert stale.p50_ms is None and stale.mean_ms is None      # no numbers from the wrong model
    reused = check_app_row(_app_row("a" * 64, 102), manifest, {}, state)
    assert reused.status == "failed" and "previous row's process (pid 102)" in reused.reason
