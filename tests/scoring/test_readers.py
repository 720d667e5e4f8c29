"""Tests of regionloss.scoring.readers: every format, every way a file can be wrong."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from regionloss.scoring import readers
from regionloss.scoring.errors import MaskReadError, MissingDependencyError

from ._data import write_mask

FORMATS = [".npy", ".npz", ".png", ".tif", ".tiff", ".nii", ".nii.gz"]


@pytest.mark.parametrize("ext", FORMATS)
def test_read_mask_round_trip(tmp_path, ext):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 5, size=(7, 9)).astype(np.uint8)
    nifti = ext.startswith(".nii")
    if nifti:
        array = rng.integers(0, 5, size=(5, 6, 3)).astype(np.int16)
    path = write_mask(tmp_path / f"m{ext}", array, spacing=(0.5, 2.0, 3.0) if nifti else None)
    mask = readers.read_mask(path)
    np.testing.assert_array_equal(mask.array, array)
    assert mask.path == path
    assert mask.spacing == ((0.5, 2.0, 3.0) if nifti else None)


@pytest.mark.parametrize("mode_dtype", [np.uint16, "P", bool])
def test_png_modes(tmp_path, mode_dtype):
    from PIL import Image

    array = np.array([[0, 1, 2], [3, 2, 1]], dtype=np.uint8)
    if mode_dtype == "P":
        image = Image.fromarray(array).convert("P")
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 252))
        image.putdata(array.ravel().tolist())
    elif mode_dtype is bool:
        array = array > 1
        image = Image.fromarray(array)
    else:
        array = (array.astype(np.uint16) * 300)
        image = Image.fromarray(array)
    image.save(tmp_path / "m.png")
    got = readers.read_mask(str(tmp_path / "m.png")).array
    np.testing.assert_array_equal(got.astype(np.int64), array.astype(np.int64))


def test_split_extension():
    assert readers.split_extension("a/b/case.nii.gz") == ("case", ".nii.gz")
    assert readers.split_extension("case.NII.GZ") == ("case", ".nii.gz")
    assert readers.split_extension("x.1.png") == ("x.1", ".png")
    assert readers.split_extension("notes.txt") == ("notes.txt", "")
    assert readers.split_extension(".npy") == (".npy", "")
    assert readers.is_supported("a.tiff") and not readers.is_supported("a.jpg")


def test_float_labels_whole_numbers_are_accepted(tmp_path):
    path = write_mask(tmp_path / "f.npy", np.array([[0.0, 1.0], [2.0, 3.0]], np.float32))
    got = readers.read_mask(path).array
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [[0, 1], [2, 3]])
    # the largest whole magnitude a float label may have is read exactly
    path = write_mask(tmp_path / "g.npy", np.array([0.0, 2.0 ** 53, -(2.0 ** 53)]))
    assert readers.read_mask(path).array.tolist() == [0, 2 ** 53, -(2 ** 53)]


@pytest.mark.parametrize("value", [0.5, np.nan, np.inf])
def test_non_integer_label_names_file_and_value(tmp_path, value):
    path = write_mask(tmp_path / "f.npy", np.array([[0.0, 1.0], [value, 3.0]]))
    with pytest.raises(MaskReadError) as info:
        readers.read_mask(path)
    assert path in str(info.value)
    assert f"non-integer label {float(value)!r} at index (1, 0)" in str(info.value)


@pytest.mark.parametrize("value,dtype", [(1e20, np.float64), (-1e20, np.float64),
                                         (3e38, np.float32), (2.0 ** 53 + 2, np.float64)])
def test_huge_float_label_is_reported_as_stored(tmp_path, value, dtype):
    """A whole float too large for a class index is named with its real value, never the
    int64 it would wrap to (-9223372036854775808), and without NumPy's cast warning."""
    array = np.zeros((3, 4), dtype)
    array[2, 1] = value
    path = write_mask(tmp_path / "huge.npy", array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning ("invalid value ... cast") fails
        with pytest.raises(MaskReadError) as info:
            readers.read_mask(path)
    message = str(info.value)
    assert f"label {float(dtype(value))!r} at index (2, 1)" in message
    assert path in message and "-9223372036854775808" not in message


def test_colour_png_is_rejected(tmp_path):
    from PIL import Image

    path = str(tmp_path / "rgb.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    with pytest.raises(MaskReadError, match=r"rgb\.png: a RGB PNG is not a label map"):
        readers.read_mask(path)


def test_npz_with_several_arrays(tmp_path):
    path = str(tmp_path / "two.npz")
    np.savez(path, a=np.zeros(3), b=np.ones(3))
    with pytest.raises(MaskReadError, match=r"two\.npz: an \.npz mask must hold one array"):
        readers.read_mask(path)


def test_other_dtypes_and_scalars_are_refused(tmp_path):
    path = str(tmp_path / "c.npy")
    np.save(path, np.zeros((2, 2), np.complex64))
    with pytest.raises(MaskReadError, match="dtype complex64 is not a label map"):
        readers.read_mask(path)
    np.save(path, np.int64(3))
    with pytest.raises(MaskReadError, match="holds a scalar"):
        readers.read_mask(path)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".png", ".tif", ".nii", ".nii.gz"])
def test_truncated_file_names_the_file(tmp_path, ext):
    array = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64) % 4
    if ext.startswith(".nii"):
        array = array.reshape(16, 16, 16)
    path = write_mask(tmp_path / f"t{ext}", array)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(MaskReadError) as info:
        readers.read_mask(path)
    assert str(info.value).startswith(f"cannot read {path}")


def test_missing_file_and_unsupported_extension(tmp_path):
    with pytest.raises(MaskReadError, match="cannot read .*nope.npy"):
        readers.read_mask(str(tmp_path / "nope.npy"))
    with pytest.raises(MaskReadError, match="unsupported file type"):
        readers.read_mask(str(tmp_path / "x.jpg"))


@pytest.mark.parametrize("ext,module,package", [
    (".png", "PIL.Image", "Pillow"), (".tif", "tifffile", "tifffile"),
    (".nii.gz", "nibabel", "nibabel")])
def test_missing_extra_says_what_to_install(tmp_path, monkeypatch, ext, module, package):
    path = str(tmp_path / f"m{ext}")
    open(path, "wb").close()
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError) as info:
        readers.read_mask(path)
    message = str(info.value)
    assert package in message and "pip install 'regionloss[cli]'" in message


@pytest.mark.parametrize("shape", [(0,), (0, 5), (4, 0, 3)])
def test_zero_size_mask_names_the_file_and_its_shape(tmp_path, shape):
    path = write_mask(tmp_path / "a.npy", np.zeros(shape, np.uint8))
    with pytest.raises(MaskReadError) as info:
        readers.read_mask(path)
    assert f"{path}: empty mask of shape {shape}" in str(info.value)


def test_nifti_trailing_singleton_axis_is_dropped(tmp_path):
    pytest.importorskip("nibabel")
    rng = np.random.default_rng(2)
    t = np.zeros((8, 9, 4), np.uint8)
    t[2:6, 3:7, 1:3] = 1
    spacing = (0.5, 2.0, 3.0)
    path = write_mask(tmp_path / "a.nii.gz", t[..., None], spacing=spacing + (1.0,))
    mask = readers.read_mask(path)
    assert mask.array.shape == (8, 9, 4) and mask.spacing == spacing
    # a real fourth axis (e.g. time) is kept
    four = write_mask(tmp_path / "q.nii.gz", rng.integers(0, 2, (4, 5, 3, 2)).astype(np.uint8))
    assert readers.read_mask(four).array.shape == (4, 5, 3, 2)
