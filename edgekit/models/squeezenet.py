"""SqueezeNet 1.0 and 1.1 (torchvision's)."""
from __future__ import annotations

import torchvision
from torch import nn

from edgekit.models.options import check_dropout
from edgekit.models.registry import register_model


@register_model("squeezenet1_0", default_img_size=224, min_img_size=32, options=("dropout",),
                paper="Iandola et al. 2016, SqueezeNet (arXiv:1602.07360), Table 2",
                published_top1=57.5, paper_params_m=1.25, paper_macs_m=None)
def squeezenet1_0(num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    """torchvision's SqueezeNet 1.0; dropout 0.5 before the final conv, as in the paper."""
    return torchvision.models.squeezenet1_0(num_classes=num_classes, dropout=check_dropout("squeezenet1_0", dropout))


# 1.1 has no paper of its own: it is the revision in the authors' repository ("2.4x less computation
# than 1.0, without sacrificing accuracy"); the top-1 is that of torchvision's reference weights
@register_model("squeezenet1_1", default_img_size=224, min_img_size=32, options=("dropout",),
                paper="Iandola et al. 2016, SqueezeNet v1.1 (forresti/SqueezeNet repository; top-1 of torchvision's weights)",
                published_top1=58.2, paper_params_m=None, paper_macs_m=None)
def squeezenet1_1(num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    """torchvision's SqueezeNet 1.1; dropout 0.5 before the final conv."""
    return torchvision.models.squeezenet1_1(num_classes=num_classes, dropout=check_dropout("squeezenet1_1", dropout))
