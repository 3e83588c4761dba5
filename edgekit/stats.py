"""The statistics edgekit reports, in one place (numpy only): intervals, confusion, top-k, softmax.

    wilson_interval(correct, n)            95 % Wilson score interval of a proportion (fractions)
    paired_drop_interval(ref, art)         drop in accuracy points of one predictor against another on the same
                                           images, with its paired 95 % interval (docs/manifest.md, "Parity")
    confusion_matrix, top_k_accuracy, top1_agreement, softmax
"""
from __future__ import annotations

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile
INTERVAL_METHOD = "Wilson score interval, 95 %"


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion correct/n (as fractions); honest near 0 and 1, unlike
    the normal approximation."""
    if n <= 0:
        raise ValueError("no images")
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def paired_drop_interval(reference_correct: np.ndarray, artifact_correct: np.ndarray) -> tuple[float, float, float]:
    """(drop, low, high) in accuracy points: drop = mean(c_ref - c_art) * 100 over the same images,
    with the paired-difference 95 % normal interval drop +- 1.96 * sd(d) / sqrt(n) (sd with n - 1).

    Pairing removes the images both get right or both get wrong: only discordant images widen it.
    With no discordant image the interval is [drop, drop] (the normal approximation says nothing more).
    """
    d = np.asarray(reference_correct, dtype=np.float64) - np.asarray(artifact_correct, dtype=np.float64)
    n = len(d)
    if n == 0:
        raise ValueError("no images")
    drop = float(d.mean())
    half = Z_95 * float(d.std(ddof=1)) / np.sqrt(n) if n > 1 else float("inf")
    return 100.0 * drop, 100.0 * (drop - half), 100.0 * (drop + half)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float | None:
    """Fraction of images whose true class is among the k highest logits; None with fewer than k classes."""
    if logits.shape[1] < k:
        return None
    top = np.argsort(-logits, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def top1_agreement(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    """Fraction of images where two predictors pick the same class (e.g. int8 vs fp32)."""
    if logits_a.shape != logits_b.shape:
        raise ValueError(f"cannot compare logits of shapes {logits_a.shape} and {logits_b.shape}")
    return float((logits_a.argmax(axis=1) == logits_b.argmax(axis=1)).mean())


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (float64 inside), float32 out."""
    logits = np.asarray(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted.astype(np.float64))
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_k(logits: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """One image's k most probable classes as (index, probability), highest first, ties to the lower index
    (as the app's Postprocess.topK); probabilities from a float64 softmax."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    z = np.exp(logits - logits.max())
    probs = z / z.sum()
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))[:k]
    return [(int(i), float(probs[i])) for i in order]
