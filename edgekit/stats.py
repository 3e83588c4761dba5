"""The statistics and metrics edgekit reports, in one place (numpy only): intervals, top-1, agreement, cosine,
confusion, top-k, softmax.

    wilson_interval(correct, n)            95 % Wilson score interval of a proportion (fractions)
    paired_drop_interval(ref, art)         drop in accuracy points of one predictor against another on the same
                                           images, with its paired 95 % interval (docs/manifest.md, "Parity")
    top1_correct(logits, labels)           per image: is the highest logit the true class (the paired interval's input)
    top1_accuracy(logits, labels)          fraction of images whose highest logit is the true class
    top1_agreement(a, b)                   fraction of images where two predictors pick the same class
    cosine_rows(a, b), mean_cosine(a, b)   cosine similarity of each image's logits, and its mean
    confusion_matrix, top_k_accuracy, softmax
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


def top1_correct(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image (bool): is the highest logit the true class."""
    return logits.argmax(axis=1) == labels


def top1_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose highest logit is the true class."""
    return float(top1_correct(logits, labels).mean())


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `a` with the same row of `b` (one image's logits), computed in the inputs'
    dtype (pass float64 for a measurement that must not round in float32); 0 where a row is all zeros."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1), 0)


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The mean of `cosine_rows(a, b)` over the images, -1..1."""
    return float(np.mean(cosine_rows(a, b)))


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
