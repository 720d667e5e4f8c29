"""Formulas (regionloss._formulas): scores as arithmetic on statistics, tested on statistics.

Hand-computed values, the identities between the formulas (Tversky(½, ½) = Dice,
Tversky(1, 1) = IoU, IoU = D / (2 − D), F1 = Dice, informedness, markedness,
Fowlkes–Mallows, the prevalence threshold's closed form) as hypothesis properties, and the
guarded division whose gradient stays finite at 0/0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import jax_only, ref_metric, torch_only
from conftest import jax_x64 as _jax
from regionloss import _formulas
from regionloss import _formulas as F
from regionloss._kernels import arrays

NAN = float("nan")

# --------------------------------------------------------------------------- by hand
# tp 3, fp 1, fn 2, tn 4: TPR 3/5, TNR 4/5, PPV 3/4, NPV 4/6, FPR 1/5.
TP, FP, FN, TN = 3.0, 1.0, 2.0, 4.0
HAND = {
    "dice": (F.dice, 6 / 9),
    "iou": (F.iou, 3 / 6),
    "precision": (F.precision, 3 / 4),
    "recall": (F.recall, 3 / 5),
    "specificity": (F.specificity, 4 / 5),
    "accuracy": (F.accuracy, 7 / 10),
    "balanced_accuracy": (F.balanced_accuracy, (3 / 5 + 4 / 5) / 2),
    "matthews": (F.matthews, (3 * 4 - 1 * 2) / math.sqrt(4 * 5 * 5 * 6)),
    "negative_predictive_value": (F.negative_predictive_value, 4 / 6),
    "false_positive_rate": (F.false_positive_rate, 1 / 5),
    "false_negative_rate": (F.false_negative_rate, 2 / 5),
    "false_discovery_rate": (F.false_discovery_rate, 1 / 4),
    "false_omission_rate": (F.false_omission_rate, 2 / 6),
    "informedness": (F.informedness, 3 / 5 + 4 / 5 - 1),
    "markedness": (F.markedness, 3 / 4 + 4 / 6 - 1),
    "fowlkes_mallows": (F.fowlkes_mallows, math.sqrt(3 / 4 * 3 / 5)),
    "prevalence_threshold": (F.prevalence_threshold,
                             (math.sqrt(3 / 5 * 1 / 5) - 1 / 5) / (3 / 5 - 1 / 5)),
}


def test_safe_divide_values():
    num = np.array([1.0, 0.0, 3.0, 0.0])
    den = np.array([2.0, 0.0, 0.0, 4.0])
    np.testing.assert_array_equal(_formulas.safe_divide(np, num, den, 7.0), [0.5, 7.0, 7.0, 0.0])
    out = _formulas.safe_divide(np, num, den, float("nan"))
    assert np.isnan(out[1]) and np.isnan(out[2]) and out[0] == 0.5


@jax_only
def test_safe_divide_gradient_is_finite_where_the_denominator_is_zero():
    jax = _jax()
    jnp = jax.numpy
    xp = arrays.namespace(jnp.zeros(1))

    def f(num, den):
        return jnp.sum(_formulas.safe_divide(xp, num, den, 1.0))

    num = jnp.asarray([1.0, 0.0, 3.0])
    den = jnp.asarray([2.0, 0.0, 0.0])
    g_num, g_den = jax.grad(f, argnums=(0, 1))(num, den)
    np.testing.assert_array_equal(np.asarray(g_num), [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(g_den), [-0.25, 0.0, 0.0])
    # the single-where spelling it replaces poisons the gradient with NaN
    g_bad = jax.grad(lambda n, d: jnp.sum(jnp.where(d == 0, 1.0, n / d)), argnums=1)(num, den)
    assert np.isnan(np.asarray(g_bad)).any()


@torch_only
def test_safe_divide_gradient_is_finite_in_torch():
    import torch

    num = torch.tensor([1.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    den = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    _formulas.safe_divide(arrays.namespace(num), num, den, 1.0).sum().backward()
    np.testing.assert_array_equal(num.grad.numpy(), [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(den.grad.numpy(), [-0.25, 0.0, 0.0])


# --------------------------------------------------------------------------- hand values


def _stats(*values):
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def _call(formula, tp, fp, fn, tn, **kw):
    if formula in (F.dice, F.iou):
        return formula(tp, fp, fn, **kw)
    return formula(tp, fp, fn, tn, **kw)


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_values(name):
    formula, want = HAND[name]
    kw = {} if formula in (F.dice, F.iou) else {"empty": NAN}
    got = _call(formula, *_stats(TP, FP, FN, TN), **kw)
    assert got.shape == () and got.dtype == np.float64
    assert float(got) == pytest.approx(want, rel=1e-14)


def test_hand_values_with_weights_and_smoothing():
    tp, fp, fn = _stats(TP, FP, FN)
    assert float(F.tversky(tp, fp, fn, alpha=0.3, beta=0.7)) == pytest.approx(3 / 4.7, rel=1e-14)
    assert float(F.tversky(tp, fp, fn, alpha=1.0, beta=0.0)) == pytest.approx(3 / 4, rel=1e-14)
    assert float(F.tversky(tp, fp, fn, alpha=0.0, beta=1.0)) == pytest.approx(3 / 5, rel=1e-14)
    assert float(F.fbeta(tp, fp, fn, None, beta=2.0, empty=NAN)) == pytest.approx(
        5 * 3 / (5 * 3 + 4 * 2 + 1), rel=1e-14)
    assert float(F.dice(tp, fp, fn, smooth_nr=1.0, smooth_dr=2.0)) == pytest.approx(
        7 / 11, rel=1e-14)
    assert float(F.iou(tp, fp, fn, smooth_nr=0.5, smooth_dr=0.5)) == pytest.approx(
        3.5 / 6.5, rel=1e-14)
    got = F.overlap_index(tp, fp, fn, w_tp=5.0, w_fp=1.0, w_fn=4.0, smooth_nr=1.0,
                          smooth_dr=1.0)
    assert float(got) == pytest.approx(16 / 25, rel=1e-14)


@pytest.mark.parametrize("formula", [F.dice, F.iou,
                                     lambda *s, **kw: F.tversky(*s, alpha=0.3, beta=0.7, **kw)],
                         ids=["dice", "iou", "tversky"])
def test_empty_overlap_is_the_empty_value(formula):
    z = _stats(0.0, 0.0, 0.0)
    assert float(formula(*z)) == 1.0                      # losses: an empty pair is perfect
    assert float(formula(*z, empty=0.0)) == 0.0
    assert math.isnan(float(formula(*z, empty=NAN)))
    # with smoothing the denominator is never zero: s_nr / s_dr
    assert float(formula(*z, smooth_nr=1.0, smooth_dr=2.0)) == 0.5
    # empty reference, something predicted: 0, whatever empty says
    assert float(formula(*_stats(0.0, 2.0, 0.0), empty=NAN)) == 0.0


def test_undefined_rates_are_the_empty_value():
    # no reference positives (tp + fn = 0): recall, FNR, balanced accuracy, informedness,
    # Fowlkes-Mallows and the prevalence threshold are undefined; precision is 0 (fp > 0)
    tp, fp, fn, tn = _stats(0.0, 2.0, 0.0, 5.0)
    for formula in (F.recall, F.false_negative_rate, F.balanced_accuracy, F.informedness,
                    F.fowlkes_mallows, F.prevalence_threshold):
        assert math.isnan(float(formula(tp, fp, fn, tn, empty=NAN))), formula.__name__
        assert float(formula(tp, fp, fn, tn, empty=7.0)) == 7.0, formula.__name__
    assert float(F.precision(tp, fp, fn, tn, empty=NAN)) == 0.0
    assert float(F.specificity(tp, fp, fn, tn, empty=NAN)) == pytest.approx(5 / 7)
    # nothing predicted (tp + fp = 0): precision, FDR and markedness undefined
    tp, fp, fn, tn = _stats(0.0, 0.0, 3.0, 5.0)
    for formula in (F.precision, F.false_discovery_rate, F.markedness):
        assert math.isnan(float(formula(tp, fp, fn, tn, empty=NAN))), formula.__name__
    # TPR = FPR: the prevalence threshold's denominator is zero
    tp, fp, fn, tn = _stats(1.0, 1.0, 1.0, 1.0)
    assert math.isnan(float(F.prevalence_threshold(tp, fp, fn, tn, empty=NAN)))
    assert float(F.prevalence_threshold(tp, fp, fn, tn, empty=0.0)) == 0.0


def test_nan_statistics_give_nan_not_the_empty_value():
    without_tp = {"specificity", "negative_predictive_value", "false_positive_rate",
                  "false_omission_rate"}
    for stats in (_stats(NAN, NAN, NAN, NAN), _stats(NAN, 0.0, 0.0, 1.0)):
        for name, (formula, _) in HAND.items():
            if not math.isnan(stats[1]) and name in without_tp:
                continue
            kw = {} if formula in (F.dice, F.iou) else {"empty": 1.0}
            assert math.isnan(float(_call(formula, *stats, **kw))), (name, stats)


def test_scalar_and_safe_divide_keep_dtype():
    like = np.zeros(3, np.float32)
    s = F.scalar(np, 2.5, like)
    assert s.shape == () and s.dtype == np.float32 and float(s) == 2.5
    out = F.safe_divide(np, np.ones(2, np.float32), np.array([0, 2], np.float32), 9.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [9.0, 0.5])
    # a NaN denominator is not zero: NaN, never the fill value
    assert math.isnan(float(F.safe_divide(np, np.asarray(1.0), np.asarray(NAN), 0.0)))


# --------------------------------------------------------------------------- identities

# statistics: 0 or at least 1e-3 (soft sums), so that the plain product of the reference MCC
# denominator cannot underflow where regionloss's product of square roots does not
counts = hnp.arrays(np.float64, st.integers(1, 6),
                    elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e6)))


def _four(draw_arrays):
    tp, fp, fn, tn = draw_arrays
    n = min(len(a) for a in draw_arrays)
    return tuple(a[:n] for a in (tp, fp, fn, tn))


stats4 = st.tuples(counts, counts, counts, counts).map(_four)


def _close(a, b, **kw):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True, **kw)


@settings(max_examples=100, deadline=None)
@given(stats4)
def test_property_overlap_identities(stats):
    tp, fp, fn, _ = stats
    d = F.dice(tp, fp, fn, empty=NAN)
    j = F.iou(tp, fp, fn, empty=NAN)
    _close(F.tversky(tp, fp, fn, alpha=0.5, beta=0.5, empty=NAN), d)
    _close(F.tversky(tp, fp, fn, alpha=1.0, beta=1.0, empty=NAN), j)
    _close(j, d / (2 - d))
    _close(F.fbeta(tp, fp, fn, None, beta=1.0, empty=NAN), d)       # F1 = Dice
    # against the plain-NumPy formulas of conftest
    _close(d, ref_metric("dice", tp, fp, fn, None))
    _close(j, ref_metric("iou", tp, fp, fn, None))
    for v in (d, j):
        assert np.all(np.isnan(v) | ((v >= 0) & (v <= 1)))


@settings(max_examples=100, deadline=None)
@given(stats4, st.floats(0.05, 5.0), st.floats(0.0, 3.0), st.floats(0.0, 3.0))
def test_property_asymmetric_weights(stats, beta, a, b):
    tp, fp, fn, _ = stats
    b2 = beta * beta
    # F-beta = weights (1 + β², 1, β²) = Tversky with α = 1/(1+β²), β' = β²/(1+β²)
    fb = F.fbeta(tp, fp, fn, None, beta=beta, empty=NAN)
    _close(fb, F.overlap_index(tp, fp, fn, w_tp=1 + b2, w_fp=1.0, w_fn=b2, empty=NAN))
    _close(fb, F.tversky(tp, fp, fn, alpha=1 / (1 + b2), beta=b2 / (1 + b2), empty=NAN))
    _close(fb, ref_metric("fbeta", tp, fp, fn, None, fbeta=beta))
    # Tversky: alpha weights false positives, beta false negatives (swap both: same index)
    if a + b > 0:
        t = F.tversky(tp, fp, fn, alpha=a, beta=b, empty=NAN)
        _close(t, F.tversky(tp, fn, fp, alpha=b, beta=a, empty=NAN))
        _close(t, ref_metric("tversky", tp, fp, fn, None, alpha=a, beta=b))


@settings(max_examples=100, deadline=None)
@given(stats4)
def test_property_rates_and_their_combinations(stats):
    tp, fp, fn, tn = stats
    kw = {"empty": NAN}
    tpr, tnr = F.recall(tp, fp, fn, tn, **kw), F.specificity(tp, fp, fn, tn, **kw)
    ppv = F.precision(tp, fp, fn, tn, **kw)
    npv = F.negative_predictive_value(tp, fp, fn, tn, **kw)
    fpr = F.false_positive_rate(tp, fp, fn, tn, **kw)
    for name, value in (("recall", tpr), ("specificity", tnr), ("precision", ppv),
                        ("accuracy", F.accuracy(tp, fp, fn, tn, **kw)),
                        ("balanced_accuracy", F.balanced_accuracy(tp, fp, fn, tn, **kw)),
                        ("mcc", F.matthews(tp, fp, fn, tn, **kw))):
        _close(value, ref_metric(name, tp, fp, fn, tn), err_msg=name)
    # complements
    _close(fpr, 1 - tnr)
    _close(F.false_negative_rate(tp, fp, fn, tn, **kw), 1 - tpr)
    _close(F.false_discovery_rate(tp, fp, fn, tn, **kw), 1 - ppv)
    _close(F.false_omission_rate(tp, fp, fn, tn, **kw), 1 - npv)
    # informedness = TPR + TNR - 1, markedness = PPV + NPV - 1, FM = sqrt(PPV TPR)
    _close(F.informedness(tp, fp, fn, tn, **kw), tpr + tnr - 1)
    _close(F.markedness(tp, fp, fn, tn, **kw), ppv + npv - 1)
    _close(F.fowlkes_mallows(tp, fp, fn, tn, **kw), np.sqrt(ppv * tpr))
    # the prevalence threshold's closed form, where TPR != FPR
    with np.errstate(divide="ignore", invalid="ignore"):
        pt = (np.sqrt(tpr * fpr) - fpr) / (tpr - fpr)
    pt = np.where(tpr == fpr, NAN, pt)
    _close(F.prevalence_threshold(tp, fp, fn, tn, **kw), pt)
    mcc = F.matthews(tp, fp, fn, tn, **kw)
    assert np.all(np.isnan(mcc) | ((mcc >= -1 - 1e-12) & (mcc <= 1 + 1e-12)))


def test_matthews_does_not_overflow_float32():
    big = np.float32(3e9)   # (tp + fp)(tp + fn)(tn + fp)(tn + fn) ~ 1e39 > float32 max
    tp, fp, fn, tn = (np.asarray(v, np.float32) for v in (big, big / 3, big / 5, big))
    got = F.matthews(tp, fp, fn, tn, empty=NAN)
    want = ref_metric("mcc", *(np.float64(v) for v in (tp, fp, fn, tn)))
    assert got.dtype == np.float32 and np.isfinite(got)
    assert float(got) == pytest.approx(float(want), rel=1e-5)


# --------------------------------------------------------------------------- gradients


@jax_only
@pytest.mark.parametrize("name", ["dice", "iou", "tversky"])
@pytest.mark.parametrize("point", ["empty", "perfect", "empty_reference"])
def test_overlap_gradients_are_finite_at_the_edges(name, point):
    jax = _jax()
    jnp = jax.numpy
    formula = {"dice": F.dice, "iou": F.iou,
               "tversky": lambda *s, **kw: F.tversky(*s, alpha=0.3, beta=0.7, **kw)}[name]
    stats = {"empty": [0.0, 0.0, 0.0], "perfect": [4.0, 0.0, 0.0],
             "empty_reference": [0.0, 2.0, 0.0]}[point]
    for smooth in (0.0, 1e-5):
        grads = jax.grad(lambda s: formula(s[0], s[1], s[2], smooth_nr=smooth,
                                           smooth_dr=smooth), )(jnp.asarray(stats))
        assert np.all(np.isfinite(np.asarray(grads))), (name, point, smooth, grads)
    if point == "empty":   # 0/0 without smoothing: the fill value, and a zero gradient
        g = jax.grad(lambda s: formula(s[0], s[1], s[2]))(jnp.asarray(stats))
        np.testing.assert_array_equal(np.asarray(g), 0.0)
