"""SSDLite detectors on the zoo's backbones, built from torchvision's detection parts.

Sandler et al. 2018 (MobileNetV2, arXiv:1801.04381, section 6.2 and Table 6) define SSDLite: SSD with every
3x3 convolution of the prediction heads replaced by a depthwise-separable one. For MobileNetV2 "the first layer of
SSDLite is attached to the expansion of layer 15 (with output stride of 16). The second and the rest of SSDLite
layers are attached on top of the last layer (with output stride of 32)"; MobileNetV1 attaches at the same strides.
The rest follows the authors' TF Object Detection API configuration (ssdlite_mobilenet_v2_coco): four extra
depthwise-separable feature layers of 512, 256, 256 and 128 channels, six feature maps, default boxes of scales
0.2 to 0.95 with aspect ratios 1, 2, 1/2, 3, 1/3 and the interpolated square box (six per location), three per
location on the first map (`reduce_boxes_in_lowest_layer`: scale 0.1 square, 0.2 at 2:1 and 1:2).

torchvision provides everything else, used as is: `SSD` (image transform, default-box matching, box coder,
smooth-L1 + hard-negative-mined cross-entropy loss, decoding and NMS), `SSDLiteHead`, `DefaultBoxGenerator` and
its `_extra_block`. What is written here is the backbone extractors (which zoo layers feed which map) and the one
subclass of the box generator for the reduced lowest layer.

Class counts include the background (torchvision's convention): COCO's paper figures are at 91.
Backbones start from a zoo classification state dict (`init_backbone`: the classification head dropped, every
other tensor copied and checked) or, without one, from the zoo's own initialisation.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead, _extra_block, _normal_init

from edgekit.errors import EdgekitError
from edgekit.models.registry import create_model, get_model_info, register_model

DETECTION_IMG_SIZE = 320  # the paper's and torchvision's SSDLite input
COCO_NUM_CLASSES = 91  # torchvision's COCO label space: 90 category ids + background (index 0)
EXTRA_CHANNELS = (512, 256, 256, 128)  # the four extra feature layers (TF API: layer_depth [-1, -1, 512, 256, 256, 128])
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the zoo's classification checkpoints are trained on this normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's ssdlite320_mobilenet_v3_large post-processing defaults (a low threshold, as COCO mAP wants)
POSTPROCESS = {"score_thresh": 0.001, "nms_thresh": 0.55, "detections_per_img": 300, "topk_candidates": 300}
# BN as torchvision's SSDLite (TF's defaults): the heads and extra layers use it
NORM_LAYER = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)


class ReducedLowestLayerBoxes(DefaultBoxGenerator):
    """torchvision's DefaultBoxGenerator with the TF API's `reduce_boxes_in_lowest_layer`: three boxes per location on
    the first map (a square of scale 0.1, and 2:1 and 1:2 boxes of the minimum scale), the others unchanged."""

    LOWEST_SCALE = 0.1

    def __init__(self, num_maps: int = 6, min_ratio: float = 0.2, max_ratio: float = 0.95) -> None:
        super().__init__([[2, 3] for _ in range(num_maps)], min_ratio=min_ratio, max_ratio=max_ratio)

    def _lowest_pairs(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        scale, root = self.scales[0], math.sqrt(2.0)
        pairs = [[self.LOWEST_SCALE, self.LOWEST_SCALE], [scale * root, scale / root], [scale / root, scale * root]]
        return torch.as_tensor(pairs, dtype=dtype, device=device)

    def _generate_wh_pairs(self, num_outputs: int, dtype: torch.dtype = torch.float32,
                           device: torch.device = torch.device("cpu")) -> list[torch.Tensor]:
        pairs = super()._generate_wh_pairs(num_outputs, dtype, device)
        pairs[0] = self._lowest_pairs(dtype, device)
        return pairs

    def num_anchors_per_location(self) -> list[int]:
        return [3] + super().num_anchors_per_location()[1:]


class SSDLiteFeatures(nn.Module):
    """A zoo classifier's trunk cut at stride 16 and 32, then the extra depthwise-separable layers.

    Subclasses keep the classifier's own module names (`features.N...`, `stage3...`), so the classifier's state dict
    keys, less its head (`HEAD_PREFIXES`), are exactly this module's trunk keys: `init_backbone` copies by name.
    """

    HEAD_PREFIXES: tuple[str, ...] = ()

    def __init__(self, last_channels: int) -> None:
        super().__init__()
        self.extra = nn.ModuleList()
        channels = last_channels
        for out_channels in EXTRA_CHANNELS:
            self.extra.append(_extra_block(channels, out_channels, NORM_LAYER))
            channels = out_channels
        _normal_init(self.extra)

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        stride16, x = self.trunk(x)
        maps = [stride16, x]
        for block in self.extra:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), feature) for i, feature in enumerate(maps))


class MobileNetV2Features(SSDLiteFeatures):
    """The paper's: the first map is the expansion (1x1 conv, 576 channels) of layer 15 — torchvision's features[14],
    the first 160-channel block, whose depthwise conv carries the stride to 32 — the second the last layer (1280)."""

    HEAD_PREFIXES = ("classifier.",)
    CUT = 14

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__(classifier.features[-1].out_channels)
        self.features = classifier.features

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.features[:self.CUT]:
            x = layer(x)
        cut = self.features[self.CUT].conv
        stride16 = cut[0](x)  # the expansion output
        x = stride16
        for layer in cut[1:]:
            x = layer(x)
        for layer in self.features[self.CUT + 1:]:
            x = layer(x)
        return stride16, x


class MobileNetV1Features(SSDLiteFeatures):
    """As the TF API's ssd_mobilenet_v1: Conv2d_11_pointwise (512 channels, stride 16) and Conv2d_13_pointwise (1024,
    stride 32); the zoo's features[0] is Conv2d_0 (the stem), features[k] Conv2d_k."""

    HEAD_PREFIXES = ("classifier.",)
    CUT = 12

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__(classifier.features[-1][-1].out_channels)
        self.features = classifier.features

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stride16 = self.features[:self.CUT](x)
        return stride16, self.features[self.CUT:](stride16)


class ShuffleNetV2Features(SSDLiteFeatures):
    """torchvision's ShuffleNetV2: stage3's output (stride 16) and conv5's (stride 32, 1024 channels)."""

    HEAD_PREFIXES = ("fc.",)

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__(classifier.conv5[0].out_channels)
        self.conv1, self.maxpool = classifier.conv1, classifier.maxpool
        self.stage2, self.stage3, self.stage4, self.conv5 = (classifier.stage2, classifier.stage3, classifier.stage4,
                                                             classifier.conv5)

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stride16 = self.stage3(self.stage2(self.maxpool(self.conv1(x))))
        return stride16, self.conv5(self.stage4(stride16))


class SSDLite(SSD):
    """torchvision's SSD with an SSDLite head; `forward_network` is the network alone (what is counted and what an
    exported detector runs), `forward` torchvision's: losses in training mode, decoded boxes after NMS in eval mode."""

    def __init__(self, backbone: SSDLiteFeatures, num_classes: int, img_size: int = DETECTION_IMG_SIZE,
                 backbone_name: str = "") -> None:
        size = (img_size, img_size)
        anchors = ReducedLowestLayerBoxes()
        out_channels = det_utils.retrieve_out_channels(backbone, size)
        head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), num_classes, NORM_LAYER)
        super().__init__(backbone, anchors, size, num_classes, image_mean=list(IMAGENET_MEAN),
                         image_std=list(IMAGENET_STD), head=head, **POSTPROCESS)
        self.backbone_name = backbone_name

    def forward_network(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box regression N x A x 4, class logits N x A x C) of a normalised N x 3 x H x W batch, before decoding."""
        outputs = self.head(list(self.backbone(images).values()))
        return outputs["bbox_regression"], outputs["cls_logits"]


FEATURES = {"mobilenet_v2": MobileNetV2Features, "mobilenet_v1": MobileNetV1Features,
            "shufflenet_v2": ShuffleNetV2Features}


def _ssdlite(backbone_name: str, num_classes: int) -> SSDLite:
    if num_classes < 2:
        raise EdgekitError(f"a detector needs at least 2 classes (the background and one object class), got {num_classes}")
    classifier = create_model(backbone_name, num_classes=1000)  # the zoo's own initialisation; its head is not used
    return SSDLite(FEATURES[backbone_name](classifier), num_classes, backbone_name=backbone_name)


_FACTS = dict(default_img_size=DETECTION_IMG_SIZE, min_img_size=32, options=(), published_top1=None,
              task="detection", paper_num_classes=COCO_NUM_CLASSES)


@register_model("ssdlite_mobilenet_v2", **_FACTS, paper="Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381), "
                "Table 6: MNet V2 + SSDLite, 320 px, 22.1 COCO mAP", paper_params_m=4.3, paper_macs_m=800.0)
def ssdlite_mobilenet_v2(num_classes: int = COCO_NUM_CLASSES) -> nn.Module:
    """SSDLite on the zoo's MobileNetV2 (the paper's detector); num_classes includes the background."""
    return _ssdlite("mobilenet_v2", num_classes)


@register_model("ssdlite_mobilenet_v1", **_FACTS, paper="Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381), "
                "Table 6: MNet V1 + SSDLite, 320 px, 22.2 COCO mAP", paper_params_m=5.1, paper_macs_m=1300.0)
def ssdlite_mobilenet_v1(num_classes: int = COCO_NUM_CLASSES) -> nn.Module:
    """SSDLite on the zoo's MobileNetV1; num_classes includes the background."""
    return _ssdlite("mobilenet_v1", num_classes)


@register_model("ssdlite_shufflenet_v2", **_FACTS, paper="SSDLite (Sandler et al. 2018) on ShuffleNet V2 1x "
                "(Ma et al. 2018); no published figures", paper_params_m=None, paper_macs_m=None)
def ssdlite_shufflenet_v2(num_classes: int = COCO_NUM_CLASSES) -> nn.Module:
    """SSDLite on the zoo's ShuffleNetV2 1x (stage3 at stride 16, conv5 at 32); num_classes includes the background."""
    return _ssdlite("shufflenet_v2", num_classes)


# ----------------------------------------------------------------------------- backbone weights

@dataclass(frozen=True)
class BackboneInit:
    """What `init_backbone` did: how many tensors it copied into the detector, which head tensors it dropped."""

    backbone: str
    copied: int
    dropped: tuple[str, ...]
    source: str


def init_backbone(detector: SSDLite, state_dict: dict, source: str = "the state dict") -> BackboneInit:
    """Copy a zoo classification state dict (of `detector.backbone_name`, any class count) into the detector's trunk.

    The classification head is dropped; every other tensor must match a trunk tensor by name and shape, and every
    trunk tensor must be given (one EdgekitError naming what does not fit otherwise). The extra layers and heads keep
    their initialisation."""
    features = detector.backbone
    head = features.HEAD_PREFIXES
    dropped = tuple(sorted(k for k in state_dict if k.startswith(head)))
    given = {k: v for k, v in state_dict.items() if not k.startswith(head)}
    trunk = {k: v for k, v in features.state_dict().items() if not k.startswith("extra.")}
    missing = [k for k in trunk if k not in given]
    unexpected = [k for k in given if k not in trunk]
    wrong = [f"{k} {tuple(given[k].shape)} vs {tuple(v.shape)}" for k, v in trunk.items()
             if k in given and tuple(given[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong or not dropped:
        first = lambda keys: ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
        details = [f"{len(keys)} {what} ({first(keys)})" for what, keys in
                   (("tensors of another shape", wrong), ("missing", missing), ("unexpected", unexpected)) if keys]
        if not dropped:
            details.append(f"no classification head ({', '.join(head)}*)")
        raise EdgekitError(f"{source} is not a {detector.backbone_name} classification state dict: "
                           + "; ".join(details))
    with torch.no_grad():
        for key, tensor in trunk.items():
            tensor.copy_(given[key])
    return BackboneInit(detector.backbone_name, len(trunk), dropped, source)


def init_backbone_from_file(detector: SSDLite, path: Path | str) -> BackboneInit:
    """`--weights PATH` for a detector's backbone: a zoo checkpoint or a bare ImageNet state dict of the backbone."""
    from edgekit.weightfile import read_state_dict

    return init_backbone(detector, read_state_dict(path), source=str(path))


# ----------------------------------------------------------------------------- brought detectors

BROUGHT_DETECTORS = ("ssdlite320_mobilenet_v3_large",)


def build_detector(spec: str, num_classes: int = COCO_NUM_CLASSES, weights: Path | str | None = None,
                   backbone_weights: Path | str | None = None) -> nn.Module:
    """A zoo detector (`ssdlite_mobilenet_v2`) or a brought one (`torchvision:ssdlite320_mobilenet_v3_large`).

    `weights`: the whole detector's state dict, loaded strictly; `backbone_weights`: a classification state dict for
    a zoo detector's backbone (`init_backbone`). Nothing is downloaded: torchvision's builders are called with
    `weights=None, weights_backbone=None`."""
    from edgekit.weightfile import load_weights_file

    if spec.startswith("torchvision:"):
        name = spec.split(":", 1)[1]
        if name not in BROUGHT_DETECTORS:
            raise EdgekitError(f"unknown torchvision detector '{name}'; edgekit builds {', '.join(BROUGHT_DETECTORS)}")
        if backbone_weights is not None:
            raise EdgekitError(f"{spec}: pass its whole state dict with weights=, not backbone weights")
        import torchvision

        model = getattr(torchvision.models.detection, name)(weights=None, weights_backbone=None,
                                                             num_classes=num_classes)
    else:
        info = get_model_info(spec)
        if info.task != "detection":
            raise EdgekitError(f"{spec} is a {info.task} model, not a detector")
        model = create_model(spec, num_classes=num_classes)
        if backbone_weights is not None:
            init_backbone_from_file(model, backbone_weights)
    if weights is not None:
        load_weights_file(model, weights)
    return model
