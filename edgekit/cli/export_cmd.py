"""`edgekit export`: a thin layer over edgekit.export.api.export_model with a readable table."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit.cli.defaults import default
from edgekit.export.options import DEFAULT_MAX_DROP, MAX_PARITY_IMAGES, ExportOptions
from edgekit.paths import DEFAULT_EXPORT_DIR
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES


def _console() -> Console:
    """Drawn on the terminal's own stdout: converters' output is sent to export.log meanwhile."""
    from edgekit.logcapture import console_stream

    return Console(file=console_stream(), highlight=False)  # the table reads at 80 columns (a log's width) too


def export_command(
    model: str = typer.Argument(..., help="The model: a zoo name from `edgekit models list` (mobilenet_v2), torchvision:NAME (any torchvision classifier, e.g. torchvision:mobilenet_v3_small), timm:NAME (needs the timm extra: pip install edgekit\\[timm]), or a .pt2 file saved with torch.export.save (runs without your code). docs/byom.md."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="An edgekit checkpoint (RUN/best.pt) of MODEL; it carries the class count, labels, input size and normalisation. Without it (and without --weights) the architecture is exported with ImageNet weights from torch's cache where published, else RANDOM weights."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A state dict for MODEL's architecture (torchvision's own .pth included; .safetensors for timm); the class count is read off its head unless --num-classes says it."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Class names, one per line, in the model's output order. Default: what the source carries (a checkpoint, torchvision's ImageNet weights), else the class folders of --val, else class_0 ... class_N-1."),
    mean: Optional[str] = typer.Option(None, "--mean", help="Normalisation mean R,G,B (0-1 pixel scale), for a source that carries none (a .pt2, a state dict) or to override timm's/torchvision's published one. ImageNet's: 0.485,0.456,0.406."),
    std: Optional[str] = typer.Option(None, "--std", help="Normalisation std R,G,B, as --mean. ImageNet's: 0.229,0.224,0.225."),
    resize: Optional[str] = typer.Option(None, "--resize", help="center_crop (resize the shorter side to size/0.875, crop the centre) or letterbox (fit and pad). Default: the source's, else center_crop."),
    name: Optional[str] = typer.Option(None, "--name", help="The export folder and manifest name (OUT/NAME/). Default: the model's safe name, e.g. torchvision-mobilenet_v3_small (':' is not allowed in Windows folder names)."),
    formats: Optional[str] = typer.Option(None, "--formats", help="Comma-separated, from: torchscript, onnx, tflite, executorch, coreml. Default: every format that supports the precision(s); an explicit format that cannot export a requested precision is an error."),
    fp16: bool = typer.Option(False, "--fp16", help="Also export fp16 artifacts (fp32 is always exported as the reference)."),
    int8: bool = typer.Option(False, "--int8", help="Also export int8 artifacts, statically quantized on the calibration images."),
    img_size: Optional[int] = typer.Option(None, "--img-size", help="Square input size. Default: the checkpoint's (a different value is an error), else timm's/torchvision's published size, a .pt2's own, a zoo model's default; a state dict for a torchvision/timm architecture needs it."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classes of the architecture without a checkpoint (default: the --weights head's, else 1000)."),
    out: Path = typer.Option(DEFAULT_EXPORT_DIR, "--out", help="Output directory; artifacts go to OUT/<model>/<format>-<precision>/."),
    download_weights: bool = typer.Option(default(ExportOptions, "download_weights"), "--download-weights", help="Without --checkpoint/--weights: fetch torchvision's ImageNet weights (5 s timeout) when they are not in the local torch hub cache."),
    allow_mismatch: bool = typer.Option(False, "--allow-mismatch", help="Exit 0 even when an artifact failed to export or failed verification (still reported)."),
    dynamic_batch: bool = typer.Option(default(ExportOptions, "dynamic_batch"), "--dynamic-batch", help="Leave the batch dimension free where the format supports it (ONNX); others stay batch 1."),
    val: Optional[Path] = typer.Option(None, "--val", help="Labelled images (class folder) for the parity check. Default: the checkpoint's run validation split, else the shipped samples."),
    max_drop: float = typer.Option(DEFAULT_MAX_DROP, "--max-drop", help="Fail an artifact whose top-1 on labelled parity images is more than this many points below PyTorch's (reported with a paired 95 % interval)."),
    parity_size: Optional[int] = typer.Option(None, "--parity-size", help=f"How many parity images (seeded sample) for a quick run. Default: the whole labelled validation split, a seeded sample of {MAX_PARITY_IMAGES} when larger."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="int8: calibration images (class folder or flat). Default: a seeded sample of the checkpoint's run training split; the shipped calibration/ set when there is no run; the shipped ImageNet photographs for ImageNet weights."),
    calib_size: int = typer.Option(DEFAULT_CALIBRATION_IMAGES, "--calib-size", help="int8: number of calibration images."),
    calib_method: Optional[str] = typer.Option(None, "--calib-method", help="int8: activation range estimation (see `edgekit quantize --help`). Default: minmax where selectable; a format that cannot use the method is an error when named in --formats."),
    int8_io: bool = typer.Option(default(ExportOptions, "int8_io"), "--int8-io", help="int8 TFLite: ask for integer input/output tensors; the manifest records what the converter gave."),
    keep_float: Optional[str] = typer.Option(None, "--keep-float", help="int8: comma-separated layer (module or ONNX node) names to leave in float."),
    require_integer: bool = typer.Option(default(ExportOptions, "require_integer"), "--require-integer", help="int8: fail verification of any artifact with an op computing in float between input and output (TFLite ops, ONNX after onnxruntime's optimizer, ExecuTorch ops outside XNNPACK), as NPU delegates need; the count is in each manifest's backend.integer."),
    int8_policy: str = typer.Option(default(ExportOptions, "int8_policy"), "--int8-policy", help="int8: repair (default) fixes an artifact that misses --max-drop by itself, cheapest first, re-verifying each step in its runtime: reduce_range on x86 without VNNI (ONNX), cross-layer equalization + bias correction, another calibration method, more calibration images, then the fewest layers in float ranked on the calibration images; the plan is in the manifest (int8_plan). strict: fail without repairing."),
    int8_fixes: str = typer.Option(",".join(default(ExportOptions, "int8_fixes")), "--int8-fixes", help="int8 repair: the kinds of fix it may use, comma-separated: calibration (method, reduce_range), equalize (cross-layer equalization + bias correction), images (more calibration images), float-layers (the fewest layers in float)."),
    latency_target: Optional[str] = typer.Option(None, "--latency-target", help="int8: 'host' times each int8 artifact that passed its gate against the same format's fp32 here (1 thread, interleaved) and keeps in float the layers slower in int8 here when that makes int8 faster, re-verified; the measurements are in the manifest's int8_plan.latency. ONNX has per-layer times; a phone over adb is not built."),
    reduce_range: bool = typer.Option(default(ExportOptions, "reduce_range"), "--reduce-range", help="int8 ONNX: 7-bit weights (onnxruntime's remedy for saturating u8 x s8 sums on x86 CPUs without VNNI; costs some accuracy on other CPUs)."),
) -> None:
    """Export MODEL to mobile formats, each artifact verified against PyTorch on real images, with a manifest."""
    from edgekit.cli.render import ProgressDisplay

    from edgekit.export.api import ExportFailed, export_model

    options = ExportOptions(
        model=model, checkpoint=checkpoint, weights=weights, formats=formats, labels=labels,
        mean=_rgb(mean, "--mean"), std=_rgb(std, "--std"), resize=_resize(resize), name=name,
        precisions=["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else []),
        img_size=img_size, num_classes=num_classes, out=out, allow_mismatch=True, download_weights=download_weights, dynamic_batch=dynamic_batch,
        val=val, max_drop=max_drop, parity_size=parity_size, calib=calib, calib_size=calib_size,
        calib_method=calib_method, int8_io=int8_io, require_integer=require_integer,
        int8_policy=_choice(int8_policy, ("repair", "strict"), "--int8-policy"), reduce_range=reduce_range,
        int8_fixes=int8_fixes, latency_target=latency_target,
        keep_float=tuple(n.strip() for n in keep_float.split(",") if n.strip()) if keep_float else ())
    console = _console()
    with ProgressDisplay(console, on_result=_artifact_line) as display:
        summary = export_model(options, on_progress=display)
    table, footnotes = summary_table(summary, console.width)
    console.print(table)
    for number, footnote in enumerate(footnotes, start=1):
        console.print(f"[{number}] {footnote}", markup=False, highlight=False)
    if console.width < WIDE:
        console.print(compact_legend(summary), markup=False, highlight=False)
    console.print(f"parity images: {summary.parity_images}", markup=False, highlight=False)
    if summary.calibration:
        console.print(f"int8 calibration images: {summary.calibration}", markup=False, highlight=False)
    console.print(f"artifacts and manifests: {summary.folder}  (summary.json; converter output in {summary.log.name})",
                  markup=False, highlight=False)
    if summary.failures:
        if not allow_mismatch:
            raise ExportFailed(summary)
        console.print(f"[yellow]{len(summary.failures)} artifact(s) failed; exit 0 because of --allow-mismatch[/]")


def _artifact_line(event, console: Console) -> None:
    """One line per finished artifact ("result" events carry its ArtifactResult)."""
    result = event.data
    console.print(f"{result.symbol} {result.format} {result.precision}: {result.status}", highlight=False)


def _rgb(text: Optional[str], flag: str) -> Optional[tuple[float, float, float]]:
    """R,G,B as three numbers, or a usage error naming the flag."""
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise typer.BadParameter(f"expects three comma-separated numbers R,G,B, got {text!r}", param_hint=f"'{flag}'")
    from edgekit.preprocess import channel_problem

    problem = channel_problem(flag.lstrip("-"), values)  # out of range (std 0, 1e-40, inf): a usage error too
    if problem:
        raise typer.BadParameter(problem, param_hint=f"'{flag}'")
    return values


def _choice(text: str, choices: tuple[str, ...], flag: str) -> str:
    if text not in choices:
        raise typer.BadParameter(f"must be one of {', '.join(choices)}, got {text!r}", param_hint=f"'{flag}'")
    return text


def _resize(text: Optional[str]) -> Optional[str]:
    from edgekit.preprocess import RESIZE_RULES

    if text is not None and text not in RESIZE_RULES:
        raise typer.BadParameter(f"must be one of {', '.join(RESIZE_RULES)}, got {text!r}", param_hint="'--resize'")
    return text


WIDE = 112  # from this many columns the table shows every column; below, the compact one (80 columns)


def summary_table(summary, width: int = 80) -> tuple[Table, list[str]]:
    """The table, and the footnotes its notes column points to (long reasons would wrap the table).

    Under WIDE columns (an 80-column terminal, a log) the compact table: status, artifact, size, agreement, top-1
    PyTorch → artifact, the 95 % interval of the change, notes, no cell folded at 80 columns; cosine and int8
    float ops follow in `compact_legend`, seconds per artifact are in summary.json. From WIDE columns on, every
    column."""
    from edgekit.cli import render

    compact = width < WIDE
    detector = any((r.parity or {}).get("metric") == "map" for r in summary.results)  # mAP and matched boxes
    agree, score = ("boxes", "mAP") if detector else ("agree", "top-1")
    if compact:
        columns = ["", "artifact", ("MB", "right"), (agree, "right"), score, "95 % CI", "notes"]
    else:
        columns = ["", "artifact", ("size", "right"), ("boxes matched" if detector else "agreement", "right"),
                   ("cosine", "right"), f"{score} (pt → art.)", "drop 95 % CI", ("float ops", "right"),
                   ("export s", "right"), "notes"]
    table = render.table(f"edgekit export {summary.model_name}", columns)
    table.columns[1].no_wrap, table.columns[1].min_width = True, len("torchscript-fp32")  # the notes fold instead
    footnotes: list[str] = []
    for result in summary.results:
        parity = result.parity or {}
        agreement = ("not run" if parity.get("status") == "not run"
                     else "not judged" if parity.get("status") == "not judged"
                     else _fraction(parity.get("matched" if detector else "agreement")))
        name = f"{result.format}-{result.precision}"
        if compact:
            table.add_row(result.symbol, name, _number(result.size_bytes and result.size_bytes / 1e6, "{:.2f}"),
                          agreement, _top1(parity, change=False), _interval(parity, wide=False),
                          _notes(result, footnotes))
        else:
            table.add_row(result.symbol, name, _size(result.size_bytes), agreement,
                          _number(parity.get("cosine"), "{:.5f}"), _top1(parity), _interval(parity),
                          _float_ops(result.extra.get("integer")), _number(result.seconds, "{:.1f}"),
                          _notes(result, footnotes))
    return table, footnotes


def compact_legend(summary) -> str:
    """What the compact table leaves out, in a sentence: the lowest logit cosine and the int8 float-op counts."""
    cosines = [(r.parity["cosine"], f"{r.format}-{r.precision}") for r in summary.results
               if r.parity and r.parity.get("cosine") is not None]
    if any((r.parity or {}).get("metric") == "map" for r in summary.results):
        parts = ["mAP@[.5:.95]: PyTorch → artifact on the parity images, NMS by edgekit.detection_post; 95 % CI: "
                 "paired bootstrap of the drop, in points; boxes: PyTorch's detections the artifact matches "
                 "(same class, IoU >= 0.5)"]
    else:
        parts = ["top-1: PyTorch → artifact on the parity images; 95 % CI: of that change, in points"]
    if cosines:
        lowest, name = min(cosines)
        parts.append(f"logit cosine at least {lowest:.5f} ({name})")
    counts = [f"{r.format} {r.extra['integer']['float_ops']}" for r in summary.results if r.extra.get("integer")]
    if counts:
        parts.append(f"int8 ops computing in float: {', '.join(counts)}")
    return "; ".join(parts) + "."


def _notes(result, footnotes: list[str]) -> str:
    """The status in a few words, with [n] pointing to a footnote for the reason and backend facts."""
    details = [result.reason] if result.reason else []
    integer = result.extra.get("integer")
    if integer and integer["float_ops"]:
        from edgekit.export.integer import summary

        details.append(f"float ops {summary(integer)}")
    delegation = result.extra.get("delegation")
    if delegation:
        details.append(f"XNNPACK: {delegation['delegate_calls']} delegate call(s), "
                       f"{delegation['non_delegated_ops']} op(s) outside")
    short = ("not run here" if result.reason.startswith("not run")
             else "not judged" if result.reason.startswith("not judged") else result.status)
    if not details:
        return short
    footnotes.append(f"{result.format} {result.precision}: " + "; ".join(details))
    return f"{short} [{len(footnotes)}]"


def _float_ops(integer: dict | None) -> str:
    """int8 rows: how many ops compute in float (0 = fully integer); details in the manifest."""
    return "" if not integer else str(integer["float_ops"])


def _size(size: int | None) -> str:
    return "" if size is None else f"{size / 1e6:.2f} MB"


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _number(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)


def _top1(parity: dict, change: bool = True) -> str:
    """top-1 (a detector: mAP@[.5:.95]) of PyTorch and of the artifact, in percent."""
    reference, artifact = (("reference_map", "artifact_map") if parity.get("metric") == "map"
                           else ("reference_top1", "artifact_top1"))
    if parity.get(reference) is None:
        return ""
    text = f"{parity[reference]:.1f} → {parity[artifact]:.1f}"
    return f"{text} ({parity[artifact] - parity[reference]:+.1f})" if change else text


def _interval(parity: dict, wide: bool = True) -> str:
    """The 95 % interval of the top-1 change; the wide table says when it is wider than the gate (the compact one
    leaves that to the row's footnote, which export writes for every gate that cannot resolve)."""
    interval = parity.get("drop_interval")
    if not interval:
        return ""
    note = "" if parity.get("gate_resolves") or not wide else " (wider than gate)"
    return f"[{-interval[1]:+.1f}, {-interval[0]:+.1f}]{note}"


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
