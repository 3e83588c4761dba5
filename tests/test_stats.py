"""The metrics room (edgekit.stats): top-1, top-1 agreement and cosine of logits, as export's parity, quantize's
sensitivity, the PTQ/QAT reports and eval compute them."""
from __future__ import annotations

import numpy as np
import pytest

from edgekit.stats import cosine_rows, mean_cosine, top1_accuracy, top1_agreement, top1_correct


def test_top1_counts_the_highest_logit_against_the_label():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.2, 0.1], [0.3, 0.2, 0.1]])
    labels = np.array([1, 0, 2, 0])
    assert top1_correct(logits, labels).tolist() == [True, True, False, True]
    assert top1_accuracy(logits, labels) == pytest.approx(0.75)
    assert top1_agreement(logits, logits[:, [0, 1, 2]]) == 1.0


def test_cosine_rows_per_image_and_zero_rows():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0], [1.0, 0.0]])
    assert cosine_rows(a, b).tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert mean_cosine(a, b) == pytest.approx(1 / 3)


def test_cosine_keeps_the_inputs_dtype():
    """float32 logits measured in float32 (quantize's sensitivity), float64 when the caller asks (export's parity)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 10)).astype(np.float32)
    b = a + np.float32(0.01) * rng.standard_normal((50, 10)).astype(np.float32)
    assert cosine_rows(a, b).dtype == np.float32
    assert cosine_rows(a.astype(np.float64), b.astype(np.float64)).dtype == np.float64
    assert mean_cosine(a, b) == pytest.approx(mean_cosine(a.astype(np.float64), b.astype(np.float64)), abs=1e-6)
