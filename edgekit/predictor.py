"""The one interface evaluation, parity and benchmarks use: a batch of images in, logits out.

A predictor maps float32 NCHW images, already preprocessed and normalised, to float32 logits
of shape (N, num_classes). The PyTorch model (`TorchPredictor`) and every exported artifact in its own
runtime (`edgekit.runtime`) are one, so one evaluation serves them all. Importing this module loads no
torch; a TorchPredictor imports it when it is built.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Predictor(Protocol):
    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


class TorchPredictor:
    """An nn.Module in eval mode, run without gradients on the CPU (or the given device)."""

    def __init__(self, model, name: str = "pytorch", device="cpu"):
        import torch

        self.model, self.name, self.device = model.eval().to(device), name, torch.device(device)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device)
            return self.model(batch).float().cpu().numpy()


def predict_in_batches(predictor: Predictor, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Run a predictor over many images; artifacts exported with a static batch of 1 get 1."""
    return np.concatenate([predictor(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
