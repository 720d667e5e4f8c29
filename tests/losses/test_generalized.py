"""Generalized Dice losses (regionloss.losses.generalized): Sudre's weightings, absent
classes, per-sample and pooled batches, gradients, the backend matrix, errors."""

from __future__ import annotations

import numpy as np
import pytest

import regionloss as rl
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import HAND_LABELS as Y
from conftest import HAND_PROBS as P
from conftest import (NO_SMOOTH, check_loss_on_backend, finite_difference, jax_only, to_numpy)
from conftest import jax_x64 as _jax

# HAND_PROBS / HAND_LABELS: class 0: tp 0.9, Σp 2.0, V = Σy 1 ; class 1: tp 1.9, Σp 2.0, V = 3


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


# --------------------------------------------------------------------------- penalty GDL


@pytest.mark.parametrize("opts", [dict(), dict(per_sample=False), dict(reduction="none"),
                                  dict(reduction="sum", weighting="simple"),
                                  dict(include_background=False, absent_class_weight="zero")],
                         ids=lambda o: ",".join(o) or "defaults")
def test_penalty_gdl_is_the_penalised_gdl(opts):
    rng = np.random.default_rng(30)
    x = rng.normal(size=(3, 7, 3)) * 2
    y = rng.integers(0, 3, size=(3, 7))
    g = to_numpy(rl.generalized_dice_loss(x, y, **opts))
    for k in (0.0, 1.0, 2.5, 10.0):
        got = rl.penalty_generalized_dice_loss(x, y, k=k, **opts)
        assert got.shape == g.shape
        np.testing.assert_allclose(to_numpy(got), g / (1 + k * (1 - g)), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(rl.penalty_generalized_dice_loss(x, y, k=0.0, **opts)),
                               g, rtol=1e-12)


def test_penalty_gdl_hand_and_range():
    # the hand case (square weights 1, 1/9): the GDL, then L / (1 + k (1 - L))
    w = [1.0, 1 / 9]
    gdl = 1 - 2 * (w[0] * 0.9 + w[1] * 1.9) / (w[0] * 3.0 + w[1] * 5.0)
    got = rl.penalty_generalized_dice_loss(P, Y, activation=None, **NO_SMOOTH)
    assert float(got) == pytest.approx(gdl / (1 + 2.5 * (1 - gdl)), rel=1e-12)
    # 0 exactly where the GDL is 0 (a perfect prediction), 1 where it is 1, in between below
    onehot = np.eye(2)[Y]
    assert float(rl.penalty_generalized_dice_loss(onehot, Y, activation=None)) == \
        pytest.approx(0.0, abs=1e-9)
    wrong = np.eye(2)[1 - Y]
    assert float(rl.penalty_generalized_dice_loss(wrong, Y, activation=None,
                                                  **NO_SMOOTH)) == pytest.approx(1.0)
    assert 0 < float(got) < gdl


def test_penalty_gdl_option_errors():
    with pytest.raises(ValueError, match="k must be"):
        rl.penalty_generalized_dice_loss(X, LAB, k=-1.0)
    with pytest.raises(TypeError, match="k must be a number"):
        rl.penalty_generalized_dice_loss(X, LAB, k="2")


# --------------------------------------------------------------------------- backends, vmap


FAMILY = {
    "generalized_dice_loss": (rl.generalized_dice_loss, [dict(), dict(class_axis=1,
                              per_sample=False, weighting="simple", ignore_index=255)]),
}
MATRIX = [(name, i) for name, (_, opts) in FAMILY.items() for i in range(len(opts))]


@pytest.mark.parametrize("name, index", MATRIX, ids=[f"{n}-{i}" for n, i in MATRIX])
def test_backend_matrix(backend, name, index):
    loss, option_sets = FAMILY[name]
    opts = option_sets[index]
    check_loss_on_backend(loss, opts, backend, seed=16)


@jax_only
@pytest.mark.parametrize("loss", [rl.generalized_dice_loss],
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
    (lambda: rl.generalized_dice_loss(X, LAB, weighting="cube"), r"weighting must be one of"),
    (lambda: rl.generalized_dice_loss(X, LAB, absent_class_weight="inf"),
     r"absent_class_weight must be one of"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
