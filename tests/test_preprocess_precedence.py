"""Which preprocessing a model gets: edgekit.preprocess.resolve_preprocessing, the one rule export uses, layer by
layer (a checkpoint's is fixed; else flags, what the source publishes, a program's input size, the zoo's defaults)."""
from __future__ import annotations

import pytest

from edgekit.errors import EdgekitError
from edgekit.preprocess import IMAGENET_MEAN, IMAGENET_STD, PRECEDENCE, Preprocessing, resolve_preprocessing

TRAINED = Preprocessing(img_size=64, mean=(0.3, 0.3, 0.3), std=(0.2, 0.2, 0.2), resize="letterbox")
PUBLISHED = Preprocessing(img_size=256, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_a_checkpoints_preprocessing_is_fixed_and_a_flag_may_only_repeat_it():
    assert resolve_preprocessing({"img_size": 64, "resize": "letterbox"}, fixed=TRAINED, zoo_size=224) == TRAINED
    with pytest.raises(EdgekitError, match="--img-size 96 disagrees with the checkpoint, trained at 64"):
        resolve_preprocessing({"img_size": 96}, fixed=TRAINED)
    with pytest.raises(EdgekitError, match="--std 0.5,0.5,0.5 disagrees with the checkpoint's 0.2,0.2,0.2"):
        resolve_preprocessing({"std": (0.5, 0.5, 0.5)}, fixed=TRAINED)


def test_flags_come_before_what_the_source_publishes_field_by_field():
    chosen = resolve_preprocessing({"mean": (0.1, 0.2, 0.3)}, published=PUBLISHED)
    assert (chosen.img_size, chosen.mean, chosen.std, chosen.resize) == (256, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5),
                                                                         "center_crop")


def test_the_zoo_defaults_come_last():
    assert resolve_preprocessing({}, zoo_size=160) == Preprocessing(img_size=160, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert resolve_preprocessing({"img_size": 96, "resize": "letterbox"}, zoo_size=160).img_size == 96


def test_a_programs_input_size_is_used_and_a_flag_must_agree_with_it():
    chosen = resolve_preprocessing({"mean": IMAGENET_MEAN, "std": IMAGENET_STD}, input_size=128, source="program x")
    assert chosen.img_size == 128
    with pytest.raises(EdgekitError, match="--img-size 96 disagrees with program x, saved for 128x128 images"):
        resolve_preprocessing({"img_size": 96, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}, input_size=128,
                              source="program x")


def test_a_source_that_publishes_nothing_names_the_missing_flags():
    with pytest.raises(EdgekitError, match=r"program x carries no preprocessing \(it carries its input size only\): "
                                           r"pass --mean R,G,B --std R,G,B"):
        resolve_preprocessing({}, input_size=128, source="program x")
    with pytest.raises(EdgekitError, match="pass --img-size N --std R,G,B"):
        resolve_preprocessing({"mean": IMAGENET_MEAN}, source="a module")


def test_the_documented_precedence_is_the_codes():
    """docs/byom.md quotes PRECEDENCE word for word."""
    from edgekit.paths import REPO_ROOT

    text = " ".join((REPO_ROOT / "docs" / "byom.md").read_text(encoding="utf-8").split())
    for rule in PRECEDENCE:
        assert rule in text
