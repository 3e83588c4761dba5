"""The manifest: the one contract between an exported artifact, the latency harness and the app.

Schema "edgekit-manifest/1", documented field by field in docs/manifest.md. Built from facts the
export gathered (request, checkpoint, backend) plus what the artifact itself declares.
"""
from __future__ import annotations

import hashlib
import platform
from pathlib import Path

from edgekit.fileio import update_digest

MANIFEST_SCHEMA = "edgekit-manifest/1"
MANIFEST_NAME = "manifest.json"
LABELS_NAME = "labels.txt"


def sha256_path(path: Path) -> str:
    """sha256 of a file; of a directory (.mlpackage), of its relative paths and contents in sorted order."""
    digest = hashlib.sha256()
    if path.is_file():
        update_digest(digest, path)
        return digest.hexdigest()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode("utf-8") + b"\0")
        update_digest(digest, item)
    return digest.hexdigest()


def size_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_manifest(*, model_name: str, format_name: str, precision: str, artifact: Path, preprocessing: dict,
                   labels: list[str], weights: dict, backend_facts: dict, input_shape: list[int]) -> dict:
    from edgekit import __version__

    facts = dict(backend_facts)
    declared_input = facts.pop("input", {})
    declared_output = facts.pop("output", {})
    input_tensor = {"name": "input", "shape": input_shape, "dtype": "float32", "layout": "NCHW",
                    **{k: v for k, v in declared_input.items() if v is not None}}
    output_tensor = {"name": "logits", "shape": [input_shape[0], len(labels)], "dtype": "float32",
                     **{k: v for k, v in declared_output.items() if v is not None},
                     "meaning": "logits (unnormalised class scores, label order of `labels`); softmax for probabilities"}
    return {
        "schema": MANIFEST_SCHEMA,
        "model": model_name,
        "format": format_name,
        "precision": precision,
        "file": artifact.name,
        "size_bytes": size_bytes(artifact),
        "sha256": sha256_path(artifact),
        "sha256_of": "file" if artifact.is_file() else "directory: sorted relative paths and file contents",
        "input": input_tensor,
        "output": output_tensor,
        "preprocessing": {**preprocessing, "steps": preprocessing_steps(preprocessing)},
        "num_classes": len(labels),
        "labels": list(labels),
        "labels_file": LABELS_NAME,
        "weights": weights,
        "backend": facts,
        "versions": {"edgekit": __version__, "python": platform.python_version()},
    }


def preprocessing_steps(preprocessing: dict) -> list[str]:
    """The contract in words; docs/manifest.md ("Preprocessing, exactly") has every rounding rule."""
    size = preprocessing["img_size"]
    short = (16 * size + 7) // 14  # round(size / 0.875), in integers
    if preprocessing.get("resize") == "letterbox":
        geometry = (f"letterbox: resize so the longer side is {size} and the shorter is "
                    f"floor(shorter * {size} / longer + 1/2), at least 1; pad to {size}x{size} with the mean, "
                    "the smaller half of the padding on the top/left")
    else:
        geometry = (f"resize so the shorter side is {short} and the longer floor({short} * longer / shorter); "
                    f"crop the centre {size}x{size} at offsets floor((resized - {size}) / 2)")
    return ["decode as 8-bit RGB (EXIF orientation applied, grey replicated, alpha over white)",
            "convert to float32 v / 255",
            geometry + " (resampling: antialiased triangle filter on float32, widths then heights, no rounding)",
            "subtract mean and divide by std per channel (RGB order), float32",
            "lay out as NCHW float32 (batch 1); int8/uint8 inputs: q = clamp(round_half_even(x / scale) + zero_point)",
            "exact contract: docs/manifest.md, 'Preprocessing, exactly'"]
