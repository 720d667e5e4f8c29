"""Tests of regionloss.scoring.cases: one case read, checked and reduced to statistics."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionloss.metrics import confusion_matrix
from regionloss.metrics.confusion import count_labels as confusion_counts
from regionloss.scoring import score
from regionloss.scoring.cases import CaseSettings, label_range_message, score_case
from regionloss.scoring.errors import MaskReadError, ScoringError
from regionloss.scoring.matching import Case
from regionloss.scoring.options import Spelling, check_options
from regionloss._validate import BadLabels

from ._data import C, make_dataset, write_mask

FLAGS = Spelling(flags=(("num_classes", "--num-classes"), ("ignore_index", "--ignore-index"),
                        ("spacing", "--spacing"), ("metrics", "--metrics")))


def settings_for(**kwargs):
    spelling = kwargs.pop("spelling", None)
    extra = {} if spelling is None else {"spelling": spelling}
    return CaseSettings.from_options(check_options("p", "t", **kwargs, **extra))


def test_score_case_reduces_a_pair_to_its_confusion_matrix(tmp_path):
    t = np.array([[0, 1, 2], [2, 2, 1]], np.uint8)
    p = np.array([[0, 2, 2], [2, 1, 1]], np.uint8)
    case = Case("a", write_mask(tmp_path / "p.npy", p), write_mask(tmp_path / "t.png", t))
    stats = score_case(7, case, settings_for(num_classes=3))
    assert stats.index == 7 and stats.surface == {} and stats.spacing is None
    assert stats.confusion.dtype == np.int64
    np.testing.assert_array_equal(stats.confusion, [[1, 0, 0], [0, 1, 1], [0, 1, 2]])
    # a missing prediction is an all-background one
    stats = score_case(0, Case("a", None, case.reference), settings_for(num_classes=3))
    np.testing.assert_array_equal(stats.confusion, [[1, 0, 0], [2, 0, 0], [3, 0, 0]])
    # what a worker gets and gives back pickles
    assert pickle.loads(pickle.dumps(settings_for(num_classes=3, spelling=FLAGS))).spelling == FLAGS


def test_ignore_index_and_labels(tmp_path):
    t = np.array([[0, 1, 255, 2], [3, 3, 255, 1]], np.uint8)
    p = np.array([[0, 1, 7, 2], [3, 0, 255, 1]], np.uint8)  # 7 and 255 sit on ignored pixels
    write_mask(tmp_path / "p.npy", p)
    write_mask(tmp_path / "t.npy", t)
    rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=C, ignore_index=255)
    np.testing.assert_array_equal(rep.confusion[0],
                                  confusion_matrix(p, t, num_classes=C, ignore_index=255))
    assert rep.confusion.sum() == 6
    # without ignore_index, 255 is out of range in the reference: file and value named
    with pytest.raises(ScoringError) as info:
        score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=C)
    assert str(info.value) == (
        f"label values out of range: reference {tmp_path / 't.npy'} holds label 255 at "
        "index (0, 2) (2 such pixel(s)), outside [0, 4); "
        f"prediction {tmp_path / 'p.npy'} holds label 7 at index (0, 2) (2 such pixel(s)), "
        "outside [0, 4) where the reference is scored: raise num_classes to at least 256, "
        "or pass ignore_index=255 if 255 marks reference pixels to leave out")


def test_out_of_range_prediction_names_file_and_value(tmp_path):
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 9]], np.int32))
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 1]], np.int32))
    with pytest.raises(ScoringError, match=r"prediction \S*a\.npy holds label 9 at index "
                                           r"\(0, 1\) .* raise num_classes to at least 10$"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=C)
    write_mask(tmp_path / "p" / "a.npy", np.array([[-1, 1]], np.int32))
    with pytest.raises(ScoringError, match=r"holds label -1 at index \(0, 0\) .*: a prediction "
                                           r"must name a class wherever the reference is scored"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=C)


@pytest.mark.parametrize("bad_t,bad_p,ignore,want", [
    (BadLabels(3, (0, 1), 5), None, None,
     "label values out of range: reference r.png holds label 3 at index (0, 1) (5 such "
     "pixel(s)), outside [0, 2): raise --num-classes to at least 4, or pass --ignore-index 3 "
     "if 3 marks reference pixels to leave out"),
    (BadLabels(-1, (2,), 1), None, 255,
     "label values out of range: reference r.png holds label -1 at index (2,) (1 such "
     "pixel(s)), outside [0, 2) and is not --ignore-index 255: pass --ignore-index -1 if -1 "
     "marks reference pixels to leave out"),
    (None, BadLabels(2, (0, 0), 9), None,
     "label values out of range: prediction p.png holds label 2 at index (0, 0) (9 such "
     "pixel(s)), outside [0, 2) where the reference is scored: raise --num-classes to at "
     "least 3"),
])
def test_label_message_names_the_flag_to_change(bad_t, bad_p, ignore, want):
    case = Case("a", "p.png", "r.png")
    got = label_range_message(case, bad_t, bad_p, num_classes=2, ignore_index=ignore,
                              spelling=FLAGS)
    assert got == want
    assert "num_classes" not in got and "ignore_index" not in got


def test_shape_mismatch_names_both_files_and_shapes(tmp_path):
    write_mask(tmp_path / "p" / "a.npy", np.zeros((3, 4), np.uint8))
    write_mask(tmp_path / "r" / "a.png", np.zeros((4, 3), np.uint8))
    with pytest.raises(ScoringError) as info:
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=C)
    msg = str(info.value)
    assert "a.npy" in msg and "(3, 4)" in msg and "a.png" in msg and "(4, 3)" in msg


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
    assert "2-D or 3-D" in msg and "leave the boundary metrics out of metrics" in msg
    # the library's message (its own sample axis, "x[None]") must not leak through
    assert "x[None]" not in msg and str((1,) + shape) not in msg
    # region metrics work on any number of axes
    rep = score(pred, ref, num_classes=2, metrics="dice")
    assert np.all(rep.per_case["dice"] == 1.0)


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
    # spacing= overrides the header; unit spacing gives other numbers
    unit = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics=["hd"],
                 spacing=(1, 1, 1))
    assert not np.allclose(unit.per_case["hd"], rep.per_case["hd"], equal_nan=True)
    # a spacing of the wrong length names the option and the file
    with pytest.raises(ScoringError, match=r"^spacing \(1\.0, 1\.0\) has 2 values but \S*"
                                           r"a\.nii\.gz is 3-D"):
        score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics=["hd"],
              spacing=(1, 1))
    # a prediction header disagreeing with the reference's is an error, both files named
    write_mask(tmp_path / "p" / "a.nii.gz", p, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ScoringError, match=r"voxel spacing differs: .*a\.nii\.gz.*a\.nii\.gz"
                                           r".*pass spacing to override"):
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


def test_nifti_trailing_singleton_axis_in_a_run(tmp_path):
    pytest.importorskip("nibabel")
    pytest.importorskip("scipy")
    t = np.zeros((8, 9, 4), np.uint8)
    t[2:6, 3:7, 1:3] = 1
    p = np.roll(t, 1, axis=0)
    spacing = (0.5, 2.0, 3.0)
    write_mask(tmp_path / "p" / "a.nii.gz", p[..., None], spacing=spacing + (1.0,))
    write_mask(tmp_path / "r" / "a.nii.gz", t[..., None], spacing=spacing + (1.0,))
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=2, metrics="dice,hd")
    assert rep.spacings == [spacing]
    assert rep.per_case["hd"][0, 1] == pytest.approx(0.5)
