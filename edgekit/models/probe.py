"""Non-degenerate weights without training: batch-norm statistics re-estimated on real images and the last
layer fitted to their labels by ridge regression (a linear probe on the network's own features).

Parity on a random network means little: its outputs barely depend on the image. These weights make different
images give different logits and different top-1 classes, in seconds and deterministically (no SGD trajectory
to diverge between CPUs: a few forward passes and one float64 solve), so export parity, int8 checks, bench,
report and the Android tools compare real, varied predictions. They are far from a trained model's accuracy;
tests whose subject is accuracy train.

    probe_weights(model, images, labels, num_classes)         fit `model` in place (any nn.Module classifier)
    non_degenerate_weights(model_name, img_size=64) -> dict   a zoo model's state dict, fitted on the shipped data
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgekit.paths import SAMPLE_DATA_DIR

RIDGE = 1.0  # relative to the features' mean variance
PROBE_IMAGES = 300  # shipped training images the statistics and the head are fitted on
PROBE_IMG_SIZE = 64


def probe_weights(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                  batch_size: int = 32) -> nn.Module:
    """Re-estimate every batch norm's running statistics on `images` (cumulative average), then fit the last
    Linear/Conv2d to one-hot `labels` by ridge regression on its (spatially pooled) input. In place; eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for batch in images.split(batch_size):
            model(batch)
    model.eval()
    _fit_head(model, images, labels, num_classes, batch_size)
    return model


def _fit_head(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int, batch_size: int) -> None:
    """Ridge regression of one-hot labels on the last layer's (spatially pooled) input: a linear probe.

    The last layer is a Linear, or SqueezeNet's 1x1 convolution (pooling after it commutes with it).
    """
    last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    captured = []
    hook = last.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    with torch.no_grad():
        for batch in images.split(batch_size):
            model(batch)
    hook.remove()
    features = torch.cat([x.mean(dim=(2, 3)) if x.dim() == 4 else x for x in captured]).double()
    mean = features.mean(dim=0)
    centred = features - mean
    targets = 4.0 * nn.functional.one_hot(labels, num_classes).double()  # logit gaps of a few units
    gram = centred.T @ centred
    # The ridge keeps weight off directions the features barely vary in (near-dead channels).
    ridge = RIDGE * torch.trace(gram) / gram.shape[0]
    weight = torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0], dtype=torch.float64), centred.T @ targets).T
    bias = targets.mean(dim=0) - weight @ mean
    with torch.no_grad():
        last.weight.copy_(weight.reshape(last.weight.shape).float())
        if last.bias is not None:
            last.bias.copy_(bias.float())


def probe_images(img_size: int = PROBE_IMG_SIZE, num_images: int = PROBE_IMAGES, seed: int = 0,
                 preprocessing=None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images, labels, classes): a seeded sample of the shipped training split, preprocessed for evaluation."""
    from edgekit.data.folder import load_splits
    from edgekit.images import seeded_sample
    from edgekit.preprocess import Preprocessing

    splits = load_splits(SAMPLE_DATA_DIR)
    picked = seeded_sample(splits.train, num_images, seed)
    pre = preprocessing or Preprocessing(img_size=img_size)
    images = torch.from_numpy(pre.load_batch([path for path, _ in picked]))
    return images, torch.tensor([label for _, label in picked]), list(splits.classes)


def non_degenerate_weights(model_name: str, img_size: int = PROBE_IMG_SIZE, num_images: int = PROBE_IMAGES,
                           seed: int = 0, **options) -> dict[str, torch.Tensor]:
    """A zoo model's state dict (10 classes: the shipped data's) whose outputs depend on the input."""
    from edgekit.models import create_model

    torch.manual_seed(seed)
    images, labels, classes = probe_images(img_size, num_images, seed)
    model = create_model(model_name, num_classes=len(classes), **options)
    probe_weights(model, images, labels, len(classes))
    return model.state_dict()


def distinct_top1(model: nn.Module, images: np.ndarray) -> int:
    """How many classes the model's top-1 takes over `images` (a degenerate model: 1 or 2)."""
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(np.ascontiguousarray(images)))
    return len(set(logits.argmax(dim=1).tolist()))
