"""Mask files for the scoring tests: writers for every format and small random datasets."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from regionloss.scoring.readers import split_extension

C = 4
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


def write_mask(path, array, spacing=None):
    """Write ``array`` to ``path`` in the format its extension names."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ext = split_extension(path)[1]
    if ext == ".npy":
        np.save(path, array)
    elif ext == ".npz":
        np.savez_compressed(path, mask=array)
    elif ext == ".png":
        Image = pytest.importorskip("PIL.Image")   # an optional reader: skip where missing

        Image.fromarray(array).save(path)
    elif ext in (".tif", ".tiff"):
        tifffile = pytest.importorskip("tifffile")

        tifffile.imwrite(path, array)
    elif ext in (".nii", ".nii.gz"):
        nibabel = pytest.importorskip("nibabel")

        zooms = list(spacing or (1.0,) * array.ndim)
        affine = np.diag(zooms + [1.0] * (4 - len(zooms)))
        nibabel.save(nibabel.Nifti1Image(array, affine), path)
    else:  # pragma: no cover
        raise ValueError(ext)
    return path


def random_pair(rng, shape=(24, 20), num_classes=C, dtype=np.uint8, agree=0.7):
    """A random reference and a prediction that mostly agrees with it."""
    target = rng.integers(0, num_classes, size=shape).astype(dtype)
    pred = np.where(rng.random(shape) < agree, target,
                    rng.integers(0, num_classes, size=shape)).astype(dtype)
    return pred, target


def make_dataset(tmp_path, n=5, ext=".npy", seed=0, shape=(24, 20), dtype=np.uint8):
    """``n`` flat cases ``case{i}``: (pred folder, reference folder, [(pred, target), ...])."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        pred, target = random_pair(rng, shape, dtype=dtype)
        write_mask(tmp_path / "pred" / f"case{i}{ext}", pred)
        write_mask(tmp_path / "ref" / f"case{i}{ext}", target)
        pairs.append((pred, target))
    return str(tmp_path / "pred"), str(tmp_path / "ref"), pairs


def nested_dataset(tmp_path, ext=".npy", n=4, seed=0, shape=(16, 18)):
    """``n`` cases in two sub-folders, ``sub{i % 2}/case{i}``: (pred, ref, {name: pair})."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for i in range(n):
        pred, target = random_pair(rng, shape, agree=0.6)
        name = f"sub{i % 2}/case{i}"
        write_mask(tmp_path / "pred" / f"{name}{ext}", pred)
        write_mask(tmp_path / "ref" / f"{name}{ext}", target)
        pairs[name] = (pred, target)
    return str(tmp_path / "pred"), str(tmp_path / "ref"), pairs


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
