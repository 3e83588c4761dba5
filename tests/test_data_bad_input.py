"""Bad input to `edgekit data audit|prepare` through the real entry point: a clear message on stderr,
exit 1, no traceback, nothing of the user's changed and no output left behind. Bad *files* inside a
good layout (corrupt, non-image, mixed modes) are reported, not fatal."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgekit.data.folder import load_splits
from edgekit.data.prepare import prepare_dataset
from edgekit.errors import EdgekitError
from test_data_audit import make_clean_dataset, make_messy_dataset, real_images, run_cli, snapshot


def _missing(root: Path) -> Path:
    return root / "nowhere"


def _a_file(root: Path) -> Path:
    root.mkdir()
    shutil.copy(real_images("bag")[0], root / "photo.png")
    return root / "photo.png"


def _no_class_folders(root: Path) -> Path:
    root.mkdir()
    for path in real_images("bag")[:3]:
        shutil.copy(path, root / path.name)  # images, but not in class folders
    return root


def _empty_class_folder(root: Path) -> Path:
    make_clean_dataset(root)
    (root / "shirt").mkdir()
    return root


def _single_class(root: Path) -> Path:
    return make_clean_dataset(root, classes=("bag",))


def _non_utf8_class_name(root: Path) -> Path:
    make_clean_dataset(root)
    os.mkdir(os.fsencode(str(root)) + b"/bad\xff")
    shutil.copy(real_images("coat")[40], os.fsencode(str(root)) + b"/bad\xff/x.png")
    return root


BAD_LAYOUTS = {
    "missing directory": (_missing, "data directory not found"),
    "a file, not a directory": (_a_file, "is not a directory"),
    "no class folders": (_no_class_folders, "has no class folders"),
    "an empty class folder": (_empty_class_folder, r"empty class folder\(s\) in .*: shirt"),
    "a single class": (_single_class, "has 1 class folder; a classifier needs at least 2"),
    "a class name that is not UTF-8": (_non_utf8_class_name, r"must be valid UTF-8.*bad\\xff"),
}


def assert_clean_failure(result, pattern: str) -> None:
    import re

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "error:" in result.stderr and re.search(pattern, result.stderr), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["audit", "prepare"])
@pytest.mark.parametrize("case", list(BAD_LAYOUTS))
def test_a_bad_layout_is_a_clear_error_and_changes_nothing(tmp_path, case, command):
    build, message = BAD_LAYOUTS[case]
    data = build(tmp_path / "data")
    before = snapshot(tmp_path)

    result = run_cli(command, data, "--out", tmp_path / "out")

    assert_clean_failure(result, message)
    assert snapshot(tmp_path) == before  # no output folder, no temporary folder, nothing of the data touched


@pytest.mark.parametrize("options, message", [
    (dict(val=1.5), "--val must be a fraction"),
    (dict(val=0.5, test=0.5), "leaves nothing to train on"),
    (dict(min_aspect=2.0, max_aspect=1.0), "--min-aspect 2.0 is larger than --max-aspect 1.0"),
    (dict(min_side=0), "--min-side must be at least 1"),
    (dict(min_per_class=20, max_per_class=10), "--min-per-class 20 is larger than --max-per-class 10"),
])
def test_impossible_prepare_options_are_refused_before_anything_is_written(tmp_path, options, message):
    data = make_clean_dataset(tmp_path / "data")
    before = snapshot(tmp_path)

    with pytest.raises(EdgekitError, match=message):
        prepare_dataset(data, tmp_path / "out", **options)

    assert snapshot(tmp_path) == before


def test_an_impossible_option_is_a_clean_exit_through_the_entry_point(tmp_path):
    data = make_clean_dataset(tmp_path / "data")

    assert_clean_failure(run_cli("prepare", data, "--out", tmp_path / "out", "--val", "1.5"), "--val must be a fraction")
    assert not (tmp_path / "out").exists()


def test_prepare_refuses_an_out_inside_the_data_and_audit_too(tmp_path):
    data = make_clean_dataset(tmp_path / "data")
    before = snapshot(tmp_path)

    for command in ("audit", "prepare"):
        assert_clean_failure(run_cli(command, data, "--out", data / "bag" / "out"), "inside the data directory")

    assert snapshot(tmp_path) == before


def test_prepare_refuses_a_non_empty_out_without_overwrite(tmp_path):
    data = make_clean_dataset(tmp_path / "data")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")

    assert_clean_failure(run_cli("prepare", data, "--out", tmp_path / "out"), "not empty; pass --overwrite")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.txt"]


def test_corrupt_non_image_and_mixed_mode_files_are_reported_not_fatal(tmp_path):
    data = make_messy_dataset(tmp_path / "data")
    before = snapshot(data)

    audit = run_cli("audit", data, "--out", tmp_path / "audit")
    prepare = run_cli("prepare", data, "--out", tmp_path / "prep", "--min-per-class", "16")

    assert audit.returncode == 0 and prepare.returncode == 0, (audit.stderr, prepare.stderr)
    for result in (audit, prepare):
        assert "coat/truncated.png" in result.stdout and "bag/notes.txt" in result.stdout
    assert "cmyk" in audit.stdout and "alpha" in audit.stdout and "palette" in audit.stdout
    splits = load_splits(tmp_path / "prep")
    listed = {p.name for p, _ in splits.train + splits.val}
    assert {"cmyk.jpg", "rgba.png", "palette.png"} <= listed  # every mode kept: load_rgb converts them
    assert snapshot(data) == before


def test_files_with_non_utf8_names_are_dropped_by_prepare_with_their_reason(tmp_path):
    data = make_clean_dataset(tmp_path / "data")
    shutil.copy(real_images("bag")[50], os.fsencode(str(data)) + b"/bag/caf\xe9.png")

    result = run_cli("prepare", data, "--out", tmp_path / "prep")

    assert result.returncode == 0, result.stderr
    assert "bag/caf\\xe9.png" in result.stdout
    assert "bag/caf\\xe9.png\tname-not-utf8\t" in (tmp_path / "prep" / "dropped.txt").read_text()
    assert len(load_splits(tmp_path / "prep").train) + len(load_splits(tmp_path / "prep").val) == 36
