"""Mask file readers for offline scoring, picked by file extension.

``.npy`` and ``.npz`` need NumPy alone. ``.png`` needs Pillow, ``.tif``/``.tiff`` tifffile and
``.nii``/``.nii.gz`` nibabel: the optional extra ``regionloss[cli]`` installs all three. They
are imported lazily, the first time a file of that kind is read, so ``import regionloss``
stays light; a missing one raises :class:`~regionloss.scoring.errors.MissingDependencyError`
naming what to install.

Every failure to read a file (missing, truncated, corrupt, not a label map, no pixel)
raises :class:`~regionloss.scoring.errors.MaskReadError` naming the file. A NIfTI volume
stored as ``(X, Y, Z, 1)`` is read as ``(X, Y, Z)``. PNG masks (modes 1, L, P, I;16) are
read with ``np.asarray(image)``; a palette PNG gives its palette indices, i.e. the labels.
Label values are checked later, by the scorer, which knows the number of classes;
:func:`as_label_map` checks that values are integers (a float map must hold whole numbers
that an int64 holds exactly, and the message gives a bad value as it is, e.g. ``1e+20``).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from .errors import MaskReadError, MissingDependencyError

__all__ = [
    "EXTENSIONS",
    "Mask",
    "split_extension",
    "is_supported",
    "read_mask",
    "as_label_map",
]

#: Extensions with a reader, longest first (``.nii.gz`` before ``.gz``-less ``.nii``).
EXTENSIONS = (".nii.gz", ".npy", ".npz", ".png", ".tif", ".tiff", ".nii")

_INSTALL = {
    "PIL.Image": ("Pillow", "pillow"),
    "tifffile": ("tifffile", "tifffile"),
    "nibabel": ("nibabel", "nibabel"),
}


class Mask(NamedTuple):
    """A label map read from ``path``, with the voxel spacing its header gives (or None)."""

    array: np.ndarray
    spacing: tuple[float, ...] | None
    path: str


def split_extension(path: str) -> tuple[str, str]:
    """``(stem, extension)`` with the extension lower-cased; ``.nii.gz`` counts as one.

    Returns ``(name, "")`` when the name has no supported extension.
    """
    name = os.path.basename(path)
    lower = name.lower()
    for ext in EXTENSIONS:
        if lower.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)], ext
    return name, ""


def is_supported(path: str) -> bool:
    """True when ``path`` has an extension :func:`read_mask` can read."""
    return split_extension(path)[1] != ""


def _require(module: str, ext: str):
    """Import an optional reader module or say which package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, pip_name = _INSTALL[module]
        raise MissingDependencyError(
            f"reading {ext} files needs {package}, which is not installed: "
            f"pip install 'regionloss[cli]' (or pip install {pip_name})"
        ) from exc


def _read_npy(path: str) -> tuple[np.ndarray, None]:
    return np.load(path, allow_pickle=False), None


def _read_npz(path: str) -> tuple[np.ndarray, None]:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        if len(keys) == 1:
            key = keys[0]
        elif "mask" in keys:
            key = "mask"
        else:
            raise MaskReadError(
                f"{path}: an .npz mask must hold one array (or one named 'mask'), "
                f"found {len(keys)}: {', '.join(keys) or 'none'}"
            )
        return np.asarray(archive[key]), None


def _read_png(path: str) -> tuple[np.ndarray, None]:
    image_module = _require("PIL.Image", ".png")
    with image_module.open(path) as image:
        mode = image.mode
        if mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
            raise MaskReadError(
                f"{path}: a {mode} PNG is not a label map; save masks as 8- or 16-bit "
                "greyscale (mode L / I;16) or palette (mode P) PNGs holding class indices"
            )
        # Palette images: the pixel values are the palette indices, i.e. the labels.
        image.load()
        return np.asarray(image), None


def _read_tiff(path: str) -> tuple[np.ndarray, None]:
    tifffile = _require("tifffile", ".tif")
    return np.asarray(tifffile.imread(path)), None


def _read_nifti(path: str) -> tuple[np.ndarray, tuple[float, ...]]:
    nibabel = _require("nibabel", ".nii/.nii.gz")
    image = nibabel.load(path)
    # Unscaled integer data stays integer; scaled data (scl_slope) comes back as float and
    # goes through the integer check like any float file.
    array = np.asanyarray(image.dataobj)
    if array.ndim == 4 and array.shape[3] == 1:
        # (X, Y, Z, 1): a 3-D label volume stored with a singleton fourth (time) axis, as
        # some tools write them; read as (X, Y, Z). A longer fourth axis stays.
        array = array[..., 0]
    zooms = tuple(float(z) for z in image.header.get_zooms()[: array.ndim])
    return np.asarray(array), zooms


_READERS = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".png": _read_png,
    ".tif": _read_tiff,
    ".tiff": _read_tiff,
    ".nii": _read_nifti,
    ".nii.gz": _read_nifti,
}


def read_mask(path: str) -> Mask:
    """Read the label map stored in ``path`` (reader picked by extension).

    Raises
    ------
    MaskReadError
        The extension is not supported, or the file is missing, unreadable or truncated,
        or holds something else than one integer-valued array.
    MissingDependencyError
        The format needs an optional package that is not installed.
    """
    _, ext = split_extension(path)
    if not ext:
        raise MaskReadError(
            f"{path}: unsupported file type; supported: {', '.join(sorted(EXTENSIONS))}"
        )
    try:
        array, spacing = _READERS[ext](path)
    except (MaskReadError, MissingDependencyError):
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is "cannot read this file"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MaskReadError(f"cannot read {path}: {detail}") from exc
    return Mask(as_label_map(array, path), spacing, path)


#: The largest magnitude a float label may have: every whole float up to 2**53 is an exact
#: int64, and no class index is anywhere near it.
FLOAT_LABEL_LIMIT = 2.0 ** 53


def _unravel(flat_index: int, shape) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat_index, shape))


def as_label_map(array: np.ndarray, path: str) -> np.ndarray:
    """``array`` as an integer label map; floats must hold whole numbers (checked).

    Booleans become ``uint8`` (0 and 1); integer arrays are returned unchanged (no copy);
    floating arrays holding whole numbers of magnitude at most ``2**53`` become ``int64``.
    A fractional or non-finite value, a whole number too large for a class index (``1e20``:
    an int64 cast would silently wrap it), a complex, string or object array, or a 0-d
    array raises :class:`~regionloss.scoring.errors.MaskReadError` naming ``path``, the value
    as stored and its index; so does an array with no element (a zero-size axis).
    """
    array = np.asarray(array)
    if array.ndim == 0:
        raise MaskReadError(f"{path}: holds a scalar, not a label map")
    if array.size == 0:
        raise MaskReadError(
            f"{path}: empty mask of shape {array.shape} (no pixels); a mask needs at "
            "least one pixel"
        )
    if array.dtype == np.bool_:
        return array.astype(np.uint8)  # not a view: Pillow stores True as byte 255
    if np.issubdtype(array.dtype, np.integer):
        return array
    if np.issubdtype(array.dtype, np.floating):
        # Checked in floating point, before any cast: casting 1e20 or NaN to int64 is
        # undefined (NumPy warns and gives -2**63).
        finite = np.isfinite(array)
        whole = finite & (array == np.floor(np.where(finite, array, 0)))
        if not whole.all():
            flat = int(np.argmin(whole.reshape(-1)))
            bad = float(array.reshape(-1)[flat])
            raise MaskReadError(
                f"{path}: non-integer label {bad!r} at index {_unravel(flat, array.shape)} "
                f"(dtype {array.dtype}); masks must hold integer class indices"
            )
        small = np.abs(array) <= FLOAT_LABEL_LIMIT
        if not small.all():
            flat = int(np.argmin(small.reshape(-1)))
            bad = float(array.reshape(-1)[flat])
            raise MaskReadError(
                f"{path}: label {bad!r} at index {_unravel(flat, array.shape)} (dtype "
                f"{array.dtype}) is not a class index: a float label map must hold whole "
                "numbers of magnitude at most 2**53"
            )
        return array.astype(np.int64)
    raise MaskReadError(
        f"{path}: dtype {array.dtype} is not a label map; masks must hold integer class indices"
    )
