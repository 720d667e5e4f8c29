"""Tests of regionloss.scoring (the Python face of ``regionloss score``) and regionloss._io.

Numbers are checked three independent ways: hand-computed counts on tiny masks, medpy's
``binary.dc`` / ``binary.jc`` per class (a reference library), and the library's own
``confusion_matrix`` + ``score_confusion`` called directly. Runs with ``workers=2`` and on a
Dask ``LocalCluster`` must equal the serial run exactly.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss
from regionloss import _io, scoring
from regionloss.metrics.confusion import count_labels as confusion_counts
from regionloss.metrics import confusion_matrix, score_confusion
from regionloss.scoring import MaskReadError, MissingDependencyError, ScoringError, score

C = 4


# --------------------------------------------------------------------------- helpers


def write_mask(path, array, spacing=None):
    """Write ``array`` to ``path`` in the format its extension names."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ext = _io.split_extension(path)[1]
    if ext == ".npy":
        np.save(path, array)
    elif ext == ".npz":
        np.savez_compressed(path, mask=array)
    elif ext == ".png":
        from PIL import Image

        Image.fromarray(array).save(path)
    elif ext in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, array)
    elif ext in (".nii", ".nii.gz"):
        import nibabel

        zooms = spacing or (1.0,) * array.ndim
        affine = np.diag(list(zooms) + [1.0] * (4 - len(zooms)))
        nibabel.save(nibabel.Nifti1Image(array, affine), path)
    else:  # pragma: no cover
        raise ValueError(ext)
    return path


def random_pair(rng, shape=(24, 20), num_classes=C, dtype=np.uint8):
    """A reference made of blobs and a prediction that mostly agrees with it."""
    target = rng.integers(0, num_classes, size=shape).astype(dtype)
    pred = np.where(rng.random(shape) < 0.7, target,
                    rng.integers(0, num_classes, size=shape)).astype(dtype)
    return pred, target


def make_dataset(tmp_path, n=5, ext=".npy", seed=0, shape=(24, 20), dtype=np.uint8):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        pred, target = random_pair(rng, shape, dtype=dtype)
        write_mask(tmp_path / "pred" / f"case{i}{ext}", pred)
        write_mask(tmp_path / "ref" / f"case{i}{ext}", target)
        pairs.append((pred, target))
    return str(tmp_path / "pred"), str(tmp_path / "ref"), pairs


def direct(pairs, metric, **kw):
    """Per-case (N, C) values from the metric functions called directly."""
    return np.stack([np.asarray(score_confusion(
        confusion_matrix(p, t, num_classes=C, ignore_index=kw.get("ignore_index")),
        metric=metric, average="none", **kw.get("options", {}))) for p, t in pairs])


# --------------------------------------------------------------------------- readers


FORMATS = [".npy", ".npz", ".png", ".tif", ".tiff", ".nii", ".nii.gz"]


@pytest.mark.parametrize("ext", FORMATS)
def test_read_mask_round_trip(tmp_path, ext):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 5, size=(7, 9)).astype(np.uint8)
    if ext.startswith(".nii"):
        array = rng.integers(0, 5, size=(5, 6, 3)).astype(np.int16)
    path = write_mask(tmp_path / f"m{ext}", array, spacing=(0.5, 2.0, 3.0) if ext.startswith(".nii") else None)
    mask = _io.read_mask(path)
    np.testing.assert_array_equal(mask.array, array)
    assert mask.path == path
    if ext.startswith(".nii"):
        assert mask.spacing == (0.5, 2.0, 3.0)
    else:
        assert mask.spacing is None


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
    got = _io.read_mask(str(tmp_path / "m.png")).array
    np.testing.assert_array_equal(got.astype(np.int64), array.astype(np.int64))



def test_split_extension():
    assert _io.split_extension("a/b/case.nii.gz") == ("case", ".nii.gz")
    assert _io.split_extension("case.NII.GZ") == ("case", ".nii.gz")
    assert _io.split_extension("x.1.png") == ("x.1", ".png")
    assert _io.split_extension("notes.txt") == ("notes.txt", "")
    assert _io.split_extension(".npy") == (".npy", "")


def test_float_labels_whole_numbers_are_accepted(tmp_path):
    path = write_mask(tmp_path / "f.npy", np.array([[0.0, 1.0], [2.0, 3.0]], np.float32))
    got = _io.read_mask(path).array
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [[0, 1], [2, 3]])


@pytest.mark.parametrize("value", [0.5, np.nan])
def test_non_integer_label_names_file_and_value(tmp_path, value):
    path = write_mask(tmp_path / "f.npy", np.array([[0.0, 1.0], [value, 3.0]]))
    with pytest.raises(MaskReadError) as info:
        _io.read_mask(path)
    assert path in str(info.value)
    assert repr(float(value)) in str(info.value)


def test_colour_png_is_rejected(tmp_path):
    from PIL import Image

    path = str(tmp_path / "rgb.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    with pytest.raises(MaskReadError, match=r"rgb\.png: a RGB PNG is not a label map"):
        _io.read_mask(path)


def test_npz_with_several_arrays(tmp_path):
    path = str(tmp_path / "two.npz")
    np.savez(path, a=np.zeros(3), b=np.ones(3))
    with pytest.raises(MaskReadError, match=r"two\.npz: an \.npz mask must hold one array"):
        _io.read_mask(path)


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
        _io.read_mask(path)
    assert str(info.value).startswith(f"cannot read {path}")


def test_missing_file_and_unsupported_extension(tmp_path):
    with pytest.raises(MaskReadError, match="cannot read .*nope.npy"):
        _io.read_mask(str(tmp_path / "nope.npy"))
    with pytest.raises(MaskReadError, match="unsupported file type"):
        _io.read_mask(str(tmp_path / "x.jpg"))


@pytest.mark.parametrize("ext,module,package", [
    (".png", "PIL.Image", "Pillow"), (".tif", "tifffile", "tifffile"),
    (".nii.gz", "nibabel", "nibabel")])
def test_missing_extra_says_what_to_install(tmp_path, monkeypatch, ext, module, package):
    path = str(tmp_path / f"m{ext}")
    open(path, "wb").close()
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError) as info:
        _io.read_mask(path)
    message = str(info.value)
    assert package in message and "pip install 'regionloss[cli]'" in message


# --------------------------------------------------------------------------- matching


def test_find_cases_recursive_mixed_formats(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    write_mask(tmp_path / "p" / "b" / "x.png", z)
    write_mask(tmp_path / "p" / "a.npy", z)
    write_mask(tmp_path / "r" / "b" / "x.nii.gz", z)
    write_mask(tmp_path / "r" / "a.npz", z)
    (tmp_path / "r" / "README.txt").write_text("notes")
    (tmp_path / "p" / ".hidden.npy").write_bytes(b"")
    cases, ignored = scoring.find_cases(str(tmp_path / "p"), str(tmp_path / "r"))
    assert [c.name for c in cases] == ["a", "b/x"]
    assert cases[1].prediction.endswith(os.path.join("b", "x.png"))
    assert cases[1].reference.endswith(os.path.join("b", "x.nii.gz"))
    assert ignored == [str(tmp_path / "r" / "README.txt")]


def test_unmatched_files_are_listed(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    for name in ("a", "b"):
        write_mask(tmp_path / "p" / f"{name}.npy", z)
    for name in ("b", "c", "d"):
        write_mask(tmp_path / "r" / f"{name}.npy", z)
    with pytest.raises(ScoringError) as info:
        scoring.find_cases(str(tmp_path / "p"), str(tmp_path / "r"))
    msg = str(info.value)
    assert "1 prediction(s) without a reference" in msg and ": a" in msg
    assert "2 reference(s) without a prediction" in msg and "c, d" in msg
    # missing="empty" never excuses a prediction without a reference
    with pytest.raises(ScoringError, match="prediction\\(s\\) without a reference.*a"):
        scoring.find_cases(str(tmp_path / "p"), str(tmp_path / "r"), missing="empty")


def test_duplicate_case_in_one_folder(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    write_mask(tmp_path / "p" / "a.npy", z)
    write_mask(tmp_path / "p" / "a.png", z)
    write_mask(tmp_path / "r" / "a.npy", z)
    with pytest.raises(ScoringError, match="two prediction files for case 'a'"):
        scoring.find_cases(str(tmp_path / "p"), str(tmp_path / "r"))


def test_file_versus_folder_and_nonexistent(tmp_path):
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(ScoringError, match="both be files or both be folders"):
        scoring.find_cases(path, str(tmp_path))
    with pytest.raises(ScoringError, match="does not exist"):
        scoring.find_cases(path, str(tmp_path / "missing.npy"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoringError, match="no mask files"):
        scoring.find_cases(str(tmp_path / "empty"), str(tmp_path / "empty"))


# --------------------------------------------------------------------------- numbers


def test_hand_computed_two_cases(tmp_path):
    # case a: reference [0 0 1 1], prediction [0 1 1 1]: class 1 tp=2 fp=1 fn=0
    # case b: reference [1 1 1 1], prediction [1 1 0 0]: class 1 tp=2 fp=0 fn=2
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 0, 1, 1]], np.uint8))
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1, 1, 1]], np.uint8))
    write_mask(tmp_path / "r" / "b.npy", np.array([[1, 1, 1, 1]], np.uint8))
    write_mask(tmp_path / "p" / "b.npy", np.array([[1, 1, 0, 0]], np.uint8))
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=2)
    d1 = np.array([4 / 5, 4 / 6])                      # per case, class 1
    np.testing.assert_allclose(rep.per_case["dice"][:, 1], d1)
    np.testing.assert_allclose(rep.per_case["iou"][:, 1], [2 / 3, 2 / 4])
    np.testing.assert_allclose(rep.mean["dice"][1], d1.mean())
    np.testing.assert_allclose(rep.std["dice"][1], np.std(d1, ddof=1))
    # pooled: tp=4, fp=1, fn=2
    np.testing.assert_allclose(rep.pooled["dice"][1], 8 / 11)
    np.testing.assert_allclose(rep.pooled["iou"][1], 4 / 7)
    # class 0: case a tp=1 fp=0 fn=1 -> 2/3; case b: absent from the reference, predicted
    # twice -> 0
    np.testing.assert_allclose(rep.per_case["dice"][:, 0], [2 / 3, 0.0])
    np.testing.assert_allclose(rep.macro["dice"]["mean"], np.mean([np.mean([2 / 3, 0.0]), d1.mean()]))
    assert rep.confusion.dtype == np.int64
    np.testing.assert_array_equal(rep.confusion.sum(0), [[1, 1], [2, 4]])


def test_numbers_match_medpy_and_direct_calls(tmp_path):
    medpy_binary = pytest.importorskip("medpy.metric.binary")
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=4)
    rep = score(pred_dir, ref_dir, num_classes=C,
                metrics=["dice", "iou", "precision", "recall", "mcc"])
    for metric in ("dice", "iou", "precision", "recall", "mcc"):
        np.testing.assert_allclose(rep.per_case[metric], direct(pairs, metric), rtol=0, atol=0)
    for i, (p, t) in enumerate(pairs):
        for c in range(C):
            assert rep.per_case["dice"][i, c] == pytest.approx(medpy_binary.dc(p == c, t == c), abs=1e-12)
            assert rep.per_case["iou"][i, c] == pytest.approx(medpy_binary.jc(p == c, t == c), abs=1e-12)
    pooled = sum(confusion_matrix(p, t, num_classes=C) for p, t in pairs)
    np.testing.assert_array_equal(
        rep.pooled["dice"], np.asarray(score_confusion(pooled, metric="dice")))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fast_numpy_counting_equals_confusion_matrix(data):
    """The scorer's counting call (confusion_matrix, validate=False after its own label
    check) against the pure array-API comparison path."""
    num_classes = data.draw(st.integers(1, 20), label="num_classes")
    dtype = data.draw(st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.int64,
                                       np.uint64]), label="dtype")
    shape = data.draw(st.sampled_from([(1,), (7,), (5, 6), (3, 4, 5)]), label="shape")
    ignore_index = data.draw(st.sampled_from([None, 0, num_classes - 1, 200]), label="ignore")
    agree = data.draw(st.floats(0, 1), label="agreement")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    target = rng.integers(0, num_classes, size=shape)
    pred = np.where(rng.random(shape) < agree, target, rng.integers(0, num_classes, size=shape))
    if ignore_index is not None:
        ignored = rng.random(shape) < 0.2
        target = np.where(ignored, ignore_index, target)
        # any prediction is allowed where the reference is ignored
        pred = np.where(ignored & (rng.random(shape) < 0.5), 200, pred)
    target, pred = target.astype(dtype), pred.astype(dtype)
    got = confusion_matrix(pred, target, num_classes=num_classes, ignore_index=ignore_index,
                           validate=False)
    want = confusion_counts(pred, target, num_classes=num_classes, ignore_index=ignore_index,
                            method="standard")
    assert got.dtype == np.int64 and got.shape == (num_classes, num_classes)
    np.testing.assert_array_equal(got, want)


def test_ignore_index_and_labels(tmp_path):
    t = np.array([[0, 1, 255, 2], [3, 3, 255, 1]], np.uint8)
    p = np.array([[0, 1, 7, 2], [3, 0, 255, 1]], np.uint8)  # 7 and 255 sit on ignored pixels
    write_mask(tmp_path / "p.npy", p)
    write_mask(tmp_path / "t.npy", t)
    rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=C, ignore_index=255)
    np.testing.assert_array_equal(rep.confusion[0], confusion_matrix(p, t, num_classes=C, ignore_index=255))
    assert rep.confusion.sum() == 6
    # without ignore_index, 255 is out of range in the reference: file and value named
    with pytest.raises(ScoringError) as info:
        score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=C)
    assert str(info.value).startswith(
        f"label values out of range: reference {tmp_path / 't.npy'} holds label 255 at "
        "index (0, 2) (2 such pixel(s)), outside [0, num_classes=4); "
        f"prediction {tmp_path / 'p.npy'} holds label 7 at index (0, 2) (2 such pixel(s))")


def test_out_of_range_prediction_names_file_and_value(tmp_path):
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 9]], np.int32))
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 1]], np.int32))
    with pytest.raises(ScoringError, match=r"prediction \S*a\.npy holds label 9 at index "
                                           r"\(0, 1\)"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=C)
    write_mask(tmp_path / "p" / "a.npy", np.array([[-1, 1]], np.int32))
    with pytest.raises(ScoringError, match=r"holds label -1 at index \(0, 0\)"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=C)


def test_label_message_is_the_shared_one_with_files_named(tmp_path):
    """One wording for every label check (regionloss._labels), the files named; both files
    when both are at fault; a prediction is excused where the reference is ignored."""
    from regionloss import _validate as _labels

    t = np.array([[0, 1, 5, 255]], np.uint8)
    p = np.array([[7, 1, 1, 200]], np.uint8)
    pred = write_mask(tmp_path / "p" / "a.npy", p)
    ref = write_mask(tmp_path / "r" / "a.npy", t)
    with pytest.raises(ScoringError) as info:
        score(pred, ref, num_classes=C, ignore_index=255)
    want = _labels.bad_labels_message(
        _labels.describe_bad_labels(f"reference {ref}", _labels.BadLabels(5, (0, 2), 1),
                                    num_classes=C, ignore_index=255),
        _labels.describe_bad_labels(f"prediction {pred}", _labels.BadLabels(7, (0, 0), 1),
                                    num_classes=C, prediction=True))
    assert str(info.value) == want


def test_shape_mismatch_names_both_files_and_shapes(tmp_path):
    write_mask(tmp_path / "p" / "a.npy", np.zeros((3, 4), np.uint8))
    write_mask(tmp_path / "r" / "a.png", np.zeros((4, 3), np.uint8))
    with pytest.raises(ScoringError) as info:
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=C)
    msg = str(info.value)
    assert "a.npy" in msg and "(3, 4)" in msg and "a.png" in msg and "(4, 3)" in msg


def test_missing_empty_scores_an_all_background_prediction(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    os.remove(os.path.join(pred_dir, "case1.npy"))
    with pytest.raises(ScoringError, match="case1"):
        score(pred_dir, ref_dir, num_classes=C)
    rep = score(pred_dir, ref_dir, num_classes=C, missing="empty")
    assert [c.prediction is None for c in rep.cases] == [False, True, False]
    empty = np.zeros_like(pairs[1][1])
    np.testing.assert_array_equal(rep.confusion[1], confusion_matrix(empty, pairs[1][1], num_classes=C))
    assert np.all(rep.per_case["dice"][1, 1:] == 0.0)  # the worst case, not skipped
    assert "missing predictions scored as empty" in rep.table()


def test_no_background_class_names_and_options(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    rep = score(pred_dir, ref_dir, num_classes=C, include_background=False,
                class_names=["bg", "a", "b", "c"], metrics="dice,tversky,fbeta",
                metric_options={"tversky": {"alpha": 0.2, "beta": 0.8}, "fbeta": {"beta": 2.0}})
    assert rep.class_ids == (1, 2, 3) and rep.class_names == ("a", "b", "c")
    np.testing.assert_array_equal(rep.per_case["dice"], direct(pairs, "dice")[:, 1:])
    np.testing.assert_array_equal(
        rep.per_case["tversky"],
        direct(pairs, "tversky", options={"alpha": 0.2, "beta": 0.8})[:, 1:])
    np.testing.assert_array_equal(
        rep.per_case["fbeta"], direct(pairs, "fbeta", options={"beta": 2.0})[:, 1:])
    assert [r["class"] for r in rep.summary_rows()[:4]] == ["a", "b", "c", "macro mean"]
    with pytest.raises(ScoringError, match="class_names: expected 4 names"):
        score(pred_dir, ref_dir, num_classes=C, class_names=["x"])


def test_zero_division_policy(tmp_path):
    # class 2 absent from prediction and reference of the only case
    write_mask(tmp_path / "p.npy", np.array([[0, 1, 1]], np.uint8))
    write_mask(tmp_path / "t.npy", np.array([[0, 1, 0]], np.uint8))
    nan_rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=3)
    assert math.isnan(nan_rep.per_case["dice"][0, 2]) and nan_rep.count["dice"][2] == 0
    one_rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=3,
                    zero_division=1.0)
    # the value enters the mean, but "cases" counts the defined values only (docs/cli.md)
    assert one_rep.per_case["dice"][0, 2] == 1.0 and one_rep.count["dice"][2] == 0
    assert one_rep.mean["dice"][2] == 1.0
    assert one_rep.summary_rows()[2]["cases"] == 0


@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": 0}, "num_classes must be a positive integer"),
    ({"num_classes": 3, "metrics": ["dice", "nope"]}, "unknown metric"),
    ({"num_classes": 3, "backend": "torch"}, "backend must be"),
    ({"num_classes": 3, "workers": 0}, "workers must be a positive integer"),
    ({"num_classes": 3, "workers": 2, "scheduler": "tcp://x:1"}, "either workers"),
    ({"num_classes": 3, "metrics": ["nsd"]}, "needs a tolerance"),
    ({"num_classes": 3, "metrics": ["hd"], "tolerance": [1, 2]}, "tolerance: give one value"),
    ({"num_classes": 3, "missing": "skip"}, "missing must be"),
])
def test_bad_options(tmp_path, kwargs, match):
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(ScoringError, match=match):
        score(path, path, **kwargs)


def test_cupy_backend_without_cupy_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(MissingDependencyError, match=r"regionloss\[cupy\]"):
        score(path, path, num_classes=2, backend="cupy")


# --------------------------------------------------------------------------- boundary metrics


def test_surface_metrics_use_nifti_spacing(tmp_path):
    pytest.importorskip("scipy")
    from regionloss.metrics.surface import surface_metrics

    rng = np.random.default_rng(3)
    t = np.zeros((10, 12, 6), np.uint8)
    t[2:7, 3:9, 1:5] = 1
    p = np.roll(t, 1, axis=0)
    p[rng.random(p.shape) < 0.02] = 2
    t[0:2, 0:2, 0:2] = 2
    spacing = (2.0, 0.5, 1.5)
    write_mask(tmp_path / "p" / "a.nii.gz", p, spacing=spacing)
    write_mask(tmp_path / "r" / "a.nii.gz", t, spacing=spacing)
    names = ("hd", "hd95", "asd", "assd", "nsd")
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics=names,
                tolerance=[1.0, 1.5, 2.0])
    want = surface_metrics(p[None], t[None], num_classes=3, metrics=names, spacing=spacing,
                           tolerance=[1.0, 1.5, 2.0])
    for name in names:
        np.testing.assert_array_equal(rep.per_case[name], np.asarray(want[name]))
        assert np.all(np.isnan(rep.pooled[name]))
    assert rep.spacings == [spacing]
    # --spacing overrides the header; unit spacing gives other numbers
    unit = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics=["hd"],
                 spacing=(1, 1, 1))
    assert not np.allclose(unit.per_case["hd"], rep.per_case["hd"], equal_nan=True)
    # a prediction header disagreeing with the reference's is an error, both files named
    write_mask(tmp_path / "p" / "a.nii.gz", p, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ScoringError, match=r"voxel spacing differs: .*a\.nii\.gz.*a\.nii\.gz"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics=["hd"])


def test_surface_metrics_without_background(tmp_path):
    pytest.importorskip("scipy")
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=2, shape=(12, 10))
    rep = score(pred_dir, ref_dir, num_classes=C, include_background=False,
                metrics=["dice", "hd95"])
    from regionloss.metrics.surface import surface_metrics

    want = np.concatenate([np.asarray(surface_metrics(p[None], t[None], num_classes=C,
                                                      metrics=["hd95"])["hd95"])
                           for p, t in pairs])
    np.testing.assert_array_equal(rep.per_case["hd95"], want[:, 1:])


# --------------------------------------------------------------------------- scale-out


@pytest.mark.slow
def test_workers_equal_serial(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=9, ext=".png")
    metrics = ["dice", "iou", "mcc", "hd95"]
    serial = score(pred_dir, ref_dir, num_classes=C, metrics=metrics)
    calls = []
    parallel = score(pred_dir, ref_dir, num_classes=C, metrics=metrics, workers=2,
                     progress=lambda done, total: calls.append((done, total)))
    assert parallel.cases == serial.cases
    np.testing.assert_array_equal(parallel.confusion, serial.confusion)
    for m in metrics:
        np.testing.assert_array_equal(parallel.per_case[m], serial.per_case[m])
        np.testing.assert_array_equal(parallel.pooled[m], serial.pooled[m])
    assert serial.to_csv() == parallel.to_csv()
    assert calls[-1] == (9, 9)


@pytest.mark.slow
def test_workers_report_a_worker_error(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=4)
    write_mask(os.path.join(pred_dir, "case2.npy"), np.zeros((3, 3), np.uint8))
    with pytest.raises(ScoringError, match=r"shape mismatch: .*case2\.npy"):
        score(pred_dir, ref_dir, num_classes=C, workers=2)


@pytest.mark.slow
def test_dask_local_cluster_equals_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=7, ext=".npz")
    serial = score(pred_dir, ref_dir, num_classes=C, metrics=["dice", "iou", "hd"])
    # A real TCP scheduler on loopback, its worker threads in this process (fast to start).
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        on_dask = score(pred_dir, ref_dir, num_classes=C, metrics=["dice", "iou", "hd"],
                        scheduler=cluster.scheduler_address)
        np.testing.assert_array_equal(on_dask.confusion, serial.confusion)
        for m in ("dice", "iou", "hd"):
            np.testing.assert_array_equal(on_dask.per_case[m], serial.per_case[m])
            np.testing.assert_array_equal(on_dask.pooled[m], serial.pooled[m])
        # a worker's error comes back with its message
        write_mask(os.path.join(pred_dir, "case3.npz"), np.full((24, 20), 9, np.uint8))
        with pytest.raises(ScoringError, match=r"prediction \S*case3\.npz holds label 9 at"):
            score(pred_dir, ref_dir, num_classes=C, scheduler=cluster.scheduler_address)


# --------------------------------------------------------------------------- reports


def test_report_formats(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    os.remove(os.path.join(ref_dir, "case0.npy"))
    os.remove(os.path.join(pred_dir, "case0.npy"))
    write_mask(os.path.join(ref_dir, "case0.npy"), np.zeros((24, 20), np.uint8))
    write_mask(os.path.join(pred_dir, "case0.npy"), np.zeros((24, 20), np.uint8))
    rep = score(pred_dir, ref_dir, num_classes=C, class_names=["bg", "a", "b", "c"])
    data = json.loads(rep.to_json())  # strict JSON: NaN becomes the string "nan"
    assert data["num_cases"] == 3 and data["metrics"] == ["dice", "iou"]
    assert data["cases"][0]["dice"][1] == "nan"  # class absent from both
    assert data["options"]["zero_division"] == "nan"
    assert data["summary"]["dice"]["classes"]["a"]["cases"] == 2
    assert data["summary"]["dice"]["classes"]["a"]["mean"] == pytest.approx(rep.mean["dice"][1])
    md = rep.to_markdown()
    assert md.splitlines()[0] == "| metric | class | mean | std | pooled | cases |"
    assert "| dice | macro mean |" in md
    rows = rep.to_csv().splitlines()
    assert rows[0] == "metric,class_id,class,mean,std,pooled,cases"
    assert len(rows) == 1 + 2 * (C + 1)
    per_case = rep.per_case_csv().splitlines()
    assert len(per_case) == 1 + 3 * C
    table = rep.table()
    assert "macro mean" in table and "pooled" in table


def test_write_atomic_keeps_old_report_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "report.csv"
    target.write_text("old report\n")
    other = tmp_path / "cases.csv"
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        scoring.write_atomic({str(target): "new\n", str(other): "x\n"})
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_text() == "old report\n"
    assert not other.exists()
    assert sorted(os.listdir(tmp_path)) == ["report.csv"]  # no temporary file left
    scoring.write_atomic({str(target): "new\n"})
    assert target.read_text() == "new\n"


def test_import_stays_light():
    import subprocess

    code = ("import sys, regionloss; heavy = [m for m in ('jax', 'cupy', 'torch', 'scipy', "
            "'dask', 'distributed', 'PIL', 'nibabel', 'tifffile') if m in sys.modules]; "
            "print(heavy); assert regionloss.score is regionloss.scoring.score")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names():
    assert regionloss.score is score
    assert regionloss.ScoreReport is scoring.ScoreReport
    # one list of names each, owned by the modules that compute them
    assert scoring.REGION_METRICS is regionloss.metrics.METRIC_NAMES
    assert scoring.BOUNDARY_METRICS == tuple(regionloss.metrics.surface.SURFACE_METRICS)
    # no second, different object under regionloss.SURFACE_METRICS's name
    assert not hasattr(scoring, "SURFACE_METRICS")
    assert "SURFACE_METRICS" not in scoring.__all__


# --------------------------------------------------------------------------- review fixes


def _umask(value):
    old = os.umask(value)
    return old


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_write_atomic_keeps_the_mode_of_an_existing_report(tmp_path, mode):
    target = tmp_path / "report.csv"
    target.write_text("old\n")
    os.chmod(target, mode)
    scoring.write_atomic({str(target): "new\n"})
    assert target.read_text() == "new\n"
    assert os.stat(target).st_mode & 0o7777 == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_write_atomic_new_report_follows_the_umask(tmp_path, umask):
    old = _umask(umask)
    try:
        scoring.write_atomic({str(tmp_path / "a.json"): "{}\n", str(tmp_path / "b.csv"): "x\n"})
        # what open(path, "w") would have made: 0o666 & ~umask (mkstemp alone gives 0o600)
        assert scoring._current_umask() == umask
    finally:
        os.umask(old)
    for name in ("a.json", "b.csv"):
        assert os.stat(tmp_path / name).st_mode & 0o7777 == 0o666 & ~umask


@pytest.mark.parametrize("shape", [(0,), (0, 5), (4, 0, 3)])
@pytest.mark.parametrize("where", ["prediction", "reference"])
def test_zero_size_mask_names_the_file_and_its_shape(tmp_path, shape, where):
    good = np.zeros((2, 2), np.uint8)
    empty = np.zeros(shape, np.uint8)
    pred = write_mask(tmp_path / "p" / "a.npy", empty if where == "prediction" else good)
    ref = write_mask(tmp_path / "r" / "a.npy", empty if where == "reference" else good)
    bad = pred if where == "prediction" else ref
    with pytest.raises(MaskReadError) as info:
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=2)
    assert f"{bad}: empty mask of shape {shape}" in str(info.value)
    assert "zero-size array" not in str(info.value)


def test_zero_size_reference_with_missing_prediction(tmp_path):
    write_mask(tmp_path / "p" / "b.npy", np.zeros((2, 2), np.uint8))
    write_mask(tmp_path / "r" / "b.npy", np.zeros((2, 2), np.uint8))
    ref = write_mask(tmp_path / "r" / "a.npy", np.zeros((3, 0), np.uint8))
    with pytest.raises(MaskReadError, match=rf"{ref}: empty mask of shape \(3, 0\)"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=2, missing="empty")


@pytest.mark.parametrize("shape", [(6,), (2, 3, 4, 5)])
def test_boundary_metrics_need_2d_or_3d_masks(tmp_path, shape):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, shape).astype(np.uint8)
    pred = write_mask(tmp_path / "p" / "a.npy", t)
    ref = write_mask(tmp_path / "r" / "a.npy", t)
    with pytest.raises(ScoringError) as info:
        score(pred, ref, num_classes=2, metrics="dice,hd")
    msg = str(info.value)
    assert pred in msg and ref in msg and str(shape) in msg
    assert "2-D or 3-D" in msg
    # the library's message (its own sample axis, "x[None]") must not leak through
    assert "x[None]" not in msg and str((1,) + shape) not in msg
    # region metrics work on any number of axes
    rep = score(pred, ref, num_classes=2, metrics="dice")
    assert np.all(rep.per_case["dice"] == 1.0)


def test_nifti_trailing_singleton_axis_is_dropped(tmp_path):
    pytest.importorskip("nibabel")
    pytest.importorskip("scipy")
    rng = np.random.default_rng(2)
    t = np.zeros((8, 9, 4), np.uint8)
    t[2:6, 3:7, 1:3] = 1
    p = np.roll(t, 1, axis=0)
    spacing = (0.5, 2.0, 3.0)
    write_mask(tmp_path / "p" / "a.nii.gz", p[..., None], spacing=spacing + (1.0,))
    path = write_mask(tmp_path / "r" / "a.nii.gz", t[..., None], spacing=spacing + (1.0,))
    mask = _io.read_mask(path)
    assert mask.array.shape == (8, 9, 4) and mask.spacing == spacing
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=2, metrics="dice,hd")
    assert rep.spacings == [spacing]
    assert rep.per_case["hd"][0, 1] == pytest.approx(0.5)
    # a real fourth axis (e.g. time) is kept, and boundary metrics refuse it clearly
    four = write_mask(tmp_path / "q" / "a.nii.gz",
                      rng.integers(0, 2, (4, 5, 3, 2)).astype(np.uint8))
    assert _io.read_mask(four).array.shape == (4, 5, 3, 2)


def test_metric_options_for_a_metric_not_asked_for(tmp_path):
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(scoring.OptionError, match="metric_options: 'tversky' given but"):
        score(path, path, num_classes=2, metrics="dice",
              metric_options={"tversky": {"alpha": 0.1}})
    with pytest.raises(scoring.OptionError, match="metric_options"):
        score(path, path, num_classes=2, metrics="tversky",
              metric_options={"tversky": {"gamma": 0.1}})


def test_bad_options_are_option_errors(tmp_path):
    """Errors found from the options alone (no file read) are OptionError (the command
    line exits 2 for them); data errors stay plain ScoringError (exit 1)."""
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    for kwargs in ({"num_classes": 0}, {"num_classes": 2, "metrics": "bogus"},
                   {"num_classes": 2, "metrics": "nsd"}, {"num_classes": 2, "backend": "x"}):
        with pytest.raises(scoring.OptionError):
            score(path, path, **kwargs)
    bad = write_mask(tmp_path / "b.npy", np.full((2, 2), 5, np.uint8))
    with pytest.raises(ScoringError) as info:
        score(bad, bad, num_classes=2)
    assert not isinstance(info.value, scoring.OptionError)


def test_cases_count_defined_values_whatever_zero_division(tmp_path):
    # class 2: absent from both in case a (undefined), present in case b
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1, 1]], np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 1, 0]], np.uint8))
    write_mask(tmp_path / "p" / "b.npy", np.array([[2, 2, 1]], np.uint8))
    write_mask(tmp_path / "r" / "b.npy", np.array([[2, 0, 1]], np.uint8))
    for zd, mean in ((float("nan"), 2 / 3), (0.0, 1 / 3), (1.0, (1 + 2 / 3) / 2)):
        rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3,
                    metrics="dice,precision", zero_division=zd)
        assert rep.count["dice"].tolist() == [2, 2, 1]
        assert rep.mean["dice"][2] == pytest.approx(mean)
        # precision is undefined where the class is never predicted (class 0 in case b)
        assert rep.count["precision"].tolist() == [1, 2, 1]
        data = json.loads(rep.to_json())
        assert data["summary"]["dice"]["classes"]["2"]["cases"] == 1


def test_mean_std_count_with_nan_and_inf(tmp_path):
    """Hand-computed mean / sample std (ddof=1) / count, NaN left out, inf propagating."""
    rep = scoring.ScoreReport(
        cases=[scoring.Case(str(i), "p", "r") for i in range(3)], metrics=("hd",),
        class_ids=(0, 1, 2), class_names=("0", "1", "2"),
        confusion=np.zeros((3, 3, 3), np.int64),
        per_case={"hd": np.array([[1.0, np.nan, 2.0], [3.0, np.nan, np.inf],
                                  [5.0, 4.0, 1.0]])},
        pooled={"hd": np.full(3, np.nan)})
    np.testing.assert_allclose(rep.mean["hd"], [3.0, 4.0, np.inf])
    assert rep.std["hd"][0] == pytest.approx(2.0)
    assert np.isnan(rep.std["hd"][1])       # one value: no sample std
    assert np.isnan(rep.std["hd"][2])       # inf - inf
    assert rep.count["hd"].tolist() == [3, 1, 3]
    assert rep.macro["hd"]["mean"] == np.inf
    assert np.isnan(rep.macro["hd"]["pooled"])


def test_table_header_counts_classes_and_reported_ones(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=2)
    rep = score(pred_dir, ref_dir, num_classes=C, include_background=False)
    assert rep.table().splitlines()[0] == "2 cases, 4 classes, 3 reported"
    rep = score(pred_dir, ref_dir, num_classes=C)
    assert rep.table().splitlines()[0] == "2 cases, 4 classes"


def test_json_non_finite_values_are_strings(tmp_path):
    pytest.importorskip("scipy")
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1], [1, 0]], np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 0], [0, 0]], np.uint8))
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics="dice,hd")
    text = rep.to_json()
    data = json.loads(text)
    case = data["cases"][0]
    assert case["hd"][1] == "inf" and case["hd"][2] == "nan"   # one empty / both empty
    assert case["dice"][1] == 0.0 and case["dice"][2] == "nan"
    hd = data["summary"]["hd"]
    assert hd["classes"]["1"]["mean"] == "inf" and hd["classes"]["1"]["std"] == "nan"
    assert hd["classes"]["1"]["pooled"] is None          # boundary metrics do not pool
    assert hd["macro_pooled"] is None
    assert float(hd["classes"]["1"]["mean"]) == math.inf  # float() reads them back
