"""The report page: one self-contained HTML string (inline CSS, figures as data: PNGs, no script, no URL)."""
from __future__ import annotations

import html
from datetime import datetime, timezone

from edgekit.bench.rows import BenchRow
from edgekit.report.data import ReportData, pareto_front
from edgekit.report.figures import Point, accuracy_latency_png, op_types_png, sizes_png
from edgekit.version import __version__

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2330;margin:0;background:#f4f5f7}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:26px;margin:4px 0 2px}h2{font-size:19px;margin:30px 0 8px;border-bottom:2px solid #e3e6ea;padding-bottom:4px}
.sub{color:#5b6473;font-size:14px;margin:0 0 14px}
table{border-collapse:collapse;width:100%;font-size:13.5px;margin:6px 0 4px}
td:first-child,td:nth-child(2){white-space:nowrap}td:first-child{font-weight:500}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;white-space:nowrap}
.ok{background:#dff3e4;color:#17642f}.bad{background:#fbe0e0;color:#9b1c1c}.skip{background:#eceef1;color:#4a5260}
.warn{background:#fff3d6;color:#7a5200}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;font-size:14px;margin:8px 0}
.facts div:nth-child(odd){color:#5b6473}
.figs{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.fig{flex:1 1 520px;border:1px solid #e3e6ea;border-radius:6px;padding:8px;background:#fff}
.fig img{max-width:100%;height:auto;display:block;margin:0 auto}.fig p{font-size:12.5px;color:#5b6473;margin:6px 4px 0}
.note{background:#fff8e6;border-left:4px solid #e0a800;padding:8px 12px;font-size:14px;margin:10px 0}
.empty{color:#5b6473;font-style:italic;font-size:14px}
.reason{color:#5b6473;font-size:12.5px}
footer{margin-top:36px;font-size:12px;color:#7a8290}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def num(value, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def badge(status: str) -> str:
    kind = ("ok" if status in ("ok", "verified", "passed") else "bad" if "fail" in status
            else "warn" if status.startswith("exported") else "skip")
    return f'<span class="badge {kind}">{esc(status)}</span>'


def table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def weights_text(weights) -> str:
    if weights == "random" or not weights:
        return "random weights (architecture only: latency work, no useful predictions)"
    source = weights.get("source")
    if source == "checkpoint":
        acc = weights.get("val_acc")
        return f"checkpoint {weights.get('path')}" + (f" (validation accuracy {acc * 100:.1f} %)" if acc else "")
    if source == "pretrained":
        return f"pretrained: {weights.get('weights')} ({weights.get('path')})"
    return f"{source}: {weights.get('path')}"


def plot_threads(rows: list[BenchRow]) -> int | None:
    counts = sorted({r.threads for r in rows if r.status == "ok" and r.p50_ms is not None})
    return 1 if 1 in counts else (counts[0] if counts else None)


def accuracy_of(data: ReportData, artifact: str | None) -> tuple[float | None, tuple | None, str]:
    """Best accuracy evidence for an artifact: bench --data rows first, else the export's parity set."""
    for row in data.rows:
        if row.artifact == artifact and row.top1 is not None:
            ci = tuple(row.top1_ci) if row.top1_ci else None
            return row.top1, ci, f"bench --data, {row.accuracy_images} images"
        if row.artifact == artifact and row.map is not None:
            return row.map, None, f"bench --data, {row.accuracy_images} images"
    for art in data.artifacts:
        if art.name == artifact and art.top1 is not None:
            return art.top1, art.top1_interval, "export parity set"
    return None, None, ""


def section_export(data: ReportData) -> str:
    rows = []
    detector = data.is_detector
    unit = "" if detector else " %"
    for art in data.artifacts:
        parity = art.parity or {}
        top1 = "–"
        if art.top1 is not None:
            ref, interval = art.reference, art.top1_interval
            top1 = f"{art.top1:.1f}{unit}"
            if ref is not None:
                top1 += f' <span class="reason">(PyTorch {ref:.1f}{unit}'
                if interval and interval[0] != interval[1]:
                    top1 += f", 95 % CI {interval[0]:.1f}–{interval[1]:.1f}"
                elif interval:
                    top1 += ", no image classified differently" if not detector else ", no change"
                top1 += ")</span>"
        judged = parity.get("status") in ("passed", "failed")
        agreement = parity.get("matched" if detector else "agreement") if judged else None
        closeness = parity.get("mean_iou" if detector else "cosine") if judged else None
        rows.append([esc(art.name), badge(art.status),
                     num(art.size_bytes / 1e6 if art.size_bytes else None, 2, " MB"),
                     badge(parity["status"]) if parity.get("status") else "–",
                     num(agreement * 100 if isinstance(agreement, (int, float)) else None, 1, " %"),
                     num(closeness if isinstance(closeness, (int, float)) else None, 5 if not detector else 3),
                     top1, f'<span class="reason">{esc(art.reason)}</span>'])
    images = data.summary.get("parity_images")
    headers = (["artifact", "status", "size", "parity", "boxes matched", "mean IoU", "artifact mAP (parity set)",
                "reason"] if detector else
               ["artifact", "status", "size", "parity", "top-1 agreement", "cosine", "artifact top-1 (parity set)",
                "reason"])
    explained = ("COCO mAP@[.5:.95] in points; the interval is the paired bootstrap 95 % interval of the drop "
                 "against PyTorch; boxes matched: PyTorch's detections the artifact reproduces (same class, "
                 "IoU ≥ 0.5), with their mean IoU." if detector else
                 "The interval is the paired 95 % interval of the change against PyTorch (only images the two "
                 "classify differently widen it).")
    return ("<h2>Export</h2>" + table(headers, rows, {2, 4, 5})
            + (f'<p class="reason">Parity images: {esc(images)}. {explained}</p>' if images else ""))


def section_int8_plans(data: ReportData) -> str:
    """Each int8 artifact's plan (edgekit.export.int8_plan): what export tried to meet --max-drop, step by step."""
    parts = []
    for art in data.artifacts:
        plan = (art.manifest or {}).get("int8_plan")
        if not isinstance(plan, dict) or not isinstance(plan.get("steps"), list):
            continue
        rows = []
        for step in plan["steps"]:
            if not isinstance(step, dict):
                continue
            interval = step.get("drop_interval")
            drop = num(_real(step.get("drop_points")), 1, " pts")
            if isinstance(interval, list) and len(interval) == 2 and all(_real(v) is not None for v in interval):
                drop += f' <span class="reason">[{num(interval[0], 1)}, {num(interval[1], 1)}]</span>'
            rows.append([esc(step.get("action")), badge(str(step.get("status", "?"))), drop,
                         "yes" if step.get("kept") is True else "no", num(_real(step.get("seconds")), 1, " s")])
        fixes = [str(fix) for fix in plan.get("fixes") or []] if isinstance(plan.get("fixes"), list) else []
        cpu = plan.get("cpu") if isinstance(plan.get("cpu"), dict) else {}
        parts.append(f"<h3>{esc(art.name)}: {esc(plan.get('outcome'))}</h3>"
                     + table(["step", "verification", "top-1 drop", "kept", "time"], rows, {2, 4})
                     + f'<p class="reason">policy {esc(plan.get("policy"))}, --max-drop {esc(plan.get("max_drop"))}; '
                       f'fixes carried: {esc("; ".join(fixes) or "none")}; verified on {esc(cpu.get("name"))} '
                       f'({esc(" ".join(map(str, cpu.get("int8_flags") or [])))}): {esc(cpu.get("int8_note"))}</p>'
                     + _latency_steps(plan.get("latency")))
    if not parts:
        return ""
    return ("<h2>int8 plans</h2><p class=\"reason\">When an int8 artifact misses --max-drop, export repairs it "
            "cheapest first and re-verifies each step in the artifact's runtime on the parity images; layers kept in "
            "float are ranked on calibration images, never the parity images.</p>" + "".join(parts))


def _latency_steps(latency) -> str:
    """--latency-target's steps: int8 against fp32 on the target, each step measured (edgekit.export.int8_plan)."""
    if not isinstance(latency, dict) or not isinstance(latency.get("steps"), list):
        return ""
    rows = [[esc(step.get("action")), badge(str(step.get("status", "?"))), num(_real(step.get("fp32_ms")), 3, " ms"),
             num(_real(step.get("int8_ms")), 3, " ms"), num(_real(step.get("int8_vs_fp32")), 2, "x"),
             "yes" if step.get("kept") is True else "no"] for step in latency["steps"] if isinstance(step, dict)]
    return (f'<p>latency on the {esc(latency.get("target"))}: {esc(latency.get("outcome"))}</p>'
            + table(["latency step", "verification", "fp32", "int8", "int8 speed-up", "kept"], rows, {2, 3, 4}))


def _real(value) -> float | None:
    """A number from a manifest someone else may have written, or None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def section_host(data: ReportData) -> str:
    if data.bench is None:
        problem = f" ({esc(data.bench_problem)})" if data.bench_problem else ""
        return (f'<h2>Host latency</h2><p class="note">not benchmarked: run <code>edgekit bench '
                f'{esc(data.folder)}</code>{problem}</p>')
    host = data.bench.get("host", {})
    unverified = data.not_verified()
    rows = []
    for r in sorted(data.host_rows(), key=lambda r: (r.threads, r.format != "pytorch", r.artifact or "")):
        label = r.artifact or f"PyTorch eager {r.precision}"
        top1 = "–"
        if r.top1 is not None:
            top1 = f"{r.top1:.1f} %" + (f' <span class="reason">({r.top1_ci[0]:.1f}–{r.top1_ci[1]:.1f}, '
                                        f'{r.accuracy_images} images)</span>' if r.top1_ci else "")
        elif r.map is not None:
            top1 = f'{r.map:.1f} <span class="reason">({r.accuracy_images} images)</span>'
        post = [num(r.post_p50_ms, 3)] if data.is_detector else []
        spread = ' <span class="badge warn">wide spread</span>' if r.wide_spread else ""
        notes = "; ".join(["measured on an artifact that is not verified now (see Export)"] * (r.artifact in unverified)
                          + [r.reason] * bool(r.reason))
        rows.append([esc(label), esc(r.runtime), str(r.threads), badge(r.status) + spread, num(r.p50_ms),
                     num(r.p90_ms), num(r.speedup, 2, "×"), *post, top1,
                     f'<span class="reason">{esc(notes)}</span>'])
    cpu = f"{host.get('cpu', '?')}, {host.get('cores', '?')} cores, {host.get('os', '')}"
    return ("<h2>Host latency</h2>"
            f'<p class="sub">{esc(cpu)} · measured {esc(data.bench.get("created"))} · '
            f'<code>{esc(data.bench.get("command"))}</code></p>'
            + (table(["artifact", "runtime", "threads", "status", "p50 ms", "p90 ms", "speed-up vs eager",
                      "NMS p50 ms", "mAP (bench --data)", "notes"], rows, {2, 4, 5, 6, 7, 8}) if data.is_detector
               else table(["artifact", "runtime", "threads", "status", "p50 ms", "p90 ms", "speed-up vs eager",
                           "top-1 (bench --data)", "notes"], rows, {2, 4, 5, 6, 7}))
            + ('<p class="reason">p50: the graph (backbone, heads, box decoding); NMS (edgekit.detection_post, '
               "numpy, on the graph's output for the bench input) is timed apart.</p>" if data.is_detector else ""))


def section_device(data: ReportData) -> str:
    rows = data.device_rows()
    if not rows:
        return ('<h2>Phone latency</h2><p class="empty">no phone rows: <code>edgekit bench EXPORT --device adb'
                "</code> adds them (docs/device.md)</p>")
    out = []
    for r in sorted(rows, key=lambda r: (r.device, r.artifact or "", r.threads)):
        extra = r.extra or {}
        state = ", ".join(f"{k} {extra[k]}" for k in ("governor", "thermal") if extra.get(k))
        out.append([esc(r.artifact), esc(r.device_name or r.device), esc(r.source), str(r.threads), badge(r.status),
                    num(r.p50_ms), num(r.mean_ms), num(r.std_ms), f'<span class="reason">{esc(state)}</span>',
                    f'<span class="reason">{esc(r.reason)}</span>'])
    return "<h2>Phone latency</h2>" + table(["artifact", "device", "tool", "threads", "status", "p50 ms", "mean ms",
                                              "std ms", "device state", "notes"], out, {3, 5, 6, 7})


def budget_line(data: ReportData, threads: int | None) -> str:
    budget = (data.bench or {}).get("budget")
    if budget is None:
        return ""
    ms = budget.get("ms") if isinstance(budget, dict) else budget
    pick = budget.get("artifact") if isinstance(budget, dict) else None
    if pick is None and threads is not None and ms is not None:
        fits = [(accuracy_of(data, r.artifact)[0] or -1, -r.p50_ms, r.artifact) for r in data.host_rows()
                if r.status == "ok" and r.threads == threads and r.artifact and r.p50_ms <= float(ms)]
        pick = max(fits)[2] if fits else None
    text = f"budget {esc(ms)} ms: " + (f"<b>{esc(pick)}</b> fits and is the most accurate" if pick
                                        else "no artifact fits")
    return f'<p class="note">{text}</p>'


def section_figures(data: ReportData) -> str:
    threads = plot_threads(data.host_rows())
    points: list[Point] = []
    unverified = data.not_verified()  # no point for an artifact whose file is not the one measured
    candidates = [r for r in data.host_rows() if r.status == "ok" and r.threads == threads and r.p50_ms is not None
                  and r.artifact not in unverified]
    # one accuracy source for every point: bench --data when every plotted row has it, else the parity set
    measured_value = (lambda r: r.map) if data.is_detector else (lambda r: r.top1)
    measured = bool(candidates) and all(measured_value(r) is not None for r in candidates)
    ref = data.reference_top1()
    for r in candidates:
        label = f"PyTorch {r.precision}" if r.format == "pytorch" else r.artifact
        if measured:
            points.append(Point(label, r.format, r.p50_ms, measured_value(r),
                                tuple(r.top1_ci) if r.top1_ci else None))
        elif r.format == "pytorch":
            if ref is not None:
                points.append(Point(label, "pytorch", r.p50_ms, ref))
        else:
            art = next((a for a in data.artifacts if a.name == r.artifact), None)
            if art is not None and art.top1 is not None:
                points.append(Point(label, r.format, r.p50_ms, art.top1, art.top1_interval))
    source = ("bench --data" + (f" ({candidates[0].accuracy_images} images)" if candidates else "") if measured
              else f"the export's parity set (bars: PyTorch's {data.metric} minus the paired 95 % interval of the drop)")
    front = pareto_front([(p.latency_ms, p.top1) for p in points])
    host_cpu = (data.bench or {}).get("host", {}).get("cpu", "this host")
    title = f"accuracy vs p50 latency, {threads} thread{'s' if threads != 1 else ''}, {host_cpu}" if threads else ""
    acc_png = accuracy_latency_png(points, front, title, "COCO mAP@[.5:.95] (points)" if data.is_detector
                                   else "top-1 accuracy (%)")
    sized = [a for a in data.artifacts if a.size_bytes]
    size_png = sizes_png([a.name for a in sized], [a.size_bytes / 1e6 for a in sized], [a.format for a in sized])
    figs = []
    if acc_png:
        on_front = ", ".join(points[i].label for i in sorted(front, key=lambda i: points[i].latency_ms))
        figs.append(f'<div class="fig"><img alt="accuracy against latency" src="data:image/png;base64,{acc_png}">'
                    f"<p>Stars and the red line: the Pareto front ({esc(on_front)}). Accuracy: {esc(source)}; "
                    "bars are 95 % intervals.</p></div>")
    else:
        why = ("no accuracy to plot: the parity set has no labels the model knows (random weights, or images of "
               "other classes); run edgekit bench --data LABELLED_DIR" if data.host_rows()
               else "not benchmarked: run edgekit bench (accuracy needs a labelled parity set or bench --data)")
        figs.append(f'<div class="fig"><p class="empty">accuracy against latency: {esc(why)}</p></div>')
    if size_png:
        figs.append(f'<div class="fig"><img alt="size per artifact" src="data:image/png;base64,{size_png}">'
                    "<p>File size of each exported artifact (Core ML: the .mlpackage folder).</p></div>")
    return "<h2>Trade-offs</h2>" + budget_line(data, threads) + f'<div class="figs">{"".join(figs)}</div>'


def section_profile(data: ReportData) -> str:
    """Per-op-type time, fp32 beside int8, per format (profile.json from `edgekit profile`); the page works
    without it."""
    from edgekit.profile_data import side_by_side

    if data.profile is None:
        problem = f" ({esc(data.profile_problem)})" if data.profile_problem else ""
        return (f'<h2>Where the time goes</h2><p class="note">not profiled: run <code>edgekit profile '
                f'{esc(data.folder)}</code>{problem}</p>')
    host = data.profile.get("host", {})
    cpu, threads = host.get("cpu", "this host"), data.profile.get("threads")
    png = op_types_png(side_by_side(data.profiles), f"time per op type, fp32 vs int8, {threads} thread(s), {cpu}")
    rows = []
    for e in data.profiles:
        note = e.flag or (e.reason if e.status != "ok" else "") or ""
        rows.append([esc(e.artifact), esc(e.status), num(e.ops_ms, 3), num(e.run_ms, 3), num(e.op_ratio, 2),
                     num(e.bench_p50_ms, 3), num(e.bench_ratio, 2), esc(note)])
    figure = (f'<div class="fig"><img alt="time per op type" src="data:image/png;base64,{png}">'
              "<p>Each format's op types by time per run (the median over the profiled runs), fp32 beside int8, "
              "measured by the runtime's own profiler.</p></div>") if png else (
        '<div class="fig"><p class="empty">no op times to plot (no profiled artifact gave op times)</p></div>')
    return ("<h2>Where the time goes</h2>"
            f'<p class="sub">{esc(cpu)} · profiled {esc(data.profile.get("created"))} · '
            f'<code>{esc(data.profile.get("command"))}</code></p>'
            f'<div class="figs">{figure}</div>'
            + table(["artifact", "status", "ops ms", "run ms", "ops/run", "bench p50", "ops/bench", "notes"],
                    rows, {2, 3, 4, 5, 6}))


def render(data: ReportData, detections: str = "") -> str:
    """The page; `detections`: the Detections section's HTML (edgekit.report.detections), placed after the figures."""
    summary = data.summary
    facts = [("model", data.model), ("weights", weights_text(summary.get("weights"))),
             ("parity images", summary.get("parity_images")), ("calibration", summary.get("calibration")),
             ("export folder", str(data.folder))]
    fact_html = "".join(f"<div>{esc(k)}</div><div>{esc(v)}</div>" for k, v in facts if v)
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in summary.get("notes", []))
    made = [a for a in data.artifacts if a.status != "skipped"]
    ok = sum(1 for a in made if a.status == "verified")
    unverified = len(data.not_verified())
    headline = f"{ok} of {len(made)} artifacts verified (files checked against their sha256 now)" + (
        f" · {unverified} not verified now" if unverified else "")
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>edgekit report: {esc(data.model)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{esc(data.model)}</h1>"
            f'<p class="sub">edgekit report · {esc(headline)} · {created}</p>'
            f'<div class="facts">{fact_html}</div>{notes}'
            + section_figures(data) + detections + section_profile(data) + section_export(data) + section_int8_plans(data)
            + section_host(data) + section_device(data)
            + f"<footer>Written by edgekit {esc(__version__)} from summary.json, the manifests, bench.json and "
              f"profile.json in "
              f"{esc(data.folder)}. Self-contained: no script, no external resource.</footer></main></body></html>")
