"""Confusion matrices and scores of them (regionloss.metrics.confusion): hand counts on every
backend, ignore_index, labels out of range (eager, Dask, jit), options and input errors,
per-class statistics and ``score_confusion``'s errors.

The counting kernels themselves (every path against every other) are tested in
``tests/kernels/test_counting.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import regionloss as rl
from conftest import HAND_C as C
from conftest import HAND_PRED as PRED
from conftest import HAND_STATS as STATS
from conftest import HAND_TARGET as TARGET
from conftest import HAVE_JAX, assert_same_namespace, to_numpy
from regionloss.metrics.confusion import count_labels as confusion_counts

# Hand-counted: pixels (target, pred) of the two samples of HAND_TARGET / HAND_PRED,
# classes 0-2 (class 3 appears in neither).
#   sample 0: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0)
#   sample 1: (0,0) (0,2) (0,1) (1,1) (1,1) (1,1)
CM0 = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
CM1 = np.array([[1, 1, 1], [0, 3, 0], [0, 0, 0]])


def test_hand_counted(backend):
    cm = rl.confusion_matrix(backend(PRED), backend(TARGET), num_classes=3)
    assert_same_namespace(cm, backend)
    np.testing.assert_array_equal(to_numpy(cm), CM0 + CM1)
    assert to_numpy(cm).dtype == np.int64
    per = rl.confusion_matrix(backend(PRED), backend(TARGET), num_classes=3, per_sample=True)
    np.testing.assert_array_equal(to_numpy(per), np.stack([CM0, CM1]))


@pytest.mark.parametrize("ignore", [255, -1, 2])
def test_ignore_index_any_integer(backend, ignore):
    target = TARGET.copy()
    target[0, 4] = ignore  # (2, 2) pixel leaves
    target[1, 0] = ignore  # (0, 0) pixel leaves
    expected = CM0 + CM1
    expected[2, 2] -= 1
    expected[0, 0] -= 1
    if ignore == 2:  # a class id: every reference pixel of class 2 leaves
        expected[2, :] = 0
    cm = rl.confusion_matrix(backend(PRED), backend(target), num_classes=3,
                             ignore_index=ignore)
    np.testing.assert_array_equal(to_numpy(cm), expected)


def test_prediction_at_ignored_pixel_is_not_checked(backend):
    target, pred = TARGET.copy(), PRED.copy()
    target[0, 0], pred[0, 0] = 255, 255
    target[0, 1], pred[0, 1] = 255, 77
    cm = rl.confusion_matrix(backend(pred), backend(target), num_classes=3, ignore_index=255)
    expected = CM0 + CM1
    expected[0, 0] -= 1
    expected[0, 1] -= 1
    np.testing.assert_array_equal(to_numpy(cm), expected)


def test_all_ignored_and_empty(backend):
    target = np.full((2, 4, 4), 255)
    pred = np.zeros((2, 4, 4), dtype=np.int64)
    per = rl.confusion_matrix(backend(pred), backend(target), num_classes=3, ignore_index=255,
                              per_sample=True)
    np.testing.assert_array_equal(to_numpy(per), np.zeros((2, 3, 3)))
    cm = rl.confusion_matrix(backend(pred), backend(pred), num_classes=3)
    np.testing.assert_array_equal(to_numpy(cm), [[32, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_bool_masks_are_binary_labels(backend):
    t = np.array([[True, False], [True, True]])
    p = np.array([[True, True], [False, True]])
    cm = rl.confusion_matrix(backend(p), backend(t), num_classes=2)
    np.testing.assert_array_equal(to_numpy(cm), [[0, 1], [1, 2]])


def test_counts_are_int64_and_add_exactly_past_int32():
    """Dataset scale: 10**10 voxels in a cell (as after many batches) stay exact."""
    cm = rl.confusion_matrix(np.zeros(4, np.int64), np.zeros(4, np.int64), num_classes=2)
    assert cm.dtype == np.int64
    big = cm * 2_500_000_000  # 10**10 in cell (0, 0)
    assert int(big[0, 0]) == 10**10
    acc = rl.MetricAccumulator("iou", num_classes=2)
    state = acc.init()
    # the pooled counts of the matrix [[10**10, 3], [1, 10**10 + 7]]
    state = state._replace(tp=np.array([10**10, 10**10 + 7]),
                           predicted=np.array([10**10 + 1, 10**10 + 10]),
                           reference=np.array([10**10 + 3, 10**10 + 8]))
    iou = acc.compute(state, average="none")
    np.testing.assert_allclose(iou, [10**10 / (10**10 + 4), (10**10 + 7) / (10**10 + 11)],
                               rtol=1e-15)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize("bad, where, value", [("target", (1, 2), 7), ("target", (0, 5), -3),
                                               ("pred", (1, 0), 3), ("pred", (0, 1), 255)])
def test_out_of_range_label_is_named(concrete_backend, bad, where, value):
    backend = concrete_backend
    target, pred = TARGET.copy(), PRED.copy()
    (target if bad == "target" else pred)[where] = value
    with pytest.raises(ValueError) as info:
        rl.confusion_matrix(backend(pred), backend(target), num_classes=3, ignore_index=255)
    msg = str(info.value)
    assert f"{bad} holds label {value} at index {where}" in msg
    assert "num_classes=3" in msg


def test_dask_is_lazy_and_marks_or_drops_out_of_range():
    da = pytest.importorskip("dask.array")
    target = TARGET.copy()
    target[0, 0] = 9
    p, t = da.from_array(PRED, chunks=1), da.from_array(target, chunks=1)
    cm = rl.confusion_matrix(p, t, num_classes=3)
    assert type(cm).__module__.startswith("dask")
    # lazy values cannot raise: the matrix is marked impossible (all -1) ...
    np.testing.assert_array_equal(cm.compute(), -np.ones((3, 3), np.int64))
    # ... and scores NaN; validate=False drops the pixel silently
    assert np.isnan(rl.score_confusion(cm, metric="dice").compute()).all()
    expected = CM0 + CM1
    expected[0, 0] -= 1
    dropped = rl.confusion_matrix(p, t, num_classes=3, validate=False)
    np.testing.assert_array_equal(dropped.compute(), expected)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_jit_marks_out_of_range_labels_or_drops_them_with_validate_false():
    import jax
    import jax.numpy as jnp

    target, pred = TARGET.copy(), PRED.copy()
    target[0, 0] = 9     # out of range in the reference
    pred[1, 3] = -1      # out of range in the prediction
    f = jax.jit(lambda p, t: rl.confusion_matrix(p, t, num_classes=3, per_sample=True))
    got = np.asarray(f(jnp.asarray(pred), jnp.asarray(target)))
    np.testing.assert_array_equal(got, -np.ones((2, 3, 3), np.int64))   # impossible counts
    g = jax.jit(lambda p, t: rl.confusion_matrix(p, t, num_classes=3, per_sample=True,
                                                 validate=False))
    got = np.asarray(g(jnp.asarray(pred), jnp.asarray(target)))
    expected = np.stack([CM0, CM1])
    expected[0, 0, 0] -= 1
    expected[1, 1, 1] -= 1
    np.testing.assert_array_equal(got, expected)
    # eagerly, the same input is an error
    with pytest.raises(ValueError, match="target holds label 9"):
        rl.confusion_matrix(jnp.asarray(pred), jnp.asarray(target), num_classes=3)


def test_validate_false_drops_silently():
    target = TARGET.copy()
    target[0, 0] = 9
    cm = rl.confusion_matrix(PRED, target, num_classes=3, validate=False)
    assert int(cm.sum()) == TARGET.size - 1


@pytest.mark.parametrize("kwargs, exc, text", [
    (dict(num_classes=0), ValueError, "num_classes must be an integer >= 1"),
    (dict(num_classes=True), TypeError, "num_classes must be an integer"),
    (dict(num_classes=2.0), TypeError, "num_classes must be an integer; got float"),
    (dict(num_classes=3, ignore_index=1.5), TypeError, "ignore_index"),
])
def test_bad_options(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        rl.confusion_matrix(PRED, TARGET, **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"same shape.*pred \(2, 6\).*target \(2, 5\)"):
        rl.confusion_matrix(PRED, TARGET[:, :5], num_classes=3)
    with pytest.raises(TypeError, match="integer label map.*to_labels"):
        rl.confusion_matrix(PRED.astype(float), TARGET, num_classes=3)
    with pytest.raises(ValueError, match="per_sample=True needs"):
        rl.confusion_matrix(PRED[0], TARGET[0], num_classes=3, per_sample=True)
    with pytest.raises(ValueError, match="method must be"):
        confusion_counts(PRED, TARGET, num_classes=3, method="fast")


# ------------------------------------------------------------------------ statistics and scores


def test_class_statistics_match_hand_table():
    cm = rl.confusion_matrix(PRED, TARGET, num_classes=C, per_sample=True)
    stats = np.stack([np.asarray(s) for s in rl.class_statistics(cm)], axis=-1)
    np.testing.assert_array_equal(stats, STATS)
    assert stats.dtype == np.float64


def test_errors():
    cm = rl.confusion_matrix(PRED, TARGET, num_classes=C)
    with pytest.raises(ValueError, match="metric must be one of"):
        rl.score_confusion(cm, metric="hausdorff")
    with pytest.raises(ValueError, match="average must be one of"):
        rl.score_confusion(cm, metric="dice", average="samples")
    with pytest.raises(TypeError, match=r"unexpected option\(s\) alpha"):
        rl.score_confusion(cm, metric="dice", alpha=0.5)
    with pytest.raises(ValueError, match=r"\(C, C\).*got shape \(4, 3\)"):
        rl.score_confusion(cm[:, :3], metric="dice")
    with pytest.raises(ValueError, match="at least 2 classes"):
        rl.score_confusion(cm[:1, :1], metric="dice", include_background=False)
    with pytest.raises(TypeError, match="zero_division"):
        rl.score_confusion(cm, metric="dice", zero_division="warn")
    with pytest.raises(ValueError, match="beta must be > 0"):
        rl.fbeta_score(PRED, TARGET, num_classes=C, beta=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        rl.dice_score(PRED, TARGET, num_classes=C, alpha=0.2)
    with pytest.raises(ValueError, match="target holds label 9"):
        rl.dice_score(PRED, np.where(TARGET == 2, 9, TARGET), num_classes=C)
