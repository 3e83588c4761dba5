"""The phone path: run each artifact with its runtime's own benchmark tool on an Android device over adb.

    bench_on_device(export_dir, artifacts, BenchOptions(device=, tool=, threads=, iterations=, warmup=)) -> list[BenchRow]

One device is chosen (`adb` alone needs exactly one attached; `adb:SERIAL` picks one), its facts are read
(getprop model/ABI/Android version, the CPU governors, the thermal status where dumpsys allows), then for
every artifact and thread count the tool is pushed once to /data/local/tmp/edgekit/bin/, the model file to
/data/local/tmp/edgekit/<artifact folder>/, and the tool runs there with its own thread flag and warm-up:

    tflite      benchmark_model --graph=M --num_threads=T --warmup_runs=W --warmup_min_secs=0 --num_runs=N --min_secs=0
    executorch  executor_runner --model_path=M --cpu_threads=T --num_executions=W+N   (the first W runs are dropped)
    onnx        onnxruntime_perf_test -I -m times -r N -x T -e cpu M                  (the tool's own single warm-up)

Between rows the driver checks that the screen is on (`dumpsys power`: a sleeping phone throttles and may pause
the app; it wakes it once, else refuses), and waits until the thermal status (`dumpsys thermalservice`) is back
to what it was before the first row (at most THERMAL_WAIT_S; the row records the status it started at and the
wait). The tools run pinned with `taskset` to the big cores, those whose cpuinfo_max_freq is the highest, where
the device says which (else unpinned, and the row says so). The app's rows start a fresh process each
(`am start -S`: load_ms and peak memory are that row's own, and the pid must change) and carry the sha256 of the
model the app ran: a row whose model differs from the export's manifest (an APK built before the last export)
is refused as failed; a tool's pushed model is checked on the device with sha256sum the same way.

`tool` is a path to one of those binaries (its name says which runtime it serves), "app" (the android_demo
BenchmarkActivity, which times every format the app runs), or None: look in $EDGEKIT_TOOLS/android/<abi>/.
Shared libraries beside the tool are pushed with it (LD_LIBRARY_PATH). An artifact no tool can run gives a
"skipped" row with the reason; a tool run that fails gives a "failed" row with the tool's own last error line.
Environment problems (adb missing, no device, several devices and no serial, unknown serial, a --tool that is
not an executable benchmark binary) raise EdgekitError in one line before anything is pushed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit.bench.options import DEFAULT_ITERATIONS, BenchOptions
from edgekit.bench.parsers import PARSERS, ToolOutputError, ToolTiming
from edgekit.bench.rows import BenchRow
from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS
from edgekit.manifest import Manifest, open_manifest

REMOTE_DIR = "/data/local/tmp/edgekit"
TOOL_NAMES = tuple(row.device_tool for row in FORMATS.values() if row.device_tool)  # each runtime's own benchmark binary
APP_PACKAGE = "dev.edgekit.demo"
APP_ACTIVITY = f"{APP_PACKAGE}/.BenchmarkActivity"
ADB_TIMEOUT_S = 120
RUN_TIMEOUT_S = 900
THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical", 5: "emergency", 6: "shutdown"}
THERMAL_WAIT_S = 180
THERMAL_POLL_S = 5


@dataclass
class AdbDevice:
    serial: str
    state: str                                     # device, unauthorized, offline, no permissions, ...
    props: dict = field(default_factory=dict)      # usb, product, model, device, transport_id


def parse_devices(text: str) -> list[AdbDevice]:
    """`adb devices -l` -> devices (the header, daemon messages and blank lines are skipped)."""
    devices = []
    for line in text.replace("\r", "").splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*", "# ", "adb server", "adb: ")):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        serial, rest = parts[0], parts[1:]
        if rest[0] == "no" and len(rest) > 1 and rest[1] == "permissions":
            state, rest = "no permissions", []
        else:
            state, rest = rest[0], rest[1:]
        props = dict(p.split(":", 1) for p in rest if ":" in p)
        devices.append(AdbDevice(serial, state, props))
    return devices


def _state_problem(dev: AdbDevice) -> str | None:
    if dev.state == "device":
        return None
    hint = {"unauthorized": "accept the USB debugging prompt on the phone",
            "offline": "reconnect the cable or run `adb reconnect`",
            "no permissions": "add a udev rule for the phone (Debian: apt-get install android-sdk-platform-tools-common)"}
    return f"device {dev.serial} is {dev.state}" + (f": {hint[dev.state]}" if dev.state in hint else "")


def choose_device(devices: list[AdbDevice], serial: str | None) -> AdbDevice:
    """The one device to use, or EdgekitError saying why there is none."""
    listed = ", ".join(f"{d.serial} ({d.state})" for d in devices) or "none"
    if serial:
        matches = [d for d in devices if d.serial == serial]
        if not matches:
            raise EdgekitError(f"no device with serial {serial}: adb devices lists {listed}")
        chosen = matches[0]
    elif not devices:
        raise EdgekitError("no Android device attached: connect a phone with USB debugging on "
                           "(`adb devices` lists none)")
    elif len(devices) > 1:
        raise EdgekitError(f"several devices attached ({listed}): choose one with --device adb:SERIAL")
    else:
        chosen = devices[0]
    problem = _state_problem(chosen)
    if problem:
        raise EdgekitError(problem)
    return chosen


def find_adb() -> str:
    exe = os.environ.get("ADB") or shutil.which("adb")
    if not exe:
        raise EdgekitError("adb not found on PATH: install it (Debian/Ubuntu: apt-get install adb, or run "
                           "scripts/setup.sh) or put Android platform-tools on PATH")
    return exe


class Adb:
    """adb commands for one device (serial); every failure is one EdgekitError line."""

    def __init__(self, exe: str, serial: str | None = None):
        self.exe, self.serial = exe, serial

    def run(self, *args: str, timeout: float = ADB_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.exe] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"`adb {' '.join(args)[:80]}` did not finish within {timeout:.0f} s") from None
        except OSError as error:
            raise EdgekitError(f"cannot run adb ({self.exe}): {error.strerror}") from None
        if check and proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}").splitlines()[-1]
            raise EdgekitError(f"`adb {' '.join(args)[:80]}` failed: {last}")
        return proc

    def shell(self, command: str, timeout: float = ADB_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("shell", command, timeout=timeout, check=check)


def governors_summary(text: str) -> str | None:
    """The scaling_governor files' contents (one per CPU) -> e.g. 'schedutil (8 CPUs)'."""
    values = [v.strip() for v in text.splitlines() if v.strip()]
    if not values:
        return None
    return ", ".join(f"{gov} ({n} CPU{'s' if n > 1 else ''})" for gov, n in Counter(values).most_common())


def thermal_summary(text: str) -> str | None:
    """`dumpsys thermalservice` -> e.g. 'status 0 (none)'; None when it says nothing readable."""
    m = re.search(r"Thermal Status:\s*(\d+)", text)
    if not m:
        return None
    code = int(m.group(1))
    return f"status {code} ({THERMAL_STATUS.get(code, 'unknown')})"


def thermal_status(text: str) -> int | None:
    """`dumpsys thermalservice` -> the Thermal Status code, or None when it says nothing readable."""
    m = re.search(r"Thermal Status:\s*(\d+)", text)
    return int(m.group(1)) if m else None


def screen_awake(text: str) -> bool | None:
    """`dumpsys power` -> True (awake) / False (asleep, dozing or dreaming); None when it says nothing readable.
    Newer Androids print mWakefulness=Awake|Asleep|Dozing|Dreaming; older ones Display Power: state=ON|OFF or
    mScreenOn=true|false."""
    m = re.search(r"mWakefulness=(\w+)", text)
    if m:
        return m.group(1) == "Awake"
    m = re.search(r"Display Power: state=(\w+)", text)
    if m:
        return m.group(1) == "ON"
    m = re.search(r"mScreenOn=(true|false)", text)
    if m:
        return m.group(1) == "true"
    return None


def big_cores(text: str) -> list[int] | None:
    """cpuinfo_max_freq per CPU -> the CPUs of the fastest cluster, or None when the device does not say which
    (unreadable, or every CPU equally fast). Accepts `grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq`
    lines (path:value) or bare values, one per CPU in CPU order."""
    freqs: dict[int, int] = {}
    bare = []
    for line in text.replace("\r", "").splitlines():
        line = line.strip()
        m = re.match(r".*/cpu(\d+)/cpufreq/\w+:(\d+)$", line)
        if m:
            freqs[int(m.group(1))] = int(m.group(2))
        elif line.isdigit():
            bare.append(int(line))
    if not freqs and bare:
        freqs = dict(enumerate(bare))
    if len(set(freqs.values())) < 2:
        return None
    top = max(freqs.values())
    return sorted(cpu for cpu, f in freqs.items() if f == top)


def cpu_mask(cpus: list[int]) -> str:
    """CPU numbers -> the hex mask taskset takes (cpus 4 and 5 -> '30')."""
    return format(sum(1 << c for c in cpus), "x")


def device_facts(adb: Adb) -> dict:
    def prop(name: str) -> str | None:
        value = adb.shell(f"getprop {name}", check=False).stdout.strip()
        return value or None

    facts = {"model": prop("ro.product.model"), "manufacturer": prop("ro.product.manufacturer"),
             "abi": prop("ro.product.cpu.abi"), "android": prop("ro.build.version.release"),
             "sdk": prop("ro.build.version.sdk"), "soc": prop("ro.soc.model")}
    gov = adb.shell("cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null", check=False).stdout
    facts["governor"] = governors_summary(gov) or "not readable"
    thermal = adb.shell("dumpsys thermalservice 2>/dev/null", check=False).stdout
    facts["thermal"] = thermal_summary(thermal) or "not readable"
    freqs = adb.shell("grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq 2>/dev/null", check=False).stdout
    cores = big_cores(freqs)
    facts["big_cores"] = ",".join(map(str, cores)) if cores else None
    return facts


def check_tool(tool: str | None) -> str | None:
    """Validate --tool before any adb work: returns the tool name it serves (None for app/default folder)."""
    if tool is None or tool == "app":
        return None
    path = Path(tool)
    if not path.is_file():
        raise EdgekitError(f"--tool {tool}: no such file")
    if not os.access(path, os.X_OK):
        raise EdgekitError(f"--tool {tool} is not executable: give the runtime's benchmark binary "
                           f"({', '.join(TOOL_NAMES)}) built for the phone, or 'app'")
    for name in TOOL_NAMES:
        if name in path.name:
            return name
    raise EdgekitError(f"--tool {tool}: cannot tell which runtime it serves; its name must contain one of "
                       f"{', '.join(TOOL_NAMES)}")


def default_tools_dir(abi: str) -> Path:
    base = os.environ.get("EDGEKIT_TOOLS") or str(Path(__file__).resolve().parents[2] / ".tools")
    return Path(base) / "android" / abi


def _read_manifest(folder: Path) -> Manifest:
    """The artifact folder's manifest through edgekit.manifest (types, paths, the model file's sha256)."""
    folder = Path(folder)
    return open_manifest(folder.parent if folder.is_file() else folder)


def _tool_command(name: str, binary: str, model: str, threads: int, iterations: int, warmup: int) -> str:
    if name == "benchmark_model":
        return (f"{binary} --graph={model} --num_threads={threads} --warmup_runs={warmup} --warmup_min_secs=0 "
                f"--num_runs={iterations} --min_secs=0")
    if name == "executor_runner":
        return f"{binary} --model_path={model} --cpu_threads={threads} --num_executions={warmup + iterations}"
    return f"{binary} -I -m times -r {iterations} -x {threads} -e cpu {model}"


def _row_from_timing(base: dict, timing: ToolTiming, threads: int) -> BenchRow:
    row = BenchRow(**base, status="ok", warmup=timing.warmup, iterations=timing.iterations,
                   load_ms=timing.load_ms, first_ms=timing.first_ms, p50_ms=timing.p50_ms, p90_ms=timing.p90_ms,
                   p99_ms=timing.p99_ms, mean_ms=timing.mean_ms, std_ms=timing.std_ms, min_ms=timing.min_ms,
                   peak_rss_mb=timing.peak_mem_mb)
    row.throughput_ips = 1000.0 / timing.mean_ms if timing.mean_ms else None
    if timing.p50_ms and timing.p90_ms:
        row.wide_spread = timing.p90_ms / timing.p50_ms > 1.5
    if timing.notes:
        row.reason = "; ".join(timing.notes)
    if timing.threads_reported is not None and timing.threads_reported != threads:
        row.status, row.reason = "failed", f"the tool reports {timing.threads_reported} threads, {threads} asked"
        for name in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "throughput_ips"):
            setattr(row, name, None)
    return row


class _DeviceSession:
    def __init__(self, adb: Adb, serial: str, facts: dict, on_progress: Callable[[str], None]):
        self.adb, self.serial, self.facts, self.say = adb, serial, facts, on_progress
        self.pushed: set[str] = set()
        name = " ".join(v for v in (facts.get("manufacturer"), facts.get("model")) if v) or serial
        self.device_name = f"{name} ({facts.get('abi') or '?'}, Android {facts.get('android') or '?'})"
        self.baseline_thermal: int | None = None
        self.last_pid: int | None = None

    def ensure_screen_on(self) -> None:
        """A sleeping phone throttles and may pause the app: wake it once, else refuse (one EdgekitError line)."""
        state = screen_awake(self.adb.shell("dumpsys power", check=False).stdout)
        if state is False:
            self.adb.shell("input keyevent KEYCODE_WAKEUP", check=False)
            time.sleep(1.0)
            state = screen_awake(self.adb.shell("dumpsys power", check=False).stdout)
            if state is False:
                raise EdgekitError(f"the screen of {self.serial} is off and did not wake: unlock the phone, keep it "
                                   "awake (Settings > Developer options > Stay awake) and retry")

    def settle(self) -> dict:
        """Wait (at most THERMAL_WAIT_S) until the thermal status is back to its level before the first row."""
        status = thermal_status(self.adb.shell("dumpsys thermalservice 2>/dev/null", check=False).stdout)
        if status is None:
            return {"thermal_at_start": "not readable"}
        if self.baseline_thermal is None:
            self.baseline_thermal = status
        waited = 0.0
        while status is not None and status > self.baseline_thermal and waited < THERMAL_WAIT_S:
            self.say(f"thermal status {status} ({THERMAL_STATUS.get(status, '?')}): waiting for it to settle")
            time.sleep(THERMAL_POLL_S)
            waited += THERMAL_POLL_S
            status = thermal_status(self.adb.shell("dumpsys thermalservice 2>/dev/null", check=False).stdout)
        return {"thermal_at_start": thermal_summary(f"Thermal Status: {status}") if status is not None else "not readable",
                "thermal_wait_s": waited}

    def before_row(self) -> dict:
        self.ensure_screen_on()
        return self.settle()

    def push(self, local: Path, remote: str) -> str:
        if remote not in self.pushed:
            self.adb.shell(f"mkdir -p {os.path.dirname(remote)}")
            self.adb.run("push", str(local), remote, timeout=RUN_TIMEOUT_S)
            self.pushed.add(remote)
        return remote

    def push_tool(self, tool: Path) -> str:
        for lib in sorted(tool.parent.glob("*.so")):
            self.push(lib, f"{REMOTE_DIR}/bin/{lib.name}")
        remote = self.push(tool, f"{REMOTE_DIR}/bin/{tool.name}")
        self.adb.shell(f"chmod 755 {remote}")
        return remote

    def base(self, manifest: dict, threads: int, runtime: str) -> dict:
        return dict(model=manifest["model"], format=manifest["format"], precision=manifest["precision"],
                    threads=threads, device=f"adb:{self.serial}", runtime=runtime,
                    artifact=manifest.folder.name, device_name=self.device_name,
                    size_bytes=manifest.get("size_bytes"), source=runtime,
                    extra={k: v for k, v in self.facts.items() if v} | {"serial": self.serial})

    def run_tool(self, manifest: dict, tool: Path, name: str, threads: int, iterations: int,
                 warmup: int) -> BenchRow:
        folder = manifest.folder
        binary = self.push_tool(tool)
        model = self.push(folder / manifest["file"], f"{REMOTE_DIR}/{folder.name}/{manifest['file']}")
        command = _tool_command(name, binary, model, threads, iterations, warmup)
        cores = self.facts.get("big_cores")
        if cores:
            command = f"taskset {cpu_mask([int(c) for c in cores.split(',')])} {command}"
        base = self.base(manifest, threads, name)
        base["extra"] |= {"command": command, "tool": str(tool), **self.before_row(),
                          "pinned_to": f"big cores {cores}" if cores else "not pinned: the device does not say which cores are big"}
        remote_sha = self.adb.shell(f"sha256sum {model}", check=False).stdout.split()
        if manifest.get("sha256") and remote_sha and remote_sha[0] != manifest["sha256"]:
            return BenchRow(**base, status="failed", reason=f"the model on the device has sha256 {remote_sha[0]}, the "
                                                            f"export's manifest says {manifest['sha256']}")
        self.say(f"{folder.name}: {name} on {self.serial}, {threads} thread(s)")
        proc = self.adb.shell(f"cd {REMOTE_DIR} && LD_LIBRARY_PATH={REMOTE_DIR}/bin {command} 2>&1",
                              timeout=RUN_TIMEOUT_S, check=False)
        try:
            timing = PARSERS[name](proc.stdout, warmup) if name == "executor_runner" else PARSERS[name](proc.stdout)
        except ToolOutputError as error:
            return BenchRow(**base, status="failed", reason=str(error))
        row = _row_from_timing(base, timing, threads)
        if name == "onnxruntime_perf_test" and warmup != 1:
            row.reason = "; ".join(filter(None, [row.reason, f"onnxruntime_perf_test runs its own single warm-up "
                                                               f"(--warmup {warmup} not applicable)"]))
        if proc.returncode != 0 and row.status == "ok":
            row.status, row.reason = "failed", f"{name} exited with status {proc.returncode}"
        return row

    def run_app(self, manifest: dict, threads: int, iterations: int, warmup: int) -> list[BenchRow]:
        folder = manifest.folder
        asset = f"{manifest['model']}-{folder.name}"
        out = f"edgekit-{asset}-{threads}t-{int(time.time())}.json"
        self.say(f"{folder.name}: android_demo BenchmarkActivity on {self.serial}, {threads} thread(s)")
        settled = self.before_row()
        self.adb.run("logcat", "-c", check=False)
        # -S: force-stop the app first, so every row runs in a fresh process (its own load_ms and peak memory)
        self.adb.shell(f"am start -S -W -n {APP_ACTIVITY} --es artifact {asset} --ei iterations {iterations} "
                       f"--ei warmup {warmup} --ei threads {threads} --es out {out}")
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            log = self.adb.run("logcat", "-d", "-s", "edgekit:*", check=False).stdout
            done = re.search(r"EDGEKIT_BENCH_DONE (\S+)", log)
            failed = re.search(r"EDGEKIT_BENCH_ERROR (.+)", log)
            if failed:
                return [BenchRow(**self.base(manifest, threads, "android_demo"), status="failed",
                                 reason=f"android_demo: {failed.group(1).strip()}")]
            if done:
                return [self.check_app_row(row, manifest, settled) for row in self._pull_app_rows(done.group(1), manifest, threads)]
            time.sleep(1.0)
        return [BenchRow(**self.base(manifest, threads, "android_demo"), status="failed",
                         reason=f"android_demo wrote no EDGEKIT_BENCH_DONE within {RUN_TIMEOUT_S} s")]

    def check_app_row(self, row: BenchRow, manifest: dict, settled: dict) -> BenchRow:
        """Refuse a row whose model is not the export's (a stale APK) or that ran in the previous row's process."""
        return check_app_row(row, manifest, settled, self)

    def _pull_app_rows(self, remote: str, manifest: dict, threads: int) -> list[BenchRow]:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "bench.json"
            self.adb.run("pull", remote, str(local))
            try:
                data = json.loads(local.read_text())
            except ValueError as error:
                raise EdgekitError(f"android_demo wrote unreadable JSON at {remote}: {error}") from None
        rows = []
        for item in data.get("rows", []):
            row = BenchRow.from_dict(item)
            row.device = f"adb:{self.serial}"
            row.source = row.source or "android_demo"
            row.artifact = row.artifact or manifest.folder.name
            row.extra = {k: v for k, v in self.facts.items() if v} | (row.extra or {}) | {"serial": self.serial}
            rows.append(row)
        return rows


def check_app_row(row: BenchRow, manifest: dict, settled: dict, state) -> BenchRow:
    """An app row against the export: the model's sha256 must be the manifest's (else the APK is stale: failed,
    with the fix), and its process id must differ from the previous app row's (a fresh process per row).
    `state.last_pid` carries the previous pid between rows."""
    extra = dict(row.extra or {}) | settled
    row.extra = extra
    expected = manifest.get("sha256")
    ran = extra.get("model_sha256")
    pid = extra.get("pid")
    if expected and ran != expected:
        row.status = "failed"
        row.reason = (f"stale APK: the app ran a model with sha256 {ran or 'unknown'}, the export's manifest says "
                      f"{expected}; run `edgekit android sync` on this export, rebuild and reinstall the app")
        for name in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "throughput_ips"):
            setattr(row, name, None)
    elif pid is not None and pid == state.last_pid:
        row.status = "failed"
        row.reason = f"the app ran in the previous row's process (pid {pid}): load_ms and peak memory would carry over"
    if pid is not None:
        state.last_pid = pid
    return row


def bench_on_device(export_dir: Path, artifacts: list[Path], options: BenchOptions,
                    on_progress: Callable[[str], None] | None = None) -> list[BenchRow]:
    """Benchmark `artifacts` (artifact folders) on one phone; see the module docstring."""
    device, tool, threads, warmup = options.device, options.tool, list(options.threads), options.warmup
    iterations = options.iterations or DEFAULT_ITERATIONS
    say = on_progress or (lambda message: None)
    if device != "adb" and not device.startswith("adb:"):
        raise EdgekitError(f"--device {device}: expected adb or adb:SERIAL")
    serial = device.split(":", 1)[1] if ":" in device else None
    if serial == "":
        raise EdgekitError("--device adb: needs a serial after the colon (see `adb devices -l`)")
    tool_name = check_tool(tool)
    manifests = [_read_manifest(Path(a)) for a in artifacts]
    adb = Adb(find_adb())
    chosen = choose_device(parse_devices(adb.run("devices", "-l").stdout), serial)
    adb = Adb(adb.exe, chosen.serial)
    facts = device_facts(adb)
    session = _DeviceSession(adb, chosen.serial, facts, say)
    if tool == "app" and not adb.shell(f"pm path {APP_PACKAGE}", check=False).stdout.strip():
        raise EdgekitError(f"the android_demo app ({APP_PACKAGE}) is not installed on {chosen.serial}: "
                           "build and install it first (docs/device.md)")
    rows: list[BenchRow] = []
    for manifest in manifests:
        fmt = manifest["format"]
        for t in threads:
            if tool == "app":
                if not FORMATS[fmt].runs_on_android:
                    rows.append(BenchRow(**session.base(manifest, t, "android_demo"), status="skipped",
                                         reason=f"the android_demo app does not run {fmt}"))
                else:
                    rows.extend(session.run_app(manifest, t, iterations, warmup))
                continue
            wanted = FORMATS[fmt].device_tool
            if wanted is None:
                rows.append(BenchRow(**session.base(manifest, t, fmt), status="skipped",
                                     reason=f"no Android benchmark tool runs {fmt} "
                                            f"({', '.join(f for f, r in FORMATS.items() if r.device_tool)} have one)"))
                continue
            if tool_name is not None:
                if tool_name != wanted:
                    rows.append(BenchRow(**session.base(manifest, t, wanted), status="skipped",
                                         reason=f"--tool is {tool_name}; {fmt} needs {wanted}"))
                    continue
                binary = Path(tool)
            else:
                binary = default_tools_dir(facts.get("abi") or "unknown-abi") / wanted
                if not (binary.is_file() and os.access(binary, os.X_OK)):
                    rows.append(BenchRow(**session.base(manifest, t, wanted), status="skipped",
                                         reason=f"no {wanted} in {binary.parent} (docs/device.md says where to get "
                                                f"it), or pass --tool"))
                    continue
            rows.append(session.run_tool(manifest, binary, wanted, t, iterations, warmup))
    return rows
