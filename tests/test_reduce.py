"""Reductions (regionloss._reduce): the class and sample reductions of the losses (class
weights, selected classes, empty batches), the weighted pixel mean, and the NaN-aware class
averages of the metrics (none / macro / micro / weighted, with the zero-division rule).
Hand-computed expectations and hypothesis properties against plain NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import jax_only, nanmean_ref, ref_metric
from conftest import jax_x64 as _jax
from regionloss import _formulas as F
from regionloss._reduce import (
    apply_zero_division,
    average_classes,
    average_samples,
    class_mean,
    nan_sum_count,
    nanmean,
    reduce_losses,
    reduce_samples,
    select_classes,
    weighted_pixel_mean,
)

NAN = float("nan")
# per (sample, class) losses of 2 samples, 3 classes
L = np.array([[0.2, 0.4, 0.9], [0.6, 0.1, 0.5]])


# --------------------------------------------------------------------------- losses


def test_select_classes():
    np.testing.assert_array_equal(select_classes(L, include_background=True), L)
    np.testing.assert_array_equal(select_classes(L, include_background=False), L[:, 1:])
    np.testing.assert_array_equal(select_classes(L[0], include_background=False), L[0, 1:])


def test_class_mean():
    np.testing.assert_allclose(class_mean(np, L), L.mean(-1), rtol=1e-15)
    w = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(class_mean(np, L, weights=w), (L * w).sum(-1) / 6, rtol=1e-15)
    sel = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    np.testing.assert_allclose(class_mean(np, L, selected=sel),
                               [(0.2 + 0.9) / 2, (0.1 + 0.5) / 2], rtol=1e-15)
    np.testing.assert_allclose(class_mean(np, L, weights=w, selected=sel),
                               [(0.2 + 3 * 0.9) / 4, (2 * 0.1 + 3 * 0.5) / 5], rtol=1e-15)
    # a row whose weights all vanish is 0, and a NaN there does not leak in
    none = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    values = np.array([[NAN, 0.4, 0.9], [0.6, NAN, 0.5]])
    np.testing.assert_array_equal(class_mean(np, values, selected=none), [0.0, 0.6])


@jax_only
def test_class_mean_gradient_finite_when_no_class_is_selected():
    jax = _jax()
    jnp = jax.numpy
    sel = jnp.zeros((2, 3))
    g = jax.grad(lambda v: class_mean(jnp, v, selected=sel).sum())(jnp.asarray(L))
    np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_reduce_samples():
    v = np.array([0.5, 1.5, 4.0])
    assert float(reduce_samples(np, v, "mean")) == 2.0
    assert float(reduce_samples(np, v, "sum")) == 6.0
    np.testing.assert_array_equal(reduce_samples(np, v, "none"), v)
    scalar = np.asarray(0.25)
    assert reduce_samples(np, scalar, "mean") is scalar      # a pooled batch: one value
    # an empty batch (N = 0): 0 for both, never 0/0
    empty = np.zeros((0,))
    for reduction in ("mean", "sum"):
        out = reduce_samples(np, empty, reduction)
        assert out.shape == () and float(out) == 0.0


def test_reduce_losses_hand():
    kw = dict(num_classes=3, class_weights=None)
    assert float(reduce_losses(np, L, include_background=True, reduction="mean", **kw)) == \
        pytest.approx(L.mean(), rel=1e-15)
    assert float(reduce_losses(np, L, include_background=True, reduction="sum", **kw)) == \
        pytest.approx(L.mean(1).sum(), rel=1e-15)
    assert float(reduce_losses(np, L, include_background=False, reduction="mean", **kw)) == \
        pytest.approx(L[:, 1:].mean(), rel=1e-15)
    none = reduce_losses(np, L, include_background=False, reduction="none", **kw)
    np.testing.assert_array_equal(none, L[:, 1:])
    # class weights are indexed by class id, background included even when it is dropped
    w = [5.0, 1.0, 3.0]
    got = reduce_losses(np, L, num_classes=3, include_background=False, class_weights=w,
                        reduction="mean")
    assert float(got) == pytest.approx(((0.4 + 3 * 0.9) / 4 + (0.1 + 3 * 0.5) / 4) / 2)
    got = reduce_losses(np, L, num_classes=3, include_background=True, class_weights=w,
                        reduction="sum")
    assert float(got) == pytest.approx(((L * w).sum(1) / 9).sum())
    # 'none' is unweighted
    np.testing.assert_array_equal(
        reduce_losses(np, L, num_classes=3, include_background=True, class_weights=w,
                      reduction="none"), L)
    # a pooled batch, (C,)
    assert float(reduce_losses(np, L[0], include_background=True, reduction="mean", **kw)) == \
        pytest.approx(L[0].mean())


def test_reduce_losses_selected_classes():
    sel = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    kw = dict(num_classes=3, include_background=True, class_weights=None, selected=sel)
    np.testing.assert_array_equal(reduce_losses(np, L, reduction="none", **kw),
                                  [[0.2, 0.4, 0.0], [0.6, 0.0, 0.5]])
    assert float(reduce_losses(np, L, reduction="mean", **kw)) == pytest.approx(
        ((0.2 + 0.4) / 2 + (0.6 + 0.5) / 2) / 2)
    # selection and weights multiply; background dropped from both
    got = reduce_losses(np, L, num_classes=3, include_background=False,
                        class_weights=[1.0, 2.0, 4.0], selected=sel, reduction="mean")
    assert float(got) == pytest.approx((0.4 + 0.5) / 2)


def test_reduce_losses_empty_batch_is_zero():
    empty = np.zeros((0, 3))
    for reduction in ("mean", "sum"):
        for weights in (None, [1.0, 2.0, 3.0]):
            out = reduce_losses(np, empty, num_classes=3, include_background=True,
                                class_weights=weights, reduction=reduction)
            assert out.shape == () and float(out) == 0.0, (reduction, weights)
    assert reduce_losses(np, empty, num_classes=3, include_background=False,
                         class_weights=None, reduction="none").shape == (0, 2)


def test_reduce_losses_checks_class_weights():
    with pytest.raises(ValueError, match="length 3"):
        reduce_losses(np, L, num_classes=3, include_background=True, class_weights=[1.0, 2.0],
                      reduction="mean")
    with pytest.raises(ValueError, match="sum to zero"):
        reduce_losses(np, L, num_classes=3, include_background=False,
                      class_weights=[1.0, 0.0, 0.0], reduction="mean")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 4), st.integers(2, 5), st.booleans(),
       st.sampled_from(["mean", "sum"]))
def test_property_reduce_losses_against_numpy(seed, n, c, include_background, reduction):
    rng = np.random.default_rng(seed)
    values = rng.random((n, c))
    weights = rng.random(c) + 0.1
    got = reduce_losses(np, values, num_classes=c, include_background=include_background,
                        class_weights=weights, reduction=reduction)
    first = 0 if include_background else 1
    per_sample = (values[:, first:] * weights[first:]).sum(1) / weights[first:].sum()
    want = per_sample.sum() if reduction == "sum" else (per_sample.mean() if n else 0.0)
    assert float(got) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_weighted_pixel_mean():
    loss = np.array([[1.0, 2.0, 3.0], [4.0, NAN, 6.0]])
    w = np.array([[1.0, 1.0, 0.5], [2.0, 0.0, 1.0]])
    np.testing.assert_array_equal(weighted_pixel_mean(np, loss, w, reduction="none"),
                                  [[1.0, 2.0, 1.5], [8.0, 0.0, 6.0]])   # NaN selected away
    assert float(weighted_pixel_mean(np, loss, w, reduction="sum")) == 18.5
    assert float(weighted_pixel_mean(np, loss, w, reduction="mean")) == pytest.approx(18.5 / 5.5)
    clean = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert float(weighted_pixel_mean(np, clean, None, reduction="mean")) == 3.5
    # a normaliser per element (cross-entropy's class weight of the reference class)
    norm = np.array([[2.0, 1.0, 1.0], [1.0, 1.0, 3.0]])
    got = weighted_pixel_mean(np, loss, w, reduction="mean", normaliser=norm)
    assert float(got) == pytest.approx(18.5 / (2 + 1 + 0.5 + 2 + 0 + 3))
    got = weighted_pixel_mean(np, clean, None, reduction="mean", normaliser=norm)
    assert float(got) == pytest.approx(21.0 / 9.0)
    # every weight 0, or no pixels at all: 0
    assert float(weighted_pixel_mean(np, loss, np.zeros_like(w), reduction="mean")) == 0.0
    assert float(weighted_pixel_mean(np, np.zeros((0, 3)), None, reduction="mean")) == 0.0
    assert float(weighted_pixel_mean(np, np.zeros((0, 3)), np.zeros((0, 3)),
                                     reduction="mean")) == 0.0


# --------------------------------------------------------------------------- metrics


def test_apply_zero_division_and_nan_helpers():
    raw = np.array([0.5, NAN, 1.0])
    for zd, want in ((NAN, [0.5, NAN, 1.0]), (0.0, [0.5, 0.0, 1.0]), (1.0, [0.5, 1.0, 1.0])):
        value, defined = apply_zero_division(np, raw, zd)
        np.testing.assert_array_equal(value, want)
        np.testing.assert_array_equal(defined, [True, False, True])
    values = np.array([[1.0, NAN, 3.0], [NAN, NAN, NAN]])
    total, count = nan_sum_count(np, values, -1)
    np.testing.assert_array_equal(total, [4.0, 0.0])
    np.testing.assert_array_equal(count, [2, 0])
    np.testing.assert_array_equal(nanmean(np, values, -1), [2.0, NAN])
    np.testing.assert_array_equal(nanmean(np, values, -1, empty=0.0), [2.0, 0.0])
    np.testing.assert_array_equal(nanmean(np, values, 0), [1.0, NAN, 3.0])


# tp, fp, fn, tn of 4 classes: class 3 is absent from reference and prediction
STATS = tuple(np.array(v, dtype=float) for v in (
    [2, 3, 1, 0], [1, 0, 1, 0], [2, 1, 0, 0], [7, 8, 10, 12]))


def test_average_classes_hand():
    dice = F.dice  # the table's dice has signature (tp, fp, fn, tn, *, empty)

    def formula(tp, fp, fn, tn, *, empty):
        return dice(tp, fp, fn, empty=empty)

    kw = dict(count_dtype=np.int64)
    d = [4 / 7, 6 / 7, 2 / 3]               # classes 0-2; class 3 undefined
    v, n = average_classes(np, STATS, formula, average="none", zero_division=NAN, **kw)
    np.testing.assert_allclose(v, d + [NAN], rtol=1e-15)
    np.testing.assert_array_equal(n, [1, 1, 1, 0])
    v, n = average_classes(np, STATS, formula, average="macro", zero_division=NAN, **kw)
    assert float(v) == pytest.approx(sum(d) / 3) and int(n) == 3
    v, _ = average_classes(np, STATS, formula, average="macro", zero_division=1.0, **kw)
    assert float(v) == pytest.approx((sum(d) + 1) / 4)
    v, _ = average_classes(np, STATS, formula, average="macro", zero_division=0.0, **kw)
    assert float(v) == pytest.approx(sum(d) / 4)
    # micro: the formula on the summed statistics, tp 6, fp 2, fn 3
    v, n = average_classes(np, STATS, formula, average="micro", zero_division=NAN, **kw)
    assert float(v) == pytest.approx(12 / 17) and int(n) == 1
    # weighted by reference support tp + fn = 4, 4, 1, 0
    v, n = average_classes(np, STATS, formula, average="weighted", zero_division=NAN, **kw)
    assert float(v) == pytest.approx((4 * d[0] + 4 * d[1] + 1 * d[2]) / 9) and int(n) == 3
    # zero_division=1 enters the weighted mean with weight 0 (no support)
    v, _ = average_classes(np, STATS, formula, average="weighted", zero_division=1.0, **kw)
    assert float(v) == pytest.approx((4 * d[0] + 4 * d[1] + 1 * d[2]) / 9)


def test_average_classes_micro_formula_and_options():
    stats = tuple(s[:3] for s in STATS)
    v, _ = average_classes(np, stats, F.recall, average="micro", zero_division=NAN,
                           count_dtype=np.int64, micro_formula=F.precision)
    assert float(v) == pytest.approx(6 / 8)     # precision of the sums, not recall
    v, _ = average_classes(np, stats, F.fbeta, average="none", zero_division=NAN,
                           count_dtype=np.int64, options={"beta": 2.0})
    np.testing.assert_allclose(v, ref_metric("fbeta", *stats, fbeta=2.0), rtol=1e-14)


def test_average_classes_nothing_defined():
    z = tuple(np.zeros(3) for _ in range(4))
    for average in ("macro", "micro", "weighted"):
        v, n = average_classes(np, z, F.recall, average=average, zero_division=NAN,
                               count_dtype=np.int64)
        assert math.isnan(float(v)) and int(n) == 0, average
        v, _ = average_classes(np, z, F.recall, average=average, zero_division=1.0,
                               count_dtype=np.int64)
        assert float(v) == 1.0, average


def test_average_samples():
    value = np.array([[0.5, NAN], [NAN, NAN], [1.0, 0.25]])
    defined = np.array([[1, 0], [0, 0], [1, 1]])
    v, d = average_samples(np, value, defined)
    np.testing.assert_array_equal(v, [0.75, 0.25])
    np.testing.assert_array_equal(d, [2, 1])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from(["dice", "recall",
                                                                      "precision", "mcc"]),
       st.sampled_from([NAN, 0.0, 1.0]), st.integers(0, 2))
def test_property_averages_against_numpy(seed, c, metric, zd, n):
    rng = np.random.default_rng(seed)
    shape = (n, c) if n else (c,)
    # counts with zeros, so that some classes are undefined
    stats = tuple(rng.integers(0, 4, size=shape) * (rng.random(shape) < 0.7) * 1.0
                  for _ in range(4))
    formula = {"dice": lambda tp, fp, fn, tn, *, empty: F.dice(tp, fp, fn, empty=empty),
               "recall": F.recall, "precision": F.precision, "mcc": F.matthews}[metric]
    ref = ref_metric(metric, *stats)
    ref = np.where(np.isnan(ref), zd, ref)
    kw = dict(zero_division=zd, count_dtype=np.int64)
    none, _ = average_classes(np, stats, formula, average="none", **kw)
    np.testing.assert_allclose(none, ref, rtol=1e-12, atol=1e-12, equal_nan=True)
    macro, n_def = average_classes(np, stats, formula, average="macro", **kw)
    np.testing.assert_allclose(macro, nanmean_ref(ref, -1), rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(n_def, (~np.isnan(ref_metric(metric, *stats))).sum(-1))
    support = stats[0] + stats[2]
    w = np.where(np.isnan(ref), 0.0, support)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted_ref = (np.where(np.isnan(ref), 0.0, ref) * w).sum(-1) / w.sum(-1)
    weighted_ref = np.where(w.sum(-1) == 0, zd, weighted_ref)
    weighted, _ = average_classes(np, stats, formula, average="weighted", **kw)
    np.testing.assert_allclose(weighted, weighted_ref, rtol=1e-12, atol=1e-12, equal_nan=True)
    micro, _ = average_classes(np, stats, formula, average="micro", **kw)
    micro_ref = ref_metric(metric, *(s.sum(-1) for s in stats))
    np.testing.assert_allclose(micro, np.where(np.isnan(micro_ref), zd, micro_ref),
                               rtol=1e-12, atol=1e-12, equal_nan=True)
