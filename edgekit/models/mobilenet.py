"""MobileNet V1 (written here; torchvision has none) and MobileNet V2 (torchvision's)."""
from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from edgekit.models.options import check_dropout, check_range, round_channels
from edgekit.models.init_weights import init_weights
from edgekit.models.registry import register_model


class DepthwiseSeparableConv(nn.Sequential):
    """3x3 depthwise conv (carries the stride) then 1x1 pointwise conv, each followed by BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            Conv2dNormActivation(in_channels, in_channels, kernel_size=3, stride=stride, groups=in_channels,
                                 activation_layer=nn.ReLU),
            Conv2dNormActivation(in_channels, out_channels, kernel_size=1, activation_layer=nn.ReLU),
        )


class MobileNetV1(nn.Module):
    """Howard et al. 2017, "MobileNets", Table 1: a 3x3 stem then 13 depthwise separable convs."""

    STEM_CHANNELS = 32
    # (output channels, stride) of each depthwise separable layer, in order
    LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
              (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.001) -> None:
        super().__init__()
        in_channels = round_channels(self.STEM_CHANNELS * width_mult)
        layers: list[nn.Module] = [Conv2dNormActivation(3, in_channels, kernel_size=3, stride=2,
                                                        activation_layer=nn.ReLU)]
        for out_channels, stride in self.LAYERS:
            out_channels = round_channels(out_channels * width_mult)
            layers.append(DepthwiseSeparableConv(in_channels, out_channels, stride))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(in_channels, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model("mobilenet_v1", default_img_size=224, min_img_size=32, options=("width_mult", "dropout"),
                paper="Howard et al. 2017, MobileNets (arXiv:1704.04861), 1.0 MobileNet-224",
                published_top1=70.6, paper_params_m=4.2, paper_macs_m=569.0)
def mobilenet_v1(num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.001) -> nn.Module:
    """width_mult 0.25–1.0 (the paper's alpha); dropout 0.001 as in the authors' TF-Slim code (keep 0.999)."""
    width_mult = check_range("mobilenet_v1", "width_mult", width_mult, 0.25, 1.0)
    return MobileNetV1(num_classes=num_classes, width_mult=width_mult, dropout=check_dropout("mobilenet_v1", dropout))


@register_model("mobilenet_v2", default_img_size=224, min_img_size=32, options=("width_mult", "dropout"),
                paper="Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381), 1.0-224",
                published_top1=72.0, paper_params_m=3.4, paper_macs_m=300.0)
def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2) -> nn.Module:
    """torchvision's MobileNetV2; width_mult 0.35–1.4 (the paper's range), dropout 0.2 as torchvision."""
    width_mult = check_range("mobilenet_v2", "width_mult", width_mult, 0.35, 1.4)
    return torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=width_mult,
                                           dropout=check_dropout("mobilenet_v2", dropout))
