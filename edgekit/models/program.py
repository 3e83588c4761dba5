"""A torch.export program as a model: loaded with one clear line for a file that is something else (a TorchScript
file, an edgekit checkpoint, a bare state dict), its module, static batch and input size; and the two checks every
brought model passes before export: `capture` (torch.export at [1, 3, size, size]) and `output_classes` (one
[1, classes] tensor of logits).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.models.architecture import first_line


def load_program(path: Path):
    """A program file loaded without running code from it (edgekit.safeload.load_program: the archive checked entry
    by entry, nothing unpickled but tensors, the graph's calls checked), with one clear line for a file that is
    something else or an archive that does not load."""
    from edgekit.safeload import NotAProgram
    from edgekit.safeload import load_program as load_checked

    try:
        return load_checked(path)
    except EdgekitError:
        raise
    except NotAProgram as error:
        raise EdgekitError(_not_a_program(path, error)) from None
    except Exception as error:  # a torch.export archive whose graph or tensors torch refuses
        raise EdgekitError(f"{path} is a torch.export archive that does not load: {type(error).__name__}: "
                           f"{first_line(error, 160)} (save it again with torch.export.save)") from None


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _not_a_program(path: Path, error: BaseException) -> str:
    import zipfile

    from edgekit.weightfile import CHECKPOINT_FORMAT, read_checkpoint_dict

    what = f"{path} is not a program saved with torch.export.save"
    if not zipfile.is_zipfile(path):
        return f"{what} (not a zip archive: an ONNX, TFLite or other file?)"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return (f"{what}: it is a TorchScript file. Save the model with "
                "torch.export.save(torch.export.export(model, (torch.randn(1, 3, H, W),)), 'model.pt2')")
    try:
        data = read_checkpoint_dict(path)
    except EdgekitError as refusal:
        return f"{what}; {refusal}"
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        return (f"{path} is an edgekit checkpoint of {data.get('model')}, not a program: "
                f"edgekit export {data.get('model')} --checkpoint {path}")
    if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return (f"{path} holds a state dict (weights without their architecture), not a program: name the "
                f"architecture, e.g. edgekit export torchvision:NAME --weights {path} (or timm:NAME)")
    return f"{what} ({first_line(error, 160)})"


def program_module(program, path: Path) -> tuple[nn.Module, int | None, int | None]:
    """(module in eval mode, static batch or None, static square input size or None) of an ExportedProgram."""
    with _quiet_logger("torch.utils._pytree"):  # torchao's import: "KernelPreference ... register_constant()"
        from torchao.quantization.pt2e import allow_exported_model_train_eval, move_exported_model_to_eval

    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise EdgekitError(f"the program {path} takes {len(user_inputs)} inputs; edgekit needs one image batch "
                           "[1, 3, H, W]")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    value = node.meta.get("val")
    shape = list(getattr(value, "shape", []))
    static = [int(d) if isinstance(d, int) else None for d in shape]
    if len(static) != 4 or static[1] not in (3, None):
        raise EdgekitError(f"the program {path} takes an input of shape {shape}; edgekit needs an RGB image batch "
                           "[1, 3, H, W]")
    if static[0] not in (1, None):
        raise EdgekitError(f"the program {path} was saved with a static batch of {static[0]}; save it with a "
                           "batch-1 example, torch.export.export(model, (torch.randn(1, 3, H, W),)), or a free batch")
    size = static[2] if static[2] is not None and static[2] == static[3] else None
    if static[2] is not None and static[3] is not None and static[2] != static[3]:
        raise EdgekitError(f"the program {path} takes {static[2]}x{static[3]} images; edgekit's preprocessing "
                           "gives square images")
    try:
        module = program.module()
        move_exported_model_to_eval(module)  # a program saved in training mode: batch norm and dropout as in eval
        allow_exported_model_train_eval(module)  # .eval()/.train() on it no longer raise...
        switch_train, switch_eval = module.train, module.eval
        # ...but return None, where nn.Module's return the module (model.eval().to(device))
        module.train = lambda mode=True: (switch_train(mode), module)[1]
        module.eval = lambda: (switch_eval(), module)[1]
    except Exception as error:
        raise EdgekitError(f"the program {path} cannot be loaded as a module: {first_line(error)}") from None
    return module, static[0], size


def capture(model: nn.Module, size: int, what: str):
    """torch.export of the model at [1, 3, size, size]: every converter but TorchScript starts there."""
    try:
        with torch.no_grad():
            return torch.export.export(model, (torch.zeros(1, 3, size, size),))
    except Exception as error:
        raise EdgekitError(f"torch.export cannot capture {what}: {type(error).__name__}: {first_line(error)} "
                           "(edgekit's converters need a graph torch.export can capture: no data-dependent Python "
                           "control flow on tensor values)") from None


def output_classes(model: nn.Module, size: int, what: str) -> int:
    """The model's class count: its output on one [1, 3, size, size] image must be one [1, classes] tensor."""
    try:
        with torch.no_grad():
            output = model(torch.zeros(1, 3, size, size))
    except Exception as error:
        raise EdgekitError(f"{what} fails on a [1, 3, {size}, {size}] input (a wrong --img-size?): "
                           f"{type(error).__name__}: {first_line(error)}") from None
    if not isinstance(output, torch.Tensor):
        raise EdgekitError(f"{what} returns a {type(output).__name__}, not one tensor of logits [1, classes]: wrap it "
                           "so that forward returns the class scores only")
    if output.dim() != 2 or output.shape[0] != 1 or not output.dtype.is_floating_point:
        raise EdgekitError(f"{what} gives an output of shape {list(output.shape)} ({str(output.dtype).replace('torch.', '')}), "
                           "not [1, classes] float logits: a classifier's head is missing or the output is not flattened")
    return int(output.shape[1])
