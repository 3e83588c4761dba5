"""Detection folders (edgekit.data.detection): COCO and YOLO read into one form, the audit's findings, the seeded
stratified split by image, one clear line for malformed input, and the shipped sample."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from edgekit.data.detection import detection_layout, read_detection, read_prepared_detection
from edgekit.data.detection_prepare import audit_detection, prepare_detection
from edgekit.data.prepare import PrepareOptions
from edgekit.errors import EdgekitError
from edgekit.paths import DETECTION_SAMPLE_DIR, REPO_ROOT

SAMPLE = DETECTION_SAMPLE_DIR


def _coco(folder: Path, images: list[dict], annotations: list[dict], classes=("cat", "dog")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)]}
    path = folder / "annotations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _image(path: Path, size=(64, 48), colour=(10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _yolo_from_sample(root: Path, count: int = 4) -> Path:
    """The first `count` images of each sample split as a YOLO folder (images/, labels/, data.yaml)."""
    sample = read_detection(SAMPLE)
    for split in ("train", "val"):
        for image in sample.split(split)[:count]:
            target = root / "images" / split / image.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(image.path, target)
            label = root / "labels" / split / (image.path.stem + ".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(f"{b.label} {(b.x + b.width / 2) / image.width} {(b.y + b.height / 2) / image.height} "
                                     f"{b.width / image.width} {b.height / image.height}\n" for b in image.boxes))
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(sample.classes))
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/val\nnames:\n{names}")
    return root


# ----------------------------------------------------------------------------- reading

def test_the_shipped_sample_is_a_coco_folder_of_80_images_and_10_classes():
    assert detection_layout(SAMPLE) == "coco"
    data = read_detection(SAMPLE)
    assert (len(data.split("train")), len(data.split("val")), len(data.images)) == (60, 20, 80)
    assert len(data.classes) == 10 and "ankle_boot" in data.classes
    assert all(1 <= len(image.boxes) <= 4 for image in data.images)
    assert all(image.path.is_file() and (image.width, image.height) == (320, 320) for image in data.images)
    assert sum(path.stat().st_size for path in SAMPLE.rglob("*") if path.is_file()) < 2_000_000


def test_yolo_and_coco_give_the_same_boxes(tmp_path):
    yolo = _yolo_from_sample(tmp_path / "yolo")
    assert detection_layout(yolo) == "yolo"
    read = read_detection(yolo)
    coco = {image.path.name: image for image in read_detection(SAMPLE).images}
    assert read.layout == "yolo" and read.classes == read_detection(SAMPLE).classes
    assert [len(read.split(s)) for s in ("train", "val")] == [4, 4]
    for image in read.images:
        expected = coco[image.path.name]
        assert (image.width, image.height) == (expected.width, expected.height)
        assert [b.label for b in image.boxes] == [b.label for b in expected.boxes]
        for ours, theirs in zip(image.boxes, expected.boxes):
            assert ours.xyxy() == pytest.approx(theirs.xyxy(), abs=1e-6)


def test_a_yolo_folder_without_splits_reads_every_image_and_a_missing_label_file_means_no_boxes(tmp_path):
    root = tmp_path / "yolo"
    _image(root / "images" / "a.png")
    _image(root / "images" / "b.png")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("1 0.5 0.5 0.25 0.5\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    data = read_detection(root)
    boxes = {image.name: image.boxes for image in data.images}
    assert [image.split for image in data.images] == [None, None]
    assert boxes["images/b.png"] == []
    (box,) = boxes["images/a.png"]
    assert (box.label, box.xyxy()) == (1, pytest.approx((24.0, 12.0, 40.0, 36.0)))


def test_a_coco_folder_without_splits_and_crowd_regions(tmp_path):
    _image(tmp_path / "set" / "a.png")
    _coco(tmp_path / "set", [{"id": 7, "file_name": "a.png", "width": 64, "height": 48}],
          [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [1, 2, 3, 4]},
           {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 64, 48], "iscrowd": 1}])
    (image,) = read_detection(tmp_path / "set").images
    assert image.split is None and [(b.label, b.xyxy()) for b in image.boxes] == [(1, (1.0, 2.0, 4.0, 6.0))]


# ----------------------------------------------------------------------------- malformed input

def _broken_coco(tmp_path: Path, edit) -> Path:
    root = tmp_path / "coco"
    _image(root / "train" / "a.png")
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
            "categories": [{"id": 1, "name": "cat"}]}
    text = edit(data)
    (root / "train" / "annotations.json").write_text(text if isinstance(text, str) else json.dumps(data))
    return root


@pytest.mark.parametrize("edit, expected", [
    (lambda d: "{not json", "is not valid JSON"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "'bbox' must be 4 numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, "3", 4]), "'bbox' must be 4 numbers"),
    (lambda d: d["annotations"][0].update(category_id=9), "category_id 9, not in 'categories'"),
    (lambda d: d["annotations"][0].update(image_id=5), "refers to image_id 5"),
    (lambda d: d.pop("categories"), "'categories' must be a non-empty list"),
    (lambda d: d["images"][0].pop("width"), "needs positive integer 'width'"),
    (lambda d: d["images"].append(dict(d["images"][0], id=2)), "is listed twice"),
    (lambda d: d["images"][0].update(file_name="../../etc/passwd"), "points outside"),
])
def test_malformed_coco_is_one_line_naming_the_file(tmp_path, edit, expected):
    root = _broken_coco(tmp_path, edit)
    with pytest.raises(EdgekitError) as error:
        read_detection(root)
    message = str(error.value)
    assert expected in message and str(root / "train" / "annotations.json") in message and "\n" not in message


@pytest.mark.parametrize("label, yaml_text, expected", [
    ("0 0.5 0.5 0.2\n", "names: [cat]\n", "a.txt:1: expected 'class cx cy w h'"),
    ("0 0.5 x 0.2 0.2\n", "names: [cat]\n", "a.txt:1: expected an integer class and 4 numbers"),
    ("\n3 0.5 0.5 0.2 0.2\n", "names: [cat]\n", "a.txt:2: class 3 is outside 0..0"),
    ("0 0.5 0.5 0.2 0.2\n", "names: [cat\n", "data.yaml is not valid YAML"),
    ("0 0.5 0.5 0.2 0.2\n", "nc: 1\n", "data.yaml: 'names' must be a non-empty list"),
    ("0 0.5 0.5 0.2 0.2\n", "names: [cat, dog]\nnc: 3\n", "'nc' is 3 but 'names' has 2"),
    ("0 0.5 0.5 0.2 0.2\n", "names: [cat]\ntrain: nowhere\n", "'train' is nowhere, which is neither"),
])
def test_malformed_yolo_is_one_line_naming_the_file(tmp_path, label, yaml_text, expected):
    root = tmp_path / "yolo"
    _image(root / "images" / "a.png")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text(label)
    (root / "data.yaml").write_text(yaml_text)
    with pytest.raises(EdgekitError) as error:
        read_detection(root)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_the_cli_refuses_malformed_annotations_without_a_traceback(tmp_path, cli):
    root = _broken_coco(tmp_path, lambda d: d["annotations"][0].update(bbox=None))
    done = cli("data", "audit", root, "--out", tmp_path / "audit")
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "annotations.json: annotations[0] 'bbox' must be 4 numbers" in " ".join(done.stderr.split())


# ----------------------------------------------------------------------------- audit

def test_the_audit_finds_what_a_detection_set_should_not_contain(tmp_path):
    root = tmp_path / "coco"
    for name, colour in (("a.png", (1, 2, 3)), ("b.png", (4, 5, 6)), ("c.png", (7, 8, 9))):
        _image(root / "train" / name, colour=colour)
    shutil.copy(root / "train" / "a.png", root / "train" / "copy.png")  # a duplicate image
    (root / "train" / "broken.png").write_bytes((root / "train" / "a.png").read_bytes()[:40])  # truncated
    _image(root / "val" / "small.png", size=(32, 32))
    images = [{"id": i, "file_name": n, "width": 64, "height": 48}
              for i, n in enumerate(["a.png", "b.png", "c.png", "copy.png", "broken.png"], 1)]
    _coco(root / "train", images, [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 30, 20, 20]},  # past the right and bottom edges
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [5, 5, 0, 10]},  # zero width
        {"id": 4, "image_id": 4, "category_id": 1, "bbox": [10, 10, 20, 20]},
    ])  # c.png and broken.png have no boxes
    _coco(root / "val", [{"id": 1, "file_name": "small.png", "width": 64, "height": 48}],
          [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 8, 8]}])  # the file is 32x32
    report = audit_detection(root).to_dict()
    assert report["layout"] == "coco" and report["splits"] == {"train": 5, "val": 1}
    assert report["boxes_per_class"] == {"cat": 3, "dog": 2} and report["images_per_class"] == {"cat": 3, "dog": 2}
    assert [e["image"] for e in report["outside_image"]] == ["train/a.png"]
    assert report["zero_area"] == [{"image": "train/b.png", "class": "dog", "bbox": [5.0, 5.0, 0.0, 10.0]}]
    assert report["without_boxes"] == ["train/c.png", "train/broken.png"]
    assert report["duplicates"] == [["train/a.png", "train/copy.png"]]
    assert [e["image"] for e in report["unreadable"]] == ["train/broken.png"]
    assert report["size_mismatch"] == [{"image": "val/small.png", "reason": "annotated 64x48, file is 32x32"}]
    assert report["box_sizes"]["small"] == 4  # every box of area > 0 is under 32x32 px


def test_the_cli_audits_the_sample_at_80_columns(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    done = cli("data", "audit", SAMPLE, "--out", tmp_path / "audit")
    assert done.returncode == 0, done.stderr
    assert "COCO detection" in done.stdout and "boxes per class" in done.stdout and "ankle_boot" in done.stdout
    assert all(len(line) <= 80 for line in done.stdout.splitlines()) and "…" not in done.stdout
    report = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert report["task"] == "detection" and report["num_images"] == 80
    assert report["outside_image"] == report["zero_area"] == report["duplicates"] == report["unreadable"] == []


# ----------------------------------------------------------------------------- prepare

def test_prepare_splits_by_image_seeded_and_stratified(tmp_path):
    first = prepare_detection(SAMPLE, tmp_path / "a", PrepareOptions(val=0.2, test=0.1, seed=3))
    again = prepare_detection(SAMPLE, tmp_path / "b", PrepareOptions(val=0.2, test=0.1, seed=3))
    other = prepare_detection(SAMPLE, tmp_path / "c", PrepareOptions(val=0.2, test=0.1, seed=4))
    names = lambda report: {s: [i.name for i in images] for s, images in report.splits.items()}  # noqa: E731
    assert names(first) == names(again) and names(first) != names(other)
    everything = [n for split in names(first).values() for n in split]
    assert sorted(everything) == sorted(i.name for i in read_detection(SAMPLE).images)  # each image once
    assert [len(first.splits[s]) for s in ("train", "val", "test")] == [57, 17, 6]
    for split in ("train", "val"):  # every class has boxes in train and in val
        assert all(first.boxes_per_split()[split].values()), (split, first.boxes_per_split()[split])
    back = read_prepared_detection(tmp_path / "a")
    assert back.classes == first.classes and len(back.images) == 80
    original = {i.name: i.boxes for i in read_detection(SAMPLE).images}
    assert all(image.boxes == original[image.name] for image in back.images)
    assert json.loads((tmp_path / "a" / "prepare.json").read_text())["schema"] == "edgekit-prepared-detection/1"
    coco = json.loads((tmp_path / "a" / "val.json").read_text())
    assert {c["id"] for c in coco["categories"]} == set(range(1, 11)) and len(coco["images"]) == 17


def test_prepare_drops_unreadable_images_and_duplicates_when_asked(tmp_path):
    root = tmp_path / "coco"
    for name, colour in (("a.png", (1, 2, 3)), ("b.png", (4, 5, 6)), ("c.png", (7, 8, 9)), ("d.png", (9, 9, 9))):
        _image(root / name, colour=colour)
    shutil.copy(root / "a.png", root / "dup.png")
    (root / "bad.png").write_bytes(b"not an image")
    files = ["a.png", "b.png", "c.png", "d.png", "dup.png", "bad.png"]
    _coco(root, [{"id": i, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(files, 1)],
          [{"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [1, 1, 5, 5]} for i in range(1, 7)])
    report = prepare_detection(root, tmp_path / "out", PrepareOptions(drop_duplicates=True))
    assert sorted((name, kind) for name, kind, _ in report.dropped) == [("bad.png", "unreadable"), ("dup.png", "duplicate")]
    assert sum(len(images) for images in report.splits.values()) == 4
    assert (tmp_path / "out" / "dropped.txt").read_text().count("\n") == 2


def test_prepare_refuses_class_folder_options_and_writes_nothing(tmp_path, cli):
    done = cli("data", "prepare", SAMPLE, "--out", tmp_path / "out", "--min-per-class", "5")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--min-per-class applies to class folders, not to a detection folder" in " ".join(done.stderr.split())
    assert not (tmp_path / "out").exists()
    done = cli("data", "prepare", SAMPLE, "--out", tmp_path / "out", "--val", "0.25", "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and (tmp_path / "out" / "train.json").is_file()


# ----------------------------------------------------------------------------- the sample

def test_the_committed_script_makes_the_committed_sample(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_detection_sample.py"), "--out",
                           str(tmp_path / "sample")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for split in ("train", "val"):
        made = json.loads((tmp_path / "sample" / split / "annotations.json").read_text())
        shipped = json.loads((SAMPLE / split / "annotations.json").read_text())
        assert made == shipped, split
    made = sorted(p.relative_to(tmp_path / "sample") for p in (tmp_path / "sample").rglob("*.jpg"))
    assert made == sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*.jpg"))


def test_yolo_splits_may_be_list_files(tmp_path):
    root = _yolo_from_sample(tmp_path / "yolo", count=2)
    (root / "train.txt").write_text("".join(f"./images/train/{p.name}\n" for p in sorted((root / "images" / "train").iterdir())))
    (root / "val.txt").write_text("".join(f"images/val/{p.name}\n" for p in sorted((root / "images" / "val").iterdir())))
    text = (root / "data.yaml").read_text().replace("train: images/train", "train: train.txt").replace("val: images/val", "val: val.txt")
    (root / "data.yaml").write_text(text)
    data = read_detection(root)
    assert [len(data.split(s)) for s in ("train", "val")] == [2, 2] and all(i.boxes for i in data.images)
