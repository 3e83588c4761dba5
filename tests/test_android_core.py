"""The Android app's Kotlin core (android_demo/core) against golden fixtures generated fresh from a real export.

Real components only: the trained mobilenet_v2 export (ONNX and TFLite, fp32 and int8; its int8 TFLite has int8
input and output tensors), `edgekit android fixtures`, kotlinc 1.9.25 and Debian's JUnit 5 console
(`android_demo/core/test.sh`, installed by scripts/setup.sh), the JVM preprocess tool and the host runtimes.
The JUnit tests compare tensors, YUV conversion and top-5 postprocessing; the top-1 of the host artifact on the
Kotlin tensor is compared with edgekit's here (`edgekit android check`).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.formats import android_formats
from edgekit.paths import REPO_ROOT

CORE = REPO_ROOT / "android_demo" / "core"
pytestmark = pytest.mark.slow


def _cli(capsys, *args: str) -> subprocess.CompletedProcess:
    """`edgekit android ARGS` through the real entry point, in-process (no interpreter start per call)."""
    from edgekit.cli.main import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["android", *args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exited.value.code, out, err)


@pytest.fixture(scope="module")
def fixtures_dir(exported_mobilenet_v2, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("android") / "fixtures"
    done = subprocess.run([sys.executable, "-m", "edgekit.cli.main", "android", "fixtures", str(exported_mobilenet_v2),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return out


def test_kotlin_core_reproduces_edgekits_fixtures(fixtures_dir, capsys):
    index = json.loads((fixtures_dir / "index.json").read_text())
    assert {a["name"] for a in index["artifacts"]} >= {"onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8"}
    assert any(a["precision"] == "int8" and a["format"] == "tflite" for a in index["artifacts"])
    done = subprocess.run(["bash", str(CORE / "test.sh"), "--fixtures", str(fixtures_dir)],
                          capture_output=True, text=True, timeout=1200)
    lines = done.stdout.strip().splitlines()
    summary = next((line for line in reversed(lines) if re.fullmatch(r"\d+ passed, \d+ failed", line)), None)
    with capsys.disabled():
        print(f"\nandroid_demo/core JUnit (fixtures from the trained mobilenet_v2 export): {summary}")
    assert summary is not None, done.stdout[-3000:] + done.stderr[-3000:]
    passed, failed = map(int, re.findall(r"\d+", summary))
    assert failed == 0 and done.returncode == 0, "\n".join(l for l in lines if "✘" in l)[-5000:]
    # every (image, artifact) tensor and every top-5 is one JUnit test: all of them ran
    assert passed >= len(index["tensors"]) + sum("top5" in t for t in index["tensors"]) + len(index["yuv"])
    assert "0 tests and 0 test groups skipped" in done.stdout


def test_check_agrees_on_real_images_through_the_host_artifacts(exported_mobilenet_v2, fixtures_dir, capsys):
    images = sorted((fixtures_dir / "images").iterdir())
    done = _cli(capsys, "check", str(exported_mobilenet_v2), *map(str, images))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    # every artifact of the export that the app runs (onnx, tflite, executorch; fp32 and int8), each on every image
    runnable = [d for d in exported_mobilenet_v2.iterdir() if (d / "manifest.json").is_file()
                and json.loads((d / "manifest.json").read_text())["format"] in android_formats()]
    assert len(runnable) >= 4
    pairs = len(images) * len(runnable)
    assert all(d.name in done.stdout for d in runnable)
    assert f"{pairs} of {pairs} (image, artifact) pairs agree" in done.stdout


def test_the_preprocess_tool_writes_raw_little_endian_tensors(exported_mobilenet_v2, fixtures_dir, tmp_path):
    import numpy as np

    manifest = exported_mobilenet_v2 / "tflite-int8" / "manifest.json"
    image = fixtures_dir / "images" / "photo_1024x683.png"
    done = subprocess.run(["bash", str(CORE / "preprocess.sh"), "--manifest", str(manifest), "--out",
                           str(tmp_path / "out"), str(image)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    data = (tmp_path / "out" / "photo_1024x683.bin").read_bytes()
    expected = (fixtures_dir / "tensors" / "photo_1024x683__tflite-int8.bin").read_bytes()
    assert len(data) == len(expected) == 3 * 64 * 64  # int8, one byte per value
    assert np.array_equal(np.frombuffer(data, np.int8), np.frombuffer(expected, np.int8))  # every value equal


@pytest.mark.parametrize("rule,dtype,layout", [("center_crop", "int8", "NCHW"), ("letterbox", "float32", "NHWC"),
                                               ("center_crop", "float32", "NCHW"), ("letterbox", "uint8", "NCHW")])
def test_the_app_tensor_is_bit_equal_at_224_px_with_imagenet_statistics(exported_mobilenet_v2, fixtures_dir,
                                                                        tmp_path, rule, dtype, layout):
    """The 64 px export's fixtures exercise one size and one mean/std; here the same lossless images and camera
    frames go through a 224 px manifest (ImageNet mean/std, both resize rules, float32/int8/uint8, both layouts):
    the JVM tool's tensor must be edgekit's bit for bit (tensors only: no model of that size is run)."""
    import numpy as np

    from edgekit.android.check import run_preprocess_tool
    from edgekit.artifacts import Artifact

    manifest = json.loads((exported_mobilenet_v2 / "tflite-int8" / "manifest.json").read_text())
    manifest["preprocessing"].update(img_size=224, resize=rule, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    manifest["input"].update(shape=[1, 3, 224, 224] if layout == "NCHW" else [1, 224, 224, 3], layout=layout, dtype=dtype)
    if dtype == "float32":
        manifest["input"].pop("quantization", None)
    elif dtype == "uint8":
        manifest["input"]["quantization"] = {"scale": 0.0186584, "zero_point": 114}
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "labels.txt").write_text("\n".join(manifest["labels"]) + "\n")
    images = sorted((fixtures_dir / "images").glob("*.png")) + sorted((fixtures_dir / "yuv").glob("*.upright.png"))
    written = run_preprocess_tool(folder / "manifest.json", images, tmp_path / "out")
    artifact = Artifact.from_manifest(folder, manifest)
    for image in images:
        ours = artifact.edgekit_input(image)
        app = np.fromfile(written[str(image)], dtype=ours.dtype.newbyteorder("<")).reshape(ours.shape)
        bits = np.uint32 if dtype == "float32" else np.uint8
        differing = int((ours.view(bits) != app.view(bits)).sum())
        assert differing == 0, f"{image.name}: {differing} of {ours.size} values differ"


def test_bad_input_is_one_clear_line_and_exit_1(exported_mobilenet_v2, fixtures_dir, tmp_path, capsys, monkeypatch):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not an image")
    foreign = tmp_path / "foreign"
    (foreign / "x").mkdir(parents=True)
    (foreign / "x" / "manifest.json").write_text(json.dumps({"schema": "someone-else/1"}))
    image = str(fixtures_dir / "images" / "fmnist_bag.png")
    cases = [
        (("check", str(tmp_path), image), "no manifest.json"),
        (("check", str(foreign), image), "not an edgekit manifest"),
        (("check", str(exported_mobilenet_v2), str(not_an_image)), "cannot read image"),
        (("check", str(exported_mobilenet_v2), str(tmp_path / "missing.png")), "no such image file"),
        (("fixtures", str(tmp_path / "nowhere"), "--out", str(tmp_path / "fx")), "no such export folder"),
    ]
    for args, message in cases:
        done = _cli(capsys, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    with monkeypatch.context() as env:
        env.delenv("KOTLINC_HOME", raising=False)
        env.setenv("EDGEKIT_TOOLS", str(tmp_path / "none"))
        done = _cli(capsys, "check", str(exported_mobilenet_v2), image)
    assert done.returncode == 1 and "not found; install it with scripts/setup.sh" in done.stderr, done.stderr
    # the JVM tool itself: a manifest whose labels.txt disagrees, an undecodable image
    bad = tmp_path / "bad-labels"
    bad.mkdir()
    (bad / "manifest.json").write_text((exported_mobilenet_v2 / "onnx-fp32" / "manifest.json").read_text())
    (bad / "labels.txt").write_text("only\ntwo\n")
    for manifest, img, message in ((bad / "manifest.json", image, "labels.txt has 2 labels"),
                                   (exported_mobilenet_v2 / "onnx-fp32" / "manifest.json", str(not_an_image), "cannot decode")):
        done = subprocess.run(["bash", str(CORE / "preprocess.sh"), "--manifest", str(manifest), "--out",
                               str(tmp_path / "o"), img], capture_output=True, text=True, timeout=600)
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert not (tmp_path / "o").exists()  # nothing written
