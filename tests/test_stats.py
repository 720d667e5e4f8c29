"""Statistics (regionloss._stats): soft statistics against a direct NumPy computation
(default, ``squared``, ``soft_labels``, per-pixel weights, per sample and pooled), their
additivity, and the per-class counts of a confusion matrix."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import jax_only, softmax_np
from conftest import jax_x64 as _jax
from regionloss._stats import SoftStats, class_statistics, soft_statistics


def _direct(p, y, w, axes, *, squared=False, soft_labels=False):
    """tp, fp, fn written out from the definitions, in NumPy (w None: 1)."""
    w = np.ones(p.shape[:-1] + (1,)) if w is None else w
    if squared:
        tp = (w * p * y).sum(axes)
        return tp, (w * p * p).sum(axes) - tp, (w * y * y).sum(axes) - tp
    if soft_labels:
        tp = (w * np.minimum(p, y)).sum(axes)
    else:
        tp = (w * p * y).sum(axes)
    return tp, (w * p).sum(axes) - tp, (w * y).sum(axes) - tp


def _case(seed, n=2, pixels=7, c=3, soft=False, weighted=True):
    rng = np.random.default_rng(seed)
    p = softmax_np(rng.normal(size=(n, pixels, c)) * 2)
    if soft:
        y = rng.dirichlet(np.ones(c), size=(n, pixels))
    else:
        y = np.eye(c)[rng.integers(0, c, size=(n, pixels))]
    w = None
    if weighted:
        w = rng.random((n, pixels, 1)) * (rng.random((n, pixels, 1)) < 0.8)
    return p, y, w


def test_hand_case():
    # one sample, 3 pixels, 2 classes
    p = np.array([[[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]])
    y = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    s = soft_statistics(np, p, y, None, sum_axes=(1,))
    assert isinstance(s, SoftStats) and s.tp.shape == (1, 2)
    np.testing.assert_allclose(s.tp, [[0.9, 1.4]])
    np.testing.assert_allclose(s.fp, [[0.6, 0.1]])      # Σp = 1.5, 1.5
    np.testing.assert_allclose(s.fn, [[0.1, 0.6]])      # Σy = 1, 2
    sq = soft_statistics(np, p, y, None, sum_axes=(1,), squared=True)
    np.testing.assert_allclose(sq.fp, [[0.81 + 0.16 + 0.04 - 0.9, 0.01 + 0.36 + 0.64 - 1.4]])
    np.testing.assert_allclose(sq.fn, [[1 - 0.9, 2 - 1.4]])
    w = np.array([[[1.0], [0.0], [2.0]]])               # pixel 1 out, pixel 2 counts twice
    sw = soft_statistics(np, p, y, w, sum_axes=(1,))
    np.testing.assert_allclose(sw.tp, [[0.9, 1.6]])
    np.testing.assert_allclose(sw.fp, [[1.3 - 0.9, 1.7 - 1.6]])     # Σw·p = 1.3, 1.7
    np.testing.assert_allclose(sw.fn, [[1.0 - 0.9, 2.0 - 1.6]])     # Σw·y = 1, 2


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 9), st.integers(1, 4),
       st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_property_against_numpy(seed, n, pixels, c, soft, weighted, per_sample, squared,
                                soft_labels):
    p, y, w = _case(seed, n, pixels, c, soft=soft, weighted=weighted)
    axes = (1,) if per_sample else (0, 1)
    got = soft_statistics(np, p, y, w, sum_axes=axes, squared=squared, soft_labels=soft_labels)
    want = _direct(p, y, w, axes, squared=squared, soft_labels=soft_labels)
    for name, g, v in zip("tp fp fn".split(), got, want):
        assert g.shape == ((n, c) if per_sample else (c,)), name
        np.testing.assert_allclose(g, v, rtol=1e-12, atol=1e-12, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_property_soft_labels_equals_the_classic_form_on_hard_targets(seed, weighted):
    p, y, w = _case(seed, weighted=weighted)
    classic = soft_statistics(np, p, y, w, sum_axes=(1,))
    soft = soft_statistics(np, p, y, w, sum_axes=(1,), soft_labels=True)
    for a, b in zip(classic, soft):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # with squared=True soft_labels changes nothing (as in MONAI), on soft targets too
    p, y, w = _case(seed, soft=True, weighted=weighted)
    for a, b in zip(soft_statistics(np, p, y, w, sum_axes=(1,), squared=True),
                    soft_statistics(np, p, y, w, sum_axes=(1,), squared=True,
                                    soft_labels=True)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_soft_labels_make_the_target_the_optimum():
    _, y, _ = _case(3, soft=True, weighted=False)
    soft = soft_statistics(np, y, y, None, sum_axes=(1,), soft_labels=True)
    np.testing.assert_allclose(soft.fp, 0.0, atol=1e-12)
    np.testing.assert_allclose(soft.fn, 0.0, atol=1e-12)
    classic = soft_statistics(np, y, y, None, sum_axes=(1,))
    assert np.all(classic.fp > 1e-3)     # Σp·y < Σp for soft targets: not the optimum


def test_statistics_are_additive_and_weights_linear():
    p, y, w = _case(4)
    per = soft_statistics(np, p, y, w, sum_axes=(1,))
    pooled = soft_statistics(np, p, y, w, sum_axes=(0, 1))
    for a, b in zip(per, pooled):
        np.testing.assert_allclose(a.sum(0), b, rtol=1e-12)
    doubled = soft_statistics(np, p, y, 2 * w, sum_axes=(1,))
    for a, b in zip(per, doubled):
        np.testing.assert_allclose(2 * a, b, rtol=1e-12)
    # a 0/1 weight is the same as dropping the pixels
    keep = np.array([[1, 0, 1, 1, 0, 1, 1], [0, 1, 1, 1, 1, 0, 1]], bool)
    masked = soft_statistics(np, p, y, keep[..., None].astype(float), sum_axes=(1,))
    for i in range(2):
        dropped = soft_statistics(np, p[i:i + 1, keep[i]], y[i:i + 1, keep[i]], None,
                                  sum_axes=(1,))
        for a, b in zip(masked, dropped):
            np.testing.assert_allclose(a[i], b[0], rtol=1e-12)


@jax_only
def test_soft_stats_is_a_pytree():
    jax = _jax()
    p, y, w = _case(5)
    s = soft_statistics(jax.numpy, jax.numpy.asarray(p), jax.numpy.asarray(y),
                        jax.numpy.asarray(w), sum_axes=(1,))
    assert len(jax.tree_util.tree_leaves(s)) == 3
    summed = jax.tree_util.tree_map(lambda a, b: a + b, s, s)
    assert isinstance(summed, SoftStats)
    np.testing.assert_allclose(np.asarray(summed.tp), 2 * np.asarray(s.tp), rtol=1e-12)


@jax_only
def test_gradient_of_soft_labels_is_finite_at_ties():
    jax = _jax()
    y = jax.numpy.asarray(_case(6, soft=True, weighted=False)[1])
    g = jax.grad(lambda a: soft_statistics(jax.numpy, a, y, None, sum_axes=(1,),
                                           soft_labels=True).tp.sum())(y)
    assert np.all(np.isfinite(np.asarray(g)))


# --------------------------------------------------------------------------- hard counts


def test_class_statistics_of_a_hand_matrix():
    # rows = reference, columns = prediction
    cm = np.array([[3, 1, 0], [0, 2, 1], [2, 0, 4]])
    tp, fp, fn, tn = class_statistics(cm, float_dtype=np.float64)
    np.testing.assert_array_equal(tp, [3, 2, 4])
    np.testing.assert_array_equal(fp, [2, 1, 1])    # column sums 5, 3, 5 minus tp
    np.testing.assert_array_equal(fn, [1, 1, 2])    # row sums 4, 3, 6 minus tp
    np.testing.assert_array_equal(tn, [7, 9, 6])    # 13 pixels minus the three above
    assert tp.dtype == np.float64
    # a stack of matrices: per matrix
    stack = np.stack([cm, cm.T, np.zeros((3, 3), np.int64)])
    s = class_statistics(stack, float_dtype=np.float32)
    assert all(a.shape == (3, 3) and a.dtype == np.float32 for a in s)
    np.testing.assert_array_equal([a[0] for a in s], [tp, fp, fn, tn])
    np.testing.assert_array_equal([a[1] for a in s], [tp, fn, fp, tn])  # transposed: fp <-> fn
    np.testing.assert_array_equal([a[2] for a in s], np.zeros((4, 3)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(0, 3))
def test_property_class_statistics_count_every_pixel(seed, c, n):
    rng = np.random.default_rng(seed)
    shape = (n, c, c) if n else (c, c)
    cm = rng.integers(0, 50, size=shape)
    tp, fp, fn, tn = class_statistics(cm, float_dtype=np.float64)
    total = cm.sum((-2, -1))[..., None]
    np.testing.assert_array_equal(tp + fp + fn + tn, np.broadcast_to(total, tp.shape))
    np.testing.assert_array_equal(tp + fn, cm.sum(-1))            # reference support
    np.testing.assert_array_equal(tp + fp, cm.sum(-2))            # predicted
    np.testing.assert_array_equal(tp.sum(-1), np.trace(cm, axis1=-2, axis2=-1))
