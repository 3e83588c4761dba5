"""The benchmark tools' parsers on real captured output.

Each file in tests/data/tool_output/ is output quoted from a public source, named in its header:
  benchmark_model_tf42507_android.txt       tensorflow/tensorflow#42507 (benchmark_model on a phone, warm-up + timed phase)
  benchmark_model_yolov5s_int8_cpu.txt      lp6m/yolov5s_android benchmark/benchmark.md (Xiaomi Mi11, newer memory line)
  benchmark_model_yolov5s_nnapi_failed.txt  same document, a run that failed ("Benchmarking failed.")
  executor_runner_mv2_xnnpack_docs.txt      pytorch/executorch docs/source/using-executorch-building-from-source.md
  executor_runner_et1231_portable.txt       pytorch/executorch#1231 (an old runner that prints no timing)
  onnxruntime_perf_test_ort17313.txt        microsoft/onnxruntime#17313 (1000 runs, percentile lines)
  onnxruntime_perf_test_ort4647_android.txt microsoft/onnxruntime#4647 (onnxruntime 1.3.1 on an Arm Android board)
No phone or tool binary runs here: these are the only tool outputs the tests see.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.formats import FORMATS
from edgekit.runtime.device_tool import ToolOutputError
from edgekit.runtime.executorch import parse_executor_runner
from edgekit.runtime.onnx import parse_onnxruntime_perf_test
from edgekit.runtime.tflite import parse_benchmark_model

DATA = Path(__file__).parent / "data" / "tool_output"


def sample(name: str) -> str:
    text = (DATA / name).read_text()
    assert text.startswith("# SOURCE: "), f"{name} must name where it was captured"
    return text


def test_benchmark_model_phone_output_takes_the_timed_phase_not_the_warmup():
    t = parse_benchmark_model(sample("benchmark_model_tf42507_android.txt"))
    # "count=50 first=32891 curr=33978 min=32641 max=34005 avg=33209.4 std=450" is the timed phase (us)
    assert t.iterations == 50 and t.warmup == 15
    assert t.mean_ms == pytest.approx(33.2094)
    assert t.std_ms == pytest.approx(0.450) and t.min_ms == pytest.approx(32.641) and t.max_ms == pytest.approx(34.005)
    assert t.load_ms == pytest.approx(0.855) and t.first_ms == pytest.approx(49.060)
    assert t.peak_mem_mb == pytest.approx(12.8672)
    assert t.threads_reported == 4
    assert t.p50_ms is None and any("no percentiles" in n for n in t.notes)  # the tool prints none: never guessed


def test_benchmark_model_short_output_and_memory_delta_line():
    t = parse_benchmark_model(sample("benchmark_model_yolov5s_int8_cpu.txt"))
    assert t.iterations == 50 and t.warmup is None  # only the timed phase was quoted
    assert t.mean_ms == pytest.approx(159.413) and t.first_ms == pytest.approx(232.333)
    assert t.peak_mem_mb == pytest.approx(43.9961)


def test_benchmark_model_failed_run_raises_with_the_tools_reason():
    with pytest.raises(ToolOutputError, match="Benchmarking failed"):
        parse_benchmark_model(sample("benchmark_model_yolov5s_nnapi_failed.txt"))


def test_benchmark_model_parser_refuses_other_tools_output():
    with pytest.raises(ToolOutputError):
        parse_benchmark_model(sample("onnxruntime_perf_test_ort17313.txt"))


def test_executor_runner_documented_output():
    t = parse_executor_runner(sample("executor_runner_mv2_xnnpack_docs.txt"))
    assert t.iterations == 1 and t.mean_ms == pytest.approx(15.013292)
    assert t.p50_ms is None and any("includes the first" in n for n in t.notes)


def test_executor_runner_without_timing_line_says_so():
    with pytest.raises(ToolOutputError, match="prints no timing"):
        parse_executor_runner(sample("executor_runner_et1231_portable.txt"))


def test_onnxruntime_perf_test_percentiles_in_seconds_become_ms():
    t = parse_onnxruntime_perf_test(sample("onnxruntime_perf_test_ort17313.txt"))
    assert t.iterations == 1000 and t.mean_ms == pytest.approx(58.8053)
    assert t.p50_ms == pytest.approx(58.7108) and t.p90_ms == pytest.approx(59.9845)
    assert t.p99_ms == pytest.approx(61.9517) and t.min_ms == pytest.approx(55.9777)


def test_onnxruntime_perf_test_older_android_output():
    t = parse_onnxruntime_perf_test(sample("onnxruntime_perf_test_ort4647_android.txt"))
    assert t.iterations == 10 and t.mean_ms == pytest.approx(144.871)
    assert t.load_ms == pytest.approx(127.918)
    assert t.peak_mem_mb == pytest.approx(158171136 / 2**20)
    assert t.p50_ms is None


def test_onnxruntime_parser_refuses_benchmark_model_output():
    with pytest.raises(ToolOutputError, match="no timings"):
        parse_onnxruntime_perf_test(sample("benchmark_model_tf42507_android.txt"))


def test_each_format_row_reaches_its_tool_command_and_parser():
    """The format table is the way in: a row with a device tool gives its command line and its parser."""
    with_tool = {name: row.tool() for name, row in FORMATS.items() if row.device_tool}
    assert set(with_tool) == {"onnx", "tflite", "executorch"}
    assert all(tool.name == FORMATS[name].device_tool for name, tool in with_tool.items())
    assert FORMATS["coreml"].tool() is None and FORMATS["torchscript"].tool() is None
    assert with_tool["executorch"].command("bin/er", "m.pte", 4, 50, 5) == \
        "bin/er --model_path=m.pte --cpu_threads=4 --num_executions=55"
    timing = with_tool["tflite"].parse(sample("benchmark_model_tf42507_android.txt"), 15)
    assert timing.iterations == 50 and with_tool["onnx"].own_warmup == 1

