"""Host runs of the artifacts the app runs, fed tensors exactly as the app would feed them: `find_artifacts` picks
an export folder's artifacts the app runs and this host can run too; each is an `edgekit.artifacts.Artifact`, whose
`edgekit_input`, `run_raw` and `logits` take and give tensors in the artifact's own dtype and layout (one artifact
type for every stage).
"""
from __future__ import annotations

from pathlib import Path

from edgekit.artifacts import Artifact
from edgekit.artifacts import find_artifacts as find_all
from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS
from edgekit.stats import top_k  # noqa: F401  (the app's top-k rule, used by the fixtures)

HOST_PRECISIONS = ("fp32", "int8")  # the precisions the app's checks compare (fp16 artifacts take float32 too)


def find_artifacts(export_dir: Path) -> list[Artifact]:
    """The artifacts of an export folder that the app runs and this host can run too, fp32 and int8, each
    checked against its manifest (sha256 included)."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise EdgekitError(f"no such export folder: {export_dir}")
    every = find_all(export_dir)
    found = [a for a in every
             if FORMATS[a.format].runs_on_android and a.runs_here()[0] and a.precision in HOST_PRECISIONS]
    if not found and len(every) == 1 and every[0].folder == export_dir:  # one artifact folder was given
        only = every[0]
        why = (FORMATS[only.format].android if not FORMATS[only.format].runs_on_android
               else only.runs_here()[1] if not only.runs_here()[0]
               else f"the app's checks compare {' and '.join(HOST_PRECISIONS)} artifacts only")
        raise EdgekitError(f"{export_dir} is a {only.format} {only.precision} artifact, which this check cannot "
                           f"use: {why}. Give an ONNX or TFLite fp32/int8 artifact folder, or the export folder")
    if not found:
        raise EdgekitError(f"no fp32 or int8 artifact the app runs ({', '.join(f for f, r in FORMATS.items() if r.runs_on_android)}) "
                           f"under {export_dir}")
    return found
