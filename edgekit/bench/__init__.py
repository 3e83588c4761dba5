"""Latency benchmarks: every artifact timed in its own runtime, on the host and on a phone over adb."""
