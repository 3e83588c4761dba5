"""Where ExecuTorch's time goes, per XNNPACK operator kind, fp32 against int8 (ETDump + the devtools Inspector).

    python benchmarks/executorch_profile.py EXPORT_DIR/executorch-fp32/model.pte EXPORT_DIR/executorch-int8/model.pte

Each program is loaded with ETDump enabled (the pip runtime's `_load_for_executorch(..., enable_etdump=True)`),
run on one thread (`_unsafe_reset_threadpool(1)`; pin the process to one core with `taskset -c 0` as well) for
--runs iterations after --warmup, and the XNNPACK delegate's per-operator events are summed by kind (the
operator name without its `#N` and its layout/type in brackets), using each event's median over the runs.
Prints a table per program and the fp32/int8 ratio per kind. Measured, never asserted: the numbers belong in
docs/quantization.md with the CPU named.
"""
from __future__ import annotations

import argparse
import collections
import platform
from pathlib import Path


def profile(pte: Path, runs: int, warmup: int, size: int) -> dict[str, tuple[float, int]]:
    """kind -> (summed median ms, operators), through the library's ETDump reader (edgekit.profile)."""
    import torch

    from edgekit.profile import etdump_events, etdump_kind

    image = torch.randn(1, 3, size, size).contiguous()  # the Python runtime needs contiguous inputs
    medians, _ = etdump_events(pte, image, runs, warmup)
    totals: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter = collections.Counter()
    for name, ms in medians.items():
        kind = etdump_kind(name)
        totals[kind] += ms
        counts[kind] += 1
    return {kind: (totals[kind], counts[kind]) for kind in totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fp32", type=Path, help="the fp32 .pte")
    parser.add_argument("int8", type=Path, help="the int8 .pte")
    parser.add_argument("--runs", type=int, default=50, help="profiled iterations (each event's median is used)")
    parser.add_argument("--warmup", type=int, default=10, help="iterations before profiling, not recorded")
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    args = parser.parse_args()

    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(1)
    results = {label: profile(path, args.runs, args.warmup, args.size)
               for label, path in (("fp32", args.fp32), ("int8", args.int8))}
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else platform.machine()
    print(f"CPU: {cpu}; 1 thread; median of {args.runs} runs per event")
    for label, kinds in results.items():
        ops = {k: v for k, v in kinds.items() if k not in ("Method::execute", "DELEGATE_CALL")}
        print(f"\n{label}: operators sum to {sum(t for t, _ in ops.values()):.3f} ms"
              f" (DELEGATE_CALL {kinds.get('DELEGATE_CALL', (0.0, 0))[0]:.3f} ms)")
        for kind, (ms, n) in sorted(ops.items(), key=lambda kv: -kv[1][0]):
            print(f"  {kind:36s} {ms:8.3f} ms  ({n} ops)")
    fp32, int8 = results["fp32"], results["int8"]
    print("\nkind                                  fp32 ms   int8 ms   fp32/int8")
    for kind in sorted(set(fp32) & set(int8) - {"Method::execute", "DELEGATE_CALL"}, key=lambda k: -fp32[k][0]):
        print(f"{kind:36s} {fp32[kind][0]:8.3f}  {int8[kind][0]:8.3f}  {fp32[kind][0] / max(int8[kind][0], 1e-9):8.2f}x")


if __name__ == "__main__":
    main()
