"""Opening a file someone else made without running code from it: the one place edgekit unpickles or deserialises
a model file.

    load_tensors(path_or_bytes, what) -> object    torch.load(weights_only=True): tensors and plain containers only;
                                                   anything else is one EdgekitError naming what it pickles
    load_program(path) -> ExportedProgram          a torch.export archive (.pt2) checked entry by entry first
                                                   (check_program_archive), loaded with every torch.load inside
                                                   torch.export.load forced to weights_only, and its graph checked
                                                   (check_program_graph) before anything calls it
    NotAProgram                                    the file is not a torch.export archive at all (the caller says
                                                   what it is instead)

What `torch.export.load` (torch 2.14, torch/export/pt2_archive/_package.py and torch/_export/serde/serialize.py)
would do with a hostile archive, and what edgekit does first:

    entry / field                                  torch.export.load                edgekit
    data/weights/*, data/constants/tensor_* with   torch.load(weights_only=False)   torch.load(weights_only=True), must be
      "use_pickle": true in their config                                            one tensor, else refused
    data/constants/opaque_obj_*, custom_obj_*      pickle.loads, TorchScript's      refused
                                                   pickler
    data/sample_inputs/<model>.pt,                 weights_only=True, then a        weights_only=True, tensors and plain
      legacy data/weights|constants/<model>.pt     fallback to weights_only=False   containers, else refused (legacy: refused)
    models/<model>.json "expr_str" fields          sympy.sympify (Python eval)      only integers, symbols (s0, u1, ...),
                                                                                    operators and torch's sympy functions
    data/aotinductor/, mtia, executorch, xl        loads native libraries           refused
      weights folders
    any other entry                                ignored, or read                 refused (extra/ text files: kept)
    a zip without archive_format "pt2"             the pre-2.7 layout, same         refused
                                                   weights_only fallback
    call_function targets in the graph             any attribute of torch,          operators (torch.ops.*) and the
                                                   operator, math                   symbolic-shape functions only

and while torch.export.load runs, TORCH_FORCE_WEIGHTS_ONLY_LOAD=1, so that no torch.load inside it can unpickle
anything but tensors even if a check above missed an entry. Checkpoints, state dicts and ImageNet weight files go
through `load_tensors`; .safetensors files are read by safetensors (no pickle); manifests and summaries are JSON.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Iterator

from edgekit.errors import EdgekitError

PROGRAM_MODEL = "model"  # the program torch.export.save writes and torch.export.load returns
MAX_CONFIG_BYTES = 64 << 20  # a JSON config or graph larger than this is not read


class NotAProgram(Exception):
    """The file is not a torch.export archive (not a zip, or a zip of another kind): the caller says what it is."""


class UnsafePickle(EdgekitError):
    """A pickle that torch.load(weights_only=True) refuses: never unpickled."""


# ----------------------------------------------------------------------------- pickles


def load_tensors(source: Path | str | bytes, what: str | None = None):
    """torch.load(source, weights_only=True) on the CPU: tensors, numbers, strings and plain containers. A pickle of
    anything else raises UnsafePickle naming the global it asks for; a file that is not a torch file at all raises
    the loader's own exception (the caller words it)."""
    import torch

    name = what or str(source)
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        return torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as error:
        text = str(error)
        if "Weights only load failed" in text or "weights_only" in text:
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
            pickles = f" (it pickles {found.group(1)})" if found else ""
            raise UnsafePickle(f"{name} holds Python objects that torch.load(weights_only=True) refuses to unpickle"
                               f"{pickles}; edgekit never runs pickled code") from None
        raise


def _only_tensors(value) -> bool:
    import torch

    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_only_tensors(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _only_tensors(v) for k, v in value.items())
    return False


# ----------------------------------------------------------------------------- torch.export archives

_NUMBER = r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_TOKEN = re.compile(rf"\s+|{_NUMBER}|[A-Za-z][A-Za-z0-9]*|\*\*|//|==|!=|<=|>=|[-+*/%()<>,&|~]")
_SYMBOL = re.compile(r"[a-z]+\d+")  # torch's shape symbols: s0, u3, zuf1, ...
# sympy's srepr of a symbol, as torch writes them: Symbol('s77', positive=True, integer=True)
_SREPR_SYMBOL = re.compile(r"Symbol\('([a-z]+\d+)'(?:,\s*[a-z_]+=(?:True|False))*\)")
# torch's own sympy functions (ExportedProgramDeserializer.sympy_functions) and the sympy names its printer writes
_EXPRESSION_NAMES = frozenset("""
    FloorDiv ModularIndexing Where PythonMod Mod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift PowByNatural
    FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt RoundToInt
    RoundDecimal ToFloat Identity Max Min Eq Ne Lt Le Gt Ge And Or Not Abs floor ceiling sqrt oo zoo True False
    Integer Rational Mul Add Pow Equality Unequality StrictGreaterThan StrictLessThan GreaterThan LessThan
    BooleanTrue BooleanFalse NegativeOne One Zero Half Infinity NegativeInfinity
""".split())


def check_expression(text: str) -> str | None:
    """None when `text` is a shape expression of integers, shape symbols, operators and torch's sympy functions;
    else what in it is not (sympy.sympify runs Python eval on it)."""
    text = _SREPR_SYMBOL.sub(lambda match: match.group(1), text)
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            return f"the character {text[position]!r}"
        token = match.group(0)
        if token[0].isalpha() and token not in _EXPRESSION_NAMES and not _SYMBOL.fullmatch(token):
            return f"the name {token!r}"
        position = match.end()
    return None


def _walk_expressions(value, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "expr_str":
                yield (item if isinstance(item, str) else repr(item)), where
            else:
                yield from _walk_expressions(item, where)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_expressions(item, where)


def _archive_root(names: list[str]) -> str | None:
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in name for name in names):
        return None
    return roots.pop()


def check_program_archive(path: Path, data: bytes | None = None) -> None:
    """Raise NotAProgram for a file that is not a torch.export archive, EdgekitError (naming the entry) for an
    archive holding anything torch.export.load would unpickle or run beyond tensors (see the module docstring).
    Reads the archive (`data`, the file's bytes, when given) with zipfile; nothing in it is unpickled except
    through `load_tensors`."""
    path = Path(path)
    what = f"the program {path}"
    source = io.BytesIO(data) if data is not None else path
    if not zipfile.is_zipfile(source):
        raise NotAProgram("not a zip archive")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise NotAProgram(f"not a readable zip archive: {error}") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        folded = [name.lower() for name in names]
        if len(set(folded)) != len(folded):  # torch's reader (miniz) and zipfile need not pick the same twin, and
            twice = next(name for name in names if folded.count(name.lower()) > 1)  # miniz can match ignoring case
            raise EdgekitError(f"{what} holds two entries named {twice!r} (ignoring case); a torch.export archive "
                               "holds each once")
        if "version" in names and "serialized_exported_program.json" in names:
            raise EdgekitError(f"{what} is in the pre-2.7 torch.export layout, which loads its tensors with a "
                               "fallback to unrestricted unpickling: save it again with torch.export.save")
        root = _archive_root(names)
        if root is None or f"{root}/archive_format" not in names:
            raise NotAProgram("a zip archive without torch.export's archive_format entry")

        def read(name: str, limit: int | None = None) -> bytes:
            info = archive.getinfo(name)
            if limit is not None and info.file_size > limit:
                raise EdgekitError(f"{what}: its entry {name} is {info.file_size} bytes, too large to read")
            try:
                return archive.read(name)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:  # truncated, CRC
                raise EdgekitError(f"{what} is damaged: its entry {name} does not read ({error})") from None

        if read(f"{root}/archive_format", 64).strip() != b"pt2":
            raise NotAProgram("a zip archive whose archive_format is not pt2")
        prefix = f"{root}/"
        allowed = {f"{root}/{name}" for name in ("archive_format", "archive_version", "byteorder", ".data/version",
                                                  ".data/serialization_id")}
        models = [n for n in names if re.fullmatch(re.escape(prefix) + r"models/[^/]+\.json", n)]
        if [n for n in models] != [f"{prefix}models/{PROGRAM_MODEL}.json"]:
            found = ", ".join(n[len(prefix):] for n in models) or "none"
            raise EdgekitError(f"{what} must hold exactly one program, models/{PROGRAM_MODEL}.json (it holds: {found})")
        allowed.update(models)
        graph_name = models[0]
        try:
            graph = json.loads(read(graph_name, MAX_CONFIG_BYTES))
        except ValueError as error:
            raise EdgekitError(f"{what}: {graph_name[len(prefix):]} is not JSON ({error})") from None
        for expression, _ in _walk_expressions(graph, graph_name):
            problem = check_expression(expression)
            if problem:
                raise EdgekitError(f"{what}: a shape expression in {graph_name[len(prefix):]} holds {problem} "
                                   f"({expression[:80]!r}); edgekit evaluates only plain shape arithmetic")
        for kind in ("weights", "constants"):
            config_name = f"{prefix}data/{kind}/{PROGRAM_MODEL}_{kind}_config.json"
            if config_name not in names:
                raise EdgekitError(f"{what} has no data/{kind}/{PROGRAM_MODEL}_{kind}_config.json (a legacy or "
                                   "incomplete archive): save it again with torch.export.save")
            allowed.add(config_name)
            try:
                config = json.loads(read(config_name, MAX_CONFIG_BYTES))
                entries = config["config"]
                if not isinstance(entries, dict):
                    raise ValueError("config is not an object")
            except (ValueError, KeyError, TypeError) as error:
                raise EdgekitError(f"{what}: data/{kind}/{PROGRAM_MODEL}_{kind}_config.json does not read "
                                   f"({error})") from None
            for fqn, entry in entries.items():
                file_name = entry.get("path_name") if isinstance(entry, dict) else None
                if not isinstance(file_name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", file_name) \
                        or file_name.startswith("."):
                    raise EdgekitError(f"{what}: data/{kind} entry {fqn!r} names no plain file ({file_name!r})")
                entry_name = f"{prefix}data/{kind}/{file_name}"
                if kind == "constants" and not file_name.startswith("tensor_"):
                    raise EdgekitError(f"{what}: its constant {fqn!r} is a pickled Python object "
                                       f"(data/constants/{file_name}); edgekit loads tensor constants only")
                if entry_name not in names:
                    raise EdgekitError(f"{what}: data/{kind}/{file_name} (for {fqn!r}) is missing")
                allowed.add(entry_name)
                if entry.get("use_pickle"):
                    _check_pickled_tensor(read(entry_name), f"{what}: data/{kind}/{file_name}", tensors_only=True)
        sample = f"{prefix}data/sample_inputs/{PROGRAM_MODEL}.pt"
        if sample in names:
            allowed.add(sample)
            _check_pickled_tensor(read(sample), f"{what}: data/sample_inputs/{PROGRAM_MODEL}.pt", tensors_only=False)
        for name in names:
            if name in allowed or name.endswith("/"):
                continue
            if name.startswith(f"{prefix}extra/"):  # torch.export.load reads these as text, nothing more
                continue
            raise EdgekitError(f"{what} holds an entry edgekit does not load: {name[len(prefix):]} (only the "
                               "program, its tensor weights and constants and its example inputs are read)")


def _check_pickled_tensor(data: bytes, what: str, tensors_only: bool) -> None:
    import torch

    try:
        value = load_tensors(data, what)
    except UnsafePickle:
        raise
    except Exception as error:
        raise EdgekitError(f"{what} does not read as a tensor file ({type(error).__name__})") from None
    ok = isinstance(value, torch.Tensor) if tensors_only else _only_tensors(value)
    if not ok:
        raise EdgekitError(f"{what} holds a {type(value).__name__}, not {'a tensor' if tensors_only else 'tensors'}")


@contextlib.contextmanager
def forced_weights_only() -> Iterator[None]:
    """Every torch.load inside the block unpickles with weights_only=True whatever its caller asks."""
    names = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_program_graph(program, path: Path) -> None:
    """Every call in the program's graphs (nested ones included) is an operator or a symbolic-shape function; no
    call_method or call_module node: nothing else from the file is called when the module runs."""
    import math
    import operator

    import torch

    plain = {getattr(operator, n) for n in ("getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                           "neg", "pos", "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_",
                                           "abs")}
    plain |= {math.trunc, math.floor, math.ceil, math.sqrt}
    plain |= {getattr(torch, n) for n in ("sym_int", "sym_float", "sym_not", "sym_ite", "sym_max", "sym_min",
                                          "sym_sqrt", "sym_sum") if hasattr(torch, n)}
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.op in ("call_method", "call_module"):
                raise EdgekitError(f"the program {path} holds a {node.op} node ({node.target!r}); edgekit loads "
                                   "graphs of operators only")
            if node.op != "call_function":
                continue
            target = node.target
            if isinstance(target, (torch._ops.OpOverload, torch._ops.HigherOrderOperator)) or target in plain:
                continue
            name = getattr(target, "__qualname__", None) or repr(target)
            raise EdgekitError(f"the program {path} calls {getattr(target, '__module__', '')}.{name}, which is not "
                               "an operator; edgekit does not run it")


def recorded_program(record: dict, export_dir: Path | None) -> Path:
    """The program file a manifest's `source` record names for bench's eager baseline: only `source.program`, a
    file inside the export folder (a program or module export keeps its copy there as source.pt2), whose sha256 is
    the record's. `source.file` (where the exporter's own file was) is never opened: an export folder from someone
    else is data. Torch-free; every refusal is one EdgekitError saying why."""
    from edgekit.fileio import sha256_file
    from edgekit.manifest import inside

    name = record.get("program")
    if export_dir is None or not isinstance(name, str):
        return _refuse_outside(record)
    path = inside(Path(export_dir), name, "source.program")
    if not path.is_file():
        raise EdgekitError(f"the source program {name} is not in the export folder")
    digest = record.get("sha256")
    if not isinstance(digest, str) or sha256_file(path) != digest:
        raise EdgekitError(f"the source program {name} is not the one exported (its sha256 differs from the "
                           "manifest's source.sha256)")
    return path


def _refuse_outside(record: dict) -> Path:
    where = record.get("file")
    named = f" ({where})" if isinstance(where, str) else ""
    raise EdgekitError(f"the manifest names no program inside the export folder{named}; edgekit does not load a "
                       "program from outside it (export again to keep a copy as source.pt2)")


def load_program(path: Path | str):
    """A torch.export program from a file someone else made, read once into memory: check_program_archive on those
    bytes, torch.export.load of the same bytes with every torch.load forced to weights_only and torch's own log and
    warnings kept off the console, check_program_graph."""
    import logging
    import warnings

    import torch

    path = Path(path)
    try:
        data = path.read_bytes()  # checked and loaded from the same bytes: the file cannot change in between
    except OSError as error:
        raise EdgekitError(f"the program {path} cannot be read: {error.strerror or error}") from None
    check_program_archive(path, data)
    loggers = [logging.getLogger(name) for name in ("torch.export", "torch._export", "torch.export.pt2_archive")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
        with forced_weights_only(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(io.BytesIO(data))
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    check_program_graph(program, path)
    return program
