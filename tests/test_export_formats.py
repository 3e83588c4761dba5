"""A trained mobilenet_v2 (the fixed weights) exported to every format in fp32 and fp16, verified on real images."""
from __future__ import annotations

import hashlib
import json

import pytest

from edgekit.checkpoint import load_checkpoint
from edgekit import ExportOptions, export_model
from edgekit.formats import FORMATS

RUNS_HERE = [name for name, spec in FORMATS.items() if spec.runs_here()[0]]  # from the table, not by hand
from edgekit.manifest import MANIFEST_SCHEMA, sha256_path

REQUIRED_MANIFEST_KEYS = {"schema", "model", "format", "precision", "file", "size_bytes", "sha256", "input", "output",
                          "preprocessing", "labels", "labels_file", "weights", "backend", "versions", "status", "parity"}


@pytest.fixture(scope="module")
def exported(fixed_run, tmp_path_factory):
    run = fixed_run("mobilenet_v2")
    out = tmp_path_factory.mktemp("export")
    summary = export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["fp32", "fp16"],
                                         out=out, parity_size=64))
    return run, summary


def result(summary, format_name, precision):
    return next(r for r in summary.results if (r.format, r.precision) == (format_name, precision))


@pytest.mark.slow
@pytest.mark.parametrize("format_name", RUNS_HERE)
def test_fp32_artifacts_run_in_their_runtime_and_agree_with_pytorch(exported, format_name):
    _, summary = exported
    fp32 = result(summary, format_name, "fp32")
    assert fp32.status == "verified", fp32.reason
    assert fp32.parity["agreement"] >= 0.99 and fp32.parity["cosine"] >= 0.9999
    assert fp32.parity["num_images"] == 64 and fp32.parity["drop_points"] <= 1.0
    assert fp32.parity["reference_top1"] > 30.0, "the trained model should be well above the 10 % chance level"


@pytest.mark.slow
@pytest.mark.parametrize("format_name", [name for name in RUNS_HERE if "fp16" in FORMATS[name].precisions])
def test_fp16_artifacts_are_verified_and_smaller_where_weights_are_stored_in_half(exported, format_name):
    _, summary = exported
    fp16, fp32 = result(summary, format_name, "fp16"), result(summary, format_name, "fp32")
    assert fp16.status == "verified", fp16.reason
    assert fp16.parity["agreement"] >= 0.98 and fp16.parity["cosine"] >= 0.999
    assert fp16.parity["max_abs_diff"] > 0, "an fp16 artifact identical to fp32 was not computed in half precision"
    if format_name in ("onnx", "tflite"):
        assert fp16.size_bytes < 0.6 * fp32.size_bytes


@pytest.mark.slow
def test_torchscript_fp16_is_skipped_with_its_reason_not_faked(exported):
    _, summary = exported
    skipped = result(summary, "torchscript", "fp16")
    assert skipped.status == "skipped" and "fp16" in skipped.reason and skipped.folder is None
    assert not (summary.folder / "torchscript-fp16").exists()


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_coreml_is_exported_and_checked_structurally_but_never_reported_as_run(exported, precision):
    _, summary = exported
    coreml = result(summary, "coreml", precision)
    assert coreml.status == "exported, not run here"
    assert coreml.parity["status"] == "not run" and "Apple" in coreml.parity["reason"]
    manifest = json.loads((coreml.folder / "manifest.json").read_text())
    assert manifest["input"]["name"] == "input" and manifest["input"]["shape"] == [1, 3, 64, 64]
    assert manifest["output"]["shape"] == [1, 10]
    assert manifest["backend"]["compute_precision"] == {"fp32": "float32", "fp16": "float16"}[precision]


@pytest.mark.slow
def test_every_manifest_is_complete_and_its_checksums_match_the_files(exported):
    run, summary = exported
    checkpoint = load_checkpoint(run.best_checkpoint)
    written = [r for r in summary.results if r.folder is not None]
    assert len(written) == 9  # 5 formats x 2 precisions, torchscript fp16 skipped
    for artifact in written:
        manifest = json.loads((artifact.folder / "manifest.json").read_text())
        assert REQUIRED_MANIFEST_KEYS <= set(manifest), artifact.format
        assert manifest["schema"] == MANIFEST_SCHEMA
        assert (manifest["format"], manifest["precision"]) == (artifact.format, artifact.precision)
        model_file = artifact.folder / manifest["file"]
        assert model_file.name == FORMATS[artifact.format].artifact
        assert manifest["sha256"] == sha256_path(model_file)
        assert manifest["size_bytes"] == artifact.size_bytes > 100_000
        assert manifest["labels"] == checkpoint.labels
        assert (artifact.folder / "labels.txt").read_text().splitlines() == checkpoint.labels
        assert manifest["preprocessing"]["mean"] == list(checkpoint.preprocessing.mean)
        assert manifest["preprocessing"]["img_size"] == 64
        assert manifest["weights"]["sha256"] == hashlib.sha256(run.best_checkpoint.read_bytes()).hexdigest()
        assert manifest["input"]["dtype"] == "float32" and manifest["input"]["layout"] == "NCHW"


@pytest.mark.slow
def test_manifests_record_what_each_runtime_needs(exported):
    _, summary = exported
    tflite = json.loads((result(summary, "tflite", "fp32").folder / "manifest.json").read_text())
    assert tflite["input"]["shape"] == [1, 3, 64, 64]  # read from the interpreter, not assumed
    onnx = json.loads((result(summary, "onnx", "fp32").folder / "manifest.json").read_text())
    assert onnx["backend"]["opset"] >= 18 and onnx["input"]["name"] == "input"
    executorch = json.loads((result(summary, "executorch", "fp32").folder / "manifest.json").read_text())
    assert executorch["backend"]["delegation"]["delegate_calls"] >= 1
    assert executorch["backend"]["delegation"]["non_delegated_ops"] == 0


@pytest.mark.slow
def test_summary_json_lists_every_artifact_and_no_temporary_folder_is_left(exported):
    _, summary = exported
    data = json.loads((summary.folder / "summary.json").read_text())
    assert [(a["format"], a["precision"]) for a in data["artifacts"]] == [(r.format, r.precision) for r in summary.results]
    assert not [p for p in summary.folder.iterdir() if p.name.startswith(".")]
