"""SSDLite detectors (edgekit.models.ssdlite): the paper's size and cost, shapes in training and evaluation, a finite
loss, backbones initialised from a zoo classification state dict, a brought torchvision detector, clean refusals."""
from __future__ import annotations

import pytest
import torch

from edgekit.errors import EdgekitError
from edgekit.models import create_model, get_model_info, list_models
from edgekit.models.complexity import BUDGET_TOLERANCE, check_paper_budget, count_macs, count_params, measure
from edgekit.models.ssdlite import (COCO_NUM_CLASSES, ReducedLowestLayerBoxes, build_detector, init_backbone,
                                    init_backbone_from_file)

DETECTORS = ["ssdlite_mobilenet_v1", "ssdlite_mobilenet_v2", "ssdlite_shufflenet_v2"]
BACKBONES = {"ssdlite_mobilenet_v1": "mobilenet_v1", "ssdlite_mobilenet_v2": "mobilenet_v2",
             "ssdlite_shufflenet_v2": "shufflenet_v2"}
# default boxes at 320 px: 20x20 maps x 3, then 10x10, 5x5, 3x3, 2x2, 1x1 maps x 6
ANCHORS_320 = 20 * 20 * 3 + (10 * 10 + 5 * 5 + 3 * 3 + 2 * 2 + 1) * 6


def within(ours: float, paper: float) -> bool:
    return abs(ours - paper) <= BUDGET_TOLERANCE * paper


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def _targets(num_classes: int) -> list[dict]:
    return [{"boxes": torch.tensor([[10.0, 20.0, 120.0, 200.0], [150.0, 30.0, 300.0, 100.0]]),
             "labels": torch.tensor([1, num_classes - 1])},
            {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]  # an image without objects


def test_the_zoo_lists_three_detectors_with_their_task():
    assert list_models("detection") == DETECTORS
    for name in DETECTORS:
        info = get_model_info(name)
        assert (info.task, info.default_img_size, info.paper_num_classes) == ("detection", 320, COCO_NUM_CLASSES)
    assert get_model_info("mobilenet_v2").task == "classification"
    with pytest.raises(EdgekitError, match="unknown task 'segmentation'"):
        list_models("segmentation")


@pytest.mark.parametrize("name, params_m, macs_m", [("ssdlite_mobilenet_v2", 4.3, 800.0),
                                                    ("ssdlite_mobilenet_v1", 5.1, 1300.0)])
def test_counts_at_320_px_and_91_classes_are_within_5_percent_of_the_mobilenet_v2_paper(name, params_m, macs_m):
    info = get_model_info(name)
    assert (info.paper_params_m, info.paper_macs_m) == (params_m, macs_m)  # MobileNetV2 paper, Table 6
    measured = measure(name)
    assert (measured.num_classes, measured.img_size) == (91, 320)
    assert within(measured.params / 1e6, params_m), f"{measured.params / 1e6:.3f}M params vs {params_m}M"
    assert within(measured.macs / 1e6, macs_m), f"{measured.macs / 1e6:.1f}M MACs vs {macs_m}M"
    assert check_paper_budget(name).met is True


def test_the_count_on_the_meta_device_equals_the_real_one():
    model = create_model("ssdlite_mobilenet_v2", num_classes=COCO_NUM_CLASSES)
    measured = measure("ssdlite_mobilenet_v2")
    assert (count_params(model), count_macs(model, 320)) == (measured.params, measured.macs)


def test_torchvisions_ssdlite320_mobilenet_v3_large_counts_as_torchvision_publishes():
    with torch.device("meta"):
        model = build_detector("torchvision:ssdlite320_mobilenet_v3_large").eval()
    params = count_params(model)
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.head(list(model.backbone(torch.zeros(1, 3, 320, 320, device="meta")).values()))
    assert within(params / 1e6, 3.4) and within(counter.get_total_flops() / 2e9, 0.58)  # torchvision's model card


def test_the_lowest_map_has_three_default_boxes_per_location_as_the_tf_api():
    boxes = ReducedLowestLayerBoxes()
    assert boxes.num_anchors_per_location() == [3, 6, 6, 6, 6, 6]
    assert boxes.scales[:6] == pytest.approx([0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
    lowest = boxes._wh_pairs[0]
    assert lowest.tolist()[0] == pytest.approx([0.1, 0.1])
    assert (lowest[1, 0] / lowest[1, 1]).item() == pytest.approx(2.0)  # 2:1 at the minimum scale
    assert len(boxes._wh_pairs[1]) == 6


@pytest.mark.parametrize("name", DETECTORS)
def test_training_mode_gives_finite_losses_and_gradients(name):
    model = create_model(name, num_classes=5)
    model.train()
    images = [torch.rand(3, 320, 320), torch.rand(3, 240, 320)]
    losses = model(images, _targets(5))
    assert set(losses) == {"bbox_regression", "classification"}
    assert all(torch.isfinite(value) for value in losses.values()), losses
    sum(losses.values()).backward()
    head = model.head.classification_head.module_list[0][1].weight
    assert head.grad is not None and torch.isfinite(head.grad).all() and head.grad.abs().sum() > 0


def test_evaluation_mode_gives_decoded_boxes_of_the_object_classes():
    model = create_model("ssdlite_mobilenet_v2", num_classes=4).eval()
    with torch.no_grad():
        detections = model([torch.rand(3, 320, 320), torch.rand(3, 200, 300)])
    assert len(detections) == 2
    for found, (height, width) in zip(detections, [(320, 320), (200, 300)]):
        count = len(found["boxes"])
        assert found["boxes"].shape == (count, 4) and found["scores"].shape == found["labels"].shape == (count,)
        assert count <= 300 and ((found["labels"] >= 1) & (found["labels"] <= 3)).all()  # 0 is the background
        assert (found["boxes"][:, 2] <= width).all() and (found["boxes"][:, 3] <= height).all()  # in input pixels


def test_the_network_alone_gives_one_box_and_one_score_row_per_default_box():
    model = create_model("ssdlite_mobilenet_v2", num_classes=7).eval()
    with torch.no_grad():
        regression, logits = model.forward_network(torch.zeros(2, 3, 320, 320))
        anchors = model.anchor_generator(model.transform(list(torch.zeros(1, 3, 320, 320)))[0],
                                         list(model.backbone(torch.zeros(1, 3, 320, 320)).values()))
    assert regression.shape == (2, ANCHORS_320, 4) and logits.shape == (2, ANCHORS_320, 7)
    assert anchors[0].shape == (ANCHORS_320, 4)


@pytest.mark.parametrize("name", DETECTORS)
def test_the_backbone_starts_from_a_zoo_classification_state_dict(name):
    classifier = create_model(BACKBONES[name], num_classes=10)  # another class count than ImageNet's: head dropped
    state = {k: v.clone() for k, v in classifier.state_dict().items()}
    detector = create_model(name, num_classes=3)
    extra_before = {k: v.clone() for k, v in detector.backbone.extra.state_dict().items()}
    head_before = {k: v.clone() for k, v in detector.head.state_dict().items()}
    done = init_backbone(detector, state, source="zoo")
    head_keys = [k for k in state if k.startswith(detector.backbone.HEAD_PREFIXES)]
    assert head_keys and set(done.dropped) == set(head_keys)
    trunk = {k: v for k, v in detector.backbone.state_dict().items() if not k.startswith("extra.")}
    assert done.copied == len(trunk) == len(state) - len(head_keys)
    for key, tensor in trunk.items():  # every backbone tensor copied, running statistics included
        assert torch.equal(tensor, state[key]), key
    for key, tensor in detector.backbone.extra.state_dict().items():
        assert torch.equal(tensor, extra_before[key]), key  # the extra layers and heads keep their initialisation
    for key, tensor in detector.head.state_dict().items():
        assert torch.equal(tensor, head_before[key]), key


def test_backbone_weights_come_from_a_local_file(tmp_path):
    classifier = create_model("mobilenet_v2", num_classes=1000)
    path = tmp_path / "mobilenet_v2-imagenet.pth"
    torch.save(classifier.state_dict(), path)
    detector = build_detector("ssdlite_mobilenet_v2", num_classes=3, backbone_weights=path)
    assert torch.equal(detector.backbone.features[0][0].weight, classifier.features[0][0].weight)
    assert init_backbone_from_file(detector, path).source == str(path)


def test_a_state_dict_of_another_backbone_is_one_clear_error():
    detector = create_model("ssdlite_mobilenet_v2", num_classes=3)
    with pytest.raises(EdgekitError) as error:
        init_backbone(detector, create_model("shufflenet_v2").state_dict(), source="shufflenet.pth")
    message = str(error.value)
    assert "\n" not in message and "shufflenet.pth is not a mobilenet_v2 classification state dict" in message
    with pytest.raises(EdgekitError, match="no classification head"):
        init_backbone(detector, {k: v for k, v in create_model("mobilenet_v2").state_dict().items()
                                 if not k.startswith("classifier.")})


def test_a_brought_torchvision_detector_loads_a_local_state_dict(tmp_path):
    trained = build_detector("torchvision:ssdlite320_mobilenet_v3_large", num_classes=4)
    path = tmp_path / "ssdlite320.pth"
    torch.save(trained.state_dict(), path)
    loaded = build_detector("torchvision:ssdlite320_mobilenet_v3_large", num_classes=4, weights=path)
    for key, tensor in trained.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[key]), key
    with pytest.raises(EdgekitError, match="do not match"):
        build_detector("torchvision:ssdlite320_mobilenet_v3_large", num_classes=91, weights=path)  # 4 classes saved
    with pytest.raises(EdgekitError, match="unknown torchvision detector 'fasterrcnn'"):
        build_detector("torchvision:fasterrcnn")


def test_refusals_name_the_problem():
    with pytest.raises(EdgekitError, match="at least 2 classes"):
        create_model("ssdlite_mobilenet_v2", num_classes=1)
    with pytest.raises(EdgekitError, match="mobilenet_v2 is a classification model, not a detector"):
        build_detector("mobilenet_v2")
    from edgekit.models.architecture import parse_architecture

    with pytest.raises(EdgekitError, match="ssdlite_mobilenet_v2 is a detector"):
        parse_architecture("ssdlite_mobilenet_v2")  # export of detectors: not yet (training: test_train_detection.py)


@pytest.mark.parametrize("command", [["train", "ssdlite_mobilenet_v2", "--epochs", "1"],
                                     ["export", "ssdlite_mobilenet_v2", "--out", "unused"]])
def test_train_and_export_refuse_a_detector_in_one_line(command, cli, tmp_path, monkeypatch):
    """export: not yet; train: on its default data, a class folder (a detector trains on a COCO or YOLO folder)."""
    monkeypatch.chdir(tmp_path)
    done = cli(*command)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "ssdlite_mobilenet_v2 is a detector" in " ".join(done.stderr.split())
    assert not (tmp_path / "unused").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "shufflenet_v2"])
def test_the_backbone_starts_from_a_trained_zoo_checkpoint(backbone):
    from edgekit.checkpoint import read_state_dict
    from edgekit.paths import REPO_ROOT

    path = REPO_ROOT / "tests" / "fixtures" / "weights" / f"{backbone}.pt"  # trained on the shipped samples
    detector = create_model(f"ssdlite_{backbone}", num_classes=11)
    done = init_backbone_from_file(detector, path)
    state = read_state_dict(path)
    trunk = {k: v for k, v in detector.backbone.state_dict().items() if not k.startswith("extra.")}
    assert done.copied == len(trunk) and done.dropped
    for key, tensor in trunk.items():
        assert torch.equal(tensor, state[key].to(tensor.dtype)), key
