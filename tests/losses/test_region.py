"""Region losses (regionloss.losses.region): Dice, Jaccard (IoU), Tversky, Focal Tversky,
asymmetric and log-cosh Dice. Hand-computed cases, hypothesis properties, gradients, the
backend matrix, errors of their own options.

Reference numbers from MONAI, segmentation_models_pytorch and optax live in
``test_reference.py``; sharded training in ``test_sharded.py``; input alignment and the
checks every loss shares in ``tests/test_inputs.py`` and ``tests/test_validate.py``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import HAND_LABELS as Y
from conftest import HAND_PROBS as P
from conftest import (IGNORE_VALUES, NO_SMOOTH, assert_same_namespace, check_loss_on_backend,
                      finite_difference, ignored_and_kept, jax_only, logits_and_labels,
                      loss_matrix_inputs, to_numpy)
from conftest import jax_x64 as _jax

LOSSES = [rl.dice_loss, rl.jaccard_loss, rl.tversky_loss, rl.focal_tversky_loss]

# --------------------------------------------------------------------------- a hand case
# HAND_PROBS / HAND_LABELS of conftest: one sample, four pixels, two classes, probabilities.
# class 0: tp 0.9, sum p 2.0, sum y 1 -> fp 1.1, fn 0.1
# class 1: tp 1.9, sum p 2.0, sum y 3 -> fp 0.1, fn 1.1
HAND = {
    "dice": [1 - 1.8 / 3.0, 1 - 3.8 / 5.0],
    "jaccard": [1 - 0.9 / 2.1, 1 - 1.9 / 3.1],
    "tversky": [1 - 0.9 / 1.3, 1 - 1.9 / 2.7],  # alpha 0.3 on fp, beta 0.7 on fn
    "squared_dice": [1 - 1.8 / 2.3, 1 - 3.8 / 4.3],  # sum p^2 = 1.3 for both classes
}


def _none(loss, pred=P, target=Y, **kw):
    kw.setdefault("activation", None)
    return to_numpy(loss(pred, target, reduction="none", **{**NO_SMOOTH, **kw}))


def test_hand_dice_jaccard_tversky():
    np.testing.assert_allclose(_none(rl.dice_loss), [HAND["dice"]], rtol=1e-12)
    np.testing.assert_allclose(_none(rl.jaccard_loss), [HAND["jaccard"]], rtol=1e-12)
    np.testing.assert_allclose(_none(rl.iou_loss), [HAND["jaccard"]], rtol=1e-12)
    np.testing.assert_allclose(_none(rl.tversky_loss), [HAND["tversky"]], rtol=1e-12)


def test_hand_tversky_alpha_weights_false_positives():
    # alpha=1, beta=0 counts only false positives: class 0 has fp 1.1 -> 0.9 / 2.0
    got = _none(rl.tversky_loss, alpha=1.0, beta=0.0)
    np.testing.assert_allclose(got, [[1 - 0.9 / 2.0, 1 - 1.9 / 2.0]], rtol=1e-12)
    got = _none(rl.tversky_loss, alpha=0.0, beta=1.0)  # only false negatives
    np.testing.assert_allclose(got, [[1 - 0.9 / 1.0, 1 - 1.9 / 3.0]], rtol=1e-12)


def test_hand_focal_tversky_is_per_class_before_the_mean():
    per_class = np.array(HAND["tversky"]) ** 0.75
    np.testing.assert_allclose(_none(rl.focal_tversky_loss), [per_class], rtol=1e-12)
    mean = rl.focal_tversky_loss(P, Y, activation=None, **NO_SMOOTH)
    np.testing.assert_allclose(float(mean), per_class.mean(), rtol=1e-12)
    # the "exponent after the mean" variant of other libraries differs and is spelled so:
    after = rl.tversky_loss(P, Y, activation=None, **NO_SMOOTH) ** 0.75
    assert not math.isclose(float(after), per_class.mean(), rel_tol=1e-6)


def test_hand_squared_and_soft_labels():
    np.testing.assert_allclose(_none(rl.dice_loss, squared=True), [HAND["squared_dice"]], rtol=1e-12)
    # soft_labels equals the classic formula on hard targets
    np.testing.assert_allclose(_none(rl.dice_loss, soft_labels=True), [HAND["dice"]], rtol=1e-12)


def test_hand_smoothing():
    got = _none(rl.dice_loss, smooth_nr=1.0, smooth_dr=2.0)
    np.testing.assert_allclose(got, [[1 - 2.8 / 5.0, 1 - 4.8 / 7.0]], rtol=1e-12)


def test_hand_ignore_index_and_mask():
    y = Y.copy()
    y[0, 3] = 255  # pixel 3 leaves every sum
    # class 0: tp 0.9, sum p 1.7, sum y 1 ; class 1: tp 1.2, sum p 1.3, sum y 2
    want = [[1 - 1.8 / 2.7, 1 - 2.4 / 3.3]]
    np.testing.assert_allclose(_none(rl.dice_loss, target=y, ignore_index=255), want, rtol=1e-12)
    mask = np.array([[1.0, 1.0, 1.0, 0.0]])
    np.testing.assert_allclose(_none(rl.dice_loss, mask=mask), want, rtol=1e-12)
    # ignore_index may also be a valid class id or a negative number
    y2 = Y.copy()
    y2[0, 3] = -1
    np.testing.assert_allclose(_none(rl.dice_loss, target=y2, ignore_index=-1), want, rtol=1e-12)


def test_hand_reductions_weights_and_background():
    d0, d1 = HAND["dice"]
    mean = rl.dice_loss(P, Y, activation=None, **NO_SMOOTH)
    assert mean.shape == ()
    np.testing.assert_allclose(float(mean), (d0 + d1) / 2, rtol=1e-12)
    weighted = rl.dice_loss(P, Y, activation=None, class_weights=[1.0, 3.0], **NO_SMOOTH)
    np.testing.assert_allclose(float(weighted), (d0 + 3 * d1) / 4, rtol=1e-12)
    nobg = rl.dice_loss(P, Y, activation=None, include_background=False, **NO_SMOOTH)
    np.testing.assert_allclose(float(nobg), d1, rtol=1e-12)
    nobg_none = _none(rl.dice_loss, include_background=False)
    assert nobg_none.shape == (1, 1)
    # class_weights are indexed by class id: the background weight is skipped when dropped
    w = rl.dice_loss(P, Y, activation=None, include_background=False, class_weights=[0.0, 2.0],
                     **NO_SMOOTH)
    np.testing.assert_allclose(float(w), d1, rtol=1e-12)


def test_reduction_sum_and_per_sample_shapes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4, 4))
    y = rng.integers(0, 4, size=(3, 5, 4))
    none = to_numpy(rl.dice_loss(x, y, reduction="none"))
    assert none.shape == (3, 4)
    np.testing.assert_allclose(float(rl.dice_loss(x, y, reduction="sum")), none.mean(1).sum(), rtol=1e-12)
    np.testing.assert_allclose(float(rl.dice_loss(x, y)), none.mean(), rtol=1e-12)
    pooled = to_numpy(rl.dice_loss(x, y, per_sample=False, reduction="none"))
    assert pooled.shape == (4,)
    nobg = to_numpy(rl.dice_loss(x, y, per_sample=False, include_background=False, reduction="none"))
    assert nobg.shape == (3,)


def test_per_sample_false_pools_the_batch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 3))
    y = rng.integers(0, 3, size=(2, 6))
    pooled = rl.dice_loss(x, y, per_sample=False, reduction="none")
    one = rl.dice_loss(x.reshape(1, 12, 3), y.reshape(1, 12), reduction="none")
    np.testing.assert_allclose(to_numpy(pooled), to_numpy(one)[0], rtol=1e-12)


def test_single_foreground_no_class_axis():
    p = np.array([[0.9, 0.2, 0.6, 0.3]])  # probabilities of the foreground
    y = np.array([[1, 0, 1, 1]])
    # tp 1.8, sum p 2.0, sum y 3 -> dice 3.6 / 5
    got = rl.dice_loss(p, y, class_axis=None, activation=None, **NO_SMOOTH)
    np.testing.assert_allclose(float(got), 1 - 3.6 / 5.0, rtol=1e-12)
    dense = rl.dice_loss(p, y.astype(np.float64), class_axis=None, activation=None, **NO_SMOOTH)
    np.testing.assert_allclose(float(dense), 1 - 3.6 / 5.0, rtol=1e-12)
    # one channel with a class axis reads a label map the same way (1 = foreground)
    chan = rl.dice_loss(p[:, None], y, class_axis=1, activation=None, **NO_SMOOTH)
    np.testing.assert_allclose(float(chan), 1 - 3.6 / 5.0, rtol=1e-12)
    logits = np.log(p / (1 - p))
    sig = rl.dice_loss(logits, y, class_axis=None, activation="sigmoid", **NO_SMOOTH)
    np.testing.assert_allclose(float(sig), 1 - 3.6 / 5.0, rtol=1e-12)


def test_empty_reference_and_prediction_give_zero():
    p = np.zeros((2, 3, 3, 2))
    p[..., 0] = 1.0  # everything predicted background
    y = np.zeros((2, 3, 3), dtype=np.int64)  # everything is background: class 1 is empty
    for loss in LOSSES:
        none = to_numpy(loss(p, y, activation=None, reduction="none"))
        np.testing.assert_allclose(none, 0.0, atol=1e-12)
        none0 = to_numpy(loss(p, y, activation=None, reduction="none", **NO_SMOOTH))
        np.testing.assert_array_equal(none0, 0.0)


def test_all_ignored_batch_gives_zero():
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3))
    y = np.full((2, 4, 4), 255)
    for loss in LOSSES:
        for kw in ({}, NO_SMOOTH):
            assert float(loss(x, y, ignore_index=255, **kw)) == 0.0


# --------------------------------------------------------------------------- properties

def cases(n_max=3, hw_max=5, c_min=2, c_max=4):
    return logits_and_labels(n_max=n_max, pixels_max=hw_max, c_min=c_min, c_max=c_max)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_property_tversky_family_identities(case):
    x, y = case
    dice = to_numpy(rl.dice_loss(x, y, reduction="none", **NO_SMOOTH))
    jac = to_numpy(rl.jaccard_loss(x, y, reduction="none", **NO_SMOOTH))
    t55 = to_numpy(rl.tversky_loss(x, y, alpha=0.5, beta=0.5, reduction="none", **NO_SMOOTH))
    t11 = to_numpy(rl.tversky_loss(x, y, alpha=1.0, beta=1.0, reduction="none", **NO_SMOOTH))
    ft1 = to_numpy(rl.focal_tversky_loss(x, y, gamma=1.0, reduction="none"))
    tv = to_numpy(rl.tversky_loss(x, y, reduction="none"))
    np.testing.assert_allclose(t55, dice, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t11, jac, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ft1, tv, rtol=1e-9, atol=1e-12)
    for values in (dice, jac, t55, ft1):
        assert np.all(values >= -1e-12) and np.all(values <= 1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_property_minimal_at_target(case):
    x, y = case
    c = x.shape[-1]
    onehot = np.eye(c)[y]
    probs = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    for loss in LOSSES:
        at_target = float(loss(onehot, y, activation=None))
        assert at_target <= float(loss(probs, y, activation=None)) + 1e-12
        assert at_target == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(cases(), st.integers(0, 2**32 - 1))
def test_property_soft_labels_minimal_at_soft_target(case, seed):
    x, _ = case
    rng = np.random.default_rng(seed)
    soft = rng.dirichlet(np.ones(x.shape[-1]), size=x.shape[:-1])
    probs = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    at_target = float(rl.dice_loss(soft, soft, activation=None, soft_labels=True, **NO_SMOOTH))
    elsewhere = float(rl.dice_loss(probs, soft, activation=None, soft_labels=True, **NO_SMOOTH))
    assert at_target == pytest.approx(0.0, abs=1e-12)
    assert at_target <= elsewhere + 1e-12
    # the classic formula is not minimal at a soft target (it is > 0 there)
    assert float(rl.dice_loss(soft, soft, activation=None, **NO_SMOOTH)) > 1e-6


@settings(max_examples=40, deadline=None)
@given(cases(), st.sampled_from(LOSSES), st.booleans())
def test_property_channels_first_equals_channels_last(case, loss, per_sample):
    x, y = case
    last = loss(x, y, class_axis=-1, per_sample=per_sample, reduction="none")
    first = loss(np.moveaxis(x, -1, 1), y, class_axis=1, per_sample=per_sample, reduction="none")
    np.testing.assert_allclose(to_numpy(first), to_numpy(last), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(cases(n_max=1), st.sampled_from(LOSSES), st.integers(0, 2**32 - 1),
       st.sampled_from(IGNORE_VALUES))
def test_property_ignore_index_equals_dropping_pixels(case, loss, seed, ignore):
    x, y = case
    keep = np.random.default_rng(seed).random(y.shape) < 0.6
    y_ignored, kept = ignored_and_kept(y, keep, ignore)
    got = loss(x, y_ignored, ignore_index=ignore, reduction="none")
    dropped = loss(x[:, kept[0]], y[:, kept[0]], reduction="none")
    np.testing.assert_allclose(to_numpy(got), to_numpy(dropped), rtol=1e-10, atol=1e-12)
    # a 0/1 mask of the kept pixels is the same
    masked = loss(x, y, mask=kept.astype(np.float64), reduction="none")
    np.testing.assert_allclose(to_numpy(masked), to_numpy(dropped), rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_property_iou_from_dice_on_hard_predictions(case):
    x, y = case
    hard = np.eye(x.shape[-1])[np.argmax(x, -1)]
    d = 1 - to_numpy(rl.dice_loss(hard, y, activation=None, reduction="none", **NO_SMOOTH))
    j = 1 - to_numpy(rl.jaccard_loss(hard, y, activation=None, reduction="none", **NO_SMOOTH))
    np.testing.assert_allclose(j, d / (2 - d), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- backend matrix

OPTION_SETS = [
    dict(),
    dict(class_axis=1, per_sample=False),
    dict(include_background=False, class_weights=[0.0, 1.0, 2.0, 0.5], reduction="sum"),
    dict(ignore_index=255, squared=True),
    dict(activation="sigmoid", soft_labels=True, reduction="none"),
]


def _matrix_inputs(opts):
    return loss_matrix_inputs(opts, seed=4)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: ",".join(o) or "defaults")
def test_backend_matrix(backend, loss, opts):
    check_loss_on_backend(loss, opts, backend, seed=4)


def test_backend_matrix_dense_targets(backend):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 6)).astype(np.float32)
    t = (rng.random((2, 3, 6)) < 0.4).astype(np.float32)
    for loss in LOSSES:
        want = to_numpy(loss(x, t, activation="sigmoid", class_axis=1))
        got = loss(backend(x), backend(t), activation="sigmoid", class_axis=1)
        assert_same_namespace(got, backend)
        np.testing.assert_allclose(to_numpy(got), want, rtol=2e-5, atol=1e-6)


FAMILY = {
    "log_cosh_dice_loss": (rl.log_cosh_dice_loss, [dict(), dict(include_background=False,
                           reduction="none")]),
}
MATRIX = [(name, i) for name, (_, opts) in FAMILY.items() for i in range(len(opts))]


def _family_matrix_inputs(opts):
    return loss_matrix_inputs(opts, seed=16)


@pytest.mark.parametrize("name, index", MATRIX, ids=[f"{n}-{i}" for n, i in MATRIX])
def test_backend_matrix_log_cosh_dice(backend, name, index):
    loss, option_sets = FAMILY[name]
    opts = option_sets[index]
    check_loss_on_backend(loss, opts, backend, seed=16)


# --------------------------------------------------------------------------- JAX: jit, grad, vmap

@jax_only
@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: ",".join(o) or "defaults")
def test_jit_equals_eager(loss, opts):
    jax = _jax()
    x, y, _ = _matrix_inputs(opts)
    x, y = jax.numpy.asarray(x), jax.numpy.asarray(y)
    eager = loss(x, y, **opts)
    jitted = jax.jit(lambda a, b: loss(a, b, **opts))(x, y)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, atol=1e-7)


GRAD_OPTIONS = [
    dict(),
    dict(per_sample=False, class_weights=[1.0, 2.0, 0.5]),
    dict(squared=True, include_background=False),
    dict(soft_labels=True, activation="sigmoid"),
    dict(ignore_index=255, smooth_nr=0.0, smooth_dr=0.0),
]


@jax_only
@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("opts", GRAD_OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_grad_matches_finite_differences(loss, opts):
    jax = _jax()
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 3))  # (N, pixels, C) channels-last
    y = rng.integers(0, 3, size=(2, 3))
    if "ignore_index" in opts:
        y[0, 1] = 255

    def f(a):
        return loss(a, y, **opts)

    analytic = np.asarray(jax.grad(f)(jax.numpy.asarray(x)))
    numeric = finite_difference(lambda a: float(f(a)), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


EDGE_CASES = {
    # name: (logits (N, pixels, C), labels (N, pixels), options)
    "empty_class": (np.array([[[5.0, -5.0], [4.0, -4.0]]]), np.array([[0, 0]]), {}),
    "perfect": (np.array([[[50.0, -50.0], [-50.0, 50.0]]]), np.array([[0, 1]]), {}),
    "all_ignored": (np.array([[[0.3, -0.2], [1.0, 2.0]]]), np.array([[255, 255]]),
                    {"ignore_index": 255}),
    "single_pixel": (np.array([[[0.5, -0.5]]]), np.array([[1]]), {}),
}


@jax_only
@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", list(EDGE_CASES))
@pytest.mark.parametrize("smooth", [1e-5, 0.0])
def test_grad_finite_at_edge_cases(loss, case, smooth):
    jax = _jax()
    x, y, opts = EDGE_CASES[case]
    opts = {**opts, "smooth_nr": smooth, "smooth_dr": smooth}
    value, grad = jax.value_and_grad(lambda a: loss(a, y, **opts))(jax.numpy.asarray(x))
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(np.asarray(grad)))
    if case == "all_ignored":
        assert float(value) == 0.0
        assert np.all(np.asarray(grad) == 0.0)
    if case == "single_pixel" and smooth == 1e-5:
        numeric = finite_difference(lambda a: float(loss(a, y, **opts)), x)
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-5, atol=1e-8)


PERFECT_LOSSES = {
    "dice": rl.dice_loss,
    "jaccard": rl.jaccard_loss,
    "tversky": rl.tversky_loss,
    "focal_tversky_0.5": functools.partial(rl.focal_tversky_loss, gamma=0.5),
    "focal_tversky_0.75": rl.focal_tversky_loss,
    "focal_tversky_2": functools.partial(rl.focal_tversky_loss, gamma=2.0),
    "generalized_dice": rl.generalized_dice_loss,
    "log_cosh_dice": rl.log_cosh_dice_loss,
    "lovasz_softmax": rl.lovasz_softmax_loss,
}


PERFECT_CASES = [(name, smooth) for name in PERFECT_LOSSES for smooth in (1e-5, 0.0)
                 if not (name == "lovasz_softmax" and smooth == 0.0)]  # no smoothing there


@jax_only
@pytest.mark.parametrize("name, smooth", PERFECT_CASES,
                         ids=[f"{n}-{'smooth' if s else 'no_smooth'}" for n, s in PERFECT_CASES])
def test_grad_at_an_exact_one_hot_perfect_prediction(name, smooth):
    # activation=None and pred exactly the one-hot target (class 2 absent): the loss is 0
    # and the gradient w.r.t. the probabilities finite; for the focal Tversky loss with
    # gamma < 1, where d(x**gamma)/dx is infinite at x = 0, it is the documented 0.
    jax = _jax()
    loss = PERFECT_LOSSES[name]
    y = np.array([[0, 1, 1, 0], [1, 1, 0, 0]])
    onehot = np.eye(3)[y]
    opts = {} if name == "lovasz_softmax" else dict(smooth_nr=smooth, smooth_dr=smooth)

    def f(a):
        return loss(a, y, activation=None, **opts)

    value, grad = jax.value_and_grad(f)(jax.numpy.asarray(onehot))
    grad = np.asarray(grad)
    assert float(value) == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isfinite(grad)), grad
    if name.startswith("focal_tversky") and name != "focal_tversky_2":
        assert np.all(grad == 0.0)
    elif name.startswith(("dice", "jaccard", "tversky", "generalized")) and smooth:
        # smooth there: central differences (p may leave [0, 1] by 1e-9, within tolerance;
        # a small step, as the absent class's loss 1 - s/(Σp + s) bends on the scale s)
        numeric = finite_difference(lambda a: float(f(a)), onehot, eps=1e-9)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@jax_only
@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_vmap_over_batch_equals_reduction_none(loss):
    jax = _jax()
    rng = np.random.default_rng(7)
    x = jax.numpy.asarray(rng.normal(size=(4, 6, 6, 3)))
    y = jax.numpy.asarray(rng.integers(0, 3, size=(4, 6, 6)))
    per_sample = jax.vmap(lambda a, b: loss(a[None], b[None], reduction="none")[0])(x, y)
    none = loss(x, y, reduction="none")
    np.testing.assert_allclose(np.asarray(per_sample), np.asarray(none), rtol=1e-12)
    means = jax.vmap(lambda a, b: loss(a[None], b[None]))(x, y)
    np.testing.assert_allclose(np.asarray(means), np.asarray(none).mean(1), rtol=1e-12)


@jax_only
@pytest.mark.parametrize("loss", [rl.log_cosh_dice_loss],
                         ids=lambda f: f.__name__)
def test_vmap_over_samples_equals_per_sample_calls(loss):
    jax = _jax()
    rng = np.random.default_rng(19)
    x = jax.numpy.asarray(rng.normal(size=(3, 5, 4, 3)))
    y = jax.numpy.asarray(rng.integers(0, 3, size=(3, 5, 4)))
    mapped = jax.vmap(lambda a, b: loss(a[None], b[None]))(x, y)
    want = [float(loss(x[i:i + 1], y[i:i + 1])) for i in range(3)]
    np.testing.assert_allclose(np.asarray(mapped), want, rtol=1e-12)


# --------------------------------------------------------------------------- focal Tversky


def test_focal_tversky_gamma_one_clips_at_zero():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 5, 3))
    y = rng.integers(0, 2, size=(2, 5))  # class 2 absent: an empty class predicted ~empty
    tv = to_numpy(rl.tversky_loss(x, y, reduction="none"))
    ft = to_numpy(rl.focal_tversky_loss(x, y, gamma=1.0, reduction="none"))
    np.testing.assert_allclose(ft, tv, rtol=1e-12)  # smooth_nr <= smooth_dr: the same
    # smooth_nr > smooth_dr: an empty class predicted exactly empty has TI = s_nr / s_dr > 1
    p = np.zeros((1, 4, 2))
    p[..., 0] = 1.0
    y0 = np.zeros((1, 4), np.int64)
    opts = dict(activation=None, smooth_nr=2.0, smooth_dr=1.0, reduction="none")
    tv = to_numpy(rl.tversky_loss(p, y0, **opts))
    ft = to_numpy(rl.focal_tversky_loss(p, y0, gamma=1.0, **opts))
    np.testing.assert_allclose(tv, [[1 - 6.0 / 5.0, 1 - 2.0]], rtol=1e-12)
    np.testing.assert_allclose(ft, np.maximum(tv, 0.0), rtol=1e-12)


# --------------------------------------------------------------------------- asymmetric


def test_hand_asymmetric_loss():
    # weights (1 + β², 1, β²) on (tp, fp, fn); the hand case with β = 1.5 (β² = 2.25)
    want = [1 - 3.25 * 0.9 / (3.25 * 0.9 + 1.1 + 2.25 * 0.1),
            1 - 3.25 * 1.9 / (3.25 * 1.9 + 0.1 + 2.25 * 1.1)]
    np.testing.assert_allclose(_none(rl.asymmetric_loss), [want], rtol=1e-12)
    np.testing.assert_allclose(_none(rl.asymmetric_loss, beta=1.0), [HAND["dice"]], rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(cases(), st.floats(0.1, 4.0), st.booleans())
def test_property_asymmetric_is_tversky_and_dice_at_beta_one(case, beta, per_sample):
    x, y = case
    b2 = beta * beta
    kw = dict(per_sample=per_sample, reduction="none")
    asym = to_numpy(rl.asymmetric_loss(x, y, beta=beta, **kw, **NO_SMOOTH))
    tv = to_numpy(rl.tversky_loss(x, y, alpha=1 / (1 + b2), beta=b2 / (1 + b2), **kw,
                                  **NO_SMOOTH))
    np.testing.assert_allclose(asym, tv, rtol=1e-9, atol=1e-12)
    # with smoothing: Tversky with the smoothing divided by 1 + β²
    s = 0.3
    asym = to_numpy(rl.asymmetric_loss(x, y, beta=beta, smooth_nr=s, smooth_dr=s, **kw))
    tv = to_numpy(rl.tversky_loss(x, y, alpha=1 / (1 + b2), beta=b2 / (1 + b2),
                                  smooth_nr=s / (1 + b2), smooth_dr=s / (1 + b2), **kw))
    np.testing.assert_allclose(asym, tv, rtol=1e-9, atol=1e-12)
    # β = 1 is the Dice loss, smoothing included
    np.testing.assert_allclose(to_numpy(rl.asymmetric_loss(x, y, beta=1.0, **kw)),
                               to_numpy(rl.dice_loss(x, y, **kw)), rtol=1e-12, atol=1e-15)


@jax_only
def test_asymmetric_grad_matches_finite_differences():
    jax = _jax()
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 3, 3))
    y = rng.integers(0, 3, size=(2, 3))

    def f(a):
        return rl.asymmetric_loss(a, y, beta=2.0)

    analytic = np.asarray(jax.grad(f)(jax.numpy.asarray(x)))
    numeric = finite_difference(lambda a: float(f(a)), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- log-cosh Dice


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


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, match", [
    (lambda: rl.tversky_loss(X, LAB, alpha=-0.1), r"alpha must be a finite number >= 0"),
    (lambda: rl.focal_tversky_loss(X, LAB, gamma=0.0), r"gamma must be a finite number > 0"),
    (lambda: rl.dice_loss(X[..., :1], LAB, activation="sigmoid", include_background=False),
     r"single channel"),
    (lambda: rl.focal_tversky_loss(X, LAB, gamma=True), r"gamma must be a number; got the bool"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
