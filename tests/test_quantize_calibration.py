"""Calibration images: seeded, bounded, preprocessed like evaluation, any folder layout."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.paths import CALIBRATION_DIR
from edgekit.preprocess import Preprocessing
from edgekit.quantize.calibration import MAX_CALIBRATION_IMAGES, load_calibration_images, sample_calibration_paths

PRE = Preprocessing(img_size=32)


def test_default_set_gives_n_normalised_images_of_the_preprocessing_size():
    images = load_calibration_images(PRE, num_images=12, seed=0)
    assert images.shape == (12, 3, 32, 32) and images.dtype == np.float32
    assert images.min() < -1.0 and images.max() > 1.0  # normalised with ImageNet mean/std, not raw [0, 1]


def test_same_seed_same_sample_other_seed_other_sample():
    first = sample_calibration_paths(CALIBRATION_DIR, 20, seed=0)
    assert first == sample_calibration_paths(CALIBRATION_DIR, 20, seed=0)
    assert first != sample_calibration_paths(CALIBRATION_DIR, 20, seed=1)


def test_images_equal_the_evaluation_preprocessing_of_the_sampled_files():
    paths = sample_calibration_paths(CALIBRATION_DIR, 5, seed=3)
    images = load_calibration_images(PRE, CALIBRATION_DIR, num_images=5, seed=3)
    np.testing.assert_array_equal(images, PRE.load_batch(paths))


@pytest.mark.parametrize("bad", [0, -3, MAX_CALIBRATION_IMAGES + 1, 2.5])
def test_number_of_images_out_of_bounds_is_an_error(bad):
    with pytest.raises(EdgekitError, match="calibration images"):
        load_calibration_images(PRE, num_images=bad)


def test_fewer_images_than_asked_uses_all_and_says_so(tmp_path, capsys, caplog):
    for path in sorted((CALIBRATION_DIR / "bag").glob("*.png"))[:3]:
        shutil.copy(path, tmp_path / path.name)
    said = []
    images = load_calibration_images(PRE, tmp_path, num_images=50,
                                     on_progress=lambda e: said.append(e.message) if e.kind == "warning" else None)
    assert len(images) == 3
    assert len(said) == 1 and "only 3 image(s)" in said[0]
    # the library never prints: without a callback it is a warning of the "edgekit.calibration" logger
    with caplog.at_level("WARNING", logger="edgekit.calibration"):
        load_calibration_images(PRE, tmp_path, num_images=50)
    assert any("only 3 image(s)" in record.getMessage() for record in caplog.records)
    assert capsys.readouterr().out == ""


def test_flat_folder_and_nested_folders_both_work(tmp_path):
    sources = sorted((CALIBRATION_DIR / "coat").glob("*.png"))[:4]
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    shutil.copy(sources[0], tmp_path / "flat.png")
    shutil.copy(sources[1], tmp_path / "a" / "x.png")
    shutil.copy(sources[2], tmp_path / "a" / "deeper" / "y.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert len(load_calibration_images(PRE, tmp_path, num_images=10)) == 3


def test_empty_or_missing_directory_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(EdgekitError, match="no images"):
        load_calibration_images(PRE, tmp_path / "empty")
    with pytest.raises(EdgekitError, match="not found"):
        load_calibration_images(PRE, tmp_path / "missing")
