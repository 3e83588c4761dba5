"""Training: normalisation statistics, the run directory, resume, transfer learning, devices."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_MODEL, tiny_config
from edgekit.checkpoint import load_checkpoint
from edgekit.data.folder import load_splits
from edgekit.data.stats import compute_mean_std
from edgekit.models import create_model
from edgekit.preprocess import load_rgb
from edgekit.stats import wilson_interval
from edgekit.train import train
from edgekit.train.devices import DistInfo, autocast_dtype, default_workers, dist_info_from_env, select_device
from edgekit.train.optim import parameter_groups
from edgekit.train.steps import StepContext, train_step
from edgekit.train.weights import load_matching_weights


# ----------------------------------------------------------------------------- statistics

def test_mean_std_equal_numpy_over_all_pixels_of_real_images(sample_images):
    pixels = np.concatenate([np.asarray(load_rgb(p), dtype=np.float64).reshape(-1, 3) / 255 for p in sample_images])
    mean, std = compute_mean_std(sample_images)
    np.testing.assert_allclose(mean, pixels.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(std, pixels.std(axis=0), rtol=1e-6)


def test_mean_std_weight_images_of_different_sizes_by_pixel_count(tmp_path):
    Image.new("RGB", (10, 10), (255, 0, 0)).save(tmp_path / "big.png")  # 100 red pixels
    Image.new("RGB", (5, 2), (0, 0, 255)).save(tmp_path / "small.png")  # 10 blue pixels
    mean, std = compute_mean_std([tmp_path / "big.png", tmp_path / "small.png"])
    assert mean == pytest.approx((100 / 110, 0.0, 10 / 110))
    assert std[0] == pytest.approx(np.sqrt(100 / 110 * 10 / 110))
    assert std[1] == pytest.approx(1e-3)  # a constant channel is clamped, never a division by zero


# ----------------------------------------------------------------------------- the run directory

def test_run_directory_holds_checkpoints_config_splits_metrics_and_curves(tiny_run, tiny_data_dir):
    run = tiny_run.run_dir
    for name in ("best.pt", "last.pt", "config.json", "labels.txt", "metrics.csv", "loss.png", "accuracy.png",
                 "splits/train.txt", "splits/val.txt", "splits/classes.txt"):
        assert (run / name).is_file(), name
    assert (run / "labels.txt").read_text().split() == ["bag", "trouser"]

    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s", "seconds"}
    assert tiny_run.best_val_acc == max(float(r["val_acc"]) for r in rows)

    best = load_checkpoint(tiny_run.best_checkpoint)
    assert (best.model_name, best.num_classes, best.labels) == (TINY_MODEL, 2, ["bag", "trouser"])
    assert best.meta["val_acc"] == tiny_run.best_val_acc
    best.build_model()  # the weights fit the architecture

    # the normalisation is the training split's, identical in config.json and the checkpoint
    splits = load_splits(run / "splits")
    mean, std = compute_mean_std([p for p, _ in splits.train])
    config = json.loads((run / "config.json").read_text())
    assert config["preprocessing"]["mean"] == pytest.approx(mean) and config["preprocessing"]["std"] == pytest.approx(std)
    assert best.preprocessing.to_dict() == config["preprocessing"]
    assert best.preprocessing.img_size == 32

    # the recorded splits are disjoint and cover the data set
    train_paths, val_paths = {p for p, _ in splits.train}, {p for p, _ in splits.val}
    assert not train_paths & val_paths
    assert len(train_paths | val_paths) == 40 and len(val_paths) == 8


def test_last_checkpoint_carries_resume_state_loadable_with_weights_only(tiny_run):
    data = torch.load(tiny_run.last_checkpoint, weights_only=True)
    assert data["epoch"] == 2 and data["meta"]["epoch"] == 2
    assert {"optimizer", "scheduler", "scaler", "rng", "best_val_acc", "history"} <= set(data)
    assert len(data["history"]) == 2


@pytest.mark.trains
def test_interrupted_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tiny_data_dir, tmp_path):
    straight = train(tiny_config(tiny_data_dir, tmp_path / "straight", epochs=3), show_progress=False)

    def interrupt_after_first_epoch(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt  # what Ctrl-C does between two epochs

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_data_dir, tmp_path / "split", epochs=3), on_epoch_end=interrupt_after_first_epoch,
              show_progress=False)
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=True)["epoch"] == 1
    resumed = train(tiny_config(tiny_data_dir, tmp_path / "split", epochs=3, resume=True), show_progress=False)

    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert [r["val_acc"] for r in resumed.history] == [r["val_acc"] for r in straight.history]
    a = load_checkpoint(straight.last_checkpoint).state_dict
    b = load_checkpoint(resumed.last_checkpoint).state_dict
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_a_new_run_refuses_to_overwrite_an_existing_one(tiny_run, tiny_data_dir):
    from edgekit.errors import EdgekitError

    before = tiny_run.last_checkpoint.read_bytes()
    with pytest.raises(EdgekitError, match="--resume"):
        train(tiny_config(tiny_data_dir, tiny_run.run_dir), show_progress=False)
    assert tiny_run.last_checkpoint.read_bytes() == before


@pytest.mark.trains
def test_sgd_with_letterbox_records_the_resize_rule_in_the_checkpoint(tiny_data_dir, tmp_path):
    result = train(tiny_config(tiny_data_dir, tmp_path / "run", epochs=1, optimizer="sgd", resize="letterbox",
                               max_train_images=16), show_progress=False)
    checkpoint = load_checkpoint(result.best_checkpoint)
    assert checkpoint.preprocessing.resize == "letterbox"
    assert len(load_splits(result.run_dir / "splits").train) == 16  # the class-balanced subset is what was trained on
    assert torch.load(result.last_checkpoint, weights_only=True)["optimizer"]["param_groups"][0]["momentum"] == 0.9


def test_train_transform_gives_the_run_size_for_non_square_images(tmp_path):
    from edgekit.data.datasets import train_transform
    from edgekit.preprocess import Preprocessing

    Image.new("RGB", (90, 30), (200, 10, 10)).save(tmp_path / "wide.png")
    for resize in ("center_crop", "letterbox"):
        image = train_transform(Preprocessing(img_size=48, resize=resize))(load_rgb(tmp_path / "wide.png"))
        assert image.shape == (3, 48, 48) and image.dtype == torch.float32


# ----------------------------------------------------------------------------- transfer learning

def test_transfer_learning_loads_matching_tensors_and_leaves_the_head_new(tmp_path):
    source = create_model(TINY_MODEL, num_classes=10)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    target = create_model(TINY_MODEL, num_classes=3)
    loaded, new = load_matching_weights(target, tmp_path / "weights.pt")
    assert new and all(tuple(source.state_dict()[k].shape) != tuple(target.state_dict()[k].shape) for k in new)
    for name in loaded:
        assert torch.equal(target.state_dict()[name], source.state_dict()[name])

    groups = parameter_groups(target, set(new), lr=1e-3, weight_decay=0.05)
    assert sorted({g["lr"] for g in groups if g["is_head"]}) == pytest.approx([1e-2])
    assert sorted({g["lr"] for g in groups if not g["is_head"]}) == pytest.approx([1e-3])


def test_frozen_backbone_epochs_train_only_the_new_head(tiny_run, tiny_data_dir, tmp_path):
    source = load_checkpoint(tiny_run.best_checkpoint).state_dict  # a 2-class model as the "pretrained" one
    three_classes = tmp_path / "data3"
    for class_dir in tiny_data_dir.iterdir():
        (three_classes / class_dir.name).mkdir(parents=True)
        for path in class_dir.iterdir():
            (three_classes / class_dir.name / path.name).write_bytes(path.read_bytes())
    (three_classes / "z_copy").mkdir()
    for path in sorted((tiny_data_dir / "bag").iterdir())[:10]:
        img = load_rgb(path).transpose(Image.Transpose.ROTATE_90)
        img.save(three_classes / "z_copy" / path.name)

    result = train(tiny_config(three_classes, tmp_path / "run", epochs=1, weights=str(tiny_run.best_checkpoint),
                               freeze_backbone_epochs=1), show_progress=False)
    after = load_checkpoint(result.last_checkpoint)
    model = create_model(TINY_MODEL, num_classes=3)
    parameters = {name for name, _ in model.named_parameters()}
    changed = [k for k in parameters if k in source and source[k].shape == after.state_dict[k].shape
               and not torch.equal(source[k], after.state_dict[k])]
    head = [k for k in parameters if k not in source or source[k].shape != after.state_dict[k].shape]
    assert head, "the 3-class head must be new"
    assert changed == [], f"backbone parameters moved while frozen: {changed[:3]}"


# ----------------------------------------------------------------------------- devices (CPU-side checks of the CUDA paths)

def test_device_selection_follows_request_availability_and_local_rank():
    from edgekit.errors import EdgekitError

    assert select_device("auto", cuda_available=False) == torch.device("cpu")
    assert select_device("auto", DistInfo(rank=1, world_size=2, local_rank=1), cuda_available=True) == torch.device("cuda", 1)
    assert select_device("cpu", cuda_available=True) == torch.device("cpu")
    with pytest.raises(EdgekitError, match="no CUDA"):
        select_device("cuda", cuda_available=False)
    with pytest.raises(EdgekitError, match="unknown device"):
        select_device("tpu", cuda_available=False)


def test_mixed_precision_uses_bf16_where_supported_and_never_on_cpu():
    cuda = torch.device("cuda", 0)
    assert autocast_dtype(cuda, None, bf16_supported=True) == torch.bfloat16
    assert autocast_dtype(cuda, None, bf16_supported=False) == torch.float16
    assert autocast_dtype(cuda, False, bf16_supported=True) is None
    assert autocast_dtype(torch.device("cpu"), True) is None
    assert autocast_dtype(cuda, None, bf16_supported=True, prefer="fp16") == torch.float16
    assert autocast_dtype(cuda, None, bf16_supported=True, prefer="bf16") == torch.bfloat16
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="no bfloat16"):
        autocast_dtype(cuda, None, bf16_supported=False, prefer="bf16")
    assert default_workers(torch.device("cpu"), None) == 0
    assert default_workers(cuda, None) == min(8, os.cpu_count() or 1)
    info = dist_info_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (info.enabled, info.is_main, info.local_rank) == (True, False, 1)
    assert not dist_info_from_env({}).enabled
    # torchrun with one process still takes the DDP path (DistributedSampler, process group)
    one = dist_info_from_env({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "TORCHELASTIC_RUN_ID": "x"})
    assert one.enabled and one.is_main


@pytest.mark.trains
def test_train_step_runs_with_autocast_and_channels_last(sample_images):
    """The CUDA step's code path (autocast, channels_last, GradScaler) on CPU with bf16 autocast."""
    torch.manual_seed(0)
    model = create_model(TINY_MODEL, num_classes=10).to(memory_format=torch.channels_last)
    ctx = StepContext(device=torch.device("cpu"), amp_dtype=torch.bfloat16, channels_last=True)
    images, labels = ctx.to_device(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    assert images.is_contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    before = [p.detach().clone() for p in model.parameters()]
    loss, correct = train_step(model, images, labels, torch.nn.CrossEntropyLoss(), optimizer, scaler, ctx)
    assert np.isfinite(loss) and 0 <= correct <= 4
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.trains
@pytest.mark.slow
def test_torchrun_trains_with_ddp_on_two_cpu_processes(tiny_data_dir, tmp_path):
    """The multi-GPU code path (DistributedSampler, DDP, rank-0 writing) with the gloo backend."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "edgekit.cli.main", "train", TINY_MODEL, "--data", str(tiny_data_dir), "--out", str(out),
               "--epochs", "1", "--batch-size", "8", "--img-size", "32", "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(out / "best.pt").meta["epoch"] == 1
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == 1


# ----------------------------------------------------------------------------- learning on the shipped data

@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["mobilenet_v2", "shufflenet_v2", "squeezenet1_1"])
def test_training_on_the_shipped_data_learns_far_above_chance(trained_run, model_name):
    """Training learns on every CPU: the 95 % interval of validation accuracy lies far above chance.

    Chance is 10 % on 10 balanced classes; the recipes reach 55-77 % depending on the CPU (a seeded run's trajectory
    follows the CPU's kernels: squeezenet1_1 reached 70 % on AMD EPYC and 55.6 % on an Intel Xeon at 10 epochs), so
    the gate is the interval's lower end at four times chance, not an accuracy tuned to one machine."""
    result = trained_run(model_name)
    images = len(load_splits(result.run_dir / "splits").val)
    low, _ = wilson_interval(round(result.best_val_acc * images), images)
    assert low >= 0.40, f"{model_name}: {result.best_val_acc:.1%} on {images} images, 95 % interval from {low:.1%}"
    assert (result.run_dir / "loss.png").stat().st_size > 10_000
    assert (result.run_dir / "accuracy.png").stat().st_size > 10_000
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
