"""edgekit data prepare: cleaning options, a reproducible stratified split that load_splits reads,
flipped top-up copies outside the data dir, originals untouched, and an output that appears whole or
not at all."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgekit.data.folder import load_splits
from edgekit.data.prepare import prepare_dataset
from edgekit.errors import EdgekitError
from test_data_audit import PER_CLASS, make_clean_dataset, make_messy_dataset, real_images, run_cli, snapshot


def split_sets(splits) -> dict[str, set[Path]]:
    return {name: {p for p, _ in getattr(splits, name)} for name in ("train", "val", "test")}


def test_unusable_files_are_always_dropped_and_listed_with_their_reason(tmp_path):
    root = make_messy_dataset(tmp_path / "data")

    report = prepare_dataset(root, tmp_path / "prep")

    dropped = (tmp_path / "prep" / "dropped.txt").read_text().splitlines()
    assert dropped == ["bag/notes.txt\tnot-an-image\tnot an image file (by extension)",
                       "coat/truncated.png\tunreadable\tOSError: image file is truncated"]
    assert report.counts_before == {"bag": 13, "coat": 15, "sandal": 15}
    assert report.counts_after() == {"bag": 13, "coat": 14, "sandal": 15}
    summary = json.loads((tmp_path / "prep" / "prepare.json").read_text())
    assert summary["counts_after"] == report.counts_after() and summary["seed"] == 0
    assert summary["dropped"] == {"not-an-image": 1, "unreadable": 1}
    assert summary["split_sizes"] == {"train": 33, "val": 9, "test": 0}


def test_prepared_dir_loads_as_stratified_disjoint_splits_covering_every_kept_image(tmp_path):
    root = make_messy_dataset(tmp_path / "data")
    prepare_dataset(root, tmp_path / "prep", val=0.25, test=0.25, seed=3)

    splits = load_splits(tmp_path / "prep")

    assert splits.classes == ["bag", "coat", "sandal"] and splits.root == root.resolve()
    sets = split_sets(splits)
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    kept = {p.resolve() for p in root.rglob("*") if p.is_file() and p.name not in ("notes.txt", "truncated.png")}
    assert sets["train"] | sets["val"] | sets["test"] == kept
    for name, fraction in (("val", 0.25), ("test", 0.25)):
        per_class = [sum(1 for _, label in getattr(splits, name) if label == c) for c in range(3)]
        assert per_class == [round(n * fraction) for n in (13, 14, 15)]  # each class split by the same fractions
    for path, label in splits.train + splits.val + splits.test:
        assert path.parent.name == splits.classes[label]


def test_the_same_seed_gives_the_same_split_and_another_seed_a_different_one(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    for out, seed in (("a", 0), ("b", 0), ("c", 1)):
        prepare_dataset(root, tmp_path / out, seed=seed)

    a, b, c = (split_sets(load_splits(tmp_path / out)) for out in "abc")

    assert a == b
    assert a["val"] != c["val"] and len(a["val"]) == len(c["val"]) == 3 * round(PER_CLASS * 0.2)
    assert (tmp_path / "a" / "val.txt").read_bytes() == (tmp_path / "b" / "val.txt").read_bytes()



def test_min_side_and_aspect_range_drop_exactly_the_images_outside_them(tmp_path):
    root = make_messy_dataset(tmp_path / "data")

    report = prepare_dataset(root, tmp_path / "prep", min_side=20, min_aspect=0.5, max_aspect=1.5)

    reasons = {d.path.name: d.kind for d in report.dropped}
    assert reasons == {"notes.txt": "not-an-image", "truncated.png": "unreadable", "small.png": "min-side", "wide.png": "aspect"}
    kept_names = {p.name for p, _ in load_splits(tmp_path / "prep").train + load_splits(tmp_path / "prep").val}
    assert "small.png" not in kept_names and "wide.png" not in kept_names and "cmyk.jpg" in kept_names


def test_drop_duplicates_keeps_the_first_copy_in_path_order(tmp_path):
    root = make_messy_dataset(tmp_path / "data")

    report = prepare_dataset(root, tmp_path / "prep", drop_duplicates=True)

    duplicates = [d for d in report.dropped if d.kind == "duplicate"]
    assert [d.path.name for d in duplicates] == [real_images("sandal")[0].name]
    assert duplicates[0].detail == "same bytes as sandal/dup.png"
    assert report.counts_after()["sandal"] == 14


def test_max_per_class_is_a_seeded_cap(tmp_path):
    root = make_clean_dataset(tmp_path / "data")

    first = prepare_dataset(root, tmp_path / "a", max_per_class=5, seed=0)
    again = prepare_dataset(root, tmp_path / "b", max_per_class=5, seed=0)
    other = prepare_dataset(root, tmp_path / "c", max_per_class=5, seed=7)

    assert first.counts_after() == {"bag": 5, "coat": 5, "sandal": 5}
    kept = lambda r: {p for s in r.splits.values() for p, _ in s}  # noqa: E731
    assert kept(first) == kept(again) and kept(first) != kept(other)
    assert sum(d.kind == "max-per-class" for d in first.dropped) == 3 * (PER_CLASS - 5)


def test_min_per_class_adds_flipped_training_copies_under_out_and_never_beside_the_originals(tmp_path):
    root = make_clean_dataset(tmp_path / "data", per_class=20)
    small = root / "coat"
    for path in sorted(small.iterdir())[6:]:
        path.unlink()  # coat: 6 images, bag and sandal 20
    before = snapshot(root)

    report = prepare_dataset(root, tmp_path / "prep", min_per_class=10)

    assert snapshot(root) == before
    assert report.counts_after() == {"bag": 20, "coat": 10, "sandal": 20}
    assert report.shortfalls == {}
    splits = load_splits(tmp_path / "prep")
    copies = [p for p, _ in splits.train if "augmented" in p.parts]
    assert len(copies) == 4 and all(p.is_file() for p in copies)
    assert all(p.is_relative_to((tmp_path / "prep" / "augmented" / "coat").resolve()) for p in copies)
    train_originals = {p.name: p for p, label in splits.train if label == 1 and "augmented" not in p.parts}
    for copy in copies:
        original = train_originals[copy.name.removesuffix(".hflip.png")]  # made from a training image only
        assert np.array_equal(np.asarray(Image.open(copy)), np.fliplr(np.asarray(Image.open(original))))
    assert not any("augmented" in p.parts for p, _ in splits.val)


def test_min_per_class_reports_a_shortfall_instead_of_repeating_copies(tmp_path):
    root = make_clean_dataset(tmp_path / "data", per_class=5)

    report = prepare_dataset(root, tmp_path / "prep", min_per_class=12)

    # 5 images: 1 in val, 4 in train -> 4 flipped copies -> 9, still 3 short of 12
    assert report.counts_after() == {"bag": 9, "coat": 9, "sandal": 9}
    assert report.shortfalls == {"bag": 3, "coat": 3, "sandal": 3}


def test_originals_keep_their_bytes_and_mtimes_through_every_option(tmp_path):
    root = make_messy_dataset(tmp_path / "data")
    before = snapshot(root)

    prepare_dataset(root, tmp_path / "prep", min_side=20, max_aspect=1.5, drop_duplicates=True, max_per_class=13,
                    min_per_class=13, val=0.2, test=0.1, seed=5)

    assert snapshot(root) == before


def test_a_training_run_can_record_splits_that_include_the_flipped_copies(tmp_path):
    from edgekit.rundir import RunDir

    root = make_clean_dataset(tmp_path / "data", per_class=4)
    prepare_dataset(root, tmp_path / "prep", min_per_class=6)
    splits = load_splits(tmp_path / "prep")

    RunDir(tmp_path / "run").write_splits(splits)  # what `edgekit train --data prep` records
    recorded = load_splits(tmp_path / "run" / "splits")

    assert split_sets(recorded) == split_sets(splits) and recorded.classes == splits.classes


def test_out_must_not_be_the_data_dir_inside_it_around_it_or_a_file(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    (tmp_path / "a-file").write_text("x")
    before = snapshot(tmp_path)

    for out, message in ((root, "inside the data directory"), (root / "bag" / "prep", "inside the data directory"),
                         (tmp_path, "contains the data directory"), (tmp_path / "a-file", "existing file")):
        with pytest.raises(EdgekitError, match=message):
            prepare_dataset(root, out)

    assert snapshot(tmp_path) == before


def test_a_non_empty_out_needs_overwrite_and_overwrite_only_replaces_a_prepared_dir(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.md").write_text("mine")
    prepare_dataset(root, tmp_path / "prep", seed=0)

    with pytest.raises(EdgekitError, match="--overwrite"):
        prepare_dataset(root, tmp_path / "prep", seed=1)
    with pytest.raises(EdgekitError, match="not written by `edgekit data prepare`"):
        prepare_dataset(root, other, overwrite=True)
    prepare_dataset(root, tmp_path / "prep", seed=1, overwrite=True)

    assert json.loads((tmp_path / "prep" / "prepare.json").read_text())["seed"] == 1
    assert (other / "keep.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes", "prep"]  # no temporary folder left


def test_a_failed_prepare_leaves_no_out_and_no_temporary_folder(tmp_path):
    root = make_messy_dataset(tmp_path / "data")

    with pytest.raises(EdgekitError, match="no images left after cleaning in class\\(es\\): bag, coat, sandal"):
        prepare_dataset(root, tmp_path / "prep", min_side=100)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_prepare_cli_lists_dropped_files_and_the_split_sizes(tmp_path):
    root = make_messy_dataset(tmp_path / "data")

    result = run_cli("prepare", root, "--out", tmp_path / "prep", "--drop-duplicates", "--seed", "2")

    assert result.returncode == 0, result.stderr
    assert "coat/truncated.png" in result.stdout and "bag/notes.txt" in result.stdout
    assert "duplicate 1" in result.stdout
    assert len(load_splits(tmp_path / "prep").val) == 9


def test_aspect_range_is_the_same_filter_as_min_and_max_aspect_and_not_both(tmp_path):
    root = make_messy_dataset(tmp_path / "data")

    by_range = prepare_dataset(root, tmp_path / "a", aspect_range=(0.5, 1.5))
    by_bounds = prepare_dataset(root, tmp_path / "b", min_aspect=0.5, max_aspect=1.5)

    assert [(d.path.name, d.kind) for d in by_range.dropped if d.kind == "aspect"] == [("wide.png", "aspect")]
    assert [(d.path, d.kind) for d in by_range.dropped] == [(d.path, d.kind) for d in by_bounds.dropped]
    with pytest.raises(EdgekitError, match="not both"):
        prepare_dataset(root, tmp_path / "c", aspect_range=(0.5, 1.5), max_aspect=2.0)
    result = run_cli("prepare", root, "--out", tmp_path / "d", "--aspect-range", "0.5", "1.5")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "d" / "prepare.json").read_text())["dropped"]["aspect"] == 1


def test_every_colour_mode_is_kept_flipped_and_loads_as_rgb(tmp_path):
    from edgekit.preprocess import Preprocessing

    root = make_clean_dataset(tmp_path / "data", classes=("bag", "coat"))
    mixed = root / "sandal"
    mixed.mkdir()
    sources = real_images("sandal")
    Image.open(sources[0]).save(mixed / "grey.png")
    Image.open(sources[1]).convert("RGB").save(mixed / "rgb.png")
    Image.open(sources[2]).convert("RGBA").save(mixed / "rgba.png")
    Image.open(sources[3]).convert("RGB").convert("P").save(mixed / "palette.png")
    Image.open(sources[4]).convert("CMYK").save(mixed / "cmyk.jpg")
    Image.open(sources[5]).convert("RGB").save(mixed / "photo.jpg")

    # 6 images: 1 val + 5 train -> 4 flipped copies reach 10; the copies are PNG whatever the source mode
    report = prepare_dataset(root, tmp_path / "prep", min_per_class=10)

    assert report.dropped == [] and report.counts_after()["sandal"] == 10 and len(report.augmented) == 4
    splits = load_splits(tmp_path / "prep")
    paths = [p for p, _ in splits.train + splits.val]
    batch = Preprocessing(img_size=32).load_batch(paths)
    assert batch.shape == (len(paths), 3, 32, 32) == (34, 3, 32, 32) and np.isfinite(batch).all()


def test_a_failed_rerun_with_overwrite_keeps_the_previous_prepared_dir(tmp_path):
    root = make_clean_dataset(tmp_path / "data")
    prepare_dataset(root, tmp_path / "prep", seed=0)
    previous = snapshot(tmp_path / "prep")

    with pytest.raises(EdgekitError, match="no images left"):
        prepare_dataset(root, tmp_path / "prep", seed=1, min_side=100, overwrite=True)

    assert snapshot(tmp_path / "prep") == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "prep"]


@pytest.mark.trains
def test_edgekit_train_runs_on_a_prepared_dir_with_mixed_modes_and_flipped_copies(tmp_path):
    from conftest import tiny_config
    from edgekit.train import train

    root = make_messy_dataset(tmp_path / "data")
    prepare_dataset(root, tmp_path / "prep", min_per_class=16)

    result = train(tiny_config(tmp_path / "prep", tmp_path / "run", epochs=1), show_progress=False)

    recorded = load_splits(result.run_dir / "splits")
    assert split_sets(recorded) == split_sets(load_splits(tmp_path / "prep"))
    assert sum("augmented" in p.parts for p, _ in recorded.train) == 6  # 3 bag + 2 coat + 1 sandal
    assert result.best_checkpoint.is_file()
