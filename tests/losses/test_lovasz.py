"""Lovász losses (regionloss.losses.lovasz): the softmax and hinge forms against Berman et
al.'s definition by sets, class selection, layouts, ignore_index and masks, jit and
gradients, the backend matrix, errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import HAND_LABELS as Y
from conftest import HAND_PROBS as P
from conftest import (IGNORE_VALUES, NO_SMOOTH, check_loss_on_backend, finite_difference,
                      ignored_and_kept, jax_only, logits_and_labels, to_numpy)
from conftest import jax_x64 as _jax
from conftest import softmax_np as _softmax
from regionloss.losses import lovasz as lovasz_module


def _lovasz_brute(errors, truth, weight=None):
    """Berman et al.'s definition by sets: Σ_k e_(k) (Δ_J(M_k) − Δ_J(M_{k−1})), pixels of
    weight 0 dropped first. Written from the paper, with explicit sets (no cumsums)."""
    errors, truth = np.asarray(errors, float), np.asarray(truth, bool)
    if weight is not None:
        keep = np.asarray(weight) > 0
        errors, truth = errors[keep], truth[keep]
    order = np.argsort(-errors, kind="stable")
    gt = set(np.flatnonzero(truth))

    def delta(m):
        union = gt | m
        return 0.0 if not union else 1 - len(gt - m) / len(union)

    total, previous, chosen = 0.0, 0.0, set()
    for i in order:
        chosen.add(int(i))
        current = delta(chosen)
        total += errors[i] * (current - previous)
        previous = current
    return total


def test_lovasz_softmax_hand_case():
    # one sample, 4 pixels, 2 classes, probabilities
    errors0 = np.abs((Y[0] == 0) - P[0, :, 0])
    errors1 = np.abs((Y[0] == 1) - P[0, :, 1])
    l0 = _lovasz_brute(errors0, Y[0] == 0)
    l1 = _lovasz_brute(errors1, Y[0] == 1)
    # by hand for class 1: errors [.1, .2, .6, .3] on y [0, 1, 1, 1]; sorted .6(y) .3(y) .2(y)
    # .1(n): Δ = 1/3, 2/3, 1, 1 -> .6/3 + .3/3 + .2/3 + 0 = 0.3666...
    assert l1 == pytest.approx(1.1 / 3, rel=1e-12)
    got = to_numpy(rl.lovasz_softmax_loss(P, Y, activation=None, reduction="none"))
    np.testing.assert_allclose(got, [[l0, l1]], rtol=1e-12)
    assert float(rl.lovasz_softmax_loss(P, Y, activation=None)) == pytest.approx((l0 + l1) / 2)


def cases(n_max=3, p_max=7, c_min=2, c_max=4):
    return logits_and_labels(n_max=n_max, pixels_max=p_max, c_min=c_min, c_max=c_max, bound=5.0)


@settings(max_examples=40, deadline=None)
@given(cases(), st.booleans())
def test_property_lovasz_is_one_minus_iou_on_hard_predictions(case, per_sample):
    x, y = case
    c = x.shape[-1]
    hard = np.eye(c)[np.argmax(x, -1)]
    got = to_numpy(rl.lovasz_softmax_loss(hard, y, activation=None, per_sample=per_sample,
                                          reduction="none"))
    iou = to_numpy(rl.jaccard_loss(hard, y, activation=None, per_sample=per_sample,
                                   reduction="none", **NO_SMOOTH))
    counts = (np.eye(c)[y].sum(1) if per_sample else np.eye(c)[y].sum((0, 1)))
    present = counts > 0
    np.testing.assert_allclose(got, np.where(present, iou, 0.0), atol=1e-12)
    mean = float(rl.lovasz_softmax_loss(hard, y, activation=None, per_sample=per_sample))
    per_row = np.atleast_2d(np.where(present, iou, 0.0)).sum(-1) / np.atleast_2d(present).sum(-1)
    assert mean == pytest.approx(per_row.mean(), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(cases(n_max=2), st.integers(0, 2**32 - 1), st.booleans(),
       st.sampled_from(["present", "all"]), st.sampled_from(IGNORE_VALUES))
def test_property_lovasz_ignore_equals_dropping_pixels(case, seed, hinge, classes, ignore):
    x, y = case
    keep = np.random.default_rng(seed).random(y.shape) < 0.6
    y_ign, kept = ignored_and_kept(y, keep, ignore)
    if hinge:
        loss = functools.partial(rl.lovasz_hinge_loss, classes=classes)
    else:
        loss = functools.partial(rl.lovasz_softmax_loss, classes=classes)
    got = to_numpy(loss(x, y_ign, ignore_index=ignore, reduction="none"))
    # per sample: each sample's kept pixels on their own (a sample may keep none)
    dropped = np.concatenate([to_numpy(loss(x[n:n + 1, kept[n]], y[n:n + 1, kept[n]],
                                            reduction="none")) for n in range(len(x))])
    np.testing.assert_allclose(got, dropped, rtol=1e-12, atol=1e-15)
    # a 0/1 mask is the same as ignore_index (float cardinalities, same numbers)
    masked = to_numpy(loss(x, y, mask=kept.astype(float), reduction="none"))
    np.testing.assert_allclose(masked, dropped, rtol=1e-12, atol=1e-15)
    # ... and so is a mask next to ignore_index (the weights multiply)
    both = to_numpy(loss(x, y_ign, ignore_index=ignore, mask=keep.astype(float),
                         reduction="none"))
    np.testing.assert_allclose(both, dropped, rtol=1e-12, atol=1e-15)


def test_lovasz_ignore_index_a_class_id_hand_case():
    # Berman et al.'s loss on the kept pixels, by sets: ignoring class 0 drops its pixels
    x = np.array([[[2.0, 0.5, -1.0], [0.1, 0.3, 0.2], [-0.5, 1.5, 0.0], [0.0, 0.2, 1.0]]])
    y = np.array([[0, 1, 1, 2]])
    kept = y[0] != 0
    p = _softmax(x)[0][kept]
    yk = y[0][kept]
    want = [_lovasz_brute(np.abs((yk == k) - p[:, k]), yk == k) for k in range(3)]
    got = to_numpy(rl.lovasz_softmax_loss(x, y, ignore_index=0, classes="all",
                                          reduction="none"))
    np.testing.assert_allclose(got, [want], rtol=1e-12)
    hinge_want = [_lovasz_brute(np.maximum(1 - x[0][kept][:, k] * (2 * (yk == k) - 1), 0),
                                yk == k) for k in range(3)]
    hinge = to_numpy(rl.lovasz_hinge_loss(x, y, ignore_index=0, reduction="none"))
    np.testing.assert_allclose(hinge, [hinge_want], rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(cases(n_max=2, c_max=3), st.booleans())
def test_property_lovasz_matches_the_set_definition(case, per_sample):
    x, y = case
    n, p, c = x.shape
    probs = _softmax(x)
    got = to_numpy(rl.lovasz_softmax_loss(x, y, classes="all", per_sample=per_sample,
                                          reduction="none"))
    rows = [(slice(i, i + 1),) for i in range(n)] if per_sample else [(slice(None),)]
    want = np.array([[_lovasz_brute(np.abs((y[r] == k) - probs[r][..., k]).ravel(),
                                    (y[r] == k).ravel()) for k in range(c)] for r in rows])
    np.testing.assert_allclose(np.atleast_2d(got), want, rtol=1e-10, atol=1e-13)
    # the hinge: errors 1 − x·s on logits, clipped at 0
    hinge = to_numpy(rl.lovasz_hinge_loss(x, y, per_sample=per_sample, reduction="none"))
    want_h = np.array([[_lovasz_brute(np.maximum(1 - x[r][..., k] * (2 * (y[r] == k) - 1), 0)
                                      .ravel(), (y[r] == k).ravel())
                        for k in range(c)] for r in rows])
    np.testing.assert_allclose(np.atleast_2d(hinge), want_h, rtol=1e-10, atol=1e-13)


def test_lovasz_present_and_all_and_class_selection():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 3))
    y = np.array([[0, 0, 1, 1, 0, 1], [0, 2, 2, 0, 0, 0]])  # sample 0 lacks 2, sample 1 lacks 1
    none_all = to_numpy(rl.lovasz_softmax_loss(x, y, classes="all", reduction="none"))
    none_present = to_numpy(rl.lovasz_softmax_loss(x, y, reduction="none"))
    present = np.array([[1, 1, 0], [1, 0, 1]], bool)
    np.testing.assert_allclose(none_present, np.where(present, none_all, 0.0), rtol=1e-12)
    assert np.all(none_all[~present] > 0)  # an absent class costs its largest probability
    np.testing.assert_allclose(float(rl.lovasz_softmax_loss(x, y)),
                               (none_all[present].reshape(2, 2).mean(1)).mean(), rtol=1e-12)
    np.testing.assert_allclose(float(rl.lovasz_softmax_loss(x, y, classes="all")),
                               none_all.mean(), rtol=1e-12)
    nobg = rl.lovasz_softmax_loss(x, y, include_background=False)
    np.testing.assert_allclose(float(nobg), (none_all[0, 1] + none_all[1, 2]) / 2, rtol=1e-12)
    weighted = rl.lovasz_softmax_loss(x, y, classes="all", class_weights=[1.0, 2.0, 1.0])
    np.testing.assert_allclose(float(weighted),
                               ((none_all * [1, 2, 1]).sum(1) / 4).mean(), rtol=1e-12)
    assert rl.lovasz_softmax_loss(x, y, per_sample=False, reduction="none").shape == (3,)


def test_lovasz_hinge_layouts():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 5)) * 2
    t = (rng.random((3, 4, 5)) < 0.4).astype(np.float32)
    # no class axis: each sample flattened, then the mean over samples
    per_sample = to_numpy(rl.lovasz_hinge_loss(x, t, class_axis=None, reduction="none"))
    assert per_sample.shape == (3, 1)
    for n in range(3):
        want = _lovasz_brute(np.maximum(1 - x[n] * (2 * t[n] - 1), 0).ravel(), t[n].ravel())
        assert per_sample[n, 0] == pytest.approx(want, rel=1e-12)
    pooled = rl.lovasz_hinge_loss(x, t, class_axis=None, per_sample=False)
    want = _lovasz_brute(np.maximum(1 - x * (2 * t - 1), 0).ravel(), t.ravel())
    assert float(pooled) == pytest.approx(want, rel=1e-12)
    # a class axis: each channel its own problem, averaged over channels
    chan = to_numpy(rl.lovasz_hinge_loss(x, t, class_axis=1, reduction="none"))
    assert chan.shape == (3, 4)
    single = rl.lovasz_hinge_loss(x[:, 2], t[:, 2], class_axis=None, reduction="none")
    np.testing.assert_allclose(chan[:, 2], to_numpy(single)[:, 0], rtol=1e-12)
    np.testing.assert_allclose(float(rl.lovasz_hinge_loss(x, t, class_axis=1)), chan.mean(),
                               rtol=1e-12)
    # an integer 0/1 mask reads the same as the float one
    np.testing.assert_allclose(to_numpy(rl.lovasz_hinge_loss(x, t.astype(np.int64),
                                                             class_axis=None)),
                               to_numpy(rl.lovasz_hinge_loss(x, t, class_axis=None)))


def test_take_along_fallback_agrees():
    rng = np.random.default_rng(6)
    values = rng.normal(size=(3, 4, 9))
    order = np.argsort(-values, axis=-1, kind="stable")
    np.testing.assert_array_equal(lovasz_module.take_along_last_flat(np, values, order),
                                  np.take_along_axis(values, order, axis=-1))


def test_lovasz_exact_integer_counts_equal_float_counts():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 30, 3))
    y = rng.integers(0, 3, size=(2, 30))
    y[0, :5] = 255
    exact = rl.lovasz_softmax_loss(x, y, ignore_index=255, reduction="none")  # integer counts
    floats = rl.lovasz_softmax_loss(x, np.where(y == 255, 0, y),
                                    mask=(y != 255).astype(np.float64), reduction="none")
    np.testing.assert_allclose(to_numpy(exact), to_numpy(floats), rtol=1e-14)


@jax_only
@pytest.mark.parametrize("loss", [rl.lovasz_softmax_loss, rl.lovasz_hinge_loss],
                         ids=lambda f: f.__name__)
def test_lovasz_all_ignored_is_zero_with_zero_grad_and_jit(loss):
    jax = _jax()
    x = jax.numpy.asarray(np.random.default_rng(8).normal(size=(2, 5, 3)))
    y = np.full((2, 5), 255)
    for classes, per_sample in (("present", True), ("all", False)):
        f = jax.jit(jax.value_and_grad(
            lambda a, c=classes, s=per_sample: loss(a, y, ignore_index=255, classes=c,
                                                    per_sample=s)))
        value, grad = f(x)
        assert float(value) == 0.0
        assert np.all(np.asarray(grad) == 0.0)


@jax_only
@pytest.mark.parametrize("loss", [rl.lovasz_softmax_loss, rl.lovasz_hinge_loss],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("opts", [dict(), dict(per_sample=False, classes="all"),
                                  dict(ignore_index=255, include_background=False)],
                         ids=lambda o: ",".join(o) or "defaults")
def test_lovasz_jit_and_grad_match_eager_and_fd(loss, opts):
    jax = _jax()
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 5, 3))
    y = rng.integers(0, 3, size=(2, 5))
    y[0, 2] = 255 if "ignore_index" in opts else y[0, 2]

    def f(a):
        return loss(a, y, **opts)

    eager = f(x)
    value, grad = jax.jit(jax.value_and_grad(f))(jax.numpy.asarray(x))
    np.testing.assert_allclose(float(value), float(eager), rtol=1e-12)
    numeric = finite_difference(lambda a: float(f(a)), x)  # piecewise linear: no ties here
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------- backends, vmap


FAMILY = {
    "lovasz_softmax_loss": (rl.lovasz_softmax_loss, [dict(), dict(class_axis=1, per_sample=False,
                            ignore_index=255, classes="all")]),
    "lovasz_hinge_loss": (rl.lovasz_hinge_loss, [dict(), dict(ignore_index=255,
                          reduction="none")]),
}
MATRIX = [(name, i) for name, (_, opts) in FAMILY.items() for i in range(len(opts))]


@pytest.mark.parametrize("name, index", MATRIX, ids=[f"{n}-{i}" for n, i in MATRIX])
def test_backend_matrix(backend, name, index):
    loss, option_sets = FAMILY[name]
    opts = option_sets[index]
    check_loss_on_backend(loss, opts, backend, seed=16)


@jax_only
@pytest.mark.parametrize("loss", [rl.lovasz_softmax_loss, rl.lovasz_hinge_loss],
                         ids=lambda f: f.__name__)
def test_vmap_over_samples_equals_per_sample_calls(loss):
    jax = _jax()
    rng = np.random.default_rng(19)
    x = jax.numpy.asarray(rng.normal(size=(3, 5, 4, 3)))
    y = jax.numpy.asarray(rng.integers(0, 3, size=(3, 5, 4)))
    mapped = jax.vmap(lambda a, b: loss(a[None], b[None]))(x, y)
    want = [float(loss(x[i:i + 1], y[i:i + 1])) for i in range(3)]
    np.testing.assert_allclose(np.asarray(mapped), want, rtol=1e-12)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, match", [
    (lambda: rl.lovasz_softmax_loss(X, LAB, classes="some"), r"classes must be one of"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
