"""What the report reads: an export folder's summary.json, each artifact's manifest.json, bench.json and profile.json.

    load_export(export_dir) -> ReportData     EdgekitError in one line when it is not an export folder
    pareto_front(points) -> set of indices    lower latency and higher accuracy win
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.bench.results import BENCH_JSON, read_bench
from edgekit.bench.rows import BenchRow
from edgekit.errors import EdgekitError
from edgekit.export.summary import read_summary
from edgekit.manifest import MANIFEST_NAME, inside
from edgekit.profile_data import PROFILE_JSON, read_profile

NOT_VERIFIED = "not verified now"  # an artifact folder gone, changed since export (sha256) or unreadable now


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
    def is_detector(self) -> bool:
        return (self.parity or {}).get("metric") == "map" or (self.manifest or {}).get("task") == "detection"

    @property
    def top1(self) -> float | None:
        """The artifact's accuracy on the parity set in the parity's metric: top-1 %, a detector's mAP points."""
        parity = self.parity or {}
        return parity.get("artifact_map") if self.is_detector else parity.get("artifact_top1")

    @property
    def reference(self) -> float | None:
        parity = self.parity or {}
        return parity.get("reference_map") if self.is_detector else parity.get("reference_top1")

    @property
    def top1_interval(self) -> tuple[float, float] | None:
        """The artifact's accuracy as PyTorch's minus the paired 95 % interval of the drop (parity)."""
        parity = self.parity or {}
        ref, interval = self.reference, parity.get("drop_interval")
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
    profile: dict | None = None        # profile.json (edgekit profile), validated
    profiles: list = field(default_factory=list)  # edgekit.profile.ArtifactProfile per artifact
    profile_problem: str | None = None  # profile.json present but unreadable or invalid: said on the page

    @property
    def model(self) -> str:
        return self.summary.get("model", self.folder.name)

    def host_rows(self) -> list[BenchRow]:
        return [r for r in self.rows if r.device == "host"]

    def device_rows(self) -> list[BenchRow]:
        return [r for r in self.rows if r.device != "host"]

    def not_verified(self) -> set[str]:
        """Names of the artifact folders that did not pass the check made now (gone, changed, unreadable)."""
        return {a.name for a in self.artifacts if a.status == NOT_VERIFIED}

    def reference_top1(self) -> float | None:
        """PyTorch's accuracy on the parity set (a detector's: mAP points)."""
        for art in self.artifacts:
            if art.reference is not None:
                return art.reference
        return None

    @property
    def is_detector(self) -> bool:
        return any(a.is_detector for a in self.artifacts)

    @property
    def metric(self) -> str:
        """What the page calls accuracy: "top-1" (%) or, for a detector, "mAP" (COCO mAP@[.5:.95], points)."""
        return "mAP" if self.is_detector else "top-1"


def load_export(export_dir: Path | str) -> ReportData:
    """summary.json, every artifact folder's manifest (re-verified now: the model file's sha256 and labels, and
    the file loaded in its runtime where it runs here; an artifact that fails is shown as such, never as
    verified) and bench.json."""
    folder = Path(export_dir)
    if not folder.is_dir():
        raise EdgekitError(f"{folder} is not a folder: give an export folder (edgekit export ... writes OUT/<model>/)")
    summary = read_summary(folder)
    artifacts = []
    listed: set[str] = set()
    for entry in summary.get("artifacts", []):
        fmt, precision = entry["format"], entry["precision"]
        status, reason, manifest = entry["status"], entry.get("reason"), None
        name = f"{fmt}-{precision}"
        size_bytes, parity = entry.get("size_bytes"), entry.get("parity")
        if entry.get("folder"):
            # the summary records absolute folders; a copied export folder still has them by name, inside it
            name = Path(entry["folder"]).name
            status, reason, manifest = _checked_now(folder, name, status, reason)
            if status == NOT_VERIFIED:  # the recorded size and parity describe a file that is not there now
                size_bytes, parity = None, None
        listed.add(name)
        artifacts.append(ArtifactInfo(name=name, format=fmt, precision=precision, status=status, reason=reason,
                                      size_bytes=size_bytes, parity=parity,
                                      manifest=manifest, delegation=entry.get("delegation")))
    # artifact folders the summary does not list (an export run in several calls keeps only the last call's rows)
    for manifest_path in sorted(folder.glob(f"*/{MANIFEST_NAME}")):
        name = manifest_path.parent.name
        if name in listed or name.startswith("."):
            continue
        status, reason, manifest = _checked_now(folder, name, None, None)
        manifest = manifest or {}
        parity = manifest.get("parity") or {}
        artifacts.append(ArtifactInfo(name=name, format=manifest.get("format", "?"),
                                      precision=manifest.get("precision", "?"), status=status,
                                      reason=reason or parity.get("reason"), size_bytes=manifest.get("size_bytes"),
                                      parity=parity or None, manifest=manifest or None))
    data = ReportData(folder=folder, summary=summary, artifacts=artifacts, bench=None)
    if (folder / BENCH_JSON).is_file():
        try:
            data.bench, data.rows = read_bench(folder / BENCH_JSON)
        except EdgekitError as error:
            data.bench_problem = str(error)
    if (folder / PROFILE_JSON).is_file():
        try:
            data.profile, data.profiles = read_profile(folder / PROFILE_JSON)
        except EdgekitError as error:
            data.profile_problem = str(error)
    return data


def _checked_now(export_dir: Path, name: str, status: str | None, reason: str | None):
    """(status, reason, manifest dict) of the artifact folder `name`, verified now: a folder that is gone, a
    manifest that does not read, a model file whose sha256 changed, or one that does not load in its runtime here
    with the tensors its manifest declares (a forged manifest: sha256 recomputed over another file) is 'not
    verified now' with the reason. A format that cannot run here (Core ML on Linux) is checked up to its sha256."""
    from edgekit.artifacts import Artifact
    from edgekit.manifest import open_manifest

    try:
        target = inside(export_dir, name, "folder")
    except EdgekitError as error:
        return NOT_VERIFIED, str(error), None
    if not target.is_dir():
        return NOT_VERIFIED, f"the artifact folder {name} is gone", None
    try:
        manifest = open_manifest(target, verify=True)
        artifact = Artifact(target, manifest)
        if artifact.runs_here()[0]:
            from edgekit.logcapture import captured

            with captured(None):  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line: not the console
                artifact.runtime()
    except EdgekitError as error:
        return NOT_VERIFIED, str(error), None
    return manifest.status or status or "?", reason, manifest.raw


def pareto_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices of the (latency, accuracy) points no other point beats on both (ties kept)."""
    front = set()
    for i, (lat, acc) in enumerate(points):
        dominated = any((lat2 <= lat and acc2 >= acc) and (lat2 < lat or acc2 > acc)
                        for j, (lat2, acc2) in enumerate(points) if j != i)
        if not dominated:
            front.add(i)
    return front
