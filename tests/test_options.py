"""Numbers that mean nothing are refused by the options objects, before any work: one `error:` line naming the
option, exit 1, nothing written (issue 26, item 5). Before, `--img-size 0` silently became 224, `--parity-size 0`,
`--calib-size 0` and `eval --batch-size 0` ended in tracebacks, `quantize --sensitivity --eval-size 0` used every
image and `--max-layers 0` every layer. Run through `edgekit.cli.main.main` in-process (each case fails while its
options are made, so no model is loaded)."""
from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import EdgekitError

CHECKPOINT = "runs/none/best.pt"  # never opened: the options fail first

CASES = [
    (["export", "mobilenet_v2", "--img-size", "0"], "--img-size must be at least 1"),
    (["export", "mobilenet_v2", "--parity-size", "0"], "--parity-size must be at least 1"),
    (["export", "mobilenet_v2", "--int8", "--calib-size", "0"], "--calib-size must be at least 1"),
    (["export", "mobilenet_v2", "--calib-size", "5001"], "--calib-size must be at most 5000"),
    (["export", "mobilenet_v2", "--num-classes", "0"], "--num-classes must be at least 1"),
    (["export", "mobilenet_v2", "--max-drop", "-1"], "--max-drop must be at least 0"),
    (["export", "mobilenet_v2", "--max-drop", "nan"], "--max-drop must be a finite number"),
    (["eval", CHECKPOINT, "--batch-size", "0"], "--batch-size must be at least 1"),
    (["eval", CHECKPOINT, "--max-images", "0"], "--max-images must be at least 1"),
    (["eval", CHECKPOINT, "--split", "everything"], "--split must be one of val, test, train, all"),
    (["predict", CHECKPOINT, "x.png", "--top-k", "0"], "--top-k must be at least 1"),
    (["quantize", CHECKPOINT, "--sensitivity", "--eval-size", "0"], "--eval-size must be at least 1"),
    (["quantize", CHECKPOINT, "--sensitivity", "--max-layers", "0"], "--max-layers must be at least 1"),
    (["quantize", CHECKPOINT, "--sensitivity", "--worst", "0"], "--worst must be at least 1"),
    (["quantize", CHECKPOINT, "--calib-size", "0"], "--calib-size must be at least 1"),
    (["quantize", CHECKPOINT, "--qat", "--epochs", "0"], "--epochs must be at least 1"),
    (["quantize", CHECKPOINT, "--qat", "--lr", "0"], "--lr must be greater than 0"),
    (["quantize", CHECKPOINT, "--qat", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["quantize", CHECKPOINT, "--qat", "--max-train-images", "0"], "--max-train-images must be at least 1"),
    (["bench", "export/none", "--iterations", "0"], "--iterations must be at least 1"),
    (["bench", "export/none", "--seconds", "0"], "--seconds must be greater than 0"),
    (["bench", "export/none", "--rounds", "0"], "--rounds must be at least 1"),
    (["bench", "export/none", "--warmup", "-1"], "--warmup must be at least 0"),
    (["bench", "export/none", "--budget-ms", "0"], "--budget-ms must be greater than 0"),
    (["bench", "export/none", "--threads", "0"], "--threads values must be at least 1"),
    (["bench", "export/none", "--tool", "app"], "--tool applies to --device adb only"),
    (["bench", "export/none", "--device", "adb", "--seconds", "1"], "--seconds times the host only"),
    (["train", "mobilenet_v2", "--img-size", "0"], "needs images of at least 32 px, got --img-size 0"),
    (["train", "mobilenet_v2", "--weight-decay", "-1"], "--weight-decay must be at least 0"),
    (["train", "mobilenet_v2", "--seed", "-1"], "--seed must be at least 0"),
    (["train", "mobilenet_v2", "--max-train-images", "0"], "--max-train-images must be at least 1"),
    (["models", "--num-classes", "0"], "--num-classes must be at least 1"),
]


@pytest.mark.parametrize("args,needle", CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_meaningless_number_is_one_error_line_and_exit_1(args, needle, capsys, tmp_path, monkeypatch):
    from edgekit.cli.main import main

    monkeypatch.chdir(tmp_path)  # anything written would land here
    with pytest.raises(SystemExit) as done:
        main(args)
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert done.value.code == 1, lines
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines
    assert not any(tmp_path.iterdir()), f"written: {sorted(p.name for p in tmp_path.iterdir())}"


def test_the_options_objects_check_themselves_in_python_too():
    """The Python API gets the same refusals as the CLI (the CLI only passes the flags on)."""
    from edgekit import BenchOptions, EvalOptions, ExportOptions, PredictOptions, QatOptions, SensitivityOptions

    refused = [
        (lambda: ExportOptions("mobilenet_v2", img_size=0), "--img-size"),
        (lambda: ExportOptions("mobilenet_v2", parity_size=True), "--parity-size must be a whole number"),
        (lambda: EvalOptions("best.pt", batch_size=0), "--batch-size"),
        (lambda: PredictOptions("best.pt", []), "at least one image"),
        (lambda: SensitivityOptions("best.pt", max_layers=0), "--max-layers"),
        (lambda: SensitivityOptions("best.pt", method="kl"), "minmax, moving_average, histogram"),
        (lambda: QatOptions("best.pt", lr=float("inf")), "--lr must be a finite number"),
        (lambda: BenchOptions(threads="1,x"), "--threads expects"),
        (lambda: BenchOptions(iterations=5, seconds=1.0), "not both"),
        (lambda: BenchOptions(device="usb"), "--device must be host, adb or adb:SERIAL"),
    ]
    for make, needle in refused:
        with pytest.raises(EdgekitError, match=needle.replace("(", r"\(")):
            make()
    assert BenchOptions(threads="1,all").threads[0] == 1 and QatOptions("r").checkpoint == Path("r")
