"""Artifacts from someone else (issue 26, kinds 1-4 and 7), tried through the entry points as an adversarial user
would: a colleague's export folder whose manifest, labels or model file were changed after export.

What is proven, for every hostile artifact and every command that reads artifacts (predict, eval, bench, report,
android sync, android check): one `error:` line and exit 1 (report: exit 0, the page saying "not verified now"
with the reason), no traceback, and nothing written anywhere: the whole test folder (the export, the app with its
own AndroidManifest.xml and its bundled models, the output folders, the decoy files a manifest points at) is
byte for byte as it was. android sync refuses everything android_demo's own manifest parser refuses (checked
against the real Kotlin parser through the JVM tool), bench.json/summary.json of the wrong shape are one line,
and image files that are bombs, unreadable, 16-bit or in unreadable folders get one documented behaviour.

The export is `hostile_export` (conftest.py: the fixed mobilenet_v2 weights at 64 px, exported to ONNX and
TFLite fp32): nothing here depends on what it predicts.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hostile_support import assert_one_error, permission_bits_apply, run_cli, tree, without_dac_override

DECOY = b"<manifest package='dev.edgekit.demo'/>\n"  # what a traversal would overwrite or read


@dataclass
class World:
    root: Path        # everything below is checked unchanged after a refused command
    export: Path      # a copy of the colleague's export folder (OUT/mobilenet_v2)
    data: Path        # labelled images of the export's classes
    app: Path         # an android_demo-like project: its own manifest and six good bundled models
    out: Path         # where outputs would go (eval --out, report --out)

    @property
    def artifact(self) -> Path:
        return self.export / "onnx-fp32"

    @property
    def assets(self) -> Path:
        return self.app / "app" / "src" / "main" / "assets"

    def manifest(self, name: str = "onnx-fp32") -> dict:
        return json.loads((self.export / name / "manifest.json").read_text())

    def write_manifest(self, manifest: dict, name: str = "onnx-fp32") -> None:
        (self.export / name / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def world(hostile_export, tmp_path) -> World:
    root = tmp_path / "world"
    export = Path(shutil.copytree(hostile_export.export, root / "shared" / "export" / "mobilenet_v2"))
    app = root / "android_demo"
    (app / "app" / "src" / "main").mkdir(parents=True)
    (app / "app" / "src" / "main" / "AndroidManifest.xml").write_bytes(DECOY)
    for index in range(6):  # the app's six good models, bundled by an earlier sync
        model = app / "app" / "src" / "main" / "assets" / "models" / f"good{index}-onnx-fp32"
        model.mkdir(parents=True)
        (model / "model.onnx").write_bytes(f"good model {index}".encode())
        (model / "manifest.json").write_text("{}")
    (root / "shared" / "AndroidManifest.xml").write_bytes(DECOY)  # where "../../../AndroidManifest.xml" leads
    out = root / "out"
    out.mkdir()
    return World(root=root, export=export, data=hostile_export.data, app=app, out=out)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image(world: World) -> Path:
    return next((world.data / "bag").glob("*.png"))


# ----------------------------------------------------------------------------- hostile manifests and files
# Each case changes the colleague's onnx-fp32 artifact; `needle` is what the one error line must say.

def _file_parent(w: World, m: dict) -> None:
    m.update(file="../../../AndroidManifest.xml", sha256=_sha(DECOY))


def _file_absolute(w: World, m: dict) -> None:
    m.update(file=str(w.root / "shared" / "AndroidManifest.xml"), sha256=_sha(DECOY))


def _file_symlink(w: World, m: dict) -> None:
    (w.artifact / "model.onnx").unlink()
    (w.artifact / "model.onnx").symlink_to(w.root / "shared" / "AndroidManifest.xml")
    m.update(sha256=_sha(DECOY))


def _labels_short(w: World, m: dict) -> None:
    m.update(labels=m["labels"][:1], num_classes=1)
    (w.artifact / "labels.txt").write_text(m["labels"][0] + "\n")


def _not_its_format(w: World, m: dict) -> None:
    junk = b"this is not an ONNX file " * 64
    (w.artifact / "model.onnx").write_bytes(junk)
    m.update(sha256=_sha(junk), size_bytes=len(junk))


def _one_byte_changed(w: World, m: dict) -> None:
    data = bytearray((w.artifact / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (w.artifact / "model.onnx").write_bytes(bytes(data))


def _input_size(w: World, m: dict) -> None:
    m["preprocessing"]["img_size"] = 48  # the export is 64 px
    m["input"]["shape"] = [1, 3, 48, 48]


def _input_dtype(w: World, m: dict) -> None:
    m["input"].update(dtype="uint8", quantization={"scale": 0.02, "zero_point": 128})


CASES: dict[str, tuple[Callable[[World, dict], None], tuple[str, ...]]] = {
    # name: (change, what the one error line says)
    "file-leaves-the-folder": (_file_parent, ("'file'",)),
    "file-absolute": (_file_absolute, ("'file'",)),
    "file-symlink-outside": (_file_symlink, ("leads outside the artifact folder",)),
    "model-traversal": (lambda w, m: m.update(model="../../../../../escaped"), ("'model'",)),
    "file-not-a-string": (lambda w, m: m.update(file=123), ("'file'",)),
    "input-not-an-object": (lambda w, m: m.update(input="x"), ("input must be an object",)),
    "preprocessing-empty": (lambda w, m: m.update(preprocessing={}), ("preprocessing lacks",)),
    "labels-shorter-than-outputs": (_labels_short, ("does not give one score per label",)),
    "labels-txt-not-utf8": (lambda w, m: (w.artifact / "labels.txt").write_bytes(b"\xff\xfebag\n"),
                            ("not UTF-8",)),
    "labels-txt-disagrees": (lambda w, m: (w.artifact / "labels.txt").write_text("bag\nsomething else\n"),
                             ("disagrees with the manifest",)),
    "num-classes-not-an-integer": (lambda w, m: m.update(num_classes=True), ("'num_classes'",)),
    "parity-of-the-wrong-type": (lambda w, m: m.update(parity={"artifact_top1": "high"}), ("'parity'",)),
    "foreign-schema": (lambda w, m: m.update(schema="someone-else/1"), ("schema",)),
    "model-file-changed": (_one_byte_changed, ("sha256",)),
    "model-file-not-its-format": (_not_its_format, ("does not load as a onnx artifact",)),
    "input-size-the-model-does-not-take": (_input_size, ("input shape [1, 3, 48, 48] is not the model file's",)),
    "input-dtype-the-model-does-not-take": (_input_dtype, ("the manifest says a uint8 input",)),
}


def _hostile(world: World, case: str) -> None:
    change = CASES[case][0]
    manifest = world.manifest()
    change(world, manifest)
    world.write_manifest(manifest)
    shutil.rmtree(world.export / "tflite-fp32")  # the hostile artifact is the only one (sync has no good one)


def _command(world: World, name: str) -> list:
    return {
        "predict": ["predict", world.artifact, _image(world)],
        "eval": ["eval", world.artifact, "--data", world.data, "--split", "all", "--out", world.out / "eval"],
        "android sync": ["android", "sync", world.export, "--app", world.app],
        "bench": ["bench", world.export, "--iterations", "1", "--warmup", "0", "--threads", "1"],
    }[name]


PAIRS = [(case, command) for case in CASES for command in ("predict", "eval", "bench", "android sync")]


@pytest.mark.parametrize("case,command", PAIRS)
def test_a_hostile_artifact_is_one_line_and_nothing_is_written(world, case, command, capsys):
    _hostile(world, case)
    before = tree(world.root)
    result = run_cli(_command(world, command), capsys)
    assert_one_error(result, CASES[case][1])
    assert tree(world.root) == before  # nothing written, nothing of the user's or the app's changed
    assert not list(world.root.rglob("escaped")) and not (world.root.parent / "escaped").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_report_of_a_hostile_artifact_says_not_verified_now_with_the_reason(world, case, capsys):
    _hostile(world, case)
    page = world.out / "report.html"
    before = tree(world.root)
    result = run_cli(["report", world.export, "--out", page], capsys)
    assert result.code == 0 and "Traceback" not in result.text, result.text
    after = tree(world.root)
    assert set(after) - set(before) == {"out/report.html"} and {k: after[k] for k in before} == before
    html = page.read_text()
    # the summary lists onnx-fp32 (hostile) and tflite-fp32 (removed): neither is verified now
    assert "0 of 2 artifacts verified (files checked against their sha256 now) · 2 not verified now" in html
    row = html.split("<td>onnx-fp32</td>", 1)[1].split("</tr>", 1)[0]
    assert "not verified now" in row and "passed" not in row  # the recorded parity is not shown as current
    assert any(n.replace("'", "&#x27;") in row for n in CASES[case][1]), row  # the reason is on the page


# ----------------------------------------------------------------------------- android sync: the app's own parser

def _no_layout_nhwc(w: World, m: dict) -> None:
    m["input"].pop("layout")
    size = m["input"]["shape"][2]
    m["input"]["shape"] = [1, size, size, 3]


APP_REFUSES = {
    # a manifest edgekit's reader accepts but android_demo's Manifest.parse/Json.parse refuses
    "nan-in-the-manifest": (lambda w, m: m.update(export_seconds=float("nan")), "NaN"),
    "no-layout-nhwc-shape": (_no_layout_nhwc, "the app assumes NCHW"),
    "free-height-and-width": (lambda w, m: m["input"].update(shape=[1, 3, None, None]), "is not the NCHW"),
    "no-num-classes": (lambda w, m: m.pop("num_classes"), "num_classes"),
}


@pytest.mark.parametrize("case", list(APP_REFUSES))
def test_sync_refuses_what_the_apps_parser_refuses_and_keeps_the_apps_models(world, case, capsys):
    manifest = world.manifest()
    APP_REFUSES[case][0](world, manifest)
    world.write_manifest(manifest)
    shutil.rmtree(world.export / "tflite-fp32")
    before = tree(world.root)
    result = run_cli(["android", "sync", world.export, "--app", world.app], capsys)
    assert_one_error(result, APP_REFUSES[case][1])
    assert tree(world.root) == before


def test_sync_of_a_good_and_a_bad_artifact_bundles_only_the_good_one(world, capsys):
    (world.artifact / "labels.txt").write_text("bag\nsomething else\n")  # the app would refuse it
    result = run_cli(["android", "sync", world.export, "--app", world.app], capsys)
    assert result.code == 0 and "Traceback" not in result.text, result.text
    assert "not copied onnx-fp32: labels.txt disagrees" in " ".join(result.out.split())
    models = world.assets / "models"
    assert sorted(p.name for p in models.iterdir()) == ["mobilenet_v2-tflite-fp32"]
    copied = models / "mobilenet_v2-tflite-fp32"
    assert _sha((copied / "model.tflite").read_bytes()) == world.manifest("tflite-fp32")["sha256"]
    assert (world.app / "app" / "src" / "main" / "AndroidManifest.xml").read_bytes() == DECOY


@pytest.mark.slow
def test_the_apps_own_parser_refuses_every_manifest_sync_refuses(world, tmp_path):
    """The Kotlin parser itself (android_demo/core Manifest.parse through the JVM preprocess tool, which parses the
    manifest and labels.txt before it reads an image) on each manifest of APP_REFUSES: it refuses them all, and
    accepts the unchanged one, so sync's refusals are the app's, not guesses. Needs java and kotlinc
    (scripts/setup.sh); the jar is built once (about a minute on 2 cores)."""
    from edgekit.paths import REPO_ROOT

    tool = REPO_ROOT / "android_demo" / "core" / "preprocess.sh"
    image = _image(world)
    original = world.manifest()

    def parse(manifest: dict) -> subprocess.CompletedProcess:
        folder = tmp_path / "m"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "labels.txt").write_text("\n".join(original["labels"]) + "\n")
        return subprocess.run(["bash", str(tool), "--manifest", str(folder / "manifest.json"), "--out",
                               str(tmp_path / "tensors"), str(image)], capture_output=True, text=True, timeout=900)

    accepted = parse(original)
    if accepted.returncode != 0 and "not found; install it with scripts/setup.sh" in accepted.stderr:
        pytest.skip(f"the JVM tool cannot run here: {accepted.stderr.strip()}")
    assert accepted.returncode == 0, accepted.stderr
    for case, (change, _) in APP_REFUSES.items():
        manifest = json.loads(json.dumps(original))
        change(world, manifest)
        refused = parse(manifest)
        assert refused.returncode == 1, f"{case}: the app's parser accepted it"
        assert refused.stderr.startswith("error: manifest "), f"{case}: refused for another reason: {refused.stderr}"


# ----------------------------------------------------------------------------- report and android check claims

def test_report_counts_only_what_is_verified_now(world, capsys):
    _one_byte_changed(world, world.manifest())  # onnx-fp32 changed after export; tflite-fp32 intact
    result = run_cli(["report", world.export, "--out", world.out / "r.html"], capsys)
    assert result.code == 0, result.text
    html = (world.out / "r.html").read_text()
    assert "1 of 2 artifacts verified (files checked against their sha256 now) · 1 not verified now" in html
    assert "does not match the manifest" in html

    shutil.rmtree(world.export / "tflite-fp32")  # and now the other one is gone
    result = run_cli(["report", world.export, "--out", world.out / "r.html"], capsys)
    html = (world.out / "r.html").read_text()
    assert "0 of 2 artifacts verified" in html and "the artifact folder tflite-fp32 is gone" in html


def test_android_check_verifies_sha256_before_comparing(world, capsys):
    _one_byte_changed(world, world.manifest())
    result = run_cli(["android", "check", world.export, _image(world)], capsys)
    assert_one_error(result, "does not match the manifest")


def test_android_check_of_an_artifact_it_cannot_use_says_why(world, capsys):
    manifest = world.manifest()
    manifest["format"] = "torchscript"  # a valid manifest of a format the app does not run
    world.write_manifest(manifest)
    result = run_cli(["android", "check", world.artifact, _image(world)], capsys)
    assert_one_error(result, "is a torchscript fp32 artifact, which this check cannot use: TorchScript needs")


# ----------------------------------------------------------------------------- summary.json and bench.json

SUMMARY_CASES = {
    "artifacts-not-a-list": (lambda s: s.update(artifacts={"onnx": 1}), "'artifacts' must be a list"),
    "row-not-an-object": (lambda s: s["artifacts"].append(1), "must be an object"),
    "status-unknown": (lambda s: s["artifacts"][0].update(status="great"), "unknown status"),
    "parity-top1-a-string": (lambda s: s["artifacts"][0]["parity"].update(artifact_top1="high"),
                             "field 'artifact_top1'"),
    "size-a-string": (lambda s: s["artifacts"][0].update(size_bytes="big"), "'size_bytes'"),
    "weights-accuracy-a-string": (lambda s: s.update(weights={"source": "checkpoint", "val_acc": "x"}), "'val_acc'"),
    "not-json": (None, "not valid UTF-8 JSON"),
}


@pytest.mark.parametrize("case", list(SUMMARY_CASES))
def test_summary_json_of_the_wrong_shape_is_one_line(world, case, capsys):
    path = world.export / "summary.json"
    change, needle = SUMMARY_CASES[case]
    if change is None:
        path.write_bytes(b"{\"artifacts\": [\xff")
    else:
        summary = json.loads(path.read_text())
        change(summary)
        path.write_text(json.dumps(summary))
    before = tree(world.root)
    result = run_cli(["report", world.export, "--out", world.out / "r.html"], capsys)
    assert_one_error(result, needle)
    assert tree(world.root) == before


BENCH_CASES = {
    "rows-not-objects": ({"rows": [1]}, "rows[0]: must be an object"),
    "row-without-threads": ({"rows": [{"model": "m", "format": "onnx", "precision": "fp32", "device": "host",
                                       "runtime": "onnxruntime"}]}, "lacks threads"),
    "threads-a-string": ({"rows": [{"model": "m", "format": "onnx", "precision": "fp32", "threads": "two",
                                    "device": "host", "runtime": "onnxruntime"}]}, "'threads'"),
    "p50-a-string": ({"rows": [{"model": "m", "format": "onnx", "precision": "fp32", "threads": 1, "device": "host",
                                "runtime": "onnxruntime", "p50_ms": "fast"}]}, "'p50_ms'"),
    "budget-a-word": ({"rows": [], "budget": "tight"}, "'budget'"),
    "host-a-list": ({"rows": [], "host": []}, "'host'"),
}


@pytest.mark.parametrize("case", list(BENCH_CASES))
def test_bench_json_of_the_wrong_shape_is_one_line_or_said_on_the_page(world, case, capsys):
    document, needle = BENCH_CASES[case]
    bad = world.out / "old-bench.json"
    bad.write_text(json.dumps({"schema": "edgekit-bench/1", **document}))
    (world.export / "bench.json").write_text(bad.read_text())
    before = tree(world.root)
    # --compare reads it before any timing: one line
    result = run_cli(["bench", world.export, "--compare", bad, "--iterations", "1", "--no-write"], capsys)
    assert_one_error(result, needle)
    assert tree(world.root) == before
    # the report shows the export and says why bench.json was not used
    result = run_cli(["report", world.export, "--out", world.out / "r.html"], capsys)
    assert result.code == 0 and "Traceback" not in result.text, result.text
    html = (world.out / "r.html").read_text()
    assert "not benchmarked" in html and needle.replace("'", "&#x27;") in html


# ----------------------------------------------------------------------------- image files

def _png(path: Path, width: int, height: int, colour_type: int, depth: int, rows: list[bytes]) -> Path:
    """A PNG written byte by byte (PIL cannot write 16-bit colour PNGs)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + row for row in rows))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def _sixteen_bit_images(folder: Path) -> tuple[dict[str, Path], np.ndarray]:
    """Grey, grey + alpha, RGB and RGBA 16-bit PNGs of one 16-bit ramp (values that clip to white in 8 bits)."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = 24, 16
    ramp = (np.arange(width * height, dtype=np.uint32).reshape(height, width) * 173 + 40000) % 65536

    def rows(channels: Callable[[int], tuple[int, ...]]) -> list[bytes]:
        return [b"".join(struct.pack(f">{len(channels(v))}H", *channels(v)) for v in line) for line in ramp.tolist()]

    images = {
        "grey16": _png(folder / "grey16.png", width, height, 0, 16, rows(lambda v: (v,))),
        "grey-alpha16": _png(folder / "grey-alpha16.png", width, height, 4, 16, rows(lambda v: (v, 0xFFFF))),
        "rgb16": _png(folder / "rgb16.png", width, height, 2, 16, rows(lambda v: (v, v, v))),
        "rgba16": _png(folder / "rgba16.png", width, height, 6, 16, rows(lambda v: (v, v, v, 0xFFFF))),
    }
    return images, ramp


def test_16_bit_images_are_read_as_their_high_byte_not_clipped_to_white(tmp_path, world, capsys):
    from edgekit.preprocess import load_rgb

    images, ramp = _sixteen_bit_images(tmp_path / "images")
    expected = np.repeat((ramp >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    for name, path in images.items():
        assert np.array_equal(np.asarray(load_rgb(path)), expected), name  # one rule for every 16-bit layout
    result = run_cli(["predict", world.artifact, images["grey16"], "--json"], capsys)
    assert result.code == 0, result.text


@pytest.mark.slow
def test_the_apps_jvm_tool_reads_16_bit_images_as_edgekit_does(tmp_path, world):
    """The JVM tool (android_demo/core/src/tool, javax.imageio) against edgekit.preprocess on 16-bit PNGs: the
    tensors are equal bit for bit (both take the high byte of every sample)."""
    from edgekit.android.check import run_preprocess_tool
    from edgekit.artifacts import Artifact
    from edgekit.errors import EdgekitError

    images, _ = _sixteen_bit_images(tmp_path / "images")
    manifest = world.manifest()
    try:
        written = run_preprocess_tool(world.artifact / "manifest.json", list(images.values()), tmp_path / "tensors")
    except EdgekitError as error:
        if "install it with scripts/setup.sh" in str(error):
            pytest.skip(f"the JVM tool cannot run here: {error}")
        raise
    artifact = Artifact.from_manifest(world.artifact, manifest)
    for name, path in images.items():
        ours = artifact.edgekit_input(path)
        app = np.fromfile(written[str(path)], dtype="<f4").reshape(ours.shape)
        assert np.array_equal(ours.view(np.uint32), app.view(np.uint32)), name


def test_a_decompression_bomb_is_one_line_for_predict_and_listed_by_the_audit(world, tmp_path, capsys):
    # a PNG header announcing 20000 x 20000 pixels (above PIL's bomb limit) in a few hundred bytes
    bomb = _png(tmp_path / "bomb.png", 20000, 20000, 0, 8, [b"\0" * 20000] * 2)
    result = run_cli(["predict", world.artifact, bomb], capsys)
    assert_one_error(result, "cannot read image")
    data = tmp_path / "data"
    shutil.copytree(world.data, data)
    shutil.copy(bomb, data / "bag" / "bomb.png")
    result = run_cli(["data", "audit", data, "--out", tmp_path / "audit"], capsys)
    assert result.code == 0 and "Traceback" not in result.text, result.text
    audit = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert [e["path"] for e in audit["unreadable"]] == ["bag/bomb.png"]


PERMISSIONS = permission_bits_apply()


@pytest.mark.skipif(PERMISSIONS is not None, reason=str(PERMISSIONS))
def test_an_unreadable_image_file_is_dropped_and_listed_by_prepare(world, tmp_path, capsys):
    data = Path(shutil.copytree(world.data, tmp_path / "data"))
    locked = sorted((data / "trouser").glob("*.png"))[0]
    locked.chmod(0o000)
    with without_dac_override():
        result = run_cli(["data", "prepare", data, "--out", tmp_path / "prepared"], capsys)
    assert result.code == 0 and "Traceback" not in result.text, result.text
    assert f"trouser/{locked.name}: cannot be read: Permission denied" in " ".join(result.out.split())
    dropped = (tmp_path / "prepared" / "dropped.txt").read_text()
    assert locked.name in dropped and "unreadable" in dropped


@pytest.mark.skipif(PERMISSIONS is not None, reason=str(PERMISSIONS))
def test_an_unreadable_class_folder_is_reported_as_unreadable_not_empty(world, tmp_path, capsys):
    data = Path(shutil.copytree(world.data, tmp_path / "data"))
    (data / "trouser").chmod(0o000)
    try:
        with without_dac_override():
            result = run_cli(["data", "audit", data, "--out", tmp_path / "audit"], capsys)
    finally:
        (data / "trouser").chmod(0o755)
    assert_one_error(result, "cannot be read: trouser (Permission denied)")
    assert "empty" not in result.error_lines[0]
    assert not (tmp_path / "audit").exists()
