"""android_demo's OrtBackend run for real: the app's own OrtBackend.kt + Backend.kt + core, compiled with kotlinc and
run on the JVM against ONNX Runtime's Java API and a real native ONNX Runtime (linux-x64 1.29.0, the phone's version;
its Java API and JNI glue 1.21.0 built from Debian's source package by scripts/setup.d/45-ort-jvm.sh), on input
tensors exported by edgekit's Python preprocessing from the trained mobilenet_v2 export (fp32 and int8 ONNX); its
logits are compared with onnxruntime's in Python (the host's version) on the same tensors. edgekit's ONNX int8
exports keep float32 input and output (QDQ inside), so a small QDQ classifier with int8 and uint8 input and output
tensors, made here, runs OrtBackend's integer input and output dequantization paths too.

Skipped, with the reason, when that toolchain (or kotlinc, or java) is missing: never passed without running.
A detector is not compared yet: edgekit exports classifiers only so far.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edgekit.android.runtime import find_artifacts
from edgekit.paths import REPO_ROOT

RUN = REPO_ROOT / "android_demo" / "app" / "ort_jvm.sh"
pytestmark = pytest.mark.slow


def _run_backend(artifact, tensors, out, threads):
    done = subprocess.run(["bash", str(RUN), "--artifact", str(artifact), "--threads", str(threads),
                           "--out", str(out), *map(str, tensors)], capture_output=True, text=True, timeout=900)
    if done.returncode == 4:
        pytest.skip(f"OrtBackend cannot run on the JVM here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_ort_backend_on_the_jvm_gives_pythons_logits(precision, exported_mobilenet_v2, sample_images, tmp_path, capsys):
    import onnxruntime

    artifact = next((a for a in find_artifacts(exported_mobilenet_v2)
                     if a.manifest.format == "onnx" and a.manifest.precision == precision), None)
    assert artifact is not None, f"the export has no onnx-{precision}"
    manifest = json.loads((artifact.folder / "manifest.json").read_text())
    dtype = np.dtype(manifest["input"]["dtype"])

    tensors, expected = [], {}
    for image in sample_images[::2]:     # one image of each of the 10 classes
        tensor = artifact.edgekit_input(image)
        assert tensor.dtype == dtype
        path = tmp_path / "tensors" / f"{image.parent.name}-{image.stem}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(tensor.astype(tensor.dtype.newbyteorder("<")).tobytes())
        tensors.append(path)
        expected[path.name] = artifact.logits(artifact.run_raw(tensor))     # onnxruntime in Python

    for threads in (1, 2):
        out = tmp_path / f"logits-{threads}"
        stdout = _run_backend(artifact.folder, tensors, out, threads)
        assert "runtime onnxruntime 1.29.0" in stdout, stdout   # the native library the phone's AAR has
        worst = 0.0
        for path in tensors:
            got = np.fromfile(out / f"{path.name}.logits", dtype="<f4")
            want = expected[path.name].astype(np.float32)
            assert got.shape == want.shape == (manifest["num_classes"],)
            diff = float(np.max(np.abs(got - want)))
            worst = max(worst, diff)
            # fp32: the same kernels up to summation order; int8: integer kernels, so the same bytes
            # (one quantization step allowed where the two versions' requantization rounds apart)
            step = manifest["output"].get("quantization", {}).get("scale") if manifest["output"]["dtype"] != "float32" else None
            tolerance = 1.01 * step if step else 1e-4 * max(1.0, float(np.max(np.abs(want))))
            assert diff <= tolerance, f"{path.name}: JVM OrtBackend and Python onnxruntime differ by {diff}"
            assert list(np.argsort(-got, kind="stable")[:5]) == list(np.argsort(-want, kind="stable")[:5]), path.name
        with capsys.disabled():
            print(f"\nOrtBackend on the JVM (ONNX Runtime 1.29.0) vs Python onnxruntime {onnxruntime.__version__}, "
                  f"onnx-{precision}, {threads} thread(s): {len(tensors)} tensors, max |diff| {worst:.3g}, top-5 equal")


def _integer_io_classifier(folder, dtype: str, num_classes: int = 10, size: int = 16):
    """A small classifier whose input and output tensors are int8 or uint8 (as a fully integer .tflite has them,
    and as the app feeds an ONNX model that declares them): DequantizeLinear -> conv -> mean -> Gemm ->
    QuantizeLinear. edgekit's ONNX int8 exports keep float32 I/O (QDQ inside), so OrtBackend's integer input
    (OnnxJavaType.INT8/UINT8) and output dequantization paths run on this one."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(37)
    kind = TensorProto.INT8 if dtype == "int8" else TensorProto.UINT8
    np_type = np.int8 if dtype == "int8" else np.uint8
    zp_in, zp_out = (np.int8(-3), np.int8(5)) if dtype == "int8" else (np.uint8(128), np.uint8(120))
    s_in, s_out = np.float32(0.0187), np.float32(0.0421)
    inits = [numpy_helper.from_array(np.array(s_in), "s_in"), numpy_helper.from_array(np.array(zp_in, np_type), "zp_in"),
             numpy_helper.from_array(np.array(s_out), "s_out"), numpy_helper.from_array(np.array(zp_out, np_type), "zp_out"),
             numpy_helper.from_array(rng.randn(8, 3, 3, 3).astype(np.float32) * 0.3, "conv_w"),
             numpy_helper.from_array(rng.randn(num_classes, 8).astype(np.float32), "fc_w"),
             numpy_helper.from_array(rng.randn(num_classes).astype(np.float32) * 0.1, "fc_b")]
    nodes = [helper.make_node("DequantizeLinear", ["input", "s_in", "zp_in"], ["x"]),
             helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
             helper.make_node("QuantizeLinear", ["y", "s_out", "zp_out"], ["logits"])]
    graph = helper.make_graph(nodes, "integer_io", [helper.make_tensor_value_info("input", kind, [1, 3, size, size])],
                              [helper.make_tensor_value_info("logits", kind, [1, num_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, folder / "model.onnx")
    labels = [f"class_{i}" for i in range(num_classes)]
    manifest = {"schema": "edgekit-manifest/1", "model": "integer_io", "format": "onnx", "precision": "int8",
                "file": "model.onnx", "num_classes": num_classes, "labels": labels,
                "input": {"name": "input", "shape": [1, 3, size, size], "dtype": dtype, "layout": "NCHW",
                          "quantization": {"scale": float(s_in), "zero_point": int(zp_in)}},
                "output": {"name": "logits", "shape": [1, num_classes], "dtype": dtype,
                           "quantization": {"scale": float(s_out), "zero_point": int(zp_out)}},
                "preprocessing": {"img_size": size, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                  "resize": "center_crop", "channel_order": "RGB", "layout": "NCHW"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return manifest, np_type, s_out, zp_out


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_ort_backend_on_the_jvm_with_integer_input_and_output(dtype, tmp_path, capsys):
    import onnxruntime

    folder = tmp_path / f"integer-{dtype}"
    manifest, np_type, s_out, zp_out = _integer_io_classifier(folder, dtype)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    info = np.iinfo(np_type)
    rng = np.random.RandomState(1)
    tensors, expected = [], {}
    for i in range(8):
        tensor = rng.randint(info.min, info.max + 1, size=manifest["input"]["shape"]).astype(np_type)
        path = tmp_path / "tensors" / f"t{i}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(tensor.tobytes())
        tensors.append(path)
        raw = session.run(None, {"input": tensor})[0]
        assert raw.dtype == np_type
        expected[path.name] = ((raw.astype(np.float32) - np.float32(zp_out)) * s_out).reshape(-1)
    stdout = _run_backend(folder, tensors, tmp_path / "logits", 1)
    assert "runtime onnxruntime 1.29.0" in stdout, stdout
    worst = 0.0
    for path in tensors:
        got = np.fromfile(tmp_path / "logits" / f"{path.name}.logits", dtype="<f4")
        diff = float(np.max(np.abs(got - expected[path.name])))
        worst = max(worst, diff)
        assert diff <= 1.01 * float(s_out), f"{path.name}: differ by {diff} (one output step is {s_out})"
    with capsys.disabled():
        print(f"\nOrtBackend on the JVM (ONNX Runtime 1.29.0) vs Python onnxruntime {onnxruntime.__version__}, "
              f"{dtype} input and output: {len(tensors)} tensors, max |diff| {worst:.3g}")
