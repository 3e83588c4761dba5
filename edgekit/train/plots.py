"""The run's curves: loss.png and accuracy.png, train and validation per epoch."""
from __future__ import annotations

from pathlib import Path

from edgekit.fileio import atomic_write


def plot_curves(history: list[dict], run_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    written = []
    for metric, title in (("loss", "loss"), ("acc", "accuracy")):
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        axes.plot(epochs, [row[f"train_{metric}"] for row in history], marker="o", label="train")
        axes.plot(epochs, [row[f"val_{metric}"] for row in history], marker="o", label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(title)
        axes.set_title(f"{title} per epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = atomic_write(Path(run_dir) / f"{title}.png", lambda tmp: figure.savefig(tmp, format="png"))
        plt.close(figure)
        written.append(path)
    return written
