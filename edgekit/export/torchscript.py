"""TorchScript: traced, frozen, and optimised for mobile where that keeps the outputs unchanged."""
from __future__ import annotations

from pathlib import Path

import torch

from edgekit.export.base import ExportRequest, first_line


class TorchScriptBackend:
    name = "torchscript"

    def export(self, request: ExportRequest, path: Path) -> dict:
        with torch.inference_mode(False), torch.no_grad():
            frozen = torch.jit.freeze(torch.jit.trace(request.model, request.example_input).eval())
            reference = frozen(request.example_input)
            notes = []
            try:
                from torch.utils.mobile_optimizer import optimize_for_mobile

                optimized = optimize_for_mobile(frozen)
                # the mobile passes fold and fuse ops; keep them only if the outputs stay the same
                if torch.allclose(optimized(request.example_input), reference, rtol=1e-4, atol=1e-4):
                    frozen, mobile = optimized, True
                else:
                    mobile = False
                    notes.append("optimize_for_mobile changed the outputs; kept the frozen trace")
            except Exception as error:  # the optimiser is best effort; the frozen trace is valid
                mobile = False
                notes.append(f"optimize_for_mobile failed, kept the frozen trace: {first_line(error, 160)}")
            frozen.save(str(path))
        return {"converter": {"name": "torch.jit", "version": torch.__version__},
                "optimized_for_mobile": mobile, "notes": notes}


BACKEND = TorchScriptBackend()
