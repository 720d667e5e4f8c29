"""Confusion-matrix metrics (regionloss.metrics.overlap, .rates, .agreement), table-driven.

Every public metric function is one row of ``regionloss.metrics._table`` and one ``def``
over ``score_labels``; the tests here run over all of them at once (``FUNCS``), so they
are kept together rather than split by module. Expectations are hand-counted (the
tp/fp/fn/tn table ``HAND_STATS`` of ``conftest.py``) and evaluated with plain NumPy
formulas written there, independently of ``regionloss._formulas``.
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
from conftest import HAVE_JAX, assert_matches, label_map_cases, metric_functions, ref_metric
from conftest import label_maps_of as _maps
from conftest import nanmean_ref as _nanmean

NAN = float("nan")


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


FUNCS = metric_functions()


def test_names():
    from regionloss.metrics._table import METRICS

    assert set(FUNCS) <= set(rl.METRIC_NAMES)
    assert rl.METRIC_NAMES == tuple(METRICS)
    for name, spec in METRICS.items():   # every table row has its public function
        assert getattr(rl, spec.function).__name__ == spec.function


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


label_maps = label_map_cases()


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


# ------------------------------------------------------------------------ signatures


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


# ------------------------------------------------------------------------ the other rows
# The table's remaining metrics, run the same way as FUNCS above.

OTHER_FUNCS = {
    "npv": rl.negative_predictive_value, "fpr": rl.false_positive_rate,
    "fnr": rl.false_negative_rate, "fdr": rl.false_discovery_rate,
    "for": rl.false_omission_rate, "informedness": rl.informedness,
    "markedness": rl.markedness, "fowlkes_mallows": rl.fowlkes_mallows_index,
    "prevalence_threshold": rl.prevalence_threshold,
}


def test_every_table_row_is_tested():
    assert set(FUNCS) | set(OTHER_FUNCS) == set(rl.METRIC_NAMES)
    assert not set(FUNCS) & set(OTHER_FUNCS)


@pytest.mark.parametrize("average", ["none", "macro", "micro", "weighted"])
@pytest.mark.parametrize("metric", list(OTHER_FUNCS))
def test_hand_computed_other_metrics(metric, average):
    for per_sample in (False, True):
        for include_background in (True, False):
            for zd in (NAN, 0.0, 1.0):
                kw = dict(num_classes=C, average=average, per_sample=per_sample,
                          include_background=include_background, zero_division=zd)
                got = OTHER_FUNCS[metric](PRED, TARGET, **kw)
                if per_sample:
                    want = ref_score(STATS, metric, average, include_background, zd)
                    if average != "none":
                        want = _nanmean(want, 0)
                else:
                    want = ref_score(STATS.sum(0), metric, average, include_background, zd)
                assert isinstance(got, np.ndarray) and got.dtype == np.float64
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, equal_nan=True,
                                           err_msg=str(kw))
                cm = rl.confusion_matrix(PRED, TARGET, num_classes=C, per_sample=per_sample)
                again = rl.score_confusion(cm, metric=metric, average=average,
                                           include_background=include_background,
                                           zero_division=zd)
                np.testing.assert_array_equal(again, got)


def test_literal_anchors_other_metrics():
    """Pooled class 1 of the hand table: tp 5, fp 2, fn 0, tn 5."""
    kw = dict(num_classes=C, average="none")
    assert rl.negative_predictive_value(PRED, TARGET, **kw)[1] == pytest.approx(1.0)
    assert rl.false_positive_rate(PRED, TARGET, **kw)[1] == pytest.approx(2 / 7)
    assert rl.false_negative_rate(PRED, TARGET, **kw)[1] == 0.0
    assert rl.false_discovery_rate(PRED, TARGET, **kw)[1] == pytest.approx(2 / 7)
    assert rl.false_omission_rate(PRED, TARGET, **kw)[1] == 0.0
    assert rl.informedness(PRED, TARGET, **kw)[1] == pytest.approx(1 + 5 / 7 - 1)
    assert rl.markedness(PRED, TARGET, **kw)[1] == pytest.approx(5 / 7 + 1 - 1)
    assert rl.fowlkes_mallows_index(PRED, TARGET, **kw)[1] == pytest.approx((5 / 7) ** 0.5)
    # TPR 1, FPR 2/7: (sqrt(2/7) - 2/7) / (1 - 2/7)
    assert rl.prevalence_threshold(PRED, TARGET, **kw)[1] == pytest.approx(
        ((2 / 7) ** 0.5 - 2 / 7) / (5 / 7))
    # class 3 (absent everywhere): every rate with tp + fn or tp + fp in its denominator is
    # undefined; the negative rates are defined (tn = 12)
    assert math.isnan(rl.fowlkes_mallows_index(PRED, TARGET, **kw)[3])
    assert rl.false_positive_rate(PRED, TARGET, **kw)[3] == 0.0


@settings(max_examples=40, deadline=None)
@given(label_maps, st.booleans())
def test_identities_other_metrics(params, per_sample):
    pred, target, k = _maps(params)
    kw = dict(num_classes=k, average="none", per_sample=per_sample)
    tpr, tnr = rl.recall(pred, target, **kw), rl.specificity(pred, target, **kw)
    ppv = rl.precision(pred, target, **kw)
    npv = rl.negative_predictive_value(pred, target, **kw)
    close = dict(rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rl.false_positive_rate(pred, target, **kw), 1 - tnr, **close)
    np.testing.assert_allclose(rl.false_negative_rate(pred, target, **kw), 1 - tpr, **close)
    np.testing.assert_allclose(rl.false_discovery_rate(pred, target, **kw), 1 - ppv, **close)
    np.testing.assert_allclose(rl.false_omission_rate(pred, target, **kw), 1 - npv, **close)
    np.testing.assert_allclose(rl.informedness(pred, target, **kw), tpr + tnr - 1, **close)
    np.testing.assert_allclose(rl.markedness(pred, target, **kw), ppv + npv - 1, **close)
    np.testing.assert_allclose(rl.fowlkes_mallows_index(pred, target, **kw),
                               np.sqrt(ppv * tpr), **close)
    for name, fn in OTHER_FUNCS.items():
        v = fn(pred, target, **kw)
        lo = -1 if name in ("informedness", "markedness") else 0
        assert np.all(np.isnan(v) | ((v >= lo - 1e-12) & (v <= 1 + 1e-12))), name
