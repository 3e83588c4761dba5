"""`edgekit android sync`: the real export of the trained mobilenet_v2 (fixture) copied into app assets.

What is proven: every artifact the app can run lands in assets/models/<model>-<format>-<precision>/ with its
manifest and labels, byte for byte, the model's sha256 equal to the manifest's; TorchScript and Core ML are
refused with the reason; a checksum mismatch, a folder without manifests, an unknown --only name or nothing
runnable is an EdgekitError that leaves the assets exactly as they were (no staging folder left behind).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.android.sync import sync_assets
from edgekit.errors import EdgekitError

RUNNABLE = {"onnx", "tflite", "executorch"}


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under root (hidden ones included) -> sha256 of its bytes ("dir" for folders)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))}


def _manifests(export: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(export.glob("*/manifest.json"))}


@pytest.fixture
def assets(tmp_path) -> Path:
    """An app's assets folder that already holds a user file and a stale earlier sync."""
    root = tmp_path / "app" / "src" / "main" / "assets"
    (root / "models" / "old-onnx-fp32").mkdir(parents=True)
    (root / "models" / "old-onnx-fp32" / "model.onnx").write_bytes(b"stale")
    (root / "fonts.txt").write_text("a user's own asset\n")
    return root


@pytest.fixture
def export_copy(exported_mobilenet_v2, tmp_path) -> Path:
    """A writable copy of the session's export folder (the fixture itself is read-only)."""
    return Path(shutil.copytree(exported_mobilenet_v2, tmp_path / "export" / "mobilenet_v2"))


def test_sync_copies_every_runnable_artifact_checked_and_refuses_torchscript(exported_mobilenet_v2, assets):
    manifests = _manifests(exported_mobilenet_v2)
    runnable = {f"{m['model']}-{m['format']}-{m['precision']}": folder for folder, m in manifests.items()
                if m["format"] in RUNNABLE and m.get("status") != "failed verification"}
    assert {m["format"] for m in manifests.values()} >= {"onnx", "tflite", "executorch", "torchscript"}

    progress: list[str] = []
    result = sync_assets(exported_mobilenet_v2, assets, on_progress=progress.append)

    assert sorted(result.copied) == sorted(runnable)
    assert len(progress) == len(runnable)
    refused = dict(result.refused)
    assert set(refused) == set(manifests) - set(runnable.values())
    assert "ExecuTorch" in refused["torchscript-fp32"]
    models = assets / "models"
    assert sorted(p.name for p in models.iterdir()) == sorted(runnable)   # the stale sync is gone
    assert (assets / "fonts.txt").read_text() == "a user's own asset\n"   # the user's asset is kept
    assert not [p for p in assets.iterdir() if p.name.startswith(".")]     # no staging folder left
    for name, folder in runnable.items():
        source, target = exported_mobilenet_v2 / folder, models / name
        manifest = manifests[folder]
        assert sorted(p.name for p in target.iterdir()) == sorted([manifest["file"], "manifest.json", "labels.txt"])
        assert hashlib.sha256((target / manifest["file"]).read_bytes()).hexdigest() == manifest["sha256"]
        assert (target / "manifest.json").read_bytes() == (source / "manifest.json").read_bytes()
        assert (target / "labels.txt").read_bytes() == (source / "labels.txt").read_bytes()


def test_sync_only_takes_the_named_artifacts(exported_mobilenet_v2, assets):
    result = sync_assets(exported_mobilenet_v2, assets, only=["onnx-int8", "mobilenet_v2-tflite-int8"])
    assert sorted(result.copied) == ["mobilenet_v2-onnx-int8", "mobilenet_v2-tflite-int8"]
    assert result.refused == []
    assert sorted(p.name for p in (assets / "models").iterdir()) == sorted(result.copied)


def test_sync_refuses_coreml_with_the_reason(export_copy, assets):
    # A Core ML artifact folder as `edgekit export` lays it out (an .mlpackage directory, sha256 of a directory).
    coreml = export_copy / "coreml-fp32"
    shutil.copytree(export_copy / "onnx-fp32", coreml)
    (coreml / "model.onnx").unlink()
    (coreml / "model.mlpackage" / "Data").mkdir(parents=True)
    (coreml / "model.mlpackage" / "Manifest.json").write_text("{}")
    manifest = json.loads((coreml / "manifest.json").read_text())
    manifest.update(format="coreml", file="model.mlpackage", sha256_of="directory")
    (coreml / "manifest.json").write_text(json.dumps(manifest))

    result = sync_assets(export_copy, assets, only=["coreml-fp32", "onnx-fp32"])
    assert result.copied == ["mobilenet_v2-onnx-fp32"]
    assert result.refused and result.refused[0][0] == "coreml-fp32"
    assert "Apple" in result.refused[0][1]

    before = _tree(assets)
    with pytest.raises(EdgekitError, match="nothing .* the app can run.*coreml-fp32: Core ML runs only on Apple"):
        sync_assets(export_copy, assets, only=["coreml-fp32"])
    assert _tree(assets) == before


def test_checksum_mismatch_is_an_error_and_leaves_assets_untouched(export_copy, assets):
    sync_assets(export_copy, assets, only=["onnx-fp32"])                  # an earlier, good sync
    before = _tree(assets)
    model = export_copy / "tflite-int8" / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF                                           # one flipped byte after export
    model.write_bytes(bytes(data))

    with pytest.raises(EdgekitError, match=r"tflite-int8/model\.tflite: sha256 [0-9a-f]{64} does not match"):
        sync_assets(export_copy, assets)
    assert _tree(assets) == before


def test_folder_without_manifests_is_an_error(tmp_path, assets):
    empty = tmp_path / "not-an-export"
    (empty / "onnx-fp32").mkdir(parents=True)
    (empty / "onnx-fp32" / "model.onnx").write_bytes(b"\x08\x01")
    before = _tree(assets)
    with pytest.raises(EdgekitError, match="no manifest.json"):
        sync_assets(empty, assets)
    with pytest.raises(EdgekitError, match="no such folder"):
        sync_assets(tmp_path / "missing", assets)
    assert _tree(assets) == before


def test_unknown_only_name_is_an_error(exported_mobilenet_v2, assets):
    before = _tree(assets)
    with pytest.raises(EdgekitError, match=r"--only onnx-fp64: no such artifact .*there are: .*onnx-int8"):
        sync_assets(exported_mobilenet_v2, assets, only=["onnx-fp64"])
    assert _tree(assets) == before


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The installed entry point, as a user runs it (EdgekitError -> `error: ...`, exit 1)."""
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", "android", "sync", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_sync_reports_copied_and_refused(exported_mobilenet_v2, tmp_path):
    android_demo = tmp_path / "android_demo"
    (android_demo / "app" / "src" / "main").mkdir(parents=True)
    result = _cli(str(exported_mobilenet_v2), "--app", str(android_demo), "--only", "onnx-int8",
                  "--only", "torchscript-fp32")
    assert result.returncode == 0, result.stderr
    assert "copied mobilenet_v2-onnx-int8" in result.stdout
    assert "torchscript-fp32" in result.stdout and "ExecuTorch" in result.stdout
    assert [p.name for p in (android_demo / "app/src/main/assets/models").iterdir()] == ["mobilenet_v2-onnx-int8"]


def test_cli_sync_bad_input_is_one_error_line_and_exit_1(tmp_path):
    android_demo = tmp_path / "android_demo"
    (android_demo / "app" / "src" / "main").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    result = _cli(str(tmp_path / "empty"), "--app", str(android_demo))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no manifest.json" in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (android_demo / "app/src/main/assets").exists()
