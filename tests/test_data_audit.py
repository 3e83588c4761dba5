"""edgekit data audit: every file decoded, every problem counted exactly, plots and audit.json written
outside the data directory. The data sets are built from the shipped real Fashion-MNIST PNGs.

`make_clean_dataset` and `make_messy_dataset` are also used by test_data_prepare / test_data_bad_input.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from edgekit.data.audit import audit_dataset, write_audit_outputs
from edgekit.errors import EdgekitError
from edgekit.paths import SAMPLE_DATA_DIR

CLASSES = ("bag", "coat", "sandal")
PER_CLASS = 12


def real_images(class_name: str) -> list[Path]:
    return sorted((SAMPLE_DATA_DIR / class_name).glob("*.png"))


def make_clean_dataset(root: Path, classes=CLASSES, per_class: int = PER_CLASS) -> Path:
    """classes x per_class real 28x28 greyscale PNGs, copied."""
    for name in classes:
        (root / name).mkdir(parents=True)
        for path in real_images(name)[:per_class]:
            shutil.copy(path, root / name / path.name)
    return root


def make_messy_dataset(root: Path) -> Path:
    """3 x 12 real PNGs plus crafted problems, all made from other real images:

    bag/rgba.png (RGBA), bag/notes.txt (not an image),
    coat/truncated.png (first half of a real PNG), coat/palette.png (P), coat/small.png (14x14),
    sandal/cmyk.jpg (CMYK JPEG), sandal/wide.png (56x28), sandal/dup.png (same bytes as sandal's first file).
    """
    make_clean_dataset(root)
    bag, coat, sandal = (real_images(name) for name in CLASSES)
    Image.open(bag[12]).convert("RGBA").save(root / "bag" / "rgba.png")
    (root / "bag" / "notes.txt").write_text("labelled by hand, batch 3\n")
    data = coat[13].read_bytes()
    (root / "coat" / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.open(coat[14]).convert("RGB").convert("P").save(root / "coat" / "palette.png")
    Image.open(coat[15]).resize((14, 14)).save(root / "coat" / "small.png")
    Image.open(sandal[12]).convert("CMYK").save(root / "sandal" / "cmyk.jpg")
    Image.open(sandal[13]).resize((56, 28)).save(root / "sandal" / "wide.png")
    shutil.copy(sandal[0], root / "sandal" / "dup.png")
    return root


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root with its bytes and mtime (ns): compare before/after to prove nothing changed."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}  # rich wraps at 80 columns on a pipe; keep messages on one line
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", "data", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300, env=env)


def test_audit_counts_classes_sizes_modes_and_problem_files_exactly(tmp_path):
    report = audit_dataset(make_messy_dataset(tmp_path / "data")).to_dict()

    assert report["num_classes"] == 3
    assert report["num_files"] == 44 and report["num_images"] == 43 and report["num_readable"] == 42
    assert report["class_counts"] == {"bag": 13, "coat": 14, "sandal": 15}
    assert report["class_count_summary"]["min"] == 13 and report["class_count_summary"]["max"] == 15
    assert report["class_count_summary"]["mean"] == pytest.approx(14.0)
    assert report["width"] == {"min": 14, "median": 28, "max": 56}
    assert report["height"] == {"min": 14, "median": 28, "max": 28}
    assert report["aspect_ratio"]["min"] == 1.0 and report["aspect_ratio"]["max"] == 2.0
    assert report["sizes"] == {"14x14": 1, "28x28": 40, "56x28": 1}
    assert report["modes"] == {"CMYK": 1, "L": 39, "P": 1, "RGBA": 1}
    assert report["mode_groups"]["cmyk"] == ["sandal/cmyk.jpg"]
    assert report["mode_groups"]["alpha"] == ["bag/rgba.png"]
    assert report["mode_groups"]["palette"] == ["coat/palette.png"]
    assert len(report["mode_groups"]["greyscale"]) == 39
    assert [e["path"] for e in report["unreadable"]] == ["coat/truncated.png"]
    assert "truncated" in report["unreadable"][0]["reason"]
    assert [e["path"] for e in report["non_images"]] == ["bag/notes.txt"]
    first_sandal = real_images("sandal")[0].name
    assert report["duplicates"] == [["sandal/dup.png", f"sandal/{first_sandal}"]]


def test_a_truncated_png_opens_but_is_reported_unreadable_because_it_is_decoded(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    data = real_images("coat")[20].read_bytes()
    (root / "coat" / "cut.png").write_bytes(data[: len(data) // 2])
    with Image.open(root / "coat" / "cut.png") as image:  # the header alone looks fine
        assert image.size == (28, 28)

    report = audit_dataset(root)

    assert [r.path.name for r in report.unreadable] == ["cut.png"]
    assert report.class_counts() == {"bag": 12, "coat": 12, "sandal": 12}


def test_a_palette_png_with_transparency_counts_as_alpha(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    Image.open(real_images("bag")[30]).convert("RGB").convert("P").save(root / "bag" / "clear.png", transparency=0)

    groups = audit_dataset(root).to_dict()["mode_groups"]

    assert groups["alpha"] == ["bag/clear.png"] and groups["palette"] == ["bag/clear.png"]


def _png_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.load()
        return image.size


def test_audit_writes_json_and_two_real_pngs(tmp_path):
    root = make_messy_dataset(tmp_path / "data")
    report = audit_dataset(root)

    paths = write_audit_outputs(report, tmp_path / "audit")

    assert [p.name for p in paths] == ["audit.json", "class_counts.png", "sizes.png"]
    assert json.loads(paths[0].read_text()) == report.to_dict()
    for png in paths[1:]:
        width, height = _png_size(png)
        assert width >= 500 and height >= 250 and png.stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / "audit").iterdir()) == ["audit.json", "class_counts.png", "sizes.png"]


def test_class_chart_grows_with_the_class_count_so_55_labels_stay_readable(tmp_path):
    few = audit_dataset(make_clean_dataset(tmp_path / "few", per_class=2))
    images = sorted(SAMPLE_DATA_DIR.glob("*/*.png"))
    many_root = tmp_path / "many"
    for i in range(55):
        (many_root / f"class_{i:02d}").mkdir(parents=True)
        shutil.copy(images[i], many_root / f"class_{i:02d}" / images[i].name)
    many = audit_dataset(many_root)

    few_height = _png_size(write_audit_outputs(few, tmp_path / "few-audit")[1])[1]
    many_height = _png_size(write_audit_outputs(many, tmp_path / "many-audit")[1])[1]

    assert many_height >= 55 * 25 > few_height  # about 28 px (at 100 dpi) per bar


def test_audit_refuses_an_out_inside_the_data_dir_and_writes_nothing(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    before = snapshot(root)
    report = audit_dataset(root)

    for out in (root, root / "audit", root / "bag"):
        with pytest.raises(EdgekitError, match="inside the data directory"):
            write_audit_outputs(report, out)

    assert snapshot(root) == before


def test_audit_cli_writes_to_audit_dirname_in_the_current_dir_and_prints_a_summary(tmp_path):
    root = make_messy_dataset(tmp_path / "data")
    before = snapshot(root)
    work = tmp_path / "work"
    work.mkdir()

    result = run_cli("audit", root, cwd=work)

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (work / "audit-data").iterdir()) == ["audit.json", "class_counts.png", "sizes.png"]
    assert "42 readable of 43 image files" in result.stdout
    assert "coat/truncated.png" in result.stdout and "bag/notes.txt" in result.stdout
    assert snapshot(root) == before
