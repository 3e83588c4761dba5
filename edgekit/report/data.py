"""What the report reads: an export folder's summary.json, each artifact's manifest.json, and bench.json.

    load_export(export_dir) -> ReportData     EdgekitError in one line when it is not an export folder
    pareto_front(points) -> set of indices    lower latency and higher accuracy win
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.bench.rows import BENCH_SCHEMA, BenchRow
from edgekit.errors import EdgekitError


@dataclass
class ArtifactInfo:
    name: str                       # the artifact folder name, e.g. onnx-int8 (format-precision for skipped rows)
    format: str
    precision: str
    status: str
    reason: str | None
    size_bytes: int | None
    parity: dict | None
    manifest: dict | None
    delegation: dict | None = None

    @property
    def top1(self) -> float | None:
        return (self.parity or {}).get("artifact_top1")

    @property
    def top1_interval(self) -> tuple[float, float] | None:
        """The artifact's top-1 as PyTorch's minus the paired 95 % interval of the drop (parity)."""
        parity = self.parity or {}
        ref, interval = parity.get("reference_top1"), parity.get("drop_interval")
        if ref is None or not interval:
            return None
        return ref - interval[1], ref - interval[0]


@dataclass
class ReportData:
    folder: Path
    summary: dict
    artifacts: list[ArtifactInfo]
    bench: dict | None
    rows: list[BenchRow] = field(default_factory=list)
    bench_problem: str | None = None   # bench.json present but unreadable: said on the page

    @property
    def model(self) -> str:
        return self.summary.get("model", self.folder.name)

    def host_rows(self) -> list[BenchRow]:
        return [r for r in self.rows if r.device == "host"]

    def device_rows(self) -> list[BenchRow]:
        return [r for r in self.rows if r.device != "host"]

    def reference_top1(self) -> float | None:
        for art in self.artifacts:
            ref = (art.parity or {}).get("reference_top1")
            if ref is not None:
                return ref
        return None


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EdgekitError(f"cannot read {what} {path}: {error.strerror}") from None
    except ValueError as error:
        raise EdgekitError(f"{what} {path} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise EdgekitError(f"{what} {path} is not a JSON object")
    return data


def load_export(export_dir: Path | str) -> ReportData:
    folder = Path(export_dir)
    if not folder.is_dir():
        raise EdgekitError(f"{folder} is not a folder: give an export folder (edgekit export ... writes OUT/<model>/)")
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise EdgekitError(f"{folder} has no summary.json: give an export folder "
                           "(edgekit export MODEL --out OUT writes OUT/<model>/summary.json)")
    summary = _read_json(summary_path, "export summary")
    artifacts = []
    for entry in summary.get("artifacts", []):
        fmt, precision = entry.get("format", "?"), entry.get("precision", "?")
        manifest = None
        name = f"{fmt}-{precision}"
        if entry.get("folder"):
            # the summary records absolute folders; a copied export folder still has them by name
            local = folder / Path(entry["folder"]).name
            if (local / "manifest.json").is_file():
                manifest = _read_json(local / "manifest.json", "manifest")
                name = local.name
        artifacts.append(ArtifactInfo(name=name, format=fmt, precision=precision, status=entry.get("status", "?"),
                                      reason=entry.get("reason"), size_bytes=entry.get("size_bytes"),
                                      parity=entry.get("parity"), manifest=manifest,
                                      delegation=entry.get("delegation")))
    # artifact folders the summary does not list (an export run in several calls keeps only the last call's rows)
    listed = {a.name for a in artifacts}
    for manifest_path in sorted(folder.glob("*/manifest.json")):
        if manifest_path.parent.name in listed or manifest_path.parent.name.startswith("."):
            continue
        manifest = _read_json(manifest_path, "manifest")
        parity = manifest.get("parity") or {}
        artifacts.append(ArtifactInfo(name=manifest_path.parent.name, format=manifest.get("format", "?"),
                                      precision=manifest.get("precision", "?"), status=manifest.get("status", "?"),
                                      reason=parity.get("reason"), size_bytes=manifest.get("size_bytes"),
                                      parity=parity or None, manifest=manifest))
    data = ReportData(folder=folder, summary=summary, artifacts=artifacts, bench=None)
    bench_path = folder / "bench.json"
    if bench_path.is_file():
        try:
            bench = _read_json(bench_path, "bench results")
            if bench.get("schema") != BENCH_SCHEMA:
                raise EdgekitError(f"bench.json has schema {bench.get('schema')!r}, expected {BENCH_SCHEMA}")
            data.bench = bench
            data.rows = [BenchRow.from_dict(r) for r in bench.get("rows", [])]
        except EdgekitError as error:
            data.bench_problem = str(error)
    return data


def pareto_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices of the (latency, accuracy) points no other point beats on both (ties kept)."""
    front = set()
    for i, (lat, acc) in enumerate(points):
        dominated = any((lat2 <= lat and acc2 >= acc) and (lat2 < lat or acc2 > acc)
                        for j, (lat2, acc2) in enumerate(points) if j != i)
        if not dominated:
            front.add(i)
    return front
