"""The one interface evaluation, parity and benchmarks use: a batch of images in, logits out.

A predictor maps float32 NCHW images, already preprocessed and normalised, to float32 logits
of shape (N, num_classes). The PyTorch model and every exported artifact (TorchScript, ONNX,
TFLite, ExecuTorch) are wrapped as one, so one evaluation serves them all.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn


class Predictor(Protocol):
    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


class TorchPredictor:
    """An nn.Module in eval mode, run without gradients on the CPU (or the given device)."""

    def __init__(self, model: nn.Module, name: str = "pytorch", device: str | torch.device = "cpu"):
        self.model, self.name, self.device = model.eval().to(device), name, torch.device(device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device)
        return self.model(batch).float().cpu().numpy()


def predict_in_batches(predictor: Predictor, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Run a predictor over many images; artifacts exported with a static batch of 1 get 1."""
    return np.concatenate([predictor(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
