"""Public metrics, score_confusion, to_labels and the streaming accumulator.

Expectations are hand-counted (the tp/fp/fn/tn table below) and evaluated with plain
NumPy formulas written here, independently of ``regionloss._formulas``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import HAVE_JAX, assert_matches

NAN = float("nan")

# Two samples of six pixels, four classes (class 3 absent from both everywhere; class 2
# absent from sample 1's reference but predicted once there).
#   sample 0 (target, pred): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0)
#   sample 1 (target, pred): (0,0) (0,2) (0,1) (1,1) (1,1) (1,1)
TARGET = np.array([[0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]])
PRED = np.array([[0, 1, 1, 1, 2, 0], [0, 2, 1, 1, 1, 1]])
C = 4
# hand-counted per (sample, class): tp, fp, fn, tn
STATS = np.array([
    [[1, 1, 1, 3], [2, 1, 0, 3], [1, 0, 1, 4], [0, 0, 0, 6]],
    [[1, 0, 2, 3], [3, 1, 0, 2], [0, 1, 0, 5], [0, 0, 0, 6]],
], dtype=float)


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, np.nan, a / np.where(b == 0, 1, b))


def ref_metric(name, tp, fp, fn, tn, alpha=0.3, beta=0.7, fbeta=1.0):
    """Per-class values with NaN where the denominator is zero (plain NumPy)."""
    if name == "dice":
        return _div(2 * tp, 2 * tp + fp + fn)
    if name == "iou":
        return _div(tp, tp + fp + fn)
    if name == "tversky":
        return _div(tp, tp + alpha * fp + beta * fn)
    if name == "precision":
        return _div(tp, tp + fp)
    if name == "recall":
        return _div(tp, tp + fn)
    if name == "specificity":
        return _div(tn, tn + fp)
    if name == "accuracy":
        return _div(tp + tn, tp + fp + fn + tn)
    if name == "balanced_accuracy":
        return (_div(tp, tp + fn) + _div(tn, tn + fp)) / 2
    if name == "fbeta":
        b2 = fbeta**2
        return _div((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)
    if name == "mcc":
        return _div(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    raise AssertionError(name)


def _nanmean(x, axis):
    x = np.asarray(x, dtype=float)
    n = np.sum(~np.isnan(x), axis=axis)
    s = np.nansum(x, axis=axis)
    return np.where(n == 0, np.nan, s / np.maximum(n, 1))


def ref_score(stats, metric, average, include_background, zd):
    """Reference averaging of (..., C, 4) statistics (plain NumPy, loops allowed)."""
    if not include_background:
        stats = stats[..., 1:, :]
    tp, fp, fn, tn = (stats[..., i] for i in range(4))
    if average == "micro":
        s = [x.sum(-1) for x in (tp, fp, fn, tn)]
        m = "recall" if metric == "accuracy" else metric
        v = ref_metric(m, *s)
        return np.where(np.isnan(v), zd, v)
    v = ref_metric(metric, tp, fp, fn, tn)
    v = np.where(np.isnan(v), zd, v)
    if average == "none":
        return v
    if average == "macro":
        return _nanmean(v, -1)
    w = np.where(np.isnan(v), 0.0, tp + fn)
    num = np.nansum(np.where(np.isnan(v), 0, v) * w, -1)
    den = w.sum(-1)
    return np.where(den == 0, zd, num / np.where(den == 0, 1, den))


FUNCS = {
    "dice": rl.dice_score, "iou": rl.iou_score, "tversky": rl.tversky_score,
    "precision": rl.precision, "recall": rl.recall, "specificity": rl.specificity,
    "accuracy": rl.accuracy, "balanced_accuracy": rl.balanced_accuracy,
    "fbeta": rl.fbeta_score, "mcc": rl.matthews_corrcoef,
}


def test_names():
    from regionloss.metrics._table import METRICS

    assert set(FUNCS) <= set(rl.METRIC_NAMES)
    assert rl.METRIC_NAMES == tuple(METRICS)
    for name, spec in METRICS.items():   # every table row has its public function
        assert getattr(rl, spec.function).__name__ == spec.function


def test_class_statistics_match_hand_table():
    cm = rl.confusion_matrix(PRED, TARGET, num_classes=C, per_sample=True)
    stats = np.stack([np.asarray(s) for s in rl.class_statistics(cm)], axis=-1)
    np.testing.assert_array_equal(stats, STATS)
    assert stats.dtype == np.float64


@pytest.mark.parametrize("zd", [NAN, 0.0, 1.0])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("average", ["none", "macro", "micro", "weighted"])
@pytest.mark.parametrize("metric", list(FUNCS))
def test_hand_computed(metric, average, per_sample, include_background, zd):
    got = FUNCS[metric](PRED, TARGET, num_classes=C, average=average, per_sample=per_sample,
                        include_background=include_background, zero_division=zd)
    if per_sample:
        want = ref_score(STATS, metric, average, include_background, zd)
        if average != "none":
            want = _nanmean(want, 0)
    else:
        want = ref_score(STATS.sum(0), metric, average, include_background, zd)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    # the same through score_confusion
    cm = rl.confusion_matrix(PRED, TARGET, num_classes=C, per_sample=per_sample)
    again = rl.score_confusion(cm, metric=metric, average=average,
                               include_background=include_background, zero_division=zd)
    np.testing.assert_array_equal(again, got)


def test_literal_anchors():
    """A few values worked out on paper from the table above."""
    kw = dict(num_classes=C)
    np.testing.assert_allclose(rl.dice_score(PRED, TARGET, average="none", **kw),
                               [0.5, 5 / 6, 0.5, NAN], equal_nan=True)
    assert rl.dice_score(PRED, TARGET, **kw) == pytest.approx(11 / 18)       # macro
    assert rl.dice_score(PRED, TARGET, average="micro", **kw) == pytest.approx(2 / 3)
    assert rl.dice_score(PRED, TARGET, average="weighted", **kw) == pytest.approx(23 / 36)
    assert rl.dice_score(PRED, TARGET, per_sample=True, **kw) == pytest.approx(
        (59 / 90 + 19 / 42) / 2)
    assert rl.dice_score(PRED, TARGET, zero_division=1.0, **kw) == pytest.approx(
        (0.5 + 5 / 6 + 0.5 + 1) / 4)
    # pixel accuracy: 8 of 12 pixels right
    assert rl.accuracy(PRED, TARGET, **kw) == pytest.approx(8 / 12)
    # sample 1, class 2: absent from the reference but predicted -> Dice 0, recall undefined
    per = rl.dice_score(PRED, TARGET, average="none", per_sample=True, **kw)
    assert per[1, 2] == 0 and math.isnan(per[1, 3])
    rec = rl.recall(PRED, TARGET, average="none", per_sample=True, **kw)
    assert math.isnan(rec[1, 2])
    assert rl.mean_iou(PRED, TARGET, **kw) == pytest.approx((1 / 3 + 5 / 7 + 1 / 3) / 3)


def test_return_defined():
    kw = dict(num_classes=C, return_defined=True)
    v, d = rl.dice_score(PRED, TARGET, average="none", per_sample=True, **kw)
    np.testing.assert_array_equal(d, [[1, 1, 1, 0], [1, 1, 1, 0]])
    v, d = rl.dice_score(PRED, TARGET, average="macro", per_sample=True, **kw)
    assert int(d) == 6 and isinstance(d, np.ndarray)
    v, d = rl.recall(PRED, TARGET, average="macro", per_sample=True, zero_division=1.0, **kw)
    assert int(d) == 5  # class 2 of sample 1 and class 3 twice are undefined ...
    assert v == pytest.approx(((0.5 + 1 + 0.5 + 1) / 4 + (1 / 3 + 1 + 1 + 1) / 4) / 2)
    v, d = rl.iou_score(PRED, TARGET, average="micro", **kw)
    assert int(d) == 1


def test_include_background_keeps_class0_as_negatives():
    v = rl.specificity(PRED, TARGET, num_classes=C, average="none", include_background=False)
    # class 1 pooled: tn = 3 + 2 = 5, fp = 2 (pixels of classes 0 count as negatives)
    assert v.shape == (3,)
    assert v[0] == pytest.approx(5 / 7)


def test_ignore_index_and_all_ignored_images():
    target = np.concatenate([TARGET, np.full((1, 6), 255)])
    pred = np.concatenate([PRED, np.zeros((1, 6), np.int64)])
    kw = dict(num_classes=C, ignore_index=255)
    for average in ("none", "macro", "micro", "weighted"):
        for per_sample in (False, True):
            got = rl.iou_score(pred, target, average=average, per_sample=per_sample, **kw)
            want = rl.iou_score(PRED, TARGET, num_classes=C, average=average,
                                per_sample=per_sample)
            if average == "none" and per_sample:
                got = got[:2]
            np.testing.assert_array_equal(got, want)
    per = rl.iou_score(pred, target, average="none", per_sample=True, **kw)
    assert np.isnan(per[2]).all()  # the all-ignored image is undefined everywhere
    v, d = rl.iou_score(pred, target, per_sample=True, return_defined=True, **kw)
    assert int(d) == 6
    # ignore_index = -1 (outside [0, C)): the two class-2 reference pixels leave
    t2 = np.where(TARGET == 2, -1, TARGET)
    np.testing.assert_allclose(
        rl.recall(PRED, t2, num_classes=C, ignore_index=-1, average="none"),
        [2 / 5, 1.0, NAN, NAN], equal_nan=True)
    # ignore_index = 0 (a class id): class 0 leaves the reference entirely
    np.testing.assert_allclose(
        rl.precision(PRED, TARGET, num_classes=C, ignore_index=0, average="none"),
        [0 / 1, 5 / 5, 1 / 1, NAN], equal_nan=True)


def test_empty_images():
    """All-background images: every foreground class is undefined, background is perfect."""
    z = np.zeros((2, 8, 8), np.int64)
    v = rl.dice_score(z, z, num_classes=3, average="none", per_sample=True)
    np.testing.assert_array_equal(v, [[1, NAN, NAN], [1, NAN, NAN]])
    assert math.isnan(float(rl.dice_score(z, z, num_classes=3, include_background=False)))
    assert float(rl.dice_score(z, z, num_classes=3, include_background=False,
                               zero_division=1.0)) == 1.0
    assert float(rl.dice_score(z, z, num_classes=3, include_background=False,
                               zero_division=0.0)) == 0.0
    v, d = rl.dice_score(z, z, num_classes=3, include_background=False, average="weighted",
                         return_defined=True)
    assert math.isnan(float(v)) and int(d) == 0


def test_options():
    np.testing.assert_allclose(
        rl.tversky_score(PRED, TARGET, num_classes=C, alpha=0.5, beta=0.5, average="none"),
        rl.dice_score(PRED, TARGET, num_classes=C, average="none"), equal_nan=True)
    got = rl.fbeta_score(PRED, TARGET, num_classes=C, beta=2.0, average="none")
    np.testing.assert_allclose(got, ref_metric("fbeta", *STATS.sum(0).T, fbeta=2.0),
                               equal_nan=True)
    got = rl.score_confusion(rl.confusion_matrix(PRED, TARGET, num_classes=C),
                             metric="tversky", alpha=0.9, beta=0.1)
    np.testing.assert_allclose(got, ref_metric("tversky", *STATS.sum(0).T, alpha=0.9,
                                               beta=0.1), equal_nan=True)


# ------------------------------------------------------------------------ backends


@pytest.mark.parametrize("metric", list(FUNCS) + ["mean_iou"])
def test_backend_matrix(backend, metric):
    fn = rl.mean_iou if metric == "mean_iou" else FUNCS[metric]
    rng = np.random.default_rng(1)
    target = rng.integers(0, 4, (3, 5, 6))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, 4, target.shape))
    target = np.where(rng.random(target.shape) < 0.1, 255, target)
    settings_ = [dict(), dict(include_background=False, zero_division=1.0)]
    if metric != "mean_iou":
        settings_ += [dict(average="none", per_sample=True), dict(average="weighted"),
                      dict(average="micro", per_sample=True)]
    for kw in settings_:
        want = fn(pred, target, num_classes=4, ignore_index=255, **kw)
        got = fn(backend(pred), backend(target), num_classes=4, ignore_index=255, **kw)
        # namespace, exact shape (() averaged, (C,) / (N, C) per class) and values
        assert_matches(got, want, backend, rtol=1e-12)
        v, d = fn(backend(pred), backend(target), num_classes=4, ignore_index=255,
                  return_defined=True, **kw)
        want_v, want_d = fn(pred, target, num_classes=4, ignore_index=255,
                            return_defined=True, **kw)
        assert_matches(v, want_v, backend, rtol=1e-12)
        assert_matches(d, want_d, backend, rtol=0)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("metric", list(FUNCS))
def test_jax_jit(metric):
    import jax
    import jax.numpy as jnp

    fn = FUNCS[metric]
    for kw in (dict(average="macro", per_sample=True), dict(average="none")):
        f = jax.jit(lambda p, t: fn(p, t, num_classes=C, ignore_index=255, **kw))
        got = f(jnp.asarray(PRED), jnp.asarray(TARGET))
        np.testing.assert_allclose(np.asarray(got), fn(PRED, TARGET, num_classes=C, **kw),
                                   rtol=1e-12, equal_nan=True)


# ------------------------------------------------------------------------ properties


label_maps = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(2, 5),
                       st.integers(0, 2**16))


def _maps(params):
    n, size, classes, seed = params
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, (n, size, size))
    pred = np.where(rng.random(target.shape) < 0.5, target,
                    rng.integers(0, classes, target.shape))
    return pred, target, classes


@settings(max_examples=40, deadline=None)
@given(label_maps, st.booleans())
def test_identities(params, per_sample):
    pred, target, k = _maps(params)
    kw = dict(num_classes=k, average="none", per_sample=per_sample)
    dice = rl.dice_score(pred, target, **kw)
    iou = rl.iou_score(pred, target, **kw)
    np.testing.assert_allclose(iou, dice / (2 - dice), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rl.tversky_score(pred, target, alpha=0.5, beta=0.5, **kw), dice,
                               rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rl.tversky_score(pred, target, alpha=1.0, beta=1.0, **kw), iou,
                               rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rl.fbeta_score(pred, target, **kw), dice, rtol=1e-12,
                               equal_nan=True)
    for name, fn in FUNCS.items():
        v = fn(pred, target, **kw)
        lo = -1 if name == "mcc" else 0
        assert np.all((np.isnan(v)) | ((v >= lo - 1e-12) & (v <= 1 + 1e-12))), name


@settings(max_examples=25, deadline=None)
@given(label_maps, st.sampled_from(list(FUNCS)), st.sampled_from([NAN, 0.0, 1.0]),
       st.booleans())
def test_accumulator_merge(params, metric, zd, include_background):
    """merge is associative and equals one big update; compute matches the functions."""
    pred, target, k = _maps(params)
    if not include_background and k < 2:
        return
    acc = rl.MetricAccumulator(metric, num_classes=k, zero_division=zd,
                               include_background=include_background)
    n = pred.shape[0]
    parts = [acc.update(acc.init(), pred[i:i + 1], target[i:i + 1]) for i in range(n)]
    parts.append(acc.init())  # an empty state is the identity
    left = parts[0]
    for s in parts[1:]:
        left = acc.merge(left, s)
    right = parts[-1]
    for s in reversed(parts[:-1]):
        right = acc.merge(s, right)
    big = acc.update(acc.init(), pred, target)
    for a, b, c in zip(left, right, big):
        np.testing.assert_allclose(a, c, rtol=1e-12)
        np.testing.assert_allclose(b, c, rtol=1e-12)
    assert int(big.samples) == n
    kw = dict(num_classes=k, zero_division=zd, include_background=include_background)
    for average in ("none", "macro", "micro", "weighted"):
        pooled = FUNCS[metric](pred, target, average=average, **kw)
        np.testing.assert_allclose(acc.compute(big, average=average), pooled, rtol=1e-12,
                                   equal_nan=True)
        per = FUNCS[metric](pred, target, average=average, per_sample=True, **kw)
        if average == "none":  # the accumulator averages the (N, C) values over samples
            per = _nanmean(per, 0)
        np.testing.assert_allclose(acc.compute(big, average=average, per_sample=True), per,
                                   rtol=1e-12, equal_nan=True)
        v, d = acc.compute(big, average=average, per_sample=True, return_defined=True)
        _, d_fn = FUNCS[metric](pred, target, average=average, per_sample=True,
                                return_defined=True, **kw)
        if average == "none":
            d_fn = d_fn.sum(0)
        np.testing.assert_array_equal(d, d_fn)


def test_accumulator_backends(backend):
    acc = rl.MetricAccumulator("dice", num_classes=C, ignore_index=255)
    state = acc.init(backend(PRED))
    state = acc.update(state, backend(PRED[:1]), backend(TARGET[:1]))
    state = acc.update(state, backend(PRED[1:]), backend(TARGET[1:]))
    for kw in (dict(average="macro"), dict(average="none", per_sample=True),
               dict(average="none"), dict(average="weighted", per_sample=True)):
        got = acc.compute(state, **kw)
        want = acc.compute(acc.update(acc.init(), PRED, TARGET), **kw)
        assert_matches(got, want, backend, rtol=1e-12)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_accumulator_jit_scan():
    import jax
    import jax.numpy as jnp

    acc = rl.MetricAccumulator("iou", num_classes=C)
    step = jax.jit(acc.update)
    state = acc.init(jnp.asarray(PRED))
    for i in range(2):
        state = step(state, jnp.asarray(PRED[i:i + 1]), jnp.asarray(TARGET[i:i + 1]))
    assert isinstance(state, rl.MetricState)
    assert state.confusion.dtype == jnp.int64  # x64 on in the tests
    np.testing.assert_allclose(np.asarray(acc.compute(state, per_sample=True)),
                               rl.iou_score(PRED, TARGET, num_classes=C, per_sample=True))
    # merge is a pytree sum
    summed = jax.tree_util.tree_map(lambda a, b: a + b, state, state)
    np.testing.assert_array_equal(np.asarray(summed.confusion),
                                  2 * np.asarray(state.confusion))


# ------------------------------------------------------------------------ conventions


def test_sklearn_conventions_documented():
    """balanced accuracy / MCC: what matches scikit-learn's multi-class versions, what not."""
    skm = pytest.importorskip("sklearn.metrics")
    t, p = TARGET.ravel(), PRED.ravel()
    assert float(rl.recall(PRED, TARGET, num_classes=C, average="macro")) == pytest.approx(
        skm.balanced_accuracy_score(t, p))
    assert float(rl.balanced_accuracy(PRED, TARGET, num_classes=C)) != pytest.approx(
        skm.balanced_accuracy_score(t, p))
    assert float(rl.accuracy(PRED, TARGET, num_classes=C)) == pytest.approx(
        skm.accuracy_score(t, p))
    # binary: the one-vs-rest MCC of class 1 is scikit-learn's MCC
    tb, pb = (TARGET == 1).astype(int), (PRED == 1).astype(int)
    mcc = rl.matthews_corrcoef(pb, tb, num_classes=2, average="none")
    assert mcc[1] == pytest.approx(skm.matthews_corrcoef(tb.ravel(), pb.ravel()))
    assert mcc[0] == pytest.approx(mcc[1])


def test_dice_score_is_one_minus_dice_loss():
    """On one-hot predictions with zero smoothing (empty pair: score 1 = loss 0)."""
    onehot = np.eye(C)[PRED]
    for per_sample in (True, False):
        loss = rl.dice_loss(onehot, TARGET, class_axis=-1, activation=None, smooth_nr=0.0,
                            smooth_dr=0.0, per_sample=per_sample, reduction="none")
        score = rl.dice_score(PRED, TARGET, num_classes=C, average="none",
                              per_sample=per_sample, zero_division=1.0)
        np.testing.assert_allclose(score, 1 - np.asarray(loss), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(label_maps)
def test_dice_score_is_one_minus_dice_loss_property(params):
    pred, target, k = _maps(params)
    onehot = np.eye(k)[pred]
    loss = rl.dice_loss(onehot, target, class_axis=-1, activation=None, smooth_nr=0.0,
                        smooth_dr=0.0, per_sample=True, reduction="none")
    score = rl.dice_score(pred, target, num_classes=k, average="none", per_sample=True,
                          zero_division=1.0)
    np.testing.assert_allclose(score, 1 - np.asarray(loss), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------ to_labels


def test_to_labels(backend):
    logits = np.array([[[0.1, 2.0, -1.0], [3.0, 3.0, 0.0]]])  # (1, 2, 3), channels-last
    labels = rl.to_labels(backend(logits))
    assert_matches(labels, [[1, 0]], backend, dtype=np.int64, rtol=0)  # tie -> lowest index
    first = rl.to_labels(backend(np.moveaxis(logits, -1, 1)), class_axis=1)
    assert_matches(first, [[1, 0]], backend, dtype=np.int64, rtol=0)
    probs = np.array([[[0.2], [0.5], [0.9]]])
    assert_matches(rl.to_labels(backend(probs), class_axis=-1, threshold=0.5), [[0, 1, 1]],
                   backend, dtype=np.int64, rtol=0)
    assert_matches(rl.to_labels(backend(probs[..., 0]), class_axis=None, threshold=0.5),
                   [[0, 1, 1]], backend, dtype=np.int64, rtol=0)


def test_to_labels_errors():
    with pytest.raises(ValueError, match="always 0.*threshold"):
        rl.to_labels(np.zeros((2, 1)), class_axis=-1)
    with pytest.raises(ValueError, match="needs a threshold"):
        rl.to_labels(np.zeros((2, 3)), class_axis=None)
    with pytest.raises(ValueError, match="threshold needs one channel"):
        rl.to_labels(np.zeros((2, 3)), threshold=0.5)
    with pytest.raises(ValueError, match="out of range"):
        rl.to_labels(np.zeros((2, 3)), class_axis=2)


# ------------------------------------------------------------------------ errors


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


# ------------------------------------------------------------------------ review fixes


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


def test_signatures_show_metric_options():
    """Review finding 2.7: alpha/beta were hidden in **kwargs."""
    import inspect

    sig = inspect.signature(rl.tversky_score)
    assert sig.parameters["alpha"].default == 0.3 and sig.parameters["beta"].default == 0.7
    assert sig.parameters["alpha"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "kwargs" not in sig.parameters
    assert inspect.signature(rl.fbeta_score).parameters["beta"].default == 1.0
    assert "beta" not in inspect.signature(rl.dice_score).parameters
    assert [p.name for p in sig.parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_ONLY] == ["pred", "target"]
    sig.bind(PRED, TARGET, num_classes=C, alpha=0.1, beta=0.2)
    for fn, names in ((rl.tversky_score, ("alpha", "beta")), (rl.fbeta_score, ("beta",))):
        for name in names:
            assert f"\n    {name} : float, default" in fn.__doc__
    # the options behave as declared
    np.testing.assert_allclose(rl.tversky_score(PRED, TARGET, num_classes=C, average="none"),
                               ref_metric("tversky", *STATS.sum(0).T), equal_nan=True)
    with pytest.raises(TypeError, match="unexpected keyword"):
        rl.fbeta_score(PRED, TARGET, num_classes=C, alpha=0.2)


def test_docstrings_have_returns_sections():
    for obj in (rl.class_statistics, rl.MetricAccumulator.compute, rl.to_labels,
                rl.score_confusion, rl.dice_score, rl.confusion_matrix):
        assert "Returns\n" in obj.__doc__ and "-------" in obj.__doc__, obj.__name__


def test_to_labels_refuses_nan_scores(backend):
    """Review finding 2.8: NaN logits turned into labels silently."""
    logits = np.array([[[0.1, 2.0, -1.0], [3.0, np.nan, 0.0]]])
    if backend.name == "dask":  # lazy: values cannot be looked at, no check
        rl.to_labels(backend(logits))
        return
    with pytest.raises(ValueError, match=r"1 NaN value\(s\), the first at index \(0, 1, 1\)"):
        rl.to_labels(backend(logits))
    probs = np.array([[0.2, np.nan, 0.9, np.nan]])
    with pytest.raises(ValueError, match=r"2 NaN value\(s\), the first at index \(0, 1\)"):
        rl.to_labels(backend(probs), class_axis=None, threshold=0.5)
    got = rl.to_labels(backend(probs), class_axis=None, threshold=0.5, validate=False)
    assert_matches(got, [[0, 0, 1, 0]], backend, rtol=0)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_to_labels_under_jit_does_not_check():
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda s: rl.to_labels(s, class_axis=None, threshold=0.5))
    got = f(jnp.asarray([0.2, jnp.nan, 0.9]))
    np.testing.assert_array_equal(np.asarray(got), [0, 0, 1])
    with pytest.raises(ValueError, match="NaN"):
        rl.to_labels(jnp.asarray([0.2, jnp.nan, 0.9]), class_axis=None, threshold=0.5)
    with pytest.raises(ValueError, match="threshold must not be NaN"):
        rl.to_labels(np.zeros(3), class_axis=None, threshold=float("nan"))
