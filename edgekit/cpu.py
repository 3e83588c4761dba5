"""What this CPU can do for int8 (torch-free): its name, the instruction-set extensions that decide whether an int8
kernel beats fp32, and one sentence saying what they mean for int8 latency.

x86: AVX2 alone multiplies u8 x s8 through 16-bit intermediates (vpmaddubsw + vpmaddwd: three instructions per
four products, and ONNX Runtime's u8 x s8 sums can saturate there, its documented reason for `reduce_range`);
AVX-512 VNNI / AVX-VNNI do it in one instruction with 32-bit sums (vpdpbusd); AMX adds int8 tile multiplies.
ARM: the dot-product extension (asimddp, SDOT/UDOT) and i8mm (SMMLA) are what make int8 kernels fast on phones.
Runtimes pick their int8 kernels at run time from these flags, so the same artifact can be 2x faster than fp32 on
one machine and slower than fp32 on another (docs/quantization.md, "int8 and the CPU").
"""
from __future__ import annotations

import platform
from pathlib import Path

X86_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")
ARM_FLAGS = ("asimd", "asimddp", "i8mm", "sve", "sve2")


def cpu_facts(cpuinfo: str | None = None, machine: str | None = None) -> dict:
    """{"name", "arch", "int8_flags": [...], "int8_class", "int8_note"} of this CPU (or of a /proc/cpuinfo text)."""
    machine = (machine or platform.machine()).lower()
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    arm = machine.startswith(("arm", "aarch64")) or "asimd" in flags
    wanted = ARM_FLAGS if arm else X86_FLAGS
    present = [flag for flag in wanted if flag in flags]
    name = fields.get("model name") or fields.get("hardware") or platform.processor() or machine or "unknown CPU"
    kind = int8_class(present, arm)
    return {"name": name, "arch": machine or "unknown", "int8_flags": present, "int8_class": kind,
            "int8_note": INT8_NOTES[kind]}


def int8_class(flags: list[str], arm: bool) -> str:
    have = set(flags)
    if arm:
        return "arm-i8mm" if "i8mm" in have else "arm-dotprod" if "asimddp" in have else "arm-plain"
    if "amx_int8" in have:
        return "x86-amx"
    if have & {"avx512_vnni", "avx_vnni"}:
        return "x86-vnni"
    if "avx512bw" in have:
        return "x86-avx512"
    if "avx2" in have:
        return "x86-avx2"
    return "unknown" if not have else "x86-old"


INT8_NOTES = {
    "x86-amx": "AMX and VNNI: int8 dot products in one instruction with 32-bit sums; int8 should beat fp32",
    "x86-vnni": "VNNI (vpdpbusd): int8 dot products in one instruction with 32-bit sums; int8 should beat fp32",
    "x86-avx512": "AVX-512 without VNNI: int8 products go through 16-bit intermediates (vpmaddubsw); "
                  "int8 may be no faster than fp32 here, unlike a phone with ARM's dot-product instructions",
    "x86-avx2": "AVX2 without VNNI: int8 products go through 16-bit intermediates (vpmaddubsw, three instructions per "
                "four products) while fp32 has FMA; int8 may be no faster than fp32 here, unlike a phone with ARM's "
                "dot-product instructions (SDOT) or an x86 CPU with VNNI",
    "x86-old": "no AVX2: the runtimes' int8 kernels fall back to slow paths; int8 timings here say little about a phone",
    "arm-i8mm": "ARM with dot-product and i8mm (SMMLA): the fast int8 kernels of every runtime apply",
    "arm-dotprod": "ARM with the dot-product extension (SDOT): the fast int8 kernels of every runtime apply",
    "arm-plain": "ARM without the dot-product extension: int8 runs through widening multiplies; "
                 "expect a smaller int8 speed-up than on newer phones",
    "unknown": "the CPU's instruction set could not be read: nothing can be said about why int8 is fast or slow here",
}


def saturates_u8s8(facts: dict | None = None) -> bool:
    """True where ONNX Runtime's u8 x s8 int8 kernels sum pairs in 16 bits (x86 without VNNI): full-range weights
    can saturate there, and `reduce_range` (7-bit weights) is onnxruntime's documented remedy."""
    facts = facts or cpu_facts()
    return facts["int8_class"] in ("x86-avx2", "x86-avx512", "x86-old")


def describe(facts: dict) -> str:
    """'AMD EPYC (x86_64: avx2 fma avx512_vnni)' for tables and notes."""
    flags = " ".join(facts.get("int8_flags") or []) or "no int8 extensions found"
    return f"{facts.get('name', 'unknown CPU')} ({facts.get('arch', '?')}: {flags})"
