"""ShuffleNet V1 (written here; torchvision has none) and ShuffleNet V2 (torchvision's)."""
from __future__ import annotations

import torch
import torchvision
from torch import nn

from edgekit.models.options import check_choice, check_dropout, check_range, round_channels
from edgekit.models.init_weights import init_weights
from edgekit.models.registry import register_model


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of `groups` groups: (N, C, H, W) -> (N, g, C/g, H, W), swap g and C/g, flatten back.

    No arithmetic on traced sizes (a `C // g` becomes aten::Int in a TorchScript trace, which
    coremltools 9 cannot convert), so the graph exports to every format.
    """
    return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)


class ShuffleUnit(nn.Module):
    """Zhang et al. Fig. 2 (b)/(c): 1x1 group conv, channel shuffle, 3x3 depthwise, 1x1 group conv.

    Stride 1 adds the input back (the unit keeps its width); stride 2 concatenates a 3x3 average-pooled
    shortcut, so the branch only produces `out_channels - in_channels` channels.
    """

    BOTTLENECK_RATIO = 4  # bottleneck channels = output channels / 4

    def __init__(self, in_channels: int, out_channels: int, groups: int, stride: int,
                 group_first_pointwise: bool = True) -> None:
        super().__init__()
        self.groups = groups
        self.stride = stride
        bottleneck = out_channels // self.BOTTLENECK_RATIO
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        # the very first unit sees only 24 channels: the paper leaves its first 1x1 conv ungrouped
        first_groups = groups if group_first_pointwise else 1
        self.compress = nn.Sequential(
            nn.Conv2d(in_channels, bottleneck, 1, groups=first_groups, bias=False),
            nn.BatchNorm2d(bottleneck),
            nn.ReLU(inplace=True),
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(bottleneck, bottleneck, 3, stride=stride, padding=1, groups=bottleneck, bias=False),
            nn.BatchNorm2d(bottleneck),
        )
        self.expand = nn.Sequential(
            nn.Conv2d(bottleneck, branch_out, 1, groups=groups, bias=False),
            nn.BatchNorm2d(branch_out),
        )
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.compress(x)
        if self.groups > 1:
            branch = channel_shuffle(branch, self.groups)
        branch = self.expand(self.depthwise(branch))
        if self.stride == 2:
            return self.relu(torch.cat([self.shortcut(x), branch], dim=1))
        return self.relu(x + branch)


class ShuffleNetV1(nn.Module):
    """Zhang et al. 2018, "ShuffleNet", Table 1 (width scaled by `width_mult`, the paper's s)."""

    STEM_CHANNELS = 24
    STAGE_REPEATS = (4, 8, 4)  # units in stages 2, 3, 4; the first of each has stride 2
    # output channels of stage 2 per group count (stages 3 and 4 double it each time)
    STAGE2_CHANNELS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}

    def __init__(self, num_classes: int = 1000, groups: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        # every grouped conv needs channel counts divisible by the groups (the bottleneck by 4 x groups)
        stem_channels = round_channels(self.STEM_CHANNELS * width_mult, groups)
        stage_channels = round_channels(self.STAGE2_CHANNELS[groups] * width_mult, 4 * groups)
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        in_channels = stem_channels
        for index, repeats in enumerate(self.STAGE_REPEATS):
            out_channels = stage_channels * 2 ** index
            units = [ShuffleUnit(in_channels, out_channels, groups, stride=2, group_first_pointwise=index > 0)]
            units += [ShuffleUnit(out_channels, out_channels, groups, stride=1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(in_channels, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.stages(self.stem(x)))
        return self.classifier(torch.flatten(x, 1))


@register_model("shufflenet_v1", default_img_size=224, min_img_size=32, options=("groups", "width_mult", "dropout"),
                paper="Zhang et al. 2018, ShuffleNet (arXiv:1707.01083), ShuffleNet 1x (g = 3)",
                published_top1=67.4, paper_params_m=None, paper_macs_m=140.0)
def shufflenet_v1(num_classes: int = 1000, groups: int = 3, width_mult: float = 1.0, dropout: float = 0.0) -> nn.Module:
    """groups 1, 2, 3, 4 or 8; width_mult 0.5–2.0 (the paper's scale s)."""
    groups = check_choice("shufflenet_v1", "groups", groups, tuple(ShuffleNetV1.STAGE2_CHANNELS))
    width_mult = check_range("shufflenet_v1", "width_mult", width_mult, 0.5, 2.0)
    return ShuffleNetV1(num_classes=num_classes, groups=groups, width_mult=width_mult,
                        dropout=check_dropout("shufflenet_v1", dropout))


class ShuffleV2Unit(torchvision.models.shufflenetv2.InvertedResidual):
    """torchvision's ShuffleNetV2 unit with edgekit's channel_shuffle (same weights, same output):
    torchvision's computes `C // 2` from the traced shape, which Core ML's converter cannot take."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)
            out = torch.cat((left, self.branch2(right)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


# torchvision's builder per width; these four are the widths of the paper's Table 5
SHUFFLENET_V2_BUILDERS = {
    0.5: torchvision.models.shufflenet_v2_x0_5,
    1.0: torchvision.models.shufflenet_v2_x1_0,
    1.5: torchvision.models.shufflenet_v2_x1_5,
    2.0: torchvision.models.shufflenet_v2_x2_0,
}


@register_model("shufflenet_v2", default_img_size=224, min_img_size=32, options=("width_mult",),
                paper="Ma et al. 2018, ShuffleNet V2 (arXiv:1807.11164), 1x",
                published_top1=69.4, paper_params_m=2.3, paper_macs_m=146.0)
def shufflenet_v2(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Module:
    """torchvision's ShuffleNetV2; width_mult 0.5, 1.0, 1.5 or 2.0.

    No dropout option: the paper trains without it and torchvision's builder has none, so passing
    dropout is refused (create_model names the options this model takes) rather than silently ignored.
    """
    width_mult = check_choice("shufflenet_v2", "width_mult", width_mult, tuple(SHUFFLENET_V2_BUILDERS))
    return SHUFFLENET_V2_BUILDERS[width_mult](num_classes=num_classes, inverted_residual=ShuffleV2Unit)
