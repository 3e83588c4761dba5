"""Detection training and COCO mAP (issue 35, items 3 and 4): real torchvision SSD, real pycocotools.

The training runs use a tiny COCO folder cut from samples/detection-fashion (8 train, 4 val images) at 128 px,
batch 4: two steps an epoch, seconds on one core. What is checked: the run directory (best.pt, last.pt, config.json,
metrics.csv with a finite loss), --resume, `edgekit eval` giving mAP fields in [0, 1], and the mapping of boxes
back to image pixels (ground truth as predictions scores 1.0 through both resize rules; shuffled boxes score low).
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgekit.data.detection import Box, DetectionImage, coco_json, read_detection
from edgekit.detection_metrics import (ImagePredictions, coco_map, resize_geometry, to_image_boxes,
                                       to_network_boxes)
from edgekit.errors import EdgekitError
from edgekit.preprocess import Preprocessing

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "detection-fashion"
MODEL = "ssdlite_mobilenet_v2"


def write_coco_subset(out: Path, counts: dict[str, int]) -> Path:
    """The first images of each split of the sample, as a COCO folder (train/, val/ with annotations.json)."""
    dataset = read_detection(SAMPLE)
    for split, count in counts.items():
        folder = out / split
        folder.mkdir(parents=True)
        images = dataset.split(split)[:count]
        copied = []
        for image in images:
            shutil.copy(image.path, folder / image.path.name)
            copied.append(DetectionImage(folder / image.path.name, image.path.name, split, image.width, image.height,
                                         image.boxes))
        (folder / "annotations.json").write_text(json.dumps(coco_json(copied, dataset.classes)))
    return out


@pytest.fixture(scope="module")
def tiny_detection_data(tmp_path_factory) -> Path:
    return write_coco_subset(tmp_path_factory.mktemp("det") / "data", {"train": 8, "val": 4})


def tiny_config(data: Path, out: Path, **overrides):
    from edgekit.train import TrainConfig

    return TrainConfig(**{"model": MODEL, "data": str(data), "out": str(out), "epochs": 1, "batch_size": 4,
                          "img_size": 128, "device": "cpu", **overrides})


@pytest.fixture(scope="module")
def detection_run(tiny_detection_data, tmp_path_factory):
    from edgekit.train import train

    return train(tiny_config(tiny_detection_data, tmp_path_factory.mktemp("det") / "run"), show_progress=False)


def test_training_writes_the_run_directory(detection_run):
    run = detection_run.run_dir
    for name in ("best.pt", "last.pt", "config.json", "metrics.csv", "labels.txt", "splits/train.json"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 1 and math.isfinite(float(rows[0]["train_loss"])) and float(rows[0]["train_loss"]) > 0
    assert 0.0 <= float(rows[0]["val_map"]) <= 1.0 and 0.0 <= float(rows[0]["val_map50"]) <= 1.0
    config = json.loads((run / "config.json").read_text())
    assert config["preprocessing"]["resize"] == "resize" and config["preprocessing"]["img_size"] == 128
    assert config["recipe"]["task"] == "detection" and "RandomIoUCrop()" in config["recipe"]["augmentation"]
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    assert checkpoint["task"] == "detection" and checkpoint["num_classes"] == 10
    assert "val_map" in checkpoint["meta"]


def test_resume_continues_an_interrupted_run(tiny_detection_data, tmp_path):
    from edgekit.train import train

    class Stop(Exception):
        pass

    def stop(row):
        raise Stop

    out = tmp_path / "run"
    with pytest.raises(Stop):
        train(tiny_config(tiny_detection_data, out, epochs=2), on_epoch_end=stop, show_progress=False)
    first = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in first] == [1]
    result = train(tiny_config(tiny_detection_data, out, epochs=2, resume=True), show_progress=False)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and rows[0] == first[0]
    assert math.isfinite(float(rows[1]["train_loss"])) and result.task == "detection"
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2


def test_eval_gives_coco_map_from_pycocotools(detection_run, tiny_detection_data, tmp_path):
    from edgekit.evaluate import EvalOptions, evaluate

    result = evaluate(EvalOptions(detection_run.best_checkpoint, out=tmp_path / "eval"))  # the run's val split
    document = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert document["schema"] == "edgekit-detection-eval/1" and "pycocotools" in document["method"]
    for key in ("map", "map50", "map75"):
        assert 0.0 <= document[key] <= 1.0
    assert len(document["per_class"]) == 10 and document["num_images"] == 4
    assert document["map"] == pytest.approx(float(next(csv.DictReader(
        (detection_run.run_dir / "metrics.csv").open()))["val_map"]))  # eval = training's validation on best.pt
    again = evaluate(EvalOptions(detection_run.best_checkpoint, data=tiny_detection_data, out=tmp_path / "e2"))
    assert again.report.map == pytest.approx(result.report.map)


def ground_truth_predictions(images: list[DetectionImage]) -> list[ImagePredictions]:
    return [ImagePredictions(np.array([b.xyxy() for b in image.boxes]).reshape(-1, 4), np.ones(len(image.boxes)),
                             np.array([b.label for b in image.boxes], dtype=np.int64)) for image in images]


@pytest.mark.parametrize("rule", ["resize", "letterbox"])
def test_ground_truth_through_the_resize_rule_scores_one(rule, tmp_path):
    """Non-square images: ground-truth boxes taken to the network's frame by the real resize (torchvision's, as the
    dataset does) and back by to_image_boxes score mAP 1.0; the same boxes given to the wrong images score low."""
    from edgekit.detector import DetectionDataset

    dataset = read_detection(SAMPLE)
    images = []
    for k, source in enumerate(dataset.split("val")[:6]):  # crops of the sample: 320 x 200 and 200 x 320
        width, height = (320, 200) if k % 2 else (200, 320)
        path = tmp_path / f"{k}.png"
        Image.open(source.path).convert("RGB").resize((width, height)).save(path)
        sx, sy = width / source.width, height / source.height
        boxes = [Box(b.label, b.x * sx, b.y * sy, b.width * sx, b.height * sy) for b in source.boxes]
        images.append(DetectionImage(path, path.name, "val", width, height, boxes))
    pre = Preprocessing(img_size=160, resize=rule)
    found = []
    for index, image in enumerate(images):
        picture, target, _ = DetectionDataset(images, pre)[index]
        assert tuple(picture.shape) == (3, 160, 160)
        g = resize_geometry(image.width, image.height, 160, rule)
        network = target["boxes"].numpy()
        assert np.allclose(network, to_network_boxes([b.xyxy() for b in image.boxes], g), atol=0.6)
        found.append(ImagePredictions(to_image_boxes(network, g), np.ones(len(network)),
                                      target["labels"].numpy() - 1))
    assert coco_map(images, dataset.classes, found).map == pytest.approx(1.0)
    shuffled = found[1:] + found[:1]
    assert coco_map(images, dataset.classes, shuffled).map < 0.1


def test_letterbox_geometry_pads_the_shorter_side():
    g = resize_geometry(320, 200, 160, "letterbox")
    assert (g.scale_x, g.pad_left, g.pad_top) == (0.5, 0, 30)
    box = np.array([[10.0, 20.0, 110.0, 120.0]])
    assert np.allclose(to_network_boxes(box, g), [[5, 40, 55, 90]])
    assert np.allclose(to_image_boxes(to_network_boxes(box, g), g), box)


def test_map_of_ground_truth_is_one_and_of_nothing_is_zero():
    dataset = read_detection(SAMPLE)
    images = dataset.split("val")
    assert coco_map(images, dataset.classes, ground_truth_predictions(images)).map == pytest.approx(1.0)
    empty = [ImagePredictions(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)) for _ in images]
    report = coco_map(images, dataset.classes, empty)
    assert report.map == 0.0 and report.num_detections == 0


def assert_one_error_line(done, fragment: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "error:" in done.stderr
    assert "".join(fragment.split()) in "".join(done.stderr.split()), done.stderr


def test_bad_input_gives_one_error_line(cli, tmp_path, tiny_detection_data):
    done = cli("train", MODEL, "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r1"), "--device", "cpu")
    assert_one_error_line(done, "data directory not found")
    assert not (tmp_path / "r1").exists()
    done = cli("train", MODEL, "--data", str(tiny_detection_data), "--out", str(tmp_path / "r2"),
               "--resize", "center_crop")
    assert_one_error_line(done, "a centre crop would cut boxes")
    broken = tmp_path / "broken"
    (broken / "train").mkdir(parents=True)
    (broken / "train" / "annotations.json").write_text("{not json")
    done = cli("train", MODEL, "--data", str(broken), "--out", str(tmp_path / "r3"), "--device", "cpu")
    assert_one_error_line(done, "annotations.json")
    assert not (tmp_path / "r3").exists()
    done = cli("train", MODEL, "--data", str(tiny_detection_data), "--out", str(tmp_path / "r4"),
               "--crop-scale-min", "0.5")
    assert_one_error_line(done, "--crop-scale-min applies to classifiers")


def test_stages_that_take_only_classifiers_refuse_a_detector_in_one_line(cli, detection_run, tmp_path):
    done = cli("quantize", str(detection_run.best_checkpoint))
    assert_one_error_line(done, "is a detector's checkpoint")


def test_predict_of_a_detectors_checkpoint_prints_its_detections(cli, detection_run, tmp_path):
    """predict takes a detector since the detection predict stage exists (it refused one before): the CLI prints
    each image's detections above --min-score (this short run may find none; the line says how many)."""
    image = next(SAMPLE.glob("val/*.jpg"))
    done = cli("predict", str(detection_run.best_checkpoint), str(image), "--min-score", "0")
    assert done.returncode == 0, done.stderr
    assert "(checkpoint;" in done.stdout and "detections with score >= 0" in done.stdout
    assert "label" in done.stdout  # min score 0: NMS keeps boxes down to the manifest's 0.001, so a table


def test_eval_of_a_detector_on_a_class_folder_is_refused(cli, detection_run, tmp_path):
    class_folder = tmp_path / "classes" / "a"
    class_folder.mkdir(parents=True)
    done = cli("eval", str(detection_run.best_checkpoint), "--data", str(tmp_path / "classes"))
    assert_one_error_line(done, "is not a detection folder")


def test_coco_map_refuses_mismatched_lists():
    dataset = read_detection(SAMPLE)
    with pytest.raises(EdgekitError, match="prediction lists"):
        coco_map(dataset.split("val"), dataset.classes, [])


def test_backbone_weights_frozen_backbone_and_letterbox(tiny_detection_data, tmp_path):
    """--weights: a zoo classifier's checkpoint starts the backbone (its head dropped); with
    --freeze-backbone-epochs the trunk's convolutions stay as loaded; --resize letterbox is recorded."""
    from edgekit.checkpoint import read_state_dict
    from edgekit.train import train

    weights = Path(__file__).resolve().parent / "fixtures" / "weights" / "mobilenet_v2.pt"
    result = train(tiny_config(tiny_detection_data, tmp_path / "run", weights=str(weights), freeze_backbone_epochs=1,
                               resize="letterbox"), show_progress=False)
    saved = torch.load(result.best_checkpoint, weights_only=True)
    assert saved["preprocessing"]["resize"] == "letterbox"
    classifier = read_state_dict(weights)
    conv = "features.3.conv.1.0.weight"  # a trunk convolution (no running statistics)
    assert torch.equal(saved["state_dict"][f"backbone.{conv}"], classifier[conv])
    assert "head_names" in torch.load(result.last_checkpoint, weights_only=True)
