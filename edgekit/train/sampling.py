"""What training sees: the splits (checked, optionally a class-balanced subset), the recipe scaled to the run
(`run_recipe`), the train transform, and seeded loaders whose batches a resumed run draws again identically."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from edgekit.data.datasets import ImageListDataset, eval_transform, train_transform
from edgekit.data.folder import Splits, load_splits, subset_per_class
from edgekit.data.symmetry import mirror_test
from edgekit.errors import EdgekitError
from edgekit.preprocess import Preprocessing
from edgekit.recipe import GENTLE_EPOCHS, Recipe, resolve_recipe
from edgekit.train.config import TrainConfig
from edgekit.train.devices import DistInfo


def check_splits(splits: Splits) -> None:
    if len(splits.classes) < 2:
        raise EdgekitError(f"{splits.root} has {len(splits.classes)} class; a classifier needs at least 2")
    if not splits.train:
        raise EdgekitError(f"the training split of {splits.root} is empty")
    if not splits.val:
        raise EdgekitError(f"the validation split of {splits.root} is empty: too few images per class?")
    trained_labels = {label for _, label in splits.train}
    absent = [name for index, name in enumerate(splits.classes) if index not in trained_labels]
    if absent:
        raise EdgekitError(f"class(es) without training images: {', '.join(absent)}")


def new_run_splits(config: TrainConfig) -> Splits:
    """A new run's splits: the data split (or read when prepared), checked, optionally subset."""
    splits = load_splits(config.data, val_fraction=config.val_fraction, seed=config.seed)
    check_splits(splits)
    if config.max_train_images:
        splits.train = subset_per_class(splits.train, config.max_train_images, config.seed)
    return splits


def build_train_transform(recipe: Recipe, preprocessing: Preprocessing):
    """The augmentation of the training images (the one place it is built), as the recipe says."""
    return train_transform(preprocessing, recipe.crop_scale, hflip=recipe.hflip)


def datasets(splits: Splits, preprocessing: Preprocessing) -> tuple[ImageListDataset, ImageListDataset]:
    """(train, val); the training set's transform is set once the recipe is known (it needs the loader's steps)."""
    return ImageListDataset(splits.train, None), ImageListDataset(splits.val, eval_transform(preprocessing))


def make_loader(dataset, batch_size: int, *, train: bool, seed: int, workers: int, device: torch.device,
                dist_info: DistInfo, collate_fn=None) -> tuple[DataLoader, torch.Generator]:
    """Seeded sampling: the generator is re-seeded per epoch (see `reseed_epoch`), so a resumed
    run draws the same batches and worker seeds as an uninterrupted one."""
    generator = torch.Generator().manual_seed(seed)
    if dist_info.enabled and train:
        sampler = DistributedSampler(dataset, num_replicas=dist_info.world_size, rank=dist_info.rank,
                                     shuffle=True, seed=seed, drop_last=True)
    elif train:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        drop_last=train and len(dataset) > batch_size, generator=generator, collate_fn=collate_fn)
    return loader, generator


def reseed_epoch(loader: DataLoader, generator: torch.Generator, seed: int, epoch: int) -> None:
    generator.manual_seed(seed * 1000 + epoch)
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)


def run_recipe(config, splits, steps_per_epoch: int) -> tuple[Recipe, dict]:
    """The recipe for a TrainConfig and its splits (edgekit.recipe's rules; the mirror test of edgekit.data.symmetry
    run here, so that edgekit.recipe stays pure rules below data/), and the record of it that the run directory keeps
    as config.json's `recipe` entry (beside `train_config`, which keeps the user's values, None meaning auto). The
    mirror test runs only when the flip is left to auto in a run long enough to flip at all."""
    mirror = None
    if config.hflip is None and config.epochs > GENTLE_EPOCHS:
        mirror = mirror_test(splits.train, list(splits.classes), seed=config.seed)
    recipe = resolve_recipe(epochs=config.epochs, steps_per_epoch=steps_per_epoch, dataset_size=len(splits.train),
                            pretrained=bool(config.weights), warmup_epochs=config.warmup_epochs,
                            crop_scale_min=config.crop_scale_min, hflip=config.hflip,
                            mirror_keeps_class=None if mirror is None else mirror.keeps_class)
    record = {**recipe.to_dict(), "steps_per_epoch": steps_per_epoch,
              "warmup_epochs": round(recipe.warmup_steps / max(1, steps_per_epoch), 4),
              "mirror_test": None if mirror is None else mirror.to_dict()}
    return recipe, record
