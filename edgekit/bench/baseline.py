"""The eager PyTorch fp32 baseline every artifact's speed-up is measured against.

    baseline_spec(artifact) -> dict    what a worker needs to build it (plain JSON)
    build_baseline(spec) -> nn.Module  the model the artifacts came from: its checkpoint when the manifest names
                                       one that still exists, else rebuilt from the manifest's `source`
                                       (edgekit.model_source.latency_model): the architecture with random
                                       weights (zoo, torchvision:, timm: — latency does not depend on the
                                       weights' values), the .pt2 program it was exported from (sha256 checked),
                                       or, for an nn.Module exported from Python (which cannot cross into a
                                       worker process), the program export saved beside the artifacts as
                                       OUT/<model>/source.pt2. Manifests without `source` name a zoo model.
"""
from __future__ import annotations

from edgekit.artifacts import Artifact


def nchw_shape(artifact: Artifact) -> list[int]:
    """The artifact's static input shape in NCHW order (the layout edgekit's images come in)."""
    shape = artifact.input_shape
    return [shape[0], shape[3], shape[1], shape[2]] if artifact.manifest.input.layout == "NHWC" else shape


def baseline_spec(artifact: Artifact) -> dict:
    checkpoint = artifact.manifest.source_checkpoint()
    source = artifact.manifest.get("source")
    spec = {"kind": "eager", "model": artifact.model, "num_classes": len(artifact.labels),
            "shape": nchw_shape(artifact), "checkpoint": str(checkpoint) if checkpoint else None,
            "source": source if isinstance(source, dict) else None, "export_dir": str(artifact.folder.parent)}
    return {**spec, **postprocess_spec(artifact)}


def postprocess_spec(artifact: Artifact) -> dict:
    """A detector's NMS settings for the worker, which times edgekit.detection_post.postprocess apart from the graph
    (the bench row's post_p50_ms); {} for a classifier."""
    if artifact.manifest.raw.get("task") != "detection":
        return {}
    block = artifact.manifest.raw["detection"]
    return {"task": "detection", "postprocess": {"settings": block["postprocess"], "num_anchors": block["num_anchors"],
                                                 "img_size": artifact.preprocessing.img_size}}


def baseline_problem(spec: dict) -> str | None:
    """Why the eager baseline of `spec` will not be rebuilt (said in its row instead of timing it), checked in the
    parent without torch; None when it can be: a checkpoint (loaded weights-only), an architecture by name, or a
    program inside the export folder with the recorded sha256 (edgekit.safeload.recorded_program; the worker then
    loads it through edgekit.safeload, which refuses an archive holding anything but tensors)."""
    from pathlib import Path

    from edgekit.errors import EdgekitError
    from edgekit.safeload import recorded_program

    source = spec.get("source")
    if spec.get("task") == "detection":  # a zoo detector: its checkpoint, else the architecture by name
        return None
    if spec.get("checkpoint") or not source or isinstance(source.get("architecture"), str):
        return None
    if source.get("kind") not in ("program", "module"):
        return f"the manifest's source kind {source.get('kind')!r} cannot be rebuilt"
    try:
        recorded_program(source, Path(spec["export_dir"]))
    except EdgekitError as error:
        return str(error)
    return None


def build_baseline(spec: dict):
    from edgekit.checkpoint import load_checkpoint
    from edgekit.models import create_model
    from edgekit.model_source import latency_model

    if spec.get("task") == "detection":  # the graph its artifacts carry: backbone, heads, box decoding (no NMS)
        from edgekit.detector import DetectorGraph, build_detector_for

        size = spec["postprocess"]["img_size"]
        detector = (load_checkpoint(spec["checkpoint"], task=None).build_model() if spec.get("checkpoint") else
                    build_detector_for(spec["model"], spec["num_classes"] + 1, size))
        return DetectorGraph(detector.eval(), size)
    if spec.get("checkpoint"):
        return load_checkpoint(spec["checkpoint"]).build_model()
    if spec.get("source"):
        from pathlib import Path

        return latency_model(spec["source"], spec["num_classes"], Path(spec["export_dir"]))
    return create_model(spec["model"], num_classes=spec["num_classes"])
