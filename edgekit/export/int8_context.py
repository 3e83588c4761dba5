"""What the int8 artifacts of one export share while export repairs them (edgekit.export.int8_plan): the calibration
images (and a larger sample, loaded when a repair asks for it), the layer ranking, and the equalized model."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from edgekit.progress import OnProgress, Reporter, reporter

RANK_CALIBRATION = 100  # int8 repair's layer ranking: calibration images that give the simulated ranges
RANK_COMPARED = 64  # ... and the next ones, whose logits are compared with float
LATENCY_FLOOR_MS = 0.005  # --latency-target: a layer's cost in float is counted as at least this (profiler noise)


class Int8Context:
    """What the int8 artifacts of one export share: the calibration images (and a larger sample, loaded when a
    repair asks for it), and the layer ranking (computed once, on the calibration images, never the gate's)."""

    def __init__(self, calibration: np.ndarray, description: str | None,
                 load_more: Callable[[int], tuple[np.ndarray, str]] | None = None, available: int | None = None,
                 model=None, on_progress: OnProgress | Reporter | None = None):
        self.calibration, self.description = calibration, description
        self._by_size = {len(calibration): (calibration, description)}
        self._load_more, self.available = load_more, available
        self._model, self._ranking, self._equalized = model, None, {}
        self.badness: dict[str, float] = {}
        self.report = reporter(on_progress)

    @property
    def can_equalize(self) -> bool:
        return self._model is not None

    def equalized(self, reduce_range: bool = False) -> tuple[object, dict]:
        """(the model after cross-layer equalization and bias correction on the calibration images, what was done),
        computed once per weight range (edgekit.quantize.equalize); the model is None when there is nothing to act on."""
        if reduce_range not in self._equalized:
            from edgekit.quantize.equalize import equalize_for_int8

            self.report.stage("int8: cross-layer equalization and bias correction (calibration images)")
            started = time.perf_counter()
            model, facts = equalize_for_int8(self._model, self.calibration, weight_levels=63 if reduce_range else 127)
            facts["seconds"] = round(time.perf_counter() - started, 1)
            self._equalized[reduce_range] = (model, facts)
        return self._equalized[reduce_range]

    def more_images(self) -> int | None:
        if self._load_more is None or not self.available:
            return None
        from edgekit.export.int8_plan import MORE_CALIBRATION
        from edgekit.images import MAX_CALIBRATION_IMAGES

        size = min(self.available, MAX_CALIBRATION_IMAGES, MORE_CALIBRATION * len(self.calibration))
        return size if size > len(self.calibration) else None

    def images(self, count: int) -> np.ndarray:
        if count not in self._by_size:
            self._by_size[count] = self._load_more(count)
        return self._by_size[count][0]

    def description_for(self, count: int) -> str | None:
        return self._by_size.get(count, (None, self.description))[1]

    def ranking(self) -> tuple[list[str], dict]:
        """conv/linear module names, the worst in int8 first (edgekit.quantize.sensitivity.simulated_sensitivity on
        the calibration images: the first RANK_CALIBRATION give the ranges, the next RANK_COMPARED are compared with
        float), computed once per export; the gate's images are never used."""
        if self._ranking is None:
            from edgekit.quantize.sensitivity import simulated_sensitivity

            self.report.stage("int8: ranking layers by simulated int8 sensitivity (calibration images)")
            started = time.perf_counter()
            images = self.calibration
            half = max(1, min(RANK_CALIBRATION, len(images) // 2))
            compared = images[half:half + RANK_COMPARED] if len(images) > half else images
            rows = simulated_sensitivity(self._model, images[:half], compared)
            self._ranking = ([row.name for row in rows],
                             {"images": f"{self.description}: {half} give the ranges, {len(compared)} compared "
                                        "(none of the gate's images)",
                              "method": "one conv/linear layer in simulated int8 at a time (BatchNorm folded; input "
                                        "and output per tensor, weights per channel), logits compared with float: "
                                        "agreement, then cosine",
                              "layers": [{"name": row.name, "agreement": round(row.agreement, 4),
                                          "cosine": round(row.cosine, 6)} for row in rows[:16]],
                              "seconds": round(time.perf_counter() - started, 1)})
            self.badness = {row.name: (1.0 - row.agreement) + (1.0 - row.cosine) for row in rows}
        return self._ranking

    def ranking_per_ms(self, cost_ms: dict[str, float]) -> tuple[list[str], dict]:
        """The ranking reordered by int8 damage per millisecond of keeping the layer in float on the latency target
        (`cost_ms`: fp32 ms minus int8 ms per module, from the runtime's profiler; negative: float is faster there):
        damage (1 - agreement) + (1 - cosine) over max(cost, LATENCY_FLOOR_MS), so a layer that is both bad in int8
        and cheap (or faster) in float comes first."""
        names, facts = self.ranking()
        score = {name: self.badness.get(name, 0.0) / max(cost_ms.get(name, LATENCY_FLOOR_MS), LATENCY_FLOOR_MS)
                 for name in names}
        ordered = sorted(names, key=lambda name: -score[name])
        return ordered, {**facts, "order": "int8 damage per ms of float on the latency target (ORT's profiler): "
                                           "damage (1 - agreement) + (1 - cosine), cost fp32 ms - int8 ms, at least "
                                           f"{LATENCY_FLOOR_MS} ms",
                         "by_damage_per_ms": [{"name": name, "damage": round(self.badness.get(name, 0.0), 6),
                                               "cost_ms": round(cost_ms[name], 4) if name in cost_ms else None}
                                              for name in ordered[:16]]}
