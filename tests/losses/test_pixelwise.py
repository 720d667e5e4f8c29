"""Pixel-wise losses (regionloss.losses.pixelwise): cross-entropy (softmax and binary, class
weights, label smoothing) and focal loss (softmax and sigmoid, alpha). Hand cases,
properties, saturated logits, gradients, the backend matrix, errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import (IGNORE_VALUES, check_loss_on_backend, finite_difference, ignored_and_kept,
                      jax_only, logits_and_labels, to_numpy)
from conftest import jax_x64 as _jax
from conftest import softmax_np as _softmax


def cases(n_max=3, p_max=7, c_min=2, c_max=4):
    return logits_and_labels(n_max=n_max, pixels_max=p_max, c_min=c_min, c_max=c_max, bound=5.0)


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


# --------------------------------------------------------------------------- backends, vmap


FAMILY = {
    "cross_entropy_loss": (rl.cross_entropy_loss, [dict(class_weights=[1, 2, 0.5, 1]),
                           dict(class_axis=1, ignore_index=255, label_smoothing=0.1),
                           dict(activation="sigmoid", reduction="none")]),
    "focal_loss": (rl.focal_loss, [dict(alpha=[1, 2, 0.5, 1]),
                   dict(activation="sigmoid", alpha=0.25, ignore_index=255, reduction="none")]),
}
MATRIX = [(name, i) for name, (_, opts) in FAMILY.items() for i in range(len(opts))]


@pytest.mark.parametrize("name, index", MATRIX, ids=[f"{n}-{i}" for n, i in MATRIX])
def test_backend_matrix(backend, name, index):
    loss, option_sets = FAMILY[name]
    opts = option_sets[index]
    check_loss_on_backend(loss, opts, backend, seed=16)


@jax_only
@pytest.mark.parametrize("loss", [rl.cross_entropy_loss, rl.focal_loss],
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
    (lambda: rl.cross_entropy_loss(X, LAB, activation=None), r"take logits"),
    (lambda: rl.cross_entropy_loss(X, LAB, label_smoothing=1.5), r"label_smoothing must be"),
    (lambda: rl.focal_loss(X, LAB, alpha=0.25), r"alpha=0.25 is a single number.*softmax"),
    (lambda: rl.focal_loss(X, LAB, alpha=[1, 2]), r"alpha has 2 values.*4 classes"),
    (lambda: rl.focal_loss(X, LAB, activation="sigmoid", alpha=1.5), r"alpha must be a number in \[0, 1\]"),
    (lambda: rl.focal_loss(X, LAB, gamma=-1), r"gamma must be a finite number >= 0"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
