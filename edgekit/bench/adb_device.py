"""The Android device over adb: which one to use and what it is, read before anything is pushed.

    find_adb() -> str                          $ADB, else adb on PATH; an EdgekitError saying how to install it
    parse_devices(`adb devices -l`)            -> AdbDevice(serial, state, props)
    choose_device(devices, serial) -> AdbDevice  the one device (`adb` alone needs exactly one attached;
                                               `adb:SERIAL` picks one), else why there is none or why it is unusable
    Adb(exe, serial).run / .shell              adb commands for that device; every failure is one EdgekitError line
    device_facts(adb) -> dict                  getprop model/ABI/Android version, the CPU governors, the thermal
                                               status where dumpsys allows, the big cores (highest cpuinfo_max_freq)

and the parsers of what the device prints (`dumpsys thermalservice`, `dumpsys power`, cpufreq files), each tested
on real captured output. The benchmark runs themselves are `edgekit.bench.adb`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from edgekit.errors import EdgekitError

ADB_TIMEOUT_S = 120
THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical", 5: "emergency", 6: "shutdown"}


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
