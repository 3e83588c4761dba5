"""How integer an int8 artifact really is: the ops that compute in float between input and output.

One rule for every format, applied to the graph the runtime executes:

    an op counts as a float op when an activation it reads or writes is float (float32/float16),
    except the two boundary conversions: a quantize of the graph's own float input and a dequantize
    (or an integer op with a dequantized output) whose float result is a graph output.

So a DEQUANTIZE -> ADD -> QUANTIZE island counts three ops (the conversions compute too), and a
fully integer graph counts zero. Constants (weights, scales, biases) are not activations.

    TFLite      the flatbuffer's operators and tensor types, as LiteRT's interpreter reads them
                (`_get_ops_details()`, `get_tensor_details()`)
    ONNX        the graph after onnxruntime's own optimizer (ORT_ENABLE_ALL, the level an
                InferenceSession uses by default; the QDQ -> QLinear* fusions and the NHWC layout
                transform run there), saved with `optimized_model_filepath` on this CPU
    ExecuTorch  the lowered edge graph: ops outside the XNNPACK delegate with a float tensor, and inside
                the delegate the XNNPACK graph it serialized for its runtime (decoded with ExecuTorch's
                schema): a node reading or writing an fp32 value computes in float (XNNPACK has no int8
                hardswish, sigmoid or GELU: it runs them in fp32 between Convert nodes)

The result is a dict recorded as the manifest's `backend.integer`:
    {"float_ops": N, "which": {op: count}, "measured_on": "..."}
"""
from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")


@dataclass
class Op:
    kind: str  # the runtime's op name
    inputs: list  # activation ids read (constants left out)
    outputs: list  # ids written


def count_float_ops(ops: list[Op], dtypes: dict, graph_inputs: set, graph_outputs: set,
                    quantize: set, dequantize: set) -> Counter:
    """The float ops of a graph by kind, under the module's rule."""
    is_float = lambda tensor: str(dtypes.get(tensor, "")) in FLOAT_TYPES
    found: Counter = Counter()
    for op in ops:
        float_in = [t for t in op.inputs if is_float(t)]
        float_out = [t for t in op.outputs if is_float(t)]
        if op.kind in quantize and float_in and all(t in graph_inputs for t in float_in) and not float_out:
            continue  # the input boundary
        if float_out and all(t in graph_outputs for t in float_out) and not float_in:
            continue  # the output boundary (a dequantize, or an integer op with a float result)
        if float_in or float_out:
            found[op.kind] += 1
    return found


def report(found: Counter, measured_on: str) -> dict:
    return {"float_ops": int(sum(found.values())), "which": dict(sorted(found.items())), "measured_on": measured_on}


def host() -> str:
    """The CPU this was measured on, in words (the ORT optimizer's choices depend on it)."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} {name}".strip()


def summary(integer: dict | None) -> str:
    """One table cell: "0" or "3: ADD×2, DEQUANTIZE"."""
    if not integer:
        return ""
    if not integer["float_ops"]:
        return "0"
    which = ", ".join(f"{op}×{n}" if n > 1 else op for op, n in integer["which"].items())
    return f"{integer['float_ops']}: {which}"
