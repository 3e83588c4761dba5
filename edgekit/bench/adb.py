"""The phone path: run each artifact with its runtime's own benchmark tool on an Android device over adb.

    bench_on_device(export_dir, artifacts, BenchOptions(device=, tool=, threads=, iterations=, warmup=)) -> list[BenchRow]

One device is chosen (`adb` alone needs exactly one attached; `adb:SERIAL` picks one), its facts are read
(getprop model/ABI/Android version, the CPU governors, the thermal status where dumpsys allows), then for
every artifact and thread count the tool is pushed once to /data/local/tmp/edgekit/bin/, the model file to
/data/local/tmp/edgekit/<artifact folder>/, and the tool runs there with its own thread flag and warm-up (each
format's row reaches its tool, `FORMATS[name].tool()`: the command line and output parser live in the runtime file,
edgekit/runtime/device_tool.py lists them).

Between rows the driver checks that the screen is on (`dumpsys power`: a sleeping phone throttles and may pause
the app; it wakes it once, else refuses), and waits until the thermal status (`dumpsys thermalservice`) is back
to what it was before the first row (at most THERMAL_WAIT_S; the row records the status it started at and the
wait). The tools run pinned with `taskset` to the big cores, those whose cpuinfo_max_freq is the highest, where
the device says which (else unpinned, and the row says so). The app's rows start a fresh process each
(`am start -S`: load_ms and peak memory are that row's own, and the pid must change) and carry the sha256 of the
model the app ran: a row whose model differs from the export's manifest (an APK built before the last export)
is refused as failed; a tool's pushed model is checked on the device with sha256sum the same way.
A detector (manifest `task: detection`): the app's row also times the NMS outside the graph apart from the model
(`post_p50_ms`; a detector's app row without it is refused: an APK from before detection); a tool's row times the
graph only and says so in `extra.postprocess`.

`tool` is a path to one of those binaries (its name says which runtime it serves), "app" (the android_demo
BenchmarkActivity, which times every format the app runs), or None: look in $EDGEKIT_TOOLS/android/<abi>/.
Shared libraries beside the tool are pushed with it (LD_LIBRARY_PATH). An artifact no tool can run gives a
"skipped" row with the reason; a tool run that fails gives a "failed" row with the tool's own last error line.
Environment problems (adb missing, no device, several devices and no serial, unknown serial, a --tool that is
not an executable benchmark binary) raise EdgekitError in one line before anything is pushed. Choosing the
device, talking to it (`Adb`) and reading its facts is `edgekit.bench.adb_device`.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

from edgekit.bench.adb_device import (THERMAL_STATUS, Adb, choose_device, cpu_mask, device_facts, find_adb,
                                      parse_devices, screen_awake, thermal_status, thermal_summary)
from edgekit.bench.options import DEFAULT_ITERATIONS, BenchOptions
from edgekit.bench.rows import BenchRow
from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS
from edgekit.manifest import Manifest, open_manifest
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.runtime.device_tool import ToolOutputError, ToolTiming

REMOTE_DIR = "/data/local/tmp/edgekit"
TOOL_NAMES = tuple(row.device_tool for row in FORMATS.values() if row.device_tool)  # each runtime's own benchmark binary
APP_PACKAGE = "dev.edgekit.demo"
APP_ACTIVITY = f"{APP_PACKAGE}/.BenchmarkActivity"
RUN_TIMEOUT_S = 900
THERMAL_WAIT_S = 180
THERMAL_POLL_S = 5


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
    def __init__(self, adb: Adb, serial: str, facts: dict, say: Callable[[str], None]):
        self.adb, self.serial, self.facts, self.say = adb, serial, facts, say
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
        device_tool = FORMATS[manifest["format"]].tool()  # the runtime file's command line and parser
        command = device_tool.command(binary, model, threads, iterations, warmup)
        cores = self.facts.get("big_cores")
        if cores:
            command = f"taskset {cpu_mask([int(c) for c in cores.split(',')])} {command}"
        base = self.base(manifest, threads, name)
        base["extra"] |= {"command": command, "tool": str(tool), **self.before_row(),
                          "pinned_to": f"big cores {cores}" if cores else "not pinned: the device does not say which cores are big"}
        remote_sha = self.adb.shell(f"sha256sum {model}", check=False).stdout.split()
        if remote_sha:   # recorded as the app's rows record theirs: the row says which model file it timed
            base["extra"]["model_sha256"] = remote_sha[0]
        if manifest.get("sha256") and remote_sha and remote_sha[0] != manifest["sha256"]:
            return BenchRow(**base, status="failed", reason=f"the model on the device has sha256 {remote_sha[0]}, the "
                                                            f"export's manifest says {manifest['sha256']}")
        self.say(f"{folder.name}: {name} on {self.serial}, {threads} thread(s)")
        proc = self.adb.shell(f"cd {REMOTE_DIR} && LD_LIBRARY_PATH={REMOTE_DIR}/bin {command} 2>&1",
                              timeout=RUN_TIMEOUT_S, check=False)
        try:
            timing = device_tool.parse(proc.stdout, warmup)
        except ToolOutputError as error:
            return BenchRow(**base, status="failed", reason=str(error))
        row = _row_from_timing(base, timing, threads)
        if device_tool.own_warmup is not None and warmup != device_tool.own_warmup:
            row.reason = "; ".join(filter(None, [row.reason, f"{name} runs its own warm-up of {device_tool.own_warmup} "
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
    elif manifest.get("task") == "detection" and row.status == "ok" and row.post_p50_ms is None:
        row.status = "failed"
        row.reason = ("a detector's row from the app without post_p50_ms (its NMS timed apart): the APK predates "
                      "detection; rebuild and reinstall the app")
    if row.status == "failed":
        row.post_p50_ms = None
    if pid is not None:
        state.last_pid = pid
    return row


def connect_device(options: BenchOptions) -> Adb:
    """The phone `--device` names, through adb, with `--tool` checked: the one-line errors (no adb, no phone, an
    unknown serial, a tool that is not executable) in about a second, before any artifact is loaded."""
    device = options.device
    if device != "adb" and not device.startswith("adb:"):
        raise EdgekitError(f"--device {device}: expected adb or adb:SERIAL")
    serial = device.split(":", 1)[1] if ":" in device else None
    if serial == "":
        raise EdgekitError("--device adb: needs a serial after the colon (see `adb devices -l`)")
    check_tool(options.tool)
    adb = Adb(find_adb())
    chosen = choose_device(parse_devices(adb.run("devices", "-l").stdout), serial)
    return Adb(adb.exe, chosen.serial)


def bench_on_device(export_dir: Path, artifacts: list[Path], options: BenchOptions,
                    on_progress: OnProgress | Reporter | None = None, adb: Adb | None = None) -> list[BenchRow]:
    """Benchmark `artifacts` (artifact folders) on one phone (`adb`: connect_device's, else connected here); see
    the module docstring."""
    tool, threads, warmup = options.tool, list(options.threads), options.warmup
    iterations = options.iterations or DEFAULT_ITERATIONS
    say = reporter(on_progress).stage
    adb = adb or connect_device(options)
    tool_name = check_tool(tool)
    manifests = [_read_manifest(Path(a)) for a in artifacts]
    facts = device_facts(adb)
    session = _DeviceSession(adb, adb.serial, facts, say)
    if tool == "app" and not adb.shell(f"pm path {APP_PACKAGE}", check=False).stdout.strip():
        raise EdgekitError(f"the android_demo app ({APP_PACKAGE}) is not installed on {adb.serial}: "
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
            row = session.run_tool(manifest, binary, wanted, t, iterations, warmup)
            if manifest.get("task") == "detection":  # the tools time the graph; the NMS is outside it
                row.extra = (row.extra or {}) | {"postprocess": "not timed: the tool runs the graph only; "
                                                                "`--tool app` times the app's NMS (post_p50_ms)"}
            rows.append(row)
    return rows
