"""The rest of the loss family: generalized Dice, log-cosh Dice, Lovász, cross-entropy, focal,
compounds. Hand-computed cases, hypothesis properties, the backend matrix, jit/grad and
finite differences, edge cases, errors.

Reference numbers from MONAI, segmentation_models_pytorch, optax and PyTorch live in
``test_loss_family_reference.py``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import (HAVE_JAX, IGNORE_VALUES, assert_same_namespace, finite_difference,
                      ignored_and_kept, logits_and_labels, to_numpy)
from regionloss.losses import lovasz as lovasz_module

NO_SMOOTH = dict(smooth_nr=0.0, smooth_dr=0.0)
jax_only = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# The hand case of test_losses.py: one sample, four pixels, two classes, probabilities.
P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]])
Y = np.array([[0, 1, 1, 1]])
# class 0: tp 0.9, Σp 2.0, V = Σy 1 ; class 1: tp 1.9, Σp 2.0, V = 3


# =========================================================================== generalized Dice


def test_gdl_hand_square_simple_uniform():
    for weighting, w in (("square", [1.0, 1 / 9]), ("simple", [1.0, 1 / 3]), ("uniform", [1, 1])):
        num = 2 * (w[0] * 0.9 + w[1] * 1.9)
        den = w[0] * (2.0 + 1) + w[1] * (2.0 + 3)
        got = rl.generalized_dice_loss(P, Y, activation=None, weighting=weighting, **NO_SMOOTH)
        assert got.shape == ()
        np.testing.assert_allclose(float(got), 1 - num / den, rtol=1e-12, err_msg=weighting)


def test_gdl_absent_class_max_and_zero():
    # three classes, class 2 absent from the reference: raw weight infinite
    p = np.array([[[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]])
    y = np.array([[0, 1, 1]])
    tp = np.array([0.7, 0.8, 0.0])
    psum, vol = p.sum((0, 1)), np.array([1.0, 2.0, 0.0])
    for absent, w2 in (("max", 1.0), ("zero", 0.0)):  # max finite weight: 1/1² (class 0)
        w = np.array([1.0, 0.25, w2])
        want = 1 - 2 * (w * tp).sum() / (w * (psum + vol)).sum()
        got = rl.generalized_dice_loss(p, y, activation=None, absent_class_weight=absent,
                                       **NO_SMOOTH)
        np.testing.assert_allclose(float(got), want, rtol=1e-12, err_msg=absent)
    # 'max' is the maximum of the kept classes: without the background it is 1/2² (class 1)
    w = np.array([0.25, 0.25])
    want = 1 - 2 * (w * tp[1:]).sum() / (w * (psum + vol)[1:]).sum()
    got = rl.generalized_dice_loss(p, y, activation=None, include_background=False, **NO_SMOOTH)
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


def test_gdl_per_sample_and_pooled_and_class_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 4))
    y = rng.integers(0, 4, size=(3, 7))
    none = to_numpy(rl.generalized_dice_loss(x, y, reduction="none"))
    assert none.shape == (3,)
    for n in range(3):
        one = rl.generalized_dice_loss(x[n:n + 1], y[n:n + 1], reduction="none")
        np.testing.assert_allclose(to_numpy(one), none[n:n + 1], rtol=1e-12)
    np.testing.assert_allclose(float(rl.generalized_dice_loss(x, y)), none.mean(), rtol=1e-12)
    np.testing.assert_allclose(float(rl.generalized_dice_loss(x, y, reduction="sum")),
                               none.sum(), rtol=1e-12)
    pooled = rl.generalized_dice_loss(x, y, per_sample=False, reduction="none")
    assert pooled.shape == ()
    flat = rl.generalized_dice_loss(x.reshape(1, 21, 4), y.reshape(1, 21))
    np.testing.assert_allclose(float(pooled), float(flat), rtol=1e-12)
    # class weights multiply the volume weights; uniform weights of 1 change nothing
    np.testing.assert_allclose(
        float(rl.generalized_dice_loss(x, y, class_weights=[1, 1, 1, 1])),
        float(rl.generalized_dice_loss(x, y)), rtol=1e-12)
    cw = rl.generalized_dice_loss(x, y, weighting="uniform", class_weights=[0, 1, 1, 1])
    nobg = rl.generalized_dice_loss(x, y, weighting="uniform", include_background=False)
    np.testing.assert_allclose(float(cw), float(nobg), rtol=1e-12)


def test_gdl_one_class_is_dice_and_empty_is_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9))
    y = (rng.random((2, 9)) < 0.4).astype(np.int64)
    for weighting in ("square", "simple", "uniform"):
        got = rl.generalized_dice_loss(x, y, class_axis=None, activation="sigmoid",
                                       weighting=weighting, **NO_SMOOTH)
        want = rl.dice_loss(x, y, class_axis=None, activation="sigmoid", **NO_SMOOTH)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
    # every pixel ignored: no class present, every weight 0, loss 0 (with or without smoothing)
    y_ign = np.full((2, 9), 255)
    x3 = rng.normal(size=(2, 9, 3))
    for kw in ({}, NO_SMOOTH):
        assert float(rl.generalized_dice_loss(x3, y_ign, ignore_index=255, **kw)) == 0.0


@jax_only
@pytest.mark.parametrize("opts", [dict(), dict(weighting="simple", per_sample=False),
                                  dict(absent_class_weight="zero", include_background=False),
                                  dict(ignore_index=255, squared=True)],
                         ids=lambda o: ",".join(o) or "defaults")
def test_gdl_grad_finite_with_absent_class_and_matches_fd(opts):
    jax = _jax()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 3))
    y = np.array([[0, 1, 1, 0], [0, 0, 0, 0]])  # class 2 absent everywhere, class 1 in sample 0
    if "ignore_index" in opts:
        y[0, 3] = 255

    def f(a):
        return rl.generalized_dice_loss(a, y, **opts)

    value, grad = jax.value_and_grad(f)(jax.numpy.asarray(x))
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
    numeric = finite_difference(lambda a: float(f(a)), x)
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-8)


# =========================================================================== log-cosh Dice


def test_log_cosh_dice_hand_and_variant():
    d = np.array([[1 - 1.8 / 3.0, 1 - 3.8 / 5.0]])  # the Dice losses of the hand case
    # reduction='none': elementwise on the per-(sample, class) Dice losses
    got = to_numpy(rl.log_cosh_dice_loss(P, Y, activation=None, reduction="none", **NO_SMOOTH))
    np.testing.assert_allclose(got, np.log(np.cosh(d)), rtol=1e-12)
    # otherwise log(cosh(.)) of the reduced Dice loss (Jadon 2020, literally), not the mean
    # of the per-class log-cosh values
    mean = rl.log_cosh_dice_loss(P, Y, activation=None, **NO_SMOOTH)
    assert mean.shape == ()
    np.testing.assert_allclose(float(mean), np.log(np.cosh(d.mean())), rtol=1e-12)
    assert not math.isclose(float(mean), np.log(np.cosh(d)).mean(), rel_tol=1e-6)
    # accurate where log(cosh(x)) = log(1 + x²/2 + ...) would round to 0 in float32
    tiny = np.float32(1e-4)
    from regionloss.losses.region import log_cosh

    assert float(log_cosh(np, tiny)) == pytest.approx(5e-9, rel=1e-4)


@pytest.mark.parametrize("opts", [dict(), dict(reduction="sum"), dict(per_sample=False),
                                  dict(include_background=False, class_weights=[0, 1, 3]),
                                  dict(reduction="none", per_sample=False, squared=True),
                                  dict(ignore_index=255, activation="sigmoid",
                                       soft_labels=True)],
                         ids=lambda o: ",".join(o) or "defaults")
def test_log_cosh_dice_is_log_cosh_of_dice_loss_with_the_same_options(opts):
    rng = np.random.default_rng(20)
    x = rng.normal(size=(3, 6, 3)) * 3
    y = rng.integers(0, 3, size=(3, 6))
    y[0, 0] = 255 if "ignore_index" in opts else y[0, 0]
    mask = rng.random((3, 6))
    for m in (None, mask):
        dice = to_numpy(rl.dice_loss(x, y, mask=m, **opts))
        got = rl.log_cosh_dice_loss(x, y, mask=m, **opts)
        assert got.shape == dice.shape
        np.testing.assert_allclose(to_numpy(got), np.log(np.cosh(dice)), rtol=1e-12)


@jax_only
def test_log_cosh_dice_grad_is_tanh_times_dice_grad():
    jax = _jax()
    rng = np.random.default_rng(3)
    x = jax.numpy.asarray(rng.normal(size=(1, 5, 3)))
    y = rng.integers(0, 3, size=(1, 5))
    d = rl.dice_loss(x, y, reduction="none")[0]
    g_lc = jax.grad(lambda a: rl.log_cosh_dice_loss(a, y, reduction="none")[0, 1])(x)
    g_d = jax.grad(lambda a: rl.dice_loss(a, y, reduction="none")[0, 1])(x)
    np.testing.assert_allclose(np.asarray(g_lc), np.tanh(float(d[1])) * np.asarray(g_d),
                               rtol=1e-10, atol=1e-14)


# =========================================================================== Lovász


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


# =========================================================================== cross-entropy


def test_cross_entropy_hand_cases():
    x = np.array([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]])  # (1, 2 pixels, 3 classes)
    y = np.array([[0, 2]])
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    per_pixel = np.array([-logp[0, 0, 0], -logp[0, 1, 2]])
    none = to_numpy(rl.cross_entropy_loss(x, y, reduction="none"))
    np.testing.assert_allclose(none, [per_pixel], rtol=1e-12)
    assert float(rl.cross_entropy_loss(x, y)) == pytest.approx(per_pixel.mean(), rel=1e-12)
    assert float(rl.cross_entropy_loss(x, y, reduction="sum")) == pytest.approx(per_pixel.sum())
    # class weights: pixel weighted by its reference class, normalised by the weights' sum
    w = [2.0, 1.0, 0.5]
    want = (2.0 * per_pixel[0] + 0.5 * per_pixel[1]) / 2.5
    assert float(rl.cross_entropy_loss(x, y, class_weights=w)) == pytest.approx(want, rel=1e-12)
    # label smoothing ε: target (1 − ε) y + ε/C (PyTorch)
    eps = 0.2
    q = (1 - eps) * np.eye(3)[y] + eps / 3
    want = -(q * logp).sum(-1).mean()
    assert float(rl.cross_entropy_loss(x, y, label_smoothing=eps)) == pytest.approx(want)
    # mask weights multiply pixel losses and the normaliser (with class weights: m_i w_{y_i})
    m = np.array([[1.0, 0.25]])
    want = (2.0 * per_pixel[0] + 0.25 * 0.5 * per_pixel[1]) / (2.0 + 0.25 * 0.5)
    got = rl.cross_entropy_loss(x, y, class_weights=w, mask=m)
    assert float(got) == pytest.approx(want, rel=1e-12)
    # a one-hot dense target is the same as the label map; soft targets work too
    np.testing.assert_allclose(float(rl.cross_entropy_loss(x, np.eye(3)[y])),
                               per_pixel.mean(), rtol=1e-12)


def test_binary_cross_entropy_hand_and_layouts():
    x = np.array([[3.0, -2.0, 0.5, 40.0]])
    t = np.array([[1, 0, 0, 0]])
    want = np.array([np.log1p(np.exp(-3.0)), np.log1p(np.exp(-2.0)), np.log1p(np.exp(0.5)),
                     40.0 + np.log1p(np.exp(-40.0))])
    got = to_numpy(rl.cross_entropy_loss(x, t, class_axis=None, activation="sigmoid",
                                         reduction="none"))
    assert got.shape == (1, 4)
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    assert float(rl.cross_entropy_loss(x, t, class_axis=None, activation="sigmoid")) == \
        pytest.approx(want.mean(), rel=1e-12)
    # with a class axis the mean runs over every (pixel, channel) element
    x2 = np.stack([x, -x], axis=-1)  # (1, 4, 2)
    t2 = np.stack([t, 1 - t], axis=-1).astype(np.float64)
    none = to_numpy(rl.cross_entropy_loss(x2, t2, activation="sigmoid", reduction="none"))
    assert none.shape == (1, 4, 2)
    np.testing.assert_allclose(none[..., 1], none[..., 0], rtol=1e-12)
    assert float(rl.cross_entropy_loss(x2, t2, activation="sigmoid")) == \
        pytest.approx(want.mean(), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(cases(), st.integers(0, 2**32 - 1), st.sampled_from(["softmax", "sigmoid"]),
       st.sampled_from(["ce-0", "ce-0.1", "focal"]), st.sampled_from(IGNORE_VALUES))
def test_property_cross_entropy_and_focal_ignore_equal_kept_pixels(case, seed, activation,
                                                                   which, ignore):
    x, y = case
    keep = np.random.default_rng(seed).random(y.shape) < 0.6
    y_ign, kept = ignored_and_kept(y, keep, ignore)
    if not kept.any():  # the all-ignored batch is its own test (loss 0)
        return
    if which == "focal":
        loss = functools.partial(rl.focal_loss, gamma=1.5, activation=activation)
    else:
        loss = functools.partial(rl.cross_entropy_loss, activation=activation,
                                 label_smoothing=float(which[3:]))
    got = loss(x, y_ign, ignore_index=ignore)
    want = loss(x[kept][None], y[kept][None])
    np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
    none = to_numpy(loss(x, y_ign, ignore_index=ignore, reduction="none"))
    assert np.all(none[~kept] == 0.0)


@settings(max_examples=40, deadline=None)
@given(cases(), st.sampled_from(["softmax", "sigmoid"]))
def test_property_focal_gamma_zero_is_cross_entropy(case, activation):
    x, y = case
    focal = rl.focal_loss(x, y, gamma=0.0, activation=activation, reduction="none")
    ce = rl.cross_entropy_loss(x, y, activation=activation, reduction="none")
    np.testing.assert_allclose(to_numpy(focal), to_numpy(ce), rtol=1e-12, atol=1e-15)
    # and gamma > 0 only lowers every pixel's loss
    focal2 = to_numpy(rl.focal_loss(x, y, gamma=2.0, activation=activation, reduction="none"))
    assert np.all(focal2 <= to_numpy(ce) + 1e-12)


def test_focal_hand_cases_and_alpha():
    x = np.array([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]])
    y = np.array([[0, 2]])
    p = _softmax(x)
    pt = np.array([p[0, 0, 0], p[0, 1, 2]])
    per_pixel = -(1 - pt) ** 2 * np.log(pt)
    np.testing.assert_allclose(to_numpy(rl.focal_loss(x, y, reduction="none"))[0], per_pixel,
                               rtol=1e-12)
    alpha = [0.25, 1.0, 2.0]  # softmax: α of the reference class multiplies, no renormalising
    want = (0.25 * per_pixel[0] + 2.0 * per_pixel[1]) / 2
    assert float(rl.focal_loss(x, y, alpha=alpha)) == pytest.approx(want, rel=1e-12)
    gamma = 0.5
    want = np.mean(-(1 - pt) ** gamma * np.log(pt))
    assert float(rl.focal_loss(x, y, gamma=gamma)) == pytest.approx(want, rel=1e-12)
    # sigmoid: Lin et al.'s α_t, α on positives and 1 − α on negatives
    z = np.array([[1.5, -0.5, 2.0]])
    t = np.array([[1, 0, 0]])
    s = 1 / (1 + np.exp(-z[0]))
    pt = np.where(t[0] == 1, s, 1 - s)
    at = np.where(t[0] == 1, 0.25, 0.75)
    want = at * (1 - pt) ** 2 * -np.log(pt)
    got = to_numpy(rl.focal_loss(z, t, class_axis=None, activation="sigmoid", alpha=0.25,
                                 reduction="none"))
    np.testing.assert_allclose(got[0], want, rtol=1e-12)


def test_distribution_losses_are_exact_at_saturated_logits():
    # log of a probability would give log(0) = -inf here; from the logits it is exact
    x = np.array([[[200.0, -200.0], [-200.0, 200.0]]])
    y = np.array([[1, 1]])
    ce = to_numpy(rl.cross_entropy_loss(x, y, reduction="none"))
    np.testing.assert_allclose(ce, [[400.0, 0.0]], rtol=1e-12, atol=1e-300)
    focal = to_numpy(rl.focal_loss(x, y, reduction="none"))
    np.testing.assert_allclose(focal, [[400.0, 0.0]], rtol=1e-12)
    bce = to_numpy(rl.cross_entropy_loss(x[..., 0], y, class_axis=None, activation="sigmoid",
                                         reduction="none"))
    np.testing.assert_allclose(bce, [[0.0, 200.0]], rtol=1e-12, atol=1e-80)
    x32 = x.astype(np.float32)
    assert np.all(np.isfinite(to_numpy(rl.focal_loss(x32, y, activation="sigmoid",
                                                     reduction="none"))))


@jax_only
@pytest.mark.parametrize("loss", [rl.cross_entropy_loss, rl.focal_loss], ids=lambda f: f.__name__)
@pytest.mark.parametrize("opts", [dict(), dict(activation="sigmoid"),
                                  dict(ignore_index=255, class_axis=1)],
                         ids=lambda o: ",".join(o) or "defaults")
def test_distribution_grad_matches_fd_and_all_ignored_is_zero(loss, opts):
    jax = _jax()
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, 3, 3))
    y = rng.integers(0, 3, size=(2, 3))
    if "ignore_index" in opts:
        y[1, 1] = 255

    def f(a):
        return loss(a, y, **opts)

    value, grad = jax.jit(jax.value_and_grad(f))(jax.numpy.asarray(x))
    np.testing.assert_allclose(float(value), float(f(x)), rtol=1e-12)
    numeric = finite_difference(lambda a: float(f(a)), x)
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-6, atol=1e-9)
    y_all = np.full((2, 3), 255)
    v0, g0 = jax.value_and_grad(lambda a: loss(a, y_all, ignore_index=255,
                                               **{k: v for k, v in opts.items()
                                                  if k != "ignore_index"}))(jax.numpy.asarray(x))
    assert float(v0) == 0.0 and np.all(np.asarray(g0) == 0.0)


@jax_only
def test_focal_grad_finite_at_perfect_prediction_for_small_gamma():
    jax = _jax()
    x = jax.numpy.asarray([[[60.0, -60.0], [-60.0, 60.0]]])
    y = np.array([[0, 1]])
    for gamma in (0.5, 1.0, 2.0):
        for activation in ("softmax", "sigmoid"):
            g = jax.grad(lambda a: rl.focal_loss(a, y, gamma=gamma, activation=activation))(x)
            assert np.all(np.isfinite(np.asarray(g))), (gamma, activation)


# =========================================================================== compounds


def test_combine_equals_weighted_sum_and_parts():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 6, 3))
    y = rng.integers(0, 3, size=(2, 6))
    y[0, 0] = 255
    loss = rl.combine((0.7, rl.dice_loss, {"include_background": False}),
                      (1.3, functools.partial(rl.focal_loss, gamma=1.5)),
                      (0.2, rl.lovasz_softmax_loss),
                      ignore_index=255)
    want = (0.7 * float(rl.dice_loss(x, y, include_background=False, ignore_index=255))
            + 1.3 * float(rl.focal_loss(x, y, gamma=1.5, ignore_index=255))
            + 0.2 * float(rl.lovasz_softmax_loss(x, y, ignore_index=255)))
    assert float(loss(x, y)) == pytest.approx(want, rel=1e-12)
    parts = loss.parts(x, y)
    assert list(parts) == ["dice_loss", "focal_loss", "lovasz_softmax_loss"]
    assert float(parts["focal_loss"]) == pytest.approx(float(rl.focal_loss(x, y, gamma=1.5,
                                                                           ignore_index=255)))
    mask = (rng.random((2, 6)) < 0.7).astype(np.float64)
    want_m = (0.7 * float(rl.dice_loss(x, y, include_background=False, ignore_index=255,
                                       mask=mask))
              + 1.3 * float(rl.focal_loss(x, y, gamma=1.5, ignore_index=255, mask=mask))
              + 0.2 * float(rl.lovasz_softmax_loss(x, y, ignore_index=255, mask=mask)))
    assert float(loss(x, y, mask=mask)) == pytest.approx(want_m, rel=1e-12)
    assert "0.7 * dice_loss" in repr(loss)


def _memo_after(loss, x, y):
    """The keys a compound's shared inputs computed, after evaluating every term once."""
    from regionloss.losses._term import prepare_terms

    terms = [t for _, t in loss.terms]
    prepared = prepare_terms(terms, x, y, None)
    for term in terms:
        term.evaluate(prepared)
    return sorted(prepared._memo, key=repr)


def test_combine_computes_statistics_and_log_softmax_once():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 5, 3))
    y = rng.integers(0, 3, size=(2, 5))
    loss = rl.combine((1, rl.dice_loss), (1, rl.jaccard_loss), (1, rl.generalized_dice_loss),
                      (1, rl.cross_entropy_loss), (1, rl.focal_loss))
    want = sum(float(f(x, y)) for f in (rl.dice_loss, rl.jaccard_loss, rl.generalized_dice_loss,
                                        rl.cross_entropy_loss, rl.focal_loss))
    assert float(loss(x, y)) == pytest.approx(want, rel=1e-12)
    # one set of statistics, one log-softmax, and the probabilities are its exp (the
    # memo holds exactly one entry per quantity: nothing was computed twice)
    keys = _memo_after(loss, x, y)
    assert [k[0] for k in keys].count("stats") == 1
    assert ("log_probs", "softmax") in keys and ("probs", "softmax") in keys
    # dice_ce_loss: the same sharing
    from regionloss.losses.compound import CompoundLoss
    from regionloss.losses.pixelwise import CrossEntropyTerm
    from regionloss.losses.region import DiceTerm

    dce = CompoundLoss((1.0, 1.0), (DiceTerm(), CrossEntropyTerm()), ("d", "c"))
    assert float(dce(x, y)) == pytest.approx(float(rl.dice_ce_loss(x, y)), rel=1e-12)
    assert [k[0] for k in _memo_after(dce, x, y)].count("stats") == 1
    # different statistics options: two sets
    two = rl.combine((1, rl.dice_loss), (1, rl.dice_loss, {"squared": True}))
    assert [k[0] for k in _memo_after(two, x, y)].count("stats") == 2


def test_dice_ce_and_dice_focal_route_options():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2, 3, 4, 4))  # channels-first
    y = rng.integers(0, 3, size=(2, 4, 4))
    y[1, 0, 0] = 255
    mask = (rng.random((2, 4, 4)) < 0.8).astype(np.float64)
    common = dict(class_axis=1, ignore_index=255, mask=mask)
    dice_opts = dict(include_background=False, class_weights=[0.0, 1.0, 3.0], per_sample=False,
                     smooth_nr=0.5, smooth_dr=1.0, squared=True)
    got = rl.dice_ce_loss(x, y, **common, **dice_opts, label_smoothing=0.1, dice_weight=0.3,
                          ce_weight=2.0)
    want = (0.3 * float(rl.dice_loss(x, y, **common, **dice_opts))
            + 2.0 * float(rl.cross_entropy_loss(x, y, **common, label_smoothing=0.1)))
    assert float(got) == pytest.approx(want, rel=1e-12)
    got = rl.dice_focal_loss(x, y, **common, **dice_opts, gamma=1.0, alpha=[1.0, 0.5, 0.25],
                             focal_weight=0.5)
    want = (float(rl.dice_loss(x, y, **common, **dice_opts))
            + 0.5 * float(rl.focal_loss(x, y, **common, gamma=1.0, alpha=[1.0, 0.5, 0.25])))
    assert float(got) == pytest.approx(want, rel=1e-12)
    sig = rl.dice_ce_loss(x, y, **common, activation="sigmoid")
    want = (float(rl.dice_loss(x, y, **common, activation="sigmoid"))
            + float(rl.cross_entropy_loss(x, y, **common, activation="sigmoid")))
    assert float(sig) == pytest.approx(want, rel=1e-12)


@jax_only
@pytest.mark.parametrize("make", [
    lambda: functools.partial(rl.dice_ce_loss, ignore_index=255),
    lambda: functools.partial(rl.dice_focal_loss, ignore_index=255, include_background=False),
    lambda: rl.combine((1.0, rl.dice_loss), (0.5, rl.lovasz_softmax_loss),
                       (2.0, functools.partial(rl.focal_loss, activation="sigmoid")),
                       ignore_index=255),
    lambda: rl.combine((1.0, rl.generalized_dice_loss), (1.0, rl.log_cosh_dice_loss),
                       (1.0, rl.lovasz_hinge_loss), (1.0, rl.cross_entropy_loss),
                       ignore_index=255),
], ids=["dice_ce", "dice_focal", "combine_mixed", "combine_family"])
def test_compounds_under_jit_and_grad(make):
    jax = _jax()
    loss = make()
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2, 4, 3))
    y = rng.integers(0, 3, size=(2, 4))
    y[0, 1] = 255
    eager = float(loss(x, y))
    value, grad = jax.jit(jax.value_and_grad(lambda a: loss(a, y)))(jax.numpy.asarray(x))
    assert float(value) == pytest.approx(eager, rel=1e-12)
    numeric = finite_difference(lambda a: float(loss(a, y)), x)
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-8)


def test_combine_shares_activation_only_with_terms_that_have_one():
    rng = np.random.default_rng(21)
    x = rng.normal(size=(2, 5, 3))
    y = rng.integers(0, 3, size=(2, 5))
    # the Lovász hinge takes logits as they are: the shared activation does not reach it
    loss = rl.combine((1.0, rl.dice_loss), (1.0, rl.lovasz_hinge_loss), activation="sigmoid")
    assert not hasattr(loss.terms[1][1], "activation")
    assert loss.terms[1][1].reads_logits
    want = (float(rl.dice_loss(x, y, activation="sigmoid"))
            + float(rl.lovasz_hinge_loss(x, y)))
    assert float(loss(x, y)) == pytest.approx(want, rel=1e-12)
    # the same class axis spelled the same way in every term is fine
    same = rl.combine((1.0, rl.dice_loss, {"class_axis": 1}),
                      (1.0, rl.cross_entropy_loss, {"class_axis": 1}))
    xf = np.moveaxis(x, -1, 1)
    assert float(same(xf, y)) == pytest.approx(float(rl.dice_loss(x, y))
                                               + float(rl.cross_entropy_loss(x, y)), rel=1e-12)


def test_combine_accepts_an_opaque_callable():
    x = np.random.default_rng(15).normal(size=(1, 4, 2))
    y = np.array([[0, 1, 1, 0]])
    extra = lambda a, b: np.sum(a ** 2) * 0 + 1.0  # noqa: E731 - a stand-in for any loss
    loss = rl.combine((1.0, rl.dice_loss), (2.0, extra))
    assert float(loss(x, y)) == pytest.approx(float(rl.dice_loss(x, y)) + 2.0)
    with pytest.raises(ValueError, match="cannot receive it"):
        loss(x, y, mask=np.ones((1, 4)))


@pytest.mark.parametrize("build, match", [
    (lambda: rl.combine(), r"at least one"),
    (lambda: rl.combine(rl.dice_loss), r"must be a tuple"),
    (lambda: rl.combine((1.0, "dice")), r"must be callable"),
    (lambda: rl.combine((-1.0, rl.dice_loss)), r"weight of term 0 must be a finite number >= 0"),
    (lambda: rl.combine((float("nan"), rl.dice_loss)), r"weight of term 0 must be a finite number"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"gamma": 2})), r"dice_loss has no option 'gamma'"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"mask": np.ones(3)})),
     r"mask is an array of each call"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"class_axis": 1}), (1.0, rl.cross_entropy_loss)),
     r"class_axis=1 but cross_entropy_loss has class_axis=-1"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"ignore_index": 255}), (1.0, rl.focal_loss)),
     r"ignore_index"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"class_axis": 1}), class_axis=-1),
     r"sets class_axis=1 but combine\(\) shares class_axis=-1"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"activation": None}), (1.0, rl.cross_entropy_loss)),
     r"probabilities.*logits"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"reduction": "sum"}), (1.0, rl.focal_loss)),
     r"reduce differently"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"reduction": "none"})), r"reduction='none'"),
    (lambda: rl.combine((1.0, rl.focal_loss, {"alpha": 0.25})), r"term 0 \(focal_loss\).*alpha"),
    (lambda: rl.combine((1.0, rl.dice_loss), smooth_nr=1.0), r"shares only"),
    (lambda: rl.combine((1.0, functools.partial(rl.dice_loss, np.zeros(2)))), r"positional"),
    (lambda: rl.combine((1.0, rl.dice_loss), ignore_index=True),
     r"term 0 \(dice_loss\): ignore_index must be an int or None; got True"),
    (lambda: rl.combine((1.0, rl.dice_loss, {"per_sample": 0})), r"per_sample must be True or"),
    # class axes are compared as spelled: the message says so
    (lambda: rl.combine((1.0, rl.dice_loss, {"class_axis": 3}), (1.0, rl.cross_entropy_loss)),
     r"class_axis=3 but cross_entropy_loss has class_axis=-1.*compared as spelled"),
])
def test_combine_conflicts_are_build_time_errors(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


# =========================================================================== backend matrix

FAMILY = {
    "generalized_dice_loss": (rl.generalized_dice_loss, [dict(), dict(class_axis=1,
                              per_sample=False, weighting="simple", ignore_index=255)]),
    "log_cosh_dice_loss": (rl.log_cosh_dice_loss, [dict(), dict(include_background=False,
                           reduction="none")]),
    "lovasz_softmax_loss": (rl.lovasz_softmax_loss, [dict(), dict(class_axis=1, per_sample=False,
                            ignore_index=255, classes="all")]),
    "lovasz_hinge_loss": (rl.lovasz_hinge_loss, [dict(), dict(ignore_index=255,
                          reduction="none")]),
    "cross_entropy_loss": (rl.cross_entropy_loss, [dict(class_weights=[1, 2, 0.5, 1]),
                           dict(class_axis=1, ignore_index=255, label_smoothing=0.1),
                           dict(activation="sigmoid", reduction="none")]),
    "focal_loss": (rl.focal_loss, [dict(alpha=[1, 2, 0.5, 1]),
                   dict(activation="sigmoid", alpha=0.25, ignore_index=255, reduction="none")]),
    "dice_ce_loss": (rl.dice_ce_loss, [dict(ignore_index=255)]),
    "dice_focal_loss": (rl.dice_focal_loss, [dict(class_axis=1)]),
}
MATRIX = [(name, i) for name, (_, opts) in FAMILY.items() for i in range(len(opts))]


def _matrix_inputs(opts):
    rng = np.random.default_rng(16)
    x = rng.normal(size=(2, 4, 5, 4)).astype(np.float32)  # channels-last by default
    y = rng.integers(0, 4, size=(2, 4, 5))
    if opts.get("class_axis") == 1:
        x = np.moveaxis(x, -1, 1).copy()
    if "ignore_index" in opts:
        y = np.where(rng.random(y.shape) < 0.2, 255, y)
    mask = (rng.random((2, 4, 5)) < 0.8).astype(np.float32)
    return x, y, mask


@pytest.mark.parametrize("name, index", MATRIX, ids=[f"{n}-{i}" for n, i in MATRIX])
def test_backend_matrix(backend, name, index):
    loss, option_sets = FAMILY[name]
    opts = option_sets[index]
    x, y, mask = _matrix_inputs(opts)
    want = to_numpy(loss(x, y, **opts))
    got = loss(backend(x), backend(y), **opts)
    assert_same_namespace(got, backend)
    np.testing.assert_allclose(to_numpy(got), want, rtol=2e-5, atol=1e-6)
    got_mask = loss(backend(x), backend(y), mask=backend(mask), **opts)
    np.testing.assert_allclose(to_numpy(got_mask), to_numpy(loss(x, y, mask=mask, **opts)),
                               rtol=2e-5, atol=1e-6)


def test_backend_compound_object(backend):
    x, y, mask = _matrix_inputs({})
    loss = rl.combine((1.0, rl.dice_loss), (0.5, rl.lovasz_softmax_loss),
                      (2.0, rl.cross_entropy_loss))
    got = loss(backend(x), backend(y), mask=backend(mask))
    assert_same_namespace(got, backend)
    np.testing.assert_allclose(to_numpy(got), to_numpy(loss(x, y, mask=mask)), rtol=2e-5)


@jax_only
def test_bf16_logits_compute_in_float32_under_jit():
    jax = _jax()
    jnp = jax.numpy
    x = jnp.asarray(np.random.default_rng(17).normal(size=(2, 6, 3)), dtype=jnp.bfloat16)
    y = jnp.asarray(np.random.default_rng(17).integers(0, 3, size=(2, 6)))
    for loss in (rl.generalized_dice_loss, rl.log_cosh_dice_loss, rl.lovasz_softmax_loss,
                 rl.lovasz_hinge_loss, rl.cross_entropy_loss, rl.focal_loss, rl.dice_ce_loss,
                 rl.dice_focal_loss):
        out = jax.jit(lambda a, b, f=loss: f(a, b))(x, y)
        assert out.dtype == jnp.float32 and np.isfinite(float(out)), loss.__name__


def test_broadcast_mask_equals_full_mask():
    rng = np.random.default_rng(18)
    x = rng.normal(size=(2, 6, 3))
    y = rng.integers(0, 3, size=(2, 6))
    row = (rng.random((1, 6)) < 0.6).astype(np.float64) * 0.5 + 0.25
    full = np.broadcast_to(row, (2, 6)).copy()
    for loss in (rl.generalized_dice_loss, rl.lovasz_softmax_loss, rl.lovasz_hinge_loss,
                 rl.cross_entropy_loss, rl.focal_loss, rl.dice_ce_loss):
        np.testing.assert_allclose(float(loss(x, y, mask=row)), float(loss(x, y, mask=full)),
                                   rtol=1e-12, err_msg=loss.__name__)


@jax_only
@pytest.mark.parametrize("loss", [rl.generalized_dice_loss, rl.log_cosh_dice_loss,
                                  rl.lovasz_softmax_loss, rl.lovasz_hinge_loss,
                                  rl.cross_entropy_loss, rl.focal_loss, rl.dice_ce_loss],
                         ids=lambda f: f.__name__)
def test_vmap_over_samples_equals_per_sample_calls(loss):
    jax = _jax()
    rng = np.random.default_rng(19)
    x = jax.numpy.asarray(rng.normal(size=(3, 5, 4, 3)))
    y = jax.numpy.asarray(rng.integers(0, 3, size=(3, 5, 4)))
    mapped = jax.vmap(lambda a, b: loss(a[None], b[None]))(x, y)
    want = [float(loss(x[i:i + 1], y[i:i + 1])) for i in range(3)]
    np.testing.assert_allclose(np.asarray(mapped), want, rtol=1e-12)


# =========================================================================== errors

X = np.zeros((2, 3, 4))  # (N, pixels, C) channels-last
LAB = np.zeros((2, 3), dtype=np.int64)


@pytest.mark.parametrize("call, match", [
    (lambda: rl.generalized_dice_loss(X, LAB, weighting="cube"), r"weighting must be one of"),
    (lambda: rl.generalized_dice_loss(X, LAB, absent_class_weight="inf"),
     r"absent_class_weight must be one of"),
    (lambda: rl.generalized_dice_loss(X, LAB, class_weights=[1, 1]), r"length 4"),
    (lambda: rl.log_cosh_dice_loss(X, LAB, smooth_dr=-1),
     r"smooth_dr must be a finite number >= 0"),
    (lambda: rl.lovasz_softmax_loss(X, LAB, classes="some"), r"classes must be one of"),
    (lambda: rl.lovasz_softmax_loss(X, LAB + 4), r"label 4"),
    (lambda: rl.lovasz_hinge_loss(X, LAB, per_sample=1), r"per_sample must be True or False"),
    (lambda: rl.lovasz_hinge_loss(X, np.zeros((2, 4)), class_axis=None), r"class_axis=None"),
    (lambda: rl.cross_entropy_loss(X, LAB, activation=None), r"take logits"),
    (lambda: rl.cross_entropy_loss(X, LAB, activation="relu"), r"activation must be one of"),
    (lambda: rl.cross_entropy_loss(X, LAB, label_smoothing=1.5), r"label_smoothing must be"),
    (lambda: rl.cross_entropy_loss(X, LAB, class_weights=[1, 2, 3]), r"length 4"),
    (lambda: rl.cross_entropy_loss(X[..., 0], LAB, class_axis=None), r"softmax.*no class axis"),
    (lambda: rl.focal_loss(X, LAB, alpha=0.25), r"alpha=0.25 is a single number.*softmax"),
    (lambda: rl.focal_loss(X, LAB, alpha=[1, 2]), r"alpha has 2 values.*4 classes"),
    (lambda: rl.focal_loss(X, LAB, activation="sigmoid", alpha=1.5), r"alpha must be a number in \[0, 1\]"),
    (lambda: rl.focal_loss(X, LAB, gamma=-1), r"gamma must be a finite number >= 0"),
    (lambda: rl.focal_loss(X, LAB, reduction="avg"), r"reduction must be one of"),
    (lambda: rl.dice_ce_loss(X, LAB, activation=None), r"take logits"),
    (lambda: rl.dice_ce_loss(X, LAB, reduction="none"), r"reduction must be one of 'mean', 'sum'"),
    (lambda: rl.dice_focal_loss(X, LAB, alpha=0.5), r"single number"),
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
    # bad dense targets and masks reach every loss through the same checks
    (lambda: rl.cross_entropy_loss(X, np.full((2, 3, 4), 255, np.uint8), activation="sigmoid"),
     r"dense target .*\[255, 255\]"),
    (lambda: rl.lovasz_hinge_loss(X, np.full((2, 3, 4), 2.0)), r"dense target .*\[2, 2\]"),
    (lambda: rl.focal_loss(X, LAB, mask=np.full((2, 3), -0.5)), r"mask holds values"),
    (lambda: rl.lovasz_softmax_loss(X, LAB, mask=np.full((2, 3), np.nan)), r"mask .*non-finite"),
    (lambda: rl.generalized_dice_loss(X, LAB, mask=-np.ones((2, 3))), r"mask holds values"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
