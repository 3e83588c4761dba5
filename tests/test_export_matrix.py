"""Every zoo model exports to every format (fp32), and each artifact that runs here agrees with PyTorch.

Pins the table in docs/export_matrix.md (written by scripts/export_matrix.py). The weights are
non-degenerate (batch norm re-estimated on real images, head fitted to the shipped labels:
edgekit/export/matrix.py), so agreement compares real, varied predictions.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from edgekit.formats import FORMATS
from edgekit.models import list_models


def _load_script(name: str):
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


export_matrix_row = _load_script("export_matrix").export_matrix_row

RUNS_HERE = tuple(name for name, spec in FORMATS.items() if spec.runs_here()[0])
# (model, format) -> a phrase of the one-line converter error, for pairs that do not work.
# Empty: every pair works (the ShuffleNets to Core ML did not, until their channel shuffle stopped
# doing arithmetic on traced sizes; see edgekit/models/shufflenet.py).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


@pytest.mark.slow
@pytest.mark.parametrize("model_name", list_models("classification"))
def test_every_format_exports_and_agrees_with_pytorch(model_name, tmp_path):
    cells = {cell.format: cell for cell in export_matrix_row(model_name, tmp_path)}

    assert set(cells) == set(FORMATS)
    assert cells["torchscript"].distinct_top1 >= 5, "the weights are degenerate: parity would compare near-constants"
    for format_name, cell in cells.items():
        if (model_name, format_name) in KNOWN_FAILURES:
            assert cell.status == "failed to export"
            assert KNOWN_FAILURES[(model_name, format_name)] in cell.reason
        elif format_name in RUNS_HERE:
            assert cell.status == "verified", f"{format_name}: {cell.status}: {cell.reason}"
            assert cell.agreement == 1.0 and cell.cosine > 0.9999
        else:  # Core ML is converted and checked structurally, never reported as run off Apple platforms
            assert cell.status == "exported, not run here", f"{format_name}: {cell.reason}"
            assert "Apple" in cell.reason
