"""ResNet-18 (torchvision's): not a mobile architecture, the transfer-learning baseline to compare with."""
from __future__ import annotations

import torchvision
from torch import nn

from edgekit.models.registry import register_model


# the paper gives FLOPs (1.8e9 multiply-adds) but no parameter count for ResNet-18; its headline top-1 is
# 10-crop, so the single-crop figure of torchvision's weights is shown to compare like for like with the
# mobile models
@register_model("resnet18", default_img_size=224, min_img_size=32, options=(),
                paper="He et al. 2016, Deep Residual Learning (arXiv:1512.03385), ResNet-18 (top-1: torchvision single crop)",
                published_top1=69.76, paper_params_m=None, paper_macs_m=1800.0)
def resnet18(num_classes: int = 1000) -> nn.Module:
    return torchvision.models.resnet18(num_classes=num_classes)
