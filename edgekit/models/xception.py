"""Xception (written here): entry, middle and exit flow of depthwise separable convolutions."""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.options import check_dropout
from edgekit.models.init_weights import init_weights
from edgekit.models.registry import register_model


class SeparableConv(nn.Sequential):
    """3x3 depthwise conv then 1x1 pointwise conv (no nonlinearity between them, as the paper found best), then BN."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class XceptionBlock(nn.Module):
    """ReLU + separable conv, repeated, plus a residual connection (a strided 1x1 conv where the shape changes).

    `widths` lists the output channels of the separable convs; stride 2 ends the branch with a 3x3 max pool.
    """

    def __init__(self, in_channels: int, widths: list[int], stride: int = 1, relu_first: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for index, width in enumerate(widths):
            if index > 0 or relu_first:
                layers.append(nn.ReLU())
            layers.append(SeparableConv(channels, width))
            channels = width
        if stride == 2:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.branch = nn.Sequential(*layers)
        if stride == 1 and channels == in_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) + self.shortcut(x)


def conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """An ordinary 3x3 conv without padding, as in the paper's first two layers."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class Xception(nn.Module):
    """Chollet 2017, "Xception", Fig. 5."""

    STEM = [(32, 2), (64, 1)]  # (channels, stride) of the two plain convs
    ENTRY_WIDTHS = [128, 256, 728]  # each entry block: two separable convs of this width, stride 2
    MIDDLE_WIDTH, MIDDLE_REPEATS = 728, 8  # eight blocks of three separable convs
    EXIT_BLOCK_WIDTHS = [728, 1024]  # the last residual block, stride 2
    EXIT_WIDTHS = [1536, 2048]  # separable conv + ReLU each, before global pooling

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        stem: list[nn.Module] = []
        channels = 3
        for width, stride in self.STEM:
            stem.append(conv_bn_relu(channels, width, stride))
            channels = width
        self.stem = nn.Sequential(*stem)

        entry: list[nn.Module] = []
        for index, width in enumerate(self.ENTRY_WIDTHS):
            # the stem already ends in a ReLU
            entry.append(XceptionBlock(channels, [width, width], stride=2, relu_first=index > 0))
            channels = width
        self.entry_flow = nn.Sequential(*entry)

        self.middle_flow = nn.Sequential(*[XceptionBlock(channels, [self.MIDDLE_WIDTH] * 3)
                                           for _ in range(self.MIDDLE_REPEATS)])

        exit_layers: list[nn.Module] = [XceptionBlock(channels, self.EXIT_BLOCK_WIDTHS, stride=2)]
        channels = self.EXIT_BLOCK_WIDTHS[-1]
        for width in self.EXIT_WIDTHS:
            exit_layers += [SeparableConv(channels, width), nn.ReLU()]
            channels = width
        self.exit_flow = nn.Sequential(*exit_layers)

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(channels, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.exit_flow(self.middle_flow(self.entry_flow(self.stem(x))))
        return self.classifier(torch.flatten(self.avgpool(x), 1))


@register_model("xception", default_img_size=299, min_img_size=32, options=("dropout",),
                paper="Chollet 2017, Xception (arXiv:1610.02357), Table 3",
                published_top1=79.0, paper_params_m=22.9, paper_macs_m=None)
def xception(num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    """dropout 0.5 before the classifier, as in the paper's ImageNet setup."""
    return Xception(num_classes=num_classes, dropout=check_dropout("xception", dropout))
