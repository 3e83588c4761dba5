"""int8 that meets its own gate: when an int8 artifact loses more than `--max-drop`, export repairs it.

    policy "repair" (the default)   the artifact as asked first; if its verification fails on accuracy, fixes are
                                    tried cheapest first, each re-exported and re-verified in the artifact's own
                                    runtime on the gate's images, and kept only when the drop shrinks:
                                      1. on an x86 CPU without VNNI, ONNX Runtime's `reduce_range` (7-bit weights:
                                         its u8 x s8 sums go through 16 bits there and can saturate); cross-layer
                                         equalization and bias correction (edgekit.quantize.equalize, Nagel et al.
                                         2019) on a copy of the model the artifact is built from
                                      2. the other calibration method of the format (PT2E: histogram; ONNX Runtime:
                                         percentile)
                                      3. more calibration images (the run's training split is larger than the sample)
                                      4. the fewest layers kept in float: conv/linear layers ranked once per export by
                                         their int8 sensitivity (one layer quantized at a time, edgekit.quantize.
                                         sensitivity) on the calibration images, not the gate's, so the gate stays a
                                         held-out judgement; the worst 1, 2, 4, 8 are kept in float until the gate
                                         passes, then the count is bisected down to the fewest that pass
                                    nothing fits: the artifact fails as before, its reason naming what was tried and the
                                    best drop reached
    policy "strict"                 the gate only (fail, never repair)

Every step is recorded (`Int8Plan`, manifest `int8_plan`, summary.json's row): the action, the drop and its paired
95 % interval, whether the change was kept, how long it took, and the CPU the verification ran on.

Not done here (docs/quantization.md says so): choosing layers by measured latency on a target (the plan optimises
accuracy and the count of float layers; bench flags an int8 artifact slower than its fp32 and says why).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

from edgekit.cpu import cpu_facts, saturates_u8s8
from edgekit.progress import OnProgress, Reporter, reporter

POLICIES = ("repair", "strict")
FIXES = ("calibration", "equalize", "images", "float-layers")  # what the repair may use (ExportOptions.int8_fixes)
DEFAULT_POLICY = "repair"
FLOAT_LAYER_STEPS = (1, 2, 4, 8)  # worst-first prefixes of the ranking tried before bisecting down
MORE_CALIBRATION = 4  # the calibration sample grows to this many times its size (capped by the images there are)
ALTERNATIVE_METHOD = {"onnx": "percentile", "tflite": "histogram", "executorch": "histogram"}


@dataclass(frozen=True)
class Int8Settings:
    """What one int8 attempt is built with."""

    calib_method: str | None
    calib_images: int
    keep_float: tuple[str, ...] = ()
    reduce_range: bool = False
    equalize: bool = False  # built from the model after cross-layer equalization and bias correction

    def to_dict(self) -> dict:
        return {"calib_method": self.calib_method, "calib_images": self.calib_images,
                "keep_float": list(self.keep_float), "reduce_range": self.reduce_range, "equalize": self.equalize}


@dataclass
class PlanStep:
    action: str  # "as asked", "calibration: histogram", "reduce_range", "calibration images: 800", "keep float: 2"
    status: str  # the verification's status after the step ("passed", "failed", "failed to export")
    drop_points: float | None
    drop_interval: list[float] | None
    agreement: float | None
    kept: bool  # the step's settings became the plan's (it was better than everything before)
    seconds: float
    settings: dict
    reason: str = ""


@dataclass
class Int8Plan:
    """How an int8 artifact was made to meet its gate (or why it could not be): a public, documented record."""

    policy: str
    max_drop: float
    outcome: str  # "met as asked", "repaired", "not repaired", "strict", "not run", "not judged"
    settings: Int8Settings
    steps: list[PlanStep] = field(default_factory=list)
    ranking: dict | None = None  # {"images": ..., "layers": worst first (at most 16), "seconds": ...}
    equalization: dict | None = None  # what cross-layer equalization did (pairs, rounds, biases), when it was tried
    latency: dict | None = None  # with a latency target: int8 against fp32 there, each latency step (plan_latency)
    cpu: dict = field(default_factory=cpu_facts)

    @property
    def fixes(self) -> list[str]:
        """What the final artifact carries that the one asked for did not, in words."""
        if not self.steps:
            return []
        asked, final, fixes = self.steps[0].settings, self.settings, []
        if final.calib_method != asked["calib_method"]:
            fixes.append(f"calibration: {final.calib_method}")
        if final.reduce_range and not asked["reduce_range"]:
            fixes.append("reduce_range")
        if final.equalize and not asked.get("equalize"):
            fixes.append("cross-layer equalization + bias correction")
        if final.calib_images != asked["calib_images"]:
            fixes.append(f"{final.calib_images} calibration images")
        added = [name for name in final.keep_float if name not in asked["keep_float"]]
        if added:
            fixes.append(f"{len(added)} layer(s) in float ({', '.join(added)})")
        return fixes

    def to_dict(self) -> dict:
        return {"policy": self.policy, "max_drop": self.max_drop, "outcome": self.outcome,
                "fixes": self.fixes, **self.settings.to_dict(),
                "steps": [asdict(step) for step in self.steps], "ranking": self.ranking,
                "equalization": self.equalization, "latency": self.latency, "cpu": self.cpu}

    def summary_line(self) -> str:
        """One line for the console's footnote and the report."""
        first = self.steps[0] if self.steps else None
        start = f"{first.drop_points:.1f}" if first and first.drop_points is not None else "?"
        best = _best(self.steps)
        end = f"{best.drop_points:.1f}" if best and best.drop_points is not None else "?"
        tried = len(self.steps) - 1
        speed = f"; {self.latency['outcome']}" if self.latency else ""
        if self.outcome == "repaired":
            return (f"int8 repaired: {'; '.join(self.fixes)} (drop {start} -> {end} points, {tried} attempt(s)){speed}")
        if self.outcome == "met as asked" and self.latency:
            return self.latency["outcome"] if not self.fixes else f"int8 {'; '.join(self.fixes)}{speed}"
        if self.outcome == "not repaired" and tried:
            return (f"int8 repair tried {tried} fix(es) ({', '.join(s.action for s in self.steps[1:])}); "
                    f"best drop {end} points > --max-drop {self.max_drop}")
        return ""


def _best(steps: Sequence[PlanStep]) -> PlanStep | None:
    kept = [step for step in steps if step.kept]
    return kept[-1] if kept else (steps[0] if steps else None)


def score(parity) -> tuple[int, float]:
    """Lower is better: a passing verification first, then the smaller drop (or disagreement without labels)."""
    if parity is None or parity.agreement is None:
        return (2, float("inf"))
    badness = parity.drop_points if parity.drop_points is not None else 100.0 * (1.0 - parity.agreement)
    return (0 if parity.status == "passed" else 1, float(badness))


def repairable(parity) -> bool:
    """A failure the plan can act on: the artifact ran and its outputs were compared (not a crash or a bad shape)."""
    return parity is not None and parity.status == "failed" and parity.agreement is not None


@dataclass
class Attempt:
    """One int8 build: what it was built with, its verification, and whatever the caller needs to keep it."""

    settings: Int8Settings
    parity: object | None  # edgekit.export.verify.Parity, None when the converter failed
    error: str = ""
    seconds: float = 0.0
    payload: object = None  # the caller's handle on the built artifact (its folder, facts)


def plan_repair(format_name: str, first: Attempt, build: Callable[[Int8Settings], Attempt], *,
                max_drop: float, policy: str, ranking: Callable[[], tuple[list[str], dict]],
                more_images: int | None, require_integer: bool, cpu: dict | None = None,
                on_progress: OnProgress | Reporter | None = None,
                equalization: Callable[[], dict | None] | None = None,
                fixes: Sequence[str] = FIXES) -> tuple[Attempt, Int8Plan]:
    """The best attempt and the plan that led to it. `build(settings)` exports and verifies one attempt; `ranking()`
    gives conv/linear module names worst first (computed at most once, on images that are not the gate's);
    `more_images`: the larger calibration sample to try (None: no more images to be had); `equalization()`: what
    equalizing the model does ({"pairs": ...}) or {"reason": why it cannot} (None: not offered); `fixes`: the kinds
    of fix allowed (FIXES: "calibration" is the method and reduce_range)."""
    cpu = cpu or cpu_facts()
    say = reporter(on_progress).stage
    plan = Int8Plan(policy, max_drop, "met as asked", first.settings, cpu=cpu)
    plan.steps.append(_step("as asked", first, kept=True))
    if first.parity is not None and first.parity.status == "passed":
        return first, plan
    if first.parity is not None and first.parity.status in ("not run", "not judged"):
        plan.outcome = first.parity.status  # nothing measured to repair (Core ML on Linux; random weights)
        return first, plan
    if policy == "strict" or not repairable(first.parity):
        plan.outcome = "strict" if policy == "strict" else "not repaired"
        return first, plan
    best = first

    def attempt(action: str, settings: Int8Settings) -> bool:
        nonlocal best
        say(f"{format_name} int8: drop {_drop(best)} points; trying {action}")
        candidate = build(settings)
        better = score(candidate.parity) < score(best.parity)
        plan.steps.append(_step(action, candidate, kept=better))
        if better:
            best = candidate
        return _passed(best)

    settings = best.settings
    free = []
    calibrate = "calibration" in fixes
    if calibrate and format_name == "onnx" and saturates_u8s8(cpu) and not settings.reduce_range:
        free.append(("reduce_range (7-bit weights: this CPU has no VNNI)", lambda s: replace(s, reduce_range=True)))
    if "equalize" in fixes and equalization is not None and not settings.equalize:
        plan.equalization = equalization()
        if "reason" not in plan.equalization:
            pairs = len(plan.equalization["pairs"])
            free.append((f"equalize: {pairs} layer pair(s) + bias correction", lambda s: replace(s, equalize=True)))
    method = ALTERNATIVE_METHOD.get(format_name)
    if calibrate and method and method != settings.calib_method:
        free.append((f"calibration: {method}", lambda s: replace(s, calib_method=method)))
    if "images" in fixes and more_images and more_images > settings.calib_images:
        free.append((f"calibration images: {more_images}", lambda s: replace(s, calib_images=more_images)))
    for action, change in free:
        if attempt(action, change(best.settings)):
            return _finish(best, plan)
    if "float-layers" in fixes and not require_integer:  # a float layer would fail --require-integer by definition
        names, facts = ranking()
        plan.ranking = facts
        names = [name for name in names if name not in best.settings.keep_float]
        base, passing = best.settings, None
        for count in FLOAT_LAYER_STEPS:
            if count > len(names):
                break
            if attempt(f"keep float: {count} layer(s)", replace(base, keep_float=base.keep_float + tuple(names[:count]))):
                passing = count
                break
        if passing and passing > 1:  # bisect down to the fewest that pass (the ranking is a prefix order)
            low, high = FLOAT_LAYER_STEPS[FLOAT_LAYER_STEPS.index(passing) - 1], passing
            while high - low > 1:
                middle = (low + high) // 2
                candidate = build(replace(base, keep_float=base.keep_float + tuple(names[:middle])))
                good = candidate.parity is not None and candidate.parity.status == "passed"
                plan.steps.append(_step(f"keep float: {middle} layer(s)", candidate, kept=good))
                if good:
                    best, high = candidate, middle
                else:
                    low = middle
    return _finish(best, plan)


LATENCY_GAIN = 1.03  # a latency step is kept when it makes int8's speed-up over fp32 at least 3 % larger (noise)


def plan_latency(format_name: str, best: Attempt, plan: Int8Plan, build: Callable[[Int8Settings], Attempt], *,
                 time_int8: Callable[[Attempt], tuple[float, float]],
                 slower: Callable[[Attempt], list[tuple[str, float, float]] | None], target: str = "host",
                 on_progress: OnProgress | Reporter | None = None) -> Attempt:
    """With a latency target: time the int8 artifact (passed its gate, or not judged: random weights) against the
    format's fp32 there; keep in float the layers whose ops are slower in int8 there (all of them, then the slower
    half), each re-verified against the gate (the same verdict as before) and re-timed, kept only when int8's speed-up over fp32 grows by LATENCY_GAIN. `time_int8(attempt)` gives
    (fp32 ms, int8 ms) measured together; `slower(attempt)` the [(module, fp32 ms, int8 ms)] slower in int8, most
    extra time first (None: the runtime gives no per-layer times). Recorded in plan.latency."""
    say = reporter(on_progress).stage
    fp32_ms, int8_ms = time_int8(best)
    steps = [{"action": "as verified", "int8_ms": round(int8_ms, 4), "fp32_ms": round(fp32_ms, 4),
              "int8_vs_fp32": round(fp32_ms / int8_ms, 3), "keep_float": list(best.settings.keep_float),
              "status": best.parity.status, "kept": True}]
    plan.latency = {"target": target, "threads": 1, "steps": steps, "slower_in_int8": None, "outcome": ""}
    ratio = fp32_ms / int8_ms
    layers = slower(best)
    if layers is not None:
        plan.latency["slower_in_int8"] = [{"module": name, "fp32_ms": round(f, 4), "int8_ms": round(i, 4)}
                                          for name, f, i in layers]
        names = [name for name, _, _ in layers if name not in best.settings.keep_float]
        tries = ([names] if names else []) + ([names[:len(names) // 2]] if len(names) > 1 else [])
        for chosen in tries:
            say(f"{format_name} int8: {ratio:.2f}x fp32 on the {target}; trying {len(chosen)} layer(s) slower in "
                "int8 there in float")
            candidate = build(replace(best.settings, keep_float=best.settings.keep_float + tuple(chosen)))
            step = {"action": f"keep float for speed: {len(chosen)} layer(s)", "keep_float": list(chosen),
                    "status": candidate.parity.status if candidate.parity else "failed to export", "kept": False}
            if candidate.parity is not None and candidate.parity.status == best.parity.status:  # passed (or not
                # judged, as the as-verified artifact: random weights give nothing to judge, the timing still counts)
                new_fp32, new_int8 = time_int8(candidate)
                step.update(int8_ms=round(new_int8, 4), fp32_ms=round(new_fp32, 4),
                            int8_vs_fp32=round(new_fp32 / new_int8, 3))
                if new_fp32 / new_int8 >= ratio * LATENCY_GAIN:
                    best, ratio, step["kept"] = candidate, new_fp32 / new_int8, True
                    plan.settings = best.settings
            steps.append(step)
            if step["kept"]:
                break
    cpu = plan.cpu.get("int8_note") or plan.cpu.get("int8_class") or "this CPU"
    where = f"on the {target} ({plan.cpu.get('name', 'CPU')}, 1 thread)"
    if ratio >= 1.0:
        plan.latency["outcome"] = f"int8 {ratio:.2f}x fp32 {where}"
    else:
        why = ("no layer is faster in float there" if layers is not None
               else f"{format_name}'s runtime gives no per-layer times to choose layers from")
        plan.latency["outcome"] = f"int8 is slower than fp32 {where}: {ratio:.2f}x ({cpu}; {why})"
    kept = [step for step in steps[1:] if step["kept"]]
    if kept:
        plan.latency["outcome"] += f", {len(kept[-1]['keep_float'])} layer(s) kept in float for speed"
    return best


def _finish(best: Attempt, plan: Int8Plan) -> tuple[Attempt, Int8Plan]:
    plan.settings = best.settings
    plan.outcome = "repaired" if _passed(best) else "not repaired"
    return best, plan


def _passed(attempt: Attempt) -> bool:
    return attempt.parity is not None and attempt.parity.status == "passed"


def _drop(attempt: Attempt) -> str:
    parity = attempt.parity
    return "?" if parity is None or parity.drop_points is None else f"{parity.drop_points:.1f}"


def _step(action: str, attempt: Attempt, kept: bool) -> PlanStep:
    parity = attempt.parity
    if parity is None:
        return PlanStep(action, "failed to export", None, None, None, False, round(attempt.seconds, 2),
                        attempt.settings.to_dict(), attempt.error)
    return PlanStep(action, parity.status, parity.drop_points, parity.drop_interval, parity.agreement, kept,
                    round(attempt.seconds, 2), attempt.settings.to_dict(), parity.reason)
