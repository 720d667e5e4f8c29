"""Validation (regionloss._validate): the shared label-range check and the option checks.

Label ranges: hand-picked positions, a plain-NumPy reference (``np.flatnonzero``) in a
hypothesis property, and the message of ``regionloss.confusion_matrix`` itself, which the
helper must reproduce word for word.

Options: the zero-division rule, real-number options given as NumPy or JAX scalars
(accepted when concrete, refused when traced), and the option errors every loss shares
(flags, ``ignore_index``, ``class_axis``, smoothing, choices, class weights), each message
naming the argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import HAND_C as C
from conftest import HAND_PRED as PRED
from conftest import HAND_STATS as STATS
from conftest import HAND_TARGET as TARGET
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import HAVE_JAX, ref_metric
from regionloss._validate import (
    BadLabels,
    bad_labels_message,
    check_label_range,
    describe_bad_labels,
    find_bad_labels,
)


def test_in_range_and_empty_give_none(concrete_backend):
    b = concrete_backend
    assert find_bad_labels(b(np.array([[0, 1], [2, 0]])), num_classes=3) is None
    assert find_bad_labels(b(np.zeros((0, 4), np.int64)), num_classes=1) is None
    assert find_bad_labels(b(np.array([True, False])), num_classes=2) is None


def test_first_value_position_count(concrete_backend):
    b = concrete_backend
    x = np.zeros((2, 3, 4), np.int64)
    x[1, 2, 0] = 7
    x[0, 1, 3] = -2
    x[1, 0, 1] = 3
    got = find_bad_labels(b(x), num_classes=3)
    assert got == BadLabels(-2, (0, 1, 3), 3)
    assert isinstance(got.value, int) and all(type(i) is int for i in got.position)


def test_ignore_index_on_the_reference(concrete_backend):
    b = concrete_backend
    t = np.array([[0, 255, 1], [255, 9, 0]])
    assert find_bad_labels(b(t), num_classes=2, ignore_index=255) == BadLabels(9, (1, 1), 1)
    assert find_bad_labels(b(t), num_classes=2) == BadLabels(255, (0, 1), 3)
    # an ignore_index inside [0, C) is allowed as a class anyway
    assert find_bad_labels(b(t), num_classes=2, ignore_index=0) == BadLabels(255, (0, 1), 3)


def test_prediction_is_free_where_the_reference_is_ignored(concrete_backend):
    b = concrete_backend
    t = np.array([[0, 255, 1], [255, 1, 0]])
    p = np.array([[0, 77, 1], [-5, 4, 0]])
    got = find_bad_labels(b(p), num_classes=2, ignore_index=255, reference=b(t))
    assert got == BadLabels(4, (1, 1), 1)
    # without ignore_index, every out-of-range prediction counts
    assert find_bad_labels(b(p), num_classes=2, reference=b(t)) == BadLabels(77, (0, 1), 3)


def test_dtype_edges():
    u8 = np.array([[0, 1, 200]], np.uint8)
    # an ignore_index the dtype cannot hold ignores nothing (and is no error)
    assert find_bad_labels(u8, num_classes=2, ignore_index=-1) == BadLabels(200, (0, 2), 1)
    assert find_bad_labels(u8, num_classes=2, ignore_index=200) is None
    # num_classes beyond the dtype: nothing is too large
    assert find_bad_labels(u8, num_classes=300) is None
    i8 = np.array([-1, 0, 1], np.int8)
    assert find_bad_labels(i8, num_classes=2, ignore_index=255) == BadLabels(-1, (0,), 1)
    # booleans are labels 0 and 1
    assert find_bad_labels(np.array([False, True]), num_classes=1) == BadLabels(1, (1,), 1)
    t_bool = np.array([True, False])
    assert find_bad_labels(np.array([5, 5]), num_classes=2, ignore_index=1,
                           reference=t_bool) == BadLabels(5, (1,), 1)


def test_messages():
    bad = BadLabels(9, (0, 4), 2)
    t = describe_bad_labels("target", bad, num_classes=4, ignore_index=255)
    assert t == ("target holds label 9 at index (0, 4) (2 such pixel(s)), outside "
                 "[0, num_classes=4) and is not ignore_index=255")
    p = describe_bad_labels("pred", bad, num_classes=4, ignore_index=255, prediction=True)
    assert p.startswith("pred holds label 9 at index (0, 4) (2 such pixel(s)), outside "
                        "[0, num_classes=4) where the reference is not ignored")
    assert bad_labels_message(t, None) == "label values out of range: " + t
    assert bad_labels_message(t, p) == f"label values out of range: {t}; {p}"


@pytest.mark.parametrize("case", [
    dict(t={(0, 1): 9}, p={}, ignore_index=None),
    dict(t={(1, 2): -3}, p={}, ignore_index=255),
    dict(t={}, p={(1, 0): 3}, ignore_index=255),
    dict(t={}, p={(0, 0): 255}, ignore_index=None),
    dict(t={(0, 5): 7, (1, 1): 8}, p={(1, 4): -1}, ignore_index=255),
    dict(t={(0, 0): 255}, p={(0, 0): 99, (1, 5): 4}, ignore_index=255),
])
def test_message_equals_confusion_matrix_message(concrete_backend, case):
    """Word for word what ``rl.confusion_matrix`` raises today: the switch changes nothing."""
    b = concrete_backend
    target = np.array([[0, 1, 2, 0, 1, 2], [2, 1, 0, 0, 1, 2]])
    pred = np.array([[0, 1, 1, 0, 2, 2], [2, 0, 0, 1, 1, 2]])
    for where, v in case["t"].items():
        target[where] = v
    for where, v in case["p"].items():
        pred[where] = v
    kw = dict(num_classes=3, ignore_index=case["ignore_index"])
    with pytest.raises(ValueError) as ours:
        check_label_range(b(pred), b(target), **kw)
    with pytest.raises(ValueError) as theirs:
        rl.confusion_matrix(b(pred), b(target), **kw)
    assert str(ours.value) == str(theirs.value)


def test_check_label_range_passes_and_names():
    ok = np.array([[0, 1], [1, 0]])
    check_label_range(ok, ok, num_classes=2)
    with pytest.raises(ValueError, match=r"^label values out of range: seg holds label 2"):
        check_label_range(ok + 1, ok, num_classes=2, pred_name="seg")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shape=st.sampled_from([(7,), (3, 5), (2, 3, 4)]),
       num_classes=st.integers(1, 4), ignore_index=st.sampled_from([None, 255, -1, 0, 2]),
       dtype=st.sampled_from([np.int64, np.int16, np.uint8]))
def test_matches_numpy_reference(seed, shape, num_classes, ignore_index, dtype):
    rng = np.random.default_rng(seed)
    choices = np.array([0, 1, 2, 3, 4, 5, 255, -1, -7, 300])
    if dtype is np.uint8:
        choices = choices[(choices >= 0) & (choices < 256)]
    if dtype is np.int16:
        choices = choices[choices < 256]
    target = rng.choice(choices, size=shape).astype(dtype)
    pred = rng.choice(choices, size=shape).astype(dtype)
    ti, pi = target.astype(np.int64), pred.astype(np.int64)
    ignored = (np.zeros(shape, bool) if ignore_index is None else ti == ignore_index)
    bad_t = ((ti < 0) | (ti >= num_classes)) & ~ignored
    bad_p = ((pi < 0) | (pi >= num_classes)) & ~ignored
    for arr, bad, ref in ((target, bad_t, None), (pred, bad_p, target)):
        got = find_bad_labels(arr, num_classes=num_classes, ignore_index=ignore_index,
                              reference=ref)
        idx = np.flatnonzero(bad)
        if idx.size == 0:
            assert got is None
        else:
            pos = np.unravel_index(idx[0], shape)
            assert got == BadLabels(int(arr[pos]), tuple(int(i) for i in pos), int(idx.size))
    # and the whole message is confusion_matrix's
    if bad_t.any() or bad_p.any():
        with pytest.raises(ValueError) as ours:
            check_label_range(pred, target, num_classes=num_classes, ignore_index=ignore_index)
        with pytest.raises(ValueError) as theirs:
            rl.confusion_matrix(pred, target, num_classes=num_classes,
                                ignore_index=ignore_index)
        assert str(ours.value) == str(theirs.value)
    else:
        check_label_range(pred, target, num_classes=num_classes, ignore_index=ignore_index)


def test_torch_wide_unsigned_labels_are_checked():
    # PyTorch has no comparisons or min/max for uint16 on the CPU: the check must still work
    torch = pytest.importorskip("torch")
    from regionloss._validate import find_bad_labels

    t = torch.from_numpy(np.array([[0, 1, 9, 2]], dtype=np.uint16))
    bad = find_bad_labels(t, num_classes=3)
    assert bad is not None and (bad.value, bad.position, bad.count) == (9, (0, 2), 1)
    assert find_bad_labels(t, num_classes=10) is None


# --------------------------------------------------------------------------- metric options


@pytest.mark.parametrize("zd", [5.0, 0.5, -1.0, float("inf"), 2])
def test_zero_division_is_nan_zero_or_one(zd):
    """Review finding 2.5: the library accepted 5.0 while the CLI rejected 0.5."""
    cm = rl.confusion_matrix(PRED, TARGET, num_classes=C)
    with pytest.raises(ValueError, match=r"zero_division must be nan, 0.0 or 1.0"):
        rl.score_confusion(cm, metric="dice", zero_division=zd)
    with pytest.raises(ValueError, match=r"zero_division must be nan, 0.0 or 1.0"):
        rl.dice_score(PRED, TARGET, num_classes=C, zero_division=zd)
    with pytest.raises(ValueError, match=r"zero_division must be nan, 0.0 or 1.0"):
        rl.MetricAccumulator("iou", num_classes=C, zero_division=zd)


def test_zero_division_accepts_numpy_scalars_and_ints():
    got = rl.dice_score(PRED, TARGET, num_classes=C, zero_division=np.float32(1.0))
    assert got == pytest.approx((0.5 + 5 / 6 + 0.5 + 1) / 4)
    assert rl.dice_score(PRED, TARGET, num_classes=C, zero_division=0) == pytest.approx(
        (0.5 + 5 / 6 + 0.5 + 0) / 4)
    assert math.isnan(float(rl.dice_score(np.zeros((1, 2), np.int64), np.zeros((1, 2), np.int64),
                                          num_classes=2, include_background=False,
                                          zero_division=np.float64("nan"))))
    with pytest.raises(TypeError, match="zero_division must be a number"):
        rl.dice_score(PRED, TARGET, num_classes=C, zero_division=True)


def test_options_accept_numpy_and_jax_scalars():
    """Review finding 2.6: np.float32(0.5) was refused ("beta must be a number")."""
    want = rl.fbeta_score(PRED, TARGET, num_classes=C, beta=0.5, average="none")
    for beta in (np.float32(0.5), np.float64(0.5), np.asarray(0.5)):
        got = rl.fbeta_score(PRED, TARGET, num_classes=C, beta=beta, average="none")
        np.testing.assert_allclose(got, want, rtol=1e-7, equal_nan=True)
    got = rl.tversky_score(PRED, TARGET, num_classes=C, alpha=np.float32(0.5),
                           beta=np.int64(1), average="none")
    np.testing.assert_allclose(got, ref_metric("tversky", *STATS.sum(0).T, alpha=0.5, beta=1),
                               rtol=1e-7, equal_nan=True)
    acc = rl.MetricAccumulator("fbeta", num_classes=C, beta=np.float32(2.0))
    assert acc.options == {"beta": 2.0} and type(acc.options["beta"]) is float
    for bad in ("0.5", None, np.zeros(2), True):
        with pytest.raises(TypeError, match="beta must be a number"):
            rl.fbeta_score(PRED, TARGET, num_classes=C, beta=bad)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_options_jax_scalar_concrete_ok_traced_refused():
    import jax
    import jax.numpy as jnp

    want = rl.fbeta_score(PRED, TARGET, num_classes=C, beta=0.5)
    assert float(rl.fbeta_score(PRED, TARGET, num_classes=C, beta=jnp.float32(0.5))) == \
        pytest.approx(float(want), rel=1e-7)
    with pytest.raises(TypeError, match="beta must be a static number"):
        jax.jit(lambda b: rl.fbeta_score(jnp.asarray(PRED), jnp.asarray(TARGET),
                                         num_classes=C, beta=b))(0.5)


# --------------------------------------------------------------------------- loss options
# The options every loss shares, checked once by regionloss._validate: each message names
# the argument (the options of one loss only are tested with that loss).


@pytest.mark.parametrize("call, match", [
    (lambda: rl.dice_loss(X, LAB, class_weights=[1, 2]), r"length 4.*got shape \(2,\)"),
    (lambda: rl.dice_loss(X, LAB, class_weights=[1, -2, 1, 1]), r"non-negative"),
    (lambda: rl.dice_loss(X, LAB, activation="relu"), r"activation must be one of"),
    (lambda: rl.dice_loss(X, LAB, reduction="avg"), r"reduction must be one of"),
    (lambda: rl.dice_loss(X[..., :1], LAB), r"softmax.*1 channel"),
    (lambda: rl.dice_loss(X[..., 0], LAB, class_axis=None), r"softmax.*no class axis"),
    (lambda: rl.dice_loss(X, LAB, class_axis=0), r"axis 0.*sample axis"),
    (lambda: rl.dice_loss(X, LAB, class_axis=5), r"class_axis=5 is out of range"),
    (lambda: rl.dice_loss(X, LAB, smooth_nr=-1.0),
     r"smooth_nr must be a finite number >= 0"),
    # flags are True or False, not truthy stand-ins; ignore_index is never a bool
    (lambda: rl.dice_loss(X, LAB, per_sample=1), r"per_sample must be True or False; got 1"),
    (lambda: rl.jaccard_loss(X, LAB, squared="yes"), r"squared must be True or False"),
    (lambda: rl.tversky_loss(X, LAB, soft_labels=None), r"soft_labels must be True or False"),
    (lambda: rl.focal_tversky_loss(X, LAB, include_background=0),
     r"include_background must be True or False"),
    (lambda: rl.dice_loss(X, LAB, ignore_index=True),
     r"ignore_index must be an int or None; got True"),
    (lambda: rl.dice_loss(X, LAB, ignore_index=2.0), r"ignore_index must be an int or None"),
    (lambda: rl.dice_loss(X, LAB, class_axis=True), r"class_axis must be an int or None"),
    (lambda: rl.dice_loss(X, LAB, smooth_nr=True), r"smooth_nr must be a"),
    (lambda: rl.dice_loss(X, LAB, smooth_dr=float("inf")), r"smooth_dr must be a finite"),
    (lambda: rl.generalized_dice_loss(X, LAB, class_weights=[1, 1]), r"length 4"),
    (lambda: rl.log_cosh_dice_loss(X, LAB, smooth_dr=-1),
     r"smooth_dr must be a finite number >= 0"),
    (lambda: rl.lovasz_hinge_loss(X, LAB, per_sample=1), r"per_sample must be True or False"),
    (lambda: rl.cross_entropy_loss(X, LAB, activation="relu"), r"activation must be one of"),
    (lambda: rl.cross_entropy_loss(X, LAB, class_weights=[1, 2, 3]), r"length 4"),
    (lambda: rl.cross_entropy_loss(X[..., 0], LAB, class_axis=None), r"softmax.*no class axis"),
    (lambda: rl.focal_loss(X, LAB, reduction="avg"), r"reduction must be one of"),
    # flags are True or False; ignore_index is never a bool (True would mean label 1)
    (lambda: rl.generalized_dice_loss(X, LAB, per_sample=1), r"per_sample must be True or False"),
    (lambda: rl.generalized_dice_loss(X, LAB, squared="no"), r"squared must be True or False"),
    (lambda: rl.log_cosh_dice_loss(X, LAB, include_background=1),
     r"include_background must be True or False"),
    (lambda: rl.lovasz_softmax_loss(X, LAB, include_background=None),
     r"include_background must be True or False"),
    (lambda: rl.lovasz_softmax_loss(X, LAB, ignore_index=True), r"ignore_index must be an int"),
    (lambda: rl.lovasz_hinge_loss(X, LAB, ignore_index=False), r"ignore_index must be an int"),
    (lambda: rl.cross_entropy_loss(X, LAB, ignore_index=True), r"ignore_index must be an int"),
    (lambda: rl.focal_loss(X, LAB, ignore_index=True), r"ignore_index must be an int"),
    (lambda: rl.dice_ce_loss(X, LAB, soft_labels=1), r"soft_labels must be True or False"),
    (lambda: rl.dice_focal_loss(X, LAB, per_sample="no"), r"per_sample must be True or False"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
