"""The report's two figures, drawn with matplotlib (Agg) and returned as base64 PNG for inline <img> tags.

    accuracy_latency_png(points, front, title) -> str | None     None when nothing was benchmarked
    sizes_png(names, sizes_mb) -> str | None
    op_types_png(side_by_side, title) -> str | None              None when no format has op times
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from edgekit.formats import colour  # noqa: E402



@dataclass
class Point:
    label: str
    format: str
    latency_ms: float
    top1: float
    interval: tuple[float, float] | None = None


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def accuracy_latency_png(points: list[Point], front: set[int], title: str,
                         y_label: str = "top-1 accuracy (%)") -> str | None:
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    ordered_front = sorted((points[i] for i in front), key=lambda p: p.latency_ms)
    if len(ordered_front) > 1:
        ax.step([p.latency_ms for p in ordered_front], [p.top1 for p in ordered_front], where="post",
                color="#d62728", linewidth=1.5, alpha=0.7, label="Pareto front", zorder=1)
    spread = max(p.latency_ms for p in points) / max(min(p.latency_ms for p in points), 1e-9)
    log_x = spread > 8
    for i, p in enumerate(points):
        shade = colour(p.format)
        on_front = i in front
        if p.interval:
            ax.errorbar(p.latency_ms, p.top1, yerr=[[p.top1 - p.interval[0]], [p.interval[1] - p.top1]],
                        fmt="none", ecolor=shade, alpha=0.35, capsize=3, zorder=2)
        ax.scatter([p.latency_ms], [p.top1], s=110 if on_front else 55, color=shade,
                   marker="*" if on_front else "o", edgecolors="#d62728" if on_front else "white",
                   linewidths=1.0, zorder=3)
    if log_x:  # after the data: a log axis with no data yet has no finite limits (numpy divides by zero)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.margins(x=0.2, y=0.3)
    ax.autoscale_view()
    _place_labels(ax, points, fig.dpi)
    ax.set_xlabel("p50 latency (ms, log scale), lower is better" if log_x else "p50 latency (ms), lower is better")
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10.5)
    ax.grid(True, alpha=0.3)
    if len(ordered_front) > 1:
        ax.legend(loc="lower right", fontsize=8.5, frameon=False)
    return _png(fig)


def _place_labels(ax, points: list[Point], dpi: float) -> None:
    """Label every point; a label that would overlap an earlier one (in pixels) moves up a line."""
    char_px, line_px = 8.5 * dpi / 72 * 0.56, 8.5 * dpi / 72 * 1.25
    taken: list[tuple[float, float, float]] = []  # x0, x1, y of placed labels, display pixels
    for p in sorted(points, key=lambda p: (p.latency_ms, -p.top1)):
        x, y = ax.transData.transform((p.latency_ms, p.top1))
        width = len(p.label) * char_px
        for row in range(len(points) + 1):
            x0, ly = x + 7, y + 4 + row * line_px
            if all(x0 > e1 + 3 or x0 + width < e0 - 3 or abs(ly - ey) >= line_px for e0, e1, ey in taken):
                break
        taken.append((x0, x0 + width, ly))
        ax.annotate(p.label, (p.latency_ms, p.top1), textcoords="offset points",
                    xytext=(7 * 72 / dpi, (4 + row * line_px) * 72 / dpi), fontsize=8.5, color="#222222")


def sizes_png(names: list[str], sizes_mb: list[float], formats: list[str]) -> str | None:
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 0.42 * len(names) + 1.0))
    colours = [colour(f) for f in formats]
    bars = ax.barh(names, sizes_mb, color=colours)
    ax.invert_yaxis()
    for bar, size in zip(bars, sizes_mb):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {size:.2f} MB", va="center", fontsize=8.5)
    ax.set_xlabel("artifact size (MB)")
    ax.set_xlim(0, max(sizes_mb) * 1.22 if sizes_mb else 1)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title("size per artifact", fontsize=10.5)
    return _png(fig)


def op_types_png(by_format: dict[str, list[tuple[str, float | None, float | None]]], title: str,
                 top: int = 8) -> str | None:
    """Per format, the `top` op types' time per run, fp32 bar beside int8 bar (edgekit profile)."""
    formats = [f for f, rows in by_format.items() if rows]
    if not formats:
        return None
    heights = [min(top, len(by_format[f])) for f in formats]
    fig, axes = plt.subplots(len(formats), 1, figsize=(7.2, 0.36 * sum(heights) + 1.1 * len(formats) + 0.4),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, fmt in zip(axes[:, 0], formats):
        rows = by_format[fmt][:top]
        y = list(range(len(rows)))
        fp32 = [r[1] or 0.0 for r in rows]
        int8 = [r[2] or 0.0 for r in rows]
        ax.barh([v - 0.2 for v in y], fp32, height=0.38, color=colour(fmt), label="fp32")
        ax.barh([v + 0.2 for v in y], int8, height=0.38, color=colour(fmt), alpha=0.45, hatch="//", label="int8")
        ax.set_yticks(y)
        ax.set_yticklabels([r[0] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(fmt, fontsize=9.5, loc="left")
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("ms per run (median of the profiled runs)")
    fig.suptitle(title, fontsize=10.5)
    fig.tight_layout()
    return _png(fig)
