"""`edgekit models`: the zoo as a table or JSON, with the same figures as the Python API."""
from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from edgekit.cli.main import app
from edgekit.models import list_models
from edgekit.models.complexity import measure

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_models_json_lists_every_model_with_the_apis_figures():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == list_models()
    for row in rows:
        measured = measure(row["name"])
        assert (row["params"], row["macs"], row["img_size"]) == (measured.params, measured.macs, measured.img_size)
        assert row["num_classes"] == (1000 if row["task"] == "classification" else 91)  # each paper's
    by_name = {row["name"]: row for row in rows}
    assert by_name["xception"]["default_img_size"] == 299
    assert by_name["mobilenet_v2"]["options"] == {"width_mult": 1.0, "dropout": 0.2}
    assert by_name["mobilenet_v1"]["budget"]["met"] is True
    assert by_name["squeezenet1_1"]["budget"]["met"] is None  # no paper figure to check
    assert by_name["resnet18"]["torchvision_weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert by_name["shufflenet_v1"]["torchvision_weights"] is None


def test_the_installed_entry_point_prints_json_with_every_paper_budget_met():
    done = run_cli("models", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["name"] for row in rows] == list_models()
    budgets = {row["name"]: row["budget"]["met"] for row in rows}
    # squeezenet1_1 and SSDLite on ShuffleNet V2 have no paper table (None); every model with one must meet it
    no_table = {"squeezenet1_1", "ssdlite_shufflenet_v2"}
    assert budgets == {name: (None if name in no_table else True) for name in list_models()}
    assert {row["name"]: row["task"] for row in rows if row["task"] == "detection"} == {
        name: "detection" for name in list_models("detection")}


def test_num_classes_and_img_size_change_the_counts_but_not_the_paper_check():
    rows = json.loads(runner.invoke(app, ["models", "--json", "--num-classes", "10", "--img-size", "64"]).output)
    for row in rows:
        head = 10 + (row["task"] == "detection")  # a detector's head adds the background
        measured = measure(row["name"], num_classes=head, img_size=64)
        assert (row["params"], row["macs"], row["img_size"], row["num_classes"]) == (measured.params, measured.macs, 64, head)
    mobilenet = next(row for row in rows if row["name"] == "mobilenet_v1")
    assert mobilenet["budget"]["params"] == measure("mobilenet_v1").params  # still 1000 classes at 224 px


def test_models_table_shows_every_model_and_list_is_the_same_command():
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0, table.output
    assert all(name in table.output for name in list_models())
    assert "569M" in table.output and "✓" in table.output
    header = next(line for line in table.output.splitlines() if line.split()[:2] == ["name", "task"])
    assert "params" in header
    rows = {line.split()[0]: line.split()[1] for line in table.output.splitlines() if line.split()[:1] and
            line.split()[0] in list_models()}
    assert rows["mobilenet_v2"] == "cls" and rows["ssdlite_mobilenet_v2"] == "det"
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0
    assert json.loads(listed.output) == json.loads(runner.invoke(app, ["models", "--json"]).output)


def test_an_input_below_the_minimum_is_one_clean_error():
    done = run_cli("models", "--img-size", "16")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "at least 32 px" in done.stderr


def test_one_class_counts_a_detector_with_its_background():
    rows = json.loads(runner.invoke(app, ["models", "--json", "--num-classes", "1"]).output)
    assert {row["name"]: row["num_classes"] for row in rows if row["task"] == "detection"} == {
        name: 2 for name in list_models("detection")}


def test_zero_classes_is_one_clean_error():
    done = run_cli("models", "--num-classes", "0")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "--num-classes must be at least 1" in done.stderr


def test_help_explains_every_option():
    result = runner.invoke(app, ["models", "--help"])
    assert result.exit_code == 0
    for option in ("--json", "--num-classes", "--img-size"):
        assert option in result.output
