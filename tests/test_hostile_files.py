"""A model file or an export folder from someone else never runs code (issue 32).

The hostile files are real torch.export archives rewritten by tests/hostile_files.py: a payload in a weight entry,
a tensor constant, an opaque/custom constant, the sample inputs, a legacy weights file, a shape expression, an
unreferenced entry, an AOTInductor entry, the pre-2.7 layout and a twin entry. Each payload creates a marker file
when it runs; every test asserts that the marker never appears. The refusals run no converter; the tests marked slow
export a tiny program (ONNX, TFLite) once per module and bench, re-export or sync it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from hostile_files import HOSTILE_KINDS, make_hostile, make_program  # noqa: E402
from hostile_support import assert_one_error, run_cli  # noqa: E402

from edgekit.errors import EdgekitError  # noqa: E402

NORMALISATION = ["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Every hostile kind made once: {kind: (file, marker)}."""
    folder = tmp_path_factory.mktemp("hostile-files")
    made = {}
    for kind in HOSTILE_KINDS:
        marker = folder / "markers" / kind
        marker.parent.mkdir(exist_ok=True)
        made[kind] = (make_hostile(kind, folder / f"{kind}.pt2", marker), marker)
    return made


@pytest.fixture(scope="module")
def exported_program(tmp_path_factory):
    """A clean program exported to fp32 ONNX and TFLite (a copy of its file kept as source.pt2)."""
    from edgekit import ExportOptions, export_model

    folder = tmp_path_factory.mktemp("program-export")
    program = make_program(folder / "tiny.pt2")
    export_model(ExportOptions(model=str(program), out=folder / "out", formats=["onnx", "tflite"], mean=(0.5, 0.5, 0.5),
                               std=(0.5, 0.5, 0.5), parity_size=16))
    return folder / "out" / "tiny"


@pytest.mark.parametrize("kind", list(HOSTILE_KINDS))
def test_a_hostile_program_is_refused_with_one_line_and_its_payload_never_runs(kind, hostile, tmp_path, capsys):
    path, marker = hostile[kind]
    out = tmp_path / "out"
    result = run_cli(["export", path, "--formats", "onnx", *NORMALISATION, "--out", out], capsys)
    assert not marker.exists(), f"the {kind} payload ran"
    assert_one_error(result, ("data/", "models/model.json", "pre-2.7", "not a program", "holds"))
    # the attack on main: the export went on (exit 0 for the weight payload that returns the real tensor)
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def test_the_safe_loader_refuses_each_hostile_entry_by_name(hostile):
    from edgekit.models.program import load_program

    expected = {"weight_pickle": "data/weights/weight_0", "weight_pickle_fails": "data/weights/weight_0",
                "constant_pickle": "data/constants/tensor_0", "opaque_constant": "data/constants/opaque_obj_0",
                "custom_constant": "data/constants/custom_obj_0", "sample_inputs": "data/sample_inputs/model.pt",
                "legacy_weights": "data/weights/model.pt", "expr_str": "models/model.json",
                "extra_entry": "data/weights/payload.pkl", "aoti": "data/aotinductor/model/model.so",
                "old_format": "pre-2.7", "twin_entry": "two entries named"}
    assert set(expected) == set(HOSTILE_KINDS)
    for kind, (path, marker) in hostile.items():
        with pytest.raises(EdgekitError, match=expected[kind].replace(".", r"\.")):
            load_program(path)
        assert not marker.exists(), f"the {kind} payload ran"


def test_a_clean_program_and_free_batch_program_still_load(tmp_path):
    from edgekit.models.program import load_program, program_module
    from hostile_files import TinyNet

    clean = load_program(make_program(tmp_path / "clean.pt2"))
    assert program_module(clean, tmp_path)[1:] == (1, 16)
    program = torch.export.export(TinyNet().eval(), (torch.randn(2, 3, 16, 16),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", max=64)},))
    torch.export.save(program, str(tmp_path / "free.pt2"))  # its shapes are sympy expressions: Symbol('s..', ...)
    module, batch, size = program_module(load_program(tmp_path / "free.pt2"), tmp_path)
    assert (batch, size) == (None, 16)
    assert module(torch.zeros(3, 3, 16, 16)).shape == (3, 3)


def test_shape_expressions_admit_arithmetic_and_refuse_python():
    from edgekit.safeload import check_expression

    for fine in ("s0", "Mul(Integer(2), Symbol('s75', positive=True, integer=True))", "FloorDiv(s0, 2) + 1",
                 "Max(1, u3) <= 64"):
        assert check_expression(fine) is None, fine
    for bad in ("__import__('os').system('x')", "Integer(1).__class__", "eval(s0)", "s0.__init__",
                "Symbol('s1', positive=True).__class__", "[s0]", "lambda: s0"):
        assert check_expression(bad) is not None, bad


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", "pickle"])
def test_a_non_archive_empty_truncated_or_pickled_pt2_is_one_line_without_torchs_traceback(content, tmp_path, capsys):
    path = tmp_path / "model.pt2"
    if content == "pickle":
        torch.save({"weight": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    result = run_cli(["export", path, "--formats", "onnx", *NORMALISATION, "--out", tmp_path / "out"], capsys)
    assert_one_error(result, ("is not a program", "holds a state dict"))
    assert "Traceback" not in result.text and "Ran into the following error" not in result.text


def _fresh_cli(*args) -> subprocess.CompletedProcess:
    """`edgekit ARGS` in a new interpreter: warnings printed once per process (at an import) show there."""
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.slow  # exports the tiny program to ONNX and TFLite (the module fixture) or again
def test_exporting_a_program_and_syncing_it_print_no_third_party_chatter(exported_program, tmp_path):
    program = shutil.copy(exported_program / "source.pt2", tmp_path / "again.pt2")
    result = _fresh_cli("export", program, "--formats", "onnx", *NORMALISATION, "--parity-size", "16",
                        "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "register_constant" not in text and "KernelPreference" not in text, text
    android_demo = tmp_path / "android_demo"
    (android_demo / "app" / "src" / "main").mkdir(parents=True)
    result = _fresh_cli("android", "sync", exported_program, "--app", android_demo, "--only", "tflite-fp32")
    assert result.returncode == 0, result.stderr
    assert "copied tiny-tflite-fp32" in result.stdout
    assert "XNNPACK" not in result.stdout + result.stderr, result.stdout + result.stderr


def _forge(folder: Path, **source) -> None:
    manifest_path = folder / "onnx-fp32" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key, value in source.items():
        if value is None:
            manifest["source"].pop(key, None)
        else:
            manifest["source"][key] = value
    manifest_path.write_text(json.dumps(manifest))


def _eager_row(folder: Path) -> dict:
    rows = json.loads((folder / "bench.json").read_text())["rows"]
    return next(row for row in rows if row["format"] == "pytorch")


BENCH = ["--threads", "1", "--iterations", "4", "--rounds", "2", "--warmup", "1"]


@pytest.mark.slow  # exports the tiny program to ONNX and TFLite (the module fixture) or again
def test_bench_times_the_eager_baseline_from_the_folders_own_copy(exported_program, tmp_path, capsys):
    folder = shutil.copytree(exported_program, tmp_path / "received")
    source = json.loads((folder / "onnx-fp32" / "manifest.json").read_text())["source"]
    assert source["program"] == "source.pt2"
    assert source["sha256"] == hashlib.sha256((folder / "source.pt2").read_bytes()).hexdigest()
    (tmp_path / "elsewhere").mkdir()
    shutil.move(source["file"], tmp_path / "elsewhere" / "moved.pt2")  # the exporter's own file is not needed
    try:
        result = run_cli(["bench", folder, *BENCH], capsys)
    finally:
        shutil.move(tmp_path / "elsewhere" / "moved.pt2", source["file"])
    assert result.code == 0, result.text
    assert _eager_row(folder)["status"] == "ok", _eager_row(folder)


@pytest.mark.slow  # exports the tiny program to ONNX and TFLite (the module fixture) or again
def test_bench_never_loads_a_program_a_received_manifest_names_outside_the_folder(exported_program, hostile,
                                                                                  tmp_path, capsys):
    path, marker = hostile["weight_pickle"]
    folder = shutil.copytree(exported_program, tmp_path / "received")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _forge(folder, program=None, file=str(path), sha256=digest)  # the attack on main: an absolute source.file
    result = run_cli(["bench", folder, *BENCH], capsys)
    assert not marker.exists()
    assert result.code == 0, result.text
    row = _eager_row(folder)
    assert row["status"] == "skipped" and "no program inside the export folder" in row["reason"], row
    _forge(folder, program="../" + path.name, sha256=digest)  # a relative escape
    shutil.copy(path, tmp_path / path.name)
    run_cli(["bench", folder, *BENCH], capsys)
    assert not marker.exists()
    assert "leads outside" in _eager_row(folder)["reason"] or "not a name" in _eager_row(folder)["reason"]


@pytest.mark.slow  # exports the tiny program to ONNX and TFLite (the module fixture) or again
def test_bench_refuses_a_hostile_program_planted_inside_the_folder(exported_program, hostile, tmp_path, capsys):
    folder = shutil.copytree(exported_program, tmp_path / "received")
    for kind in ("weight_pickle", "sample_inputs", "expr_str"):
        path, marker = hostile[kind]
        shutil.copy(path, folder / "source.pt2")
        _forge(folder, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        result = run_cli(["bench", folder, *BENCH], capsys)
        assert not marker.exists(), f"the {kind} payload ran in bench"
        assert result.code == 0, result.text
        row = _eager_row(folder)
        assert row["status"] == "failed" and "source.pt2" in row["reason"], row
    shutil.copy(exported_program / "source.pt2", folder / "source.pt2")  # sha256 no longer the recorded one
    run_cli(["bench", folder, *BENCH], capsys)
    assert "not the one exported" in _eager_row(folder)["reason"]


# ----------------------------------------------------------------------------- output folders


def test_a_symlink_planted_at_out_name_is_refused_and_nothing_is_written_through_it(tmp_path, capsys):
    program = make_program(tmp_path / "tiny.pt2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny").symlink_to(elsewhere)
    result = run_cli(["export", program, "--formats", "onnx", *NORMALISATION, "--out", out], capsys)
    assert_one_error(result, "is a symbolic link")
    assert list(elsewhere.iterdir()) == []
    (out / "tiny").unlink()
    (out / "tiny").write_text("a file")
    assert_one_error(run_cli(["export", program, "--formats", "onnx", *NORMALISATION, "--out", out], capsys),
                     "is a file")


def test_appending_to_a_log_never_follows_a_symlink(tmp_path):
    from edgekit.fileio import open_append

    target = tmp_path / "target.txt"
    target.write_text("mine\n")
    (tmp_path / "quantize.log").symlink_to(target)
    with pytest.raises(EdgekitError, match="symbolic link"):
        open_append(tmp_path / "quantize.log")
    assert target.read_text() == "mine\n"
    with open_append(tmp_path / "real.log") as log:
        log.write("line\n")
    assert (tmp_path / "real.log").read_text() == "line\n"


@pytest.mark.slow  # exports the tiny program again, twice
def test_a_re_export_leaves_only_artifacts_its_summary_vouches_for(exported_program, tmp_path, capsys):
    from edgekit.artifacts import artifact_folders
    from edgekit.export.summary import read_summary

    def listed(folder: Path) -> dict[str, bool]:
        rows = read_summary(folder)["artifacts"]
        return {f"{r['format']}-{r['precision']}": bool(r.get("from_earlier_export")) for r in rows
                if r["status"] != "skipped"}

    folder = shutil.copytree(exported_program, tmp_path / "out" / "tiny")
    # the same program (same sha256) with another format: the earlier artifacts stay, listed and marked
    program = shutil.copy(exported_program / "source.pt2", tmp_path / "tiny.pt2")
    result = run_cli(["export", program, "--formats", "torchscript", *NORMALISATION, "--parity-size", "16",
                      "--out", tmp_path / "out"], capsys)
    assert result.code == 0, result.text
    assert listed(folder) == {"torchscript-fp32": False, "onnx-fp32": True, "tflite-fp32": True}
    assert sorted(f.name for f in artifact_folders(folder)) == sorted(listed(folder))
    # another program of the same name (other weights): what the earlier exports made is removed
    (tmp_path / "other").mkdir()
    other = make_program(tmp_path / "other" / "tiny.pt2", seed=1)
    result = run_cli(["export", other, "--formats", "onnx", *NORMALISATION, "--parity-size", "16",
                      "--out", tmp_path / "out"], capsys)
    assert result.code == 0, result.text
    assert listed(folder) == {"onnx-fp32": False}
    assert [f.name for f in artifact_folders(folder)] == ["onnx-fp32"]
    source = json.loads((folder / "onnx-fp32" / "manifest.json").read_text())["source"]
    assert source["sha256"] == hashlib.sha256((folder / "source.pt2").read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- labels and normalisation


def _labels_refused(tmp_path, capsys, text: str, needle: str) -> None:
    program = make_program(tmp_path / "tiny.pt2")
    labels = tmp_path / "labels.txt"
    labels.write_text(text, encoding="utf-8", newline="")
    result = run_cli(["export", program, "--formats", "onnx", *NORMALISATION, "--labels", labels,
                      "--out", tmp_path / "out"], capsys)
    assert_one_error(result, needle)
    assert not (tmp_path / "out").exists()


def test_a_blank_line_inside_labels_is_refused_with_its_line_number(tmp_path, capsys):
    _labels_refused(tmp_path, capsys, "cat\n\ndog\nbird\n", "line 2 is blank")


def test_a_line_separator_inside_a_label_is_refused(tmp_path, capsys):
    _labels_refused(tmp_path, capsys, "cat\ndo\u2028g\nbird\n", "U+2028")


def test_labels_read_strictly_keep_order_and_warn_about_duplicates(tmp_path):
    from edgekit.manifest import read_labels_input

    path = tmp_path / "labels.txt"
    path.write_bytes("crane\r\nmaillot\r\ncrane\r\n\r\n".encode())
    labels, warnings = read_labels_input(path)
    assert labels == ["crane", "maillot", "crane"]
    assert len(warnings) == 1 and "'crane' (lines 1, 3)" in warnings[0]


@pytest.mark.parametrize("flag, value", [("--std", "1e-40,1,1"), ("--std", "0,1,1"), ("--std", "inf,1,1"),
                                         ("--mean", "nan,0,0"), ("--mean", "1e300,0,0")])
def test_out_of_range_mean_or_std_is_a_usage_error(flag, value, tmp_path, capsys):
    program = make_program(tmp_path / "tiny.pt2")
    values = {"--mean": "0.5,0.5,0.5", "--std": "0.5,0.5,0.5", flag: value}
    result = run_cli(["export", program, "--formats", "onnx", "--mean", values["--mean"], "--std", values["--std"],
                      "--out", tmp_path / "out"], capsys)
    assert result.code == 2, result.text
    assert flag in result.text and "RuntimeWarning" not in result.text
    assert not (tmp_path / "out").exists()


def test_the_library_refuses_a_std_that_overflows(tmp_path):
    from edgekit import ExportOptions, export_model

    with pytest.raises(EdgekitError, match="std must be from"):
        export_model(ExportOptions(model=str(make_program(tmp_path / "tiny.pt2")), out=tmp_path / "out",
                                   formats=["onnx"], mean=(0.5, 0.5, 0.5), std=(1e-40, 1.0, 1.0)))
    assert not (tmp_path / "out").exists()
