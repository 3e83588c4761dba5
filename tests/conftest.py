"""Shared fixtures. What a test uses says what its result depends on:

    fixed_run(model_name: str) -> FixedRun
        A run directory (config.json, labels.txt, splits/ of the shipped set, best.pt) around weights trained once
        and committed (tests/fixtures/weights/, made by scripts/make_test_weights.py): mobilenet_v2, shufflenet_v2,
        squeezenet1_1 at 64 px. Seconds, and the same bytes on every CPU. For every test whose subject is not
        training itself: export, parity, int8 gates, quantize, bench, report, eval/predict, the app's tools.
    exported_mobilenet_v2 -> pathlib.Path
        The fixed mobilenet_v2 weights exported once per session: fp32 TorchScript and fp32/int8 ONNX, TFLite,
        ExecuTorch, verified on the whole validation split (the export folder OUT/mobilenet_v2). Read-only: copy
        it before changing anything.
    benched_mobilenet_v2 -> BenchedExport
        A copy of that export benched once per session at 1 and 2 threads with top-1 on 30 shipped images.
    trained_run(model_name: str) -> edgekit.train.TrainResult
        A run trained in this session on SAMPLE_DATA_DIR (10 classes, 2000 train / 500 val images) at 64 px. Its
        accuracy depends on the CPU (the SGD trajectory does): only for tests whose subject is training, and those
        judge by intervals that hold on any CPU.
    tiny_run -> edgekit.train.TrainResult
        A 2-epoch, 32 px run of TINY_MODEL on tiny_data_dir (seconds): the training tests' run directory.
    sample_images -> list[pathlib.Path]
        Real image files from the shipped set, two per class (20 paths), sorted.
    tiny_data_dir -> pathlib.Path
        A class folder with 2 classes x 20 real images (bag, trouser).
    cli -> cli(*args) -> subprocess.CompletedProcess
        `edgekit ARGS` in the test's process (edgekit.cli.main.main): exit code, stdout, stderr.

Fixtures that cost a minute or more (trained_run, exported_mobilenet_v2, benched_mobilenet_v2, hostile_export) are
built once per session, not once per pytest-xdist worker (`built_once`: a file lock and a shared temporary folder).

Markers (pyproject.toml): a test that requests a training fixture is `trains` (and `slow`); one that requests the
shared export is `slow`: `pytest -m "not slow"` trains nothing.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import pytest

from edgekit.paths import SAMPLE_DATA_DIR

T = TypeVar("T")

# Short recipes on the shipped data. SqueezeNet's ReLU after the last conv dies when the step is too large: at AdamW
# 2e-3 squeezenet1_1 learned on 2 threads but sat at chance (10 %, from the first epoch) on 1 thread of the same
# CPU; at 1e-3 it reached 77 % (1 thread), 76 % (2 threads) and 73 % (1 thread, seed 1). Runs trained here reach
# 55-77 % depending on the CPU and threads: the tests on them judge by intervals far from those figures.
TRAINED_RUN_IMG_SIZE = 64
_DEFAULT_RECIPE = {"epochs": 4, "lr": 5e-3, "batch_size": 64, "warmup_epochs": 0.5}
_RECIPES: dict[str, dict] = {
    "squeezenet1_0": {"epochs": 10, "lr": 1e-3, "batch_size": 32, "warmup_epochs": 1.0},
    "squeezenet1_1": {"epochs": 10, "lr": 1e-3, "batch_size": 32, "warmup_epochs": 1.0},
}


def trained_run_config(model_name: str, out: Path):
    from edgekit.train import TrainConfig

    recipe = {**_DEFAULT_RECIPE, **_RECIPES.get(model_name, {})}
    return TrainConfig(model=model_name, data=str(SAMPLE_DATA_DIR), out=str(out), img_size=TRAINED_RUN_IMG_SIZE,
                       seed=0, device="cpu", **recipe)


def built_once(tmp_path_factory, name: str, build: Callable[[Path], T]) -> T:
    """build(folder) once per test session, not once per pytest-xdist worker: the first worker that asks builds into
    a folder of the session's shared temporary root, under a file lock, and records the value (pickled) when done;
    any other worker waits for the lock and reads the value. A build that raised left no record: the next caller
    builds again (and fails the same way). Without xdist it is the session's own temporary folder."""
    import pickle
    import shutil

    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: .../pytest-N/popen-gwK
    folder, record = root / f"built-{name}", root / f"built-{name}.pickle"
    with FileLock(str(root / f"built-{name}.lock")):
        if record.is_file():
            return pickle.loads(record.read_bytes())
        shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
        folder.mkdir()
        value = build(folder)
        record.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Callable[[str], "TrainResult"]:  # noqa: F821
    """trained_run(model_name): trained once per session (built_once: both xdist workers read the same run)."""
    from edgekit.train import train

    def build(model_name: str, folder: Path):
        return train(trained_run_config(model_name, folder / "run"), show_progress=False)

    return lambda model_name: built_once(tmp_path_factory, f"run-{model_name}",
                                         lambda folder: build(model_name, folder))


@pytest.fixture(scope="session")
def sample_images() -> list[Path]:
    paths = []
    for class_dir in sorted(p for p in SAMPLE_DATA_DIR.iterdir() if p.is_dir()):
        paths.extend(sorted(class_dir.glob("*.png"))[:2])
    assert len(paths) == 20, f"the shipped sample set is incomplete: {len(paths)} images found"
    return paths


FIXED_WEIGHTS_DIR = Path(__file__).resolve().parent / "fixtures" / "weights"


@dataclass(frozen=True)
class FixedRun:
    """A run directory around committed trained weights (the fields of TrainResult that later stages use)."""

    run_dir: Path
    best_checkpoint: Path
    val_acc: float  # measured on the shipped validation split when the weights were made (after float16 rounding)


def make_fixed_run(model_name: str, out: Path) -> FixedRun:
    """tests/fixtures/weights/<model>.pt (trained once by scripts/make_test_weights.py, bit-identical on every CPU)
    in a run directory written through RunDir: config.json, labels.txt and splits/ of the shipped data, best.pt."""
    import hashlib

    from edgekit.checkpoint import load_checkpoint
    from edgekit.data.folder import load_splits
    from edgekit.recipe import resolve_recipe
    from edgekit.rundir import RunDir

    source = FIXED_WEIGHTS_DIR / f"{model_name}.pt"
    if not source.is_file():
        pytest.fail(f"no fixed weights for {model_name}: run `python scripts/make_test_weights.py --models {model_name}`")
    checkpoint = load_checkpoint(source)
    facts = checkpoint.meta["fixed_weights"]
    splits = load_splits(SAMPLE_DATA_DIR)
    root = SAMPLE_DATA_DIR.resolve()
    listed = "\n".join(f"{Path(p).resolve().relative_to(root).as_posix()}\t{label}" for p, label in splits.val)
    if hashlib.sha256(listed.encode("utf-8")).hexdigest() != facts["val_split_sha256"]:
        pytest.fail(f"{source} was trained on another split of the shipped data than load_splits gives now (its "
                    "validation images would have been training images): rerun scripts/make_test_weights.py")
    run = RunDir(out)
    out.mkdir(parents=True)
    # the options the weights were trained with, and the recipe they imply (edgekit.recipe is a pure function of
    # them): QAT's fine-tune augments as the run did, not with the long-run default crop
    trained = json.loads(checkpoint.meta["train_config"])
    run.write_config({**trained, "fixed_weights": str(source.relative_to(source.parents[3]))},
                     splits.classes, checkpoint.preprocessing, splits)
    steps = math.ceil(len(splits.train) / trained["batch_size"])
    recipe = resolve_recipe(epochs=trained["epochs"], steps_per_epoch=steps, dataset_size=len(splits.train),
                            warmup_epochs=trained["warmup_epochs"], crop_scale_min=trained["crop_scale_min"],
                            hflip=trained["hflip"])
    run.write_recipe({**recipe.to_dict(), "steps_per_epoch": steps})
    run.write_labels(splits.classes)
    run.write_splits(splits)
    run.best.write_bytes(source.read_bytes())
    return FixedRun(run_dir=out, best_checkpoint=run.best, val_acc=float(facts["val_acc_after_rounding"]))


@pytest.fixture(scope="session")
def fixed_run(tmp_path_factory) -> Callable[[str], FixedRun]:
    """fixed_run(model_name) -> FixedRun: trained weights that are the same bytes on every CPU, in a run directory
    (seconds). For every test whose subject is not training itself."""
    cache: dict = {}

    def get(model_name: str) -> FixedRun:
        if model_name not in cache:
            cache[model_name] = make_fixed_run(model_name, tmp_path_factory.mktemp(f"fixed-{model_name}") / "run")
        return cache[model_name]

    return get


TINY_MODEL = "mobilenet_v2"  # the model the tiny runs of the training tests use

# Fixtures that train (their tests are `trains`) or build a shared export (their tests are `slow`). A test that
# requests one, directly or through another fixture, is marked here so that `-m "not slow"` trains nothing.
TRAINING_FIXTURES = {"trained_run", "tiny_run"}
EXPORT_FIXTURES = {"exported_mobilenet_v2", "benched_mobilenet_v2", "hostile_export"}


def pytest_configure(config):
    """Under pytest-xdist each worker computes on one core in-process (two workers share CI's two cores; torch's
    default of one thread per core in both would oversubscribe them). Subprocesses keep their defaults."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


# Test files in the order pytest-xdist hands them to its workers (scripts/test.sh: --dist loadfile
# --no-loadscope-reorder): the longest first, so that the suite does not end on one worker running a long file
# while the other idles (xdist's default order, most tests first, started the three-test int8 file last). By the
# files' seconds in a full run on 2 cores (2026-12-03, 14 min 37 s; a session fixture counts where it was built, a
# wait for one where it waited); files not listed follow in collection order. A stale list costs minutes, never a result.
LONGEST_FIRST = ["test_int8_plan", "test_detection_export", "test_export_matrix", "test_int8_export", "test_export_first_run", "test_train",
                 "test_byom_export", "test_quantize_int8", "test_quantize_cli", "test_quantize_qat", "test_export_formats", "test_report",
                 "test_export_bad_input", "test_hostile_interrupts", "test_android_apk", "test_recipe",
                 "test_quantize_sensitivity", "test_bench", "test_int8_activations", "test_eval_predict",
                 "test_android_core", "test_cli_models", "test_int8_integer", "test_byom_bad_input", "test_hostile_outputs",
                 "test_hostile_files", "test_train_detection", "test_android_ort_jvm"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: tests keep their order in a file
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & TRAINING_FIXTURES:
            item.add_marker(pytest.mark.trains)
        if item.get_closest_marker("trains") or fixtures & EXPORT_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def cli(capsys) -> Callable[..., "subprocess.CompletedProcess"]:  # noqa: F821
    """cli(*args) -> subprocess.CompletedProcess: `edgekit ARGS` through edgekit.cli.main.main in this process (what
    the `edgekit` script calls; no interpreter start and torch import per call), its exit code and what it printed.
    For refusals and messages; the installed entry point itself: test_cli_models.py, test_console.py."""
    import subprocess

    from edgekit.cli.main import main

    def run(*args) -> subprocess.CompletedProcess:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), exited.value.code, out, err)

    return run


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A class folder of 2 classes x 20 real shipped images (trouser, bag): trains in seconds."""
    import shutil

    root = tmp_path_factory.mktemp("tiny-data") / "data"
    for class_name in ("bag", "trouser"):
        (root / class_name).mkdir(parents=True)
        for path in sorted((SAMPLE_DATA_DIR / class_name).glob("*.png"))[:20]:
            shutil.copy(path, root / class_name / path.name)
    return root


def tiny_config(data_dir: Path, out: Path, **overrides):
    """A TrainConfig that trains TINY_MODEL on tiny_data_dir at 32 px in a few seconds."""
    from edgekit.train import TrainConfig

    settings = dict(model=TINY_MODEL, data=str(data_dir), out=str(out), epochs=2, batch_size=8, img_size=32,
                    lr=5e-3, warmup_epochs=0.0, seed=0, device="cpu")
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def tiny_run(tiny_data_dir, tmp_path_factory):
    """A finished 2-epoch run of TINY_MODEL on tiny_data_dir (a TrainResult); do not modify its files."""
    from edgekit.train import train

    return train(tiny_config(tiny_data_dir, tmp_path_factory.mktemp("tiny-run") / "run"), show_progress=False)


# export's int8 gate in the shared export and test_int8_export.py: a measured drop above this fails outright (the
# tests judge the 1-point target by the drop's paired interval, test_int8_export.py says why)
INT8_NOISE_CEILING = 3.0


@pytest.fixture(scope="session")
def exported_mobilenet_v2(tmp_path_factory):
    """fp32 and int8 of every format that runs here, from the fixed mobilenet_v2 weights (a run directory of its
    own), exported once per session (built_once: both xdist workers read the same folder), verified on the run's
    whole validation split (500 images) with the int8 gate at INT8_NOISE_CEILING points and --allow-mismatch: the
    export folder `OUT/mobilenet_v2` (artifact folders, manifests, summary.json). test_int8_export.py judges its
    int8 rows; the bench, report, eval-of-artifacts, console and Android tests use its artifacts. Read-only: copy
    it before changing anything."""
    def build(folder: Path) -> Path:
        from edgekit import ExportOptions, export_model

        run = make_fixed_run("mobilenet_v2", folder / "run")
        out = folder / "export"
        # TorchScript has no int8 and an explicitly named format must export every precision asked for: two calls
        # into the same folder (summary.json holds the second call's rows and, marked from_earlier_export, the
        # first call's TorchScript row: same weights; every artifact folder has its manifest).
        export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["fp32"],
                                   formats=["torchscript"], out=out))
        export_model(ExportOptions("mobilenet_v2", checkpoint=run.best_checkpoint, precisions=["fp32", "int8"],
                                   formats=["onnx", "tflite", "executorch"], out=out, max_drop=INT8_NOISE_CEILING,
                                   allow_mismatch=True))
        return out / "mobilenet_v2"

    return built_once(tmp_path_factory, "export-mobilenet_v2", build)


BENCH_THREADS = sorted({1, min(2, os.cpu_count() or 1)})


@dataclass(frozen=True)
class BenchedExport:
    folder: Path   # a copy of the shared export with bench.json, bench.csv and bench.log
    rows: list     # what `--json` printed
    stderr: str
    data: Path     # the --data folder: 3 shipped images per class (30)


@pytest.fixture(scope="session")
def benched_mobilenet_v2(exported_mobilenet_v2, tmp_path_factory) -> BenchedExport:
    """A copy of the shared export benched once per session (built_once) by `edgekit bench` through the entry point:
    BENCH_THREADS, 6 iterations, 1 warm-up, 2 rounds, top-1 on 3 shipped images per class (--data), a budget. Shared
    by test_bench.py and test_report.py; read-only: copy it before changing anything."""
    def build(folder: Path) -> BenchedExport:
        import shutil
        import subprocess
        import sys

        export = folder / "mobilenet_v2"
        shutil.copytree(exported_mobilenet_v2, export)
        data = folder / "data"
        for class_dir in sorted(p for p in SAMPLE_DATA_DIR.iterdir() if p.is_dir()):
            (data / class_dir.name).mkdir(parents=True)
            for image in sorted(class_dir.glob("*.png"))[:3]:
                shutil.copy(image, data / class_dir.name / image.name)
        env = {**os.environ, "COLUMNS": "400"}  # rich wraps at 80 columns on a pipe; keep messages on one line
        done = subprocess.run([sys.executable, "-m", "edgekit.cli.main", "bench", str(export),
                               "--threads", ",".join(map(str, BENCH_THREADS)), "--iterations", "6", "--warmup", "1",
                               "--rounds", "2", "--data", str(data), "--budget-ms", "100000", "--json"],
                              capture_output=True, text=True, timeout=900, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return BenchedExport(export, json.loads(done.stdout), done.stderr, data)

    return built_once(tmp_path_factory, "bench-mobilenet_v2", build)


# ----------------------------------------------------------------------------- hostile-input tests (issue 26)
@dataclass(frozen=True)
class HostileExport:
    """A small real export to build hostile artifacts from (copy it before changing anything)."""

    export: Path  # OUT/mobilenet_v2: onnx-fp32/ and tflite-fp32/ (manifests, labels.txt), summary.json, export.log
    data: Path    # a labelled class folder of the export's classes (tiny_data_dir: bag, trouser)
    checkpoint: Path  # the best.pt it was exported from (the fixed mobilenet_v2 weights in a run directory)


@pytest.fixture(scope="session")
def hostile_export(tiny_data_dir, tmp_path_factory) -> HostileExport:
    """The fixed mobilenet_v2 weights (64 px, the shipped ten classes; no training; a run directory of its own)
    exported once per session (built_once) to ONNX and TFLite fp32, parity on a seeded 64 of its validation images:
    plumbing for tests/test_hostile_*.py, where nothing depends on accuracy. `data` is tiny_data_dir (bag and
    trouser, two of its classes)."""
    def build(folder: Path) -> tuple[Path, Path]:
        from edgekit import ExportOptions, export_model

        run = make_fixed_run(TINY_MODEL, folder / "run")
        out = folder / "export"
        export_model(ExportOptions(TINY_MODEL, checkpoint=run.best_checkpoint, formats=["onnx", "tflite"],
                                   precisions=["fp32"], parity_size=64, out=out))
        return out / TINY_MODEL, Path(run.best_checkpoint)

    export, checkpoint = built_once(tmp_path_factory, "hostile-export", build)
    return HostileExport(export=export, data=tiny_data_dir, checkpoint=checkpoint)
# ----------------------------------------------------------------------------- end of hostile-input block


# ============================================================================ brought models (issue 24) — byom tests
BROUGHT_IMG_SIZE = 64


@dataclass(frozen=True)
class BroughtModel:
    """A torchvision classifier as a user brings it: the module (probe weights, eval mode), its state dict and a
    program saved with torch.export.save, a labels file, and the class folder of the shipped validation images."""

    name: str  # torchvision builder name
    module: "torch.nn.Module"  # noqa: F821
    weights: Path  # torch.save(state_dict)
    program: Path  # torch.export.save at [1, 3, 64, 64]
    labels: Path  # one class per line
    classes: list
    img_size: int = BROUGHT_IMG_SIZE


@pytest.fixture(scope="session")
def brought_model(tmp_path_factory) -> Callable[[str], BroughtModel]:
    """brought_model("squeezenet1_1"): made once per session in seconds (edgekit.models.probe: batch norms
    re-estimated, the head fitted on the shipped images; no training), read-only for the tests."""
    cache: dict = {}

    def get(name: str) -> BroughtModel:
        if name not in cache:
            import torch
            import torchvision

            from edgekit.models.probe import probe_images, probe_weights

            folder = tmp_path_factory.mktemp(f"brought-{name}")
            images, labels, classes = probe_images(BROUGHT_IMG_SIZE)
            torch.manual_seed(0)
            module = torchvision.models.get_model(name, num_classes=len(classes))
            probe_weights(module, images, labels, len(classes))
            torch.save(module.state_dict(), folder / f"{name}.pth")
            program = torch.export.export(module, (images[:1].contiguous(),))
            torch.export.save(program, str(folder / f"{name}.pt2"))
            (folder / "labels.txt").write_text("\n".join(classes) + "\n")
            cache[name] = BroughtModel(name, module, folder / f"{name}.pth", folder / f"{name}.pt2",
                                       folder / "labels.txt", list(classes))
        return cache[name]

    return get
# ============================================================================ end of the byom block
