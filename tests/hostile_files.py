"""Hostile model files, made from a real `torch.export.save` archive: every place torch.export.load (torch 2.14)
would unpickle, evaluate or load code from, filled with a payload that creates a marker file when it runs.

    make_program(path)                      a real program file (a small conv net with a lifted tensor constant)
    make_hostile(kind, path, marker)        a hostile variant of it; `marker` is created only if the payload runs
    HOSTILE_KINDS                           every kind, with what torch.export.load would do with it

Used by tests/test_hostile_files.py; `python tests/hostile_files.py OUT_DIR` writes every variant into OUT_DIR (the
markers into OUT_DIR/markers/) to try them by hand. Never load these files with torch.export.load yourself.
"""
from __future__ import annotations

import io
import json
import operator
import sys
import zipfile
from pathlib import Path

import torch
from torch import nn

HOSTILE_KINDS = {
    "weight_pickle": "a weight entry marked use_pickle whose pickle runs the payload and returns the real tensor "
                     "(torch.load(weights_only=False): on main it exported with exit 0)",
    "weight_pickle_fails": "a weight entry marked use_pickle whose pickle runs the payload and returns nothing",
    "constant_pickle": "a tensor constant marked use_pickle whose pickle runs the payload and returns the tensor",
    "opaque_constant": "a constant entry named opaque_obj_* (pickle.loads)",
    "custom_constant": "a constant entry named custom_obj_* (TorchScript's pickler)",
    "sample_inputs": "the sample inputs (weights_only=True, then a fallback to weights_only=False) as a payload",
    "legacy_weights": "a legacy data/weights/model.pt (handed to the same fallback) as a payload",
    "expr_str": "a symbolic size in models/model.json whose expression calls __import__ (sympy.sympify evaluates it)",
    "extra_entry": "an unreferenced pickle entry with a payload beside the real ones",
    "aoti": "an AOTInductor entry (data/aotinductor/..., a shared library torch would load)",
    "old_format": "the pre-2.7 zip layout (version, serialized_state_dict.pt as a payload)",
    "twin_entry": "models/model.json twice, one with the expr_str payload first and a clean one last (two zip "
                  "readers need not pick the same one)",
}


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.offset = torch.tensor([0.5, -0.25, 0.125])  # a plain tensor attribute: a lifted tensor constant

    def forward(self, x):
        x = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.fc(x) + self.offset


def make_program(path: Path, size: int = 16, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    program = torch.export.export(TinyNet().eval(), (torch.randn(1, 3, size, size),))
    torch.export.save(program, str(path))
    return Path(path)


class _Touch:
    """Unpickled: creates the marker file (through builtins.eval, which no weights-only loader admits)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"__import__('pathlib').Path({self.marker!r}).touch()",))


class _TouchThen:
    """Unpickled: creates the marker, then is `value` (so a loader that unpickles it gets the real data)."""

    def __init__(self, marker: Path, value):
        self.marker, self.value = marker, value

    def __reduce__(self):
        return (operator.getitem, ((_Touch(self.marker), self.value), 1))


def _torch_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _raw_pickle(obj) -> bytes:
    import pickle

    return pickle.dumps(obj, protocol=2)


def _entries(path: Path) -> tuple[str, dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        root = names[0].split("/", 1)[0]
        return root, {name: archive.read(name) for name in names}


def _write(path: Path, entries: dict[str, bytes], twins: list[tuple[str, bytes]] = ()) -> Path:
    import warnings

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name" for the twins
        for name, data in [*twins, *entries.items()]:
            archive.writestr(name, data)
    return path


def _tensor(meta_entry: dict, raw: bytes) -> torch.Tensor:
    from torch._export.serde.serialize import deserialize_scalar_type

    meta = meta_entry["tensor_meta"]
    dtype = deserialize_scalar_type(meta["dtype"])
    sizes = [s["as_int"] for s in meta["sizes"]]
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(sizes).clone()


def make_hostile(kind: str, path: Path, marker: Path) -> Path:
    """A hostile variant `kind` (HOSTILE_KINDS) of a real program, written to `path`."""
    path, marker = Path(path), Path(marker)
    clean = path.with_name(path.stem + ".clean.pt2")
    make_program(clean)
    root, entries = _entries(clean)
    clean.unlink()
    weights_config = f"{root}/data/weights/model_weights_config.json"
    constants_config = f"{root}/data/constants/model_constants_config.json"
    if kind in ("weight_pickle", "weight_pickle_fails", "constant_pickle"):
        config_name = constants_config if kind == "constant_pickle" else weights_config
        folder = f"{root}/data/{'constants' if kind == 'constant_pickle' else 'weights'}"
        config = json.loads(entries[config_name])
        fqn, entry = next(iter(config["config"].items()))
        real = _tensor(entry, entries[f"{folder}/{entry['path_name']}"])
        if entry.get("is_param"):
            real = nn.Parameter(real, requires_grad=entry["tensor_meta"]["requires_grad"])
        payload = _TouchThen(marker, real) if kind != "weight_pickle_fails" else _Touch(marker)
        entries[f"{folder}/{entry['path_name']}"] = _torch_pickle(payload)
        entry["use_pickle"] = True
        entries[config_name] = json.dumps(config).encode()
    elif kind in ("opaque_constant", "custom_constant"):
        config = json.loads(entries[constants_config])
        name = "opaque_obj_0" if kind == "opaque_constant" else "custom_obj_0"
        config["config"]["hostile"] = {"path_name": name, "is_param": False, "use_pickle": True, "tensor_meta": None}
        entries[constants_config] = json.dumps(config).encode()
        entries[f"{root}/data/constants/{name}"] = _raw_pickle(_Touch(marker))
    elif kind == "sample_inputs":
        real = torch.load(io.BytesIO(entries[f"{root}/data/sample_inputs/model.pt"]), weights_only=True)
        entries[f"{root}/data/sample_inputs/model.pt"] = _torch_pickle(_TouchThen(marker, real))
    elif kind == "legacy_weights":
        entries[f"{root}/data/weights/model.pt"] = _torch_pickle(_TouchThen(marker, {}))
    elif kind == "expr_str":
        model = entries[f"{root}/models/model.json"].decode()
        needle = '{"as_int": 16}'
        if needle not in model:
            raise RuntimeError("no static size 16 in models/model.json to replace")
        expression = f"__import__('pathlib').Path({str(marker)!r}).touch() or 16"
        replacement = json.dumps({"as_expr": {"expr_str": expression, "hint": {"as_int": 16}}})
        entries[f"{root}/models/model.json"] = model.replace(needle, replacement, 1).encode()
    elif kind == "extra_entry":
        entries[f"{root}/data/weights/payload.pkl"] = _torch_pickle(_Touch(marker))
        entries[f"{root}/extra/payload.pkl"] = _raw_pickle(_Touch(marker))
    elif kind == "aoti":
        entries[f"{root}/data/aotinductor/model/model.so"] = b"\x7fELF not really a library"
    elif kind == "old_format":
        model = entries[f"{root}/models/model.json"]
        entries = {"version": b"8.13", "serialized_exported_program.json": model,
                   "serialized_state_dict.pt": _torch_pickle(_TouchThen(marker, {})),
                   "serialized_constants.pt": _torch_pickle({}),
                   "serialized_example_inputs.pt": entries[f"{root}/data/sample_inputs/model.pt"]}
    elif kind == "twin_entry":
        name = f"{root}/models/model.json"
        model = entries[name].decode()
        expression = f"__import__('pathlib').Path({str(marker)!r}).touch() or 16"
        hostile = model.replace('{"as_int": 16}', json.dumps({"as_expr": {"expr_str": expression,
                                                                            "hint": {"as_int": 16}}}), 1)
        return _write(path, entries, twins=[(name, hostile.encode())])
    else:
        raise ValueError(f"unknown hostile kind {kind!r}: one of {', '.join(HOSTILE_KINDS)}")
    return _write(path, entries)


def main(out: str) -> None:
    folder = Path(out)
    (folder / "markers").mkdir(parents=True, exist_ok=True)
    for kind, what in HOSTILE_KINDS.items():
        made = make_hostile(kind, folder / f"{kind}.pt2", folder / "markers" / kind)
        print(f"{made}: {what}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hostile-files")
