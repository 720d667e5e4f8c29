"""Bad and edge inputs of the loss catalogue and the generalized Dice score, table-driven,
on NumPy, JAX eager and ``jax.jit`` (the rules of ``test_bad_inputs.py``).

* a NaN or infinite logit at a scored pixel is never a finite loss;
* non-finite logits at removed pixels (``ignore_index``, ``mask``) change neither the value
  nor the gradient;
* no pixels behaves like every pixel ignored (0, with a finite gradient);
* a label out of range raises eagerly and makes the loss NaN under ``jax.jit``;
* every option error names the argument.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import regionloss as rl
from conftest import HAVE_JAX

if HAVE_JAX:
    import jax
    import jax.numpy as jnp

C = 3
RNG = np.random.default_rng(2025)
LOGITS = RNG.normal(size=(2, 4, 5, C)).astype(np.float32)       # channels-last
LABELS = RNG.integers(0, C, size=(2, 4, 5))
IGNORED = LABELS.copy()
IGNORED[0, 1, 2] = IGNORED[1, 3, 0] = 255

LOSSES = {
    "sensitivity_specificity_loss": rl.sensitivity_specificity_loss,
    "generalized_wasserstein_dice_loss": rl.generalized_wasserstein_dice_loss,
    "exp_log_loss": rl.exp_log_loss,
    "combo_loss": rl.combo_loss,
    "topk_cross_entropy": rl.topk_cross_entropy,
    "dice_topk_loss": rl.dice_topk_loss,
    "mcc_loss": rl.mcc_loss,
    "distance_penalized_cross_entropy": rl.distance_penalized_cross_entropy,
}
# the value of a call without any scored pixel: 0, except the combo loss's −(1 − α) (the
# Dice of an empty reference predicted empty is 1, and the paper subtracts it)
EMPTY_VALUE = {"combo_loss": -0.5}

# JAX eager is covered by the backend matrix of tests/losses/test_catalogue.py; here the
# jitted calls (value and gradient in one compiled function, cached per loss and options,
# so that inputs of one shape compile once)
BACKENDS = ["numpy"] + (["jit"] if HAVE_JAX else [])


@functools.lru_cache(maxsize=None)
def _compiled(name, options):
    fn = functools.partial(LOSSES[name], **dict(options))

    def f(a, b, m):
        return fn(a, b) if m is None else fn(a, b, mask=m)

    return jax.jit(jax.value_and_grad(f))


def _value_grad(name, x, y, **kwargs):
    """The jitted loss and its gradient w.r.t. the logits, as NumPy arrays."""
    mask = kwargs.pop("mask", None)
    value, grad = _compiled(name, tuple(sorted(kwargs.items())))(
        jnp.asarray(x), jnp.asarray(y), None if mask is None else jnp.asarray(mask))
    return np.asarray(value), np.asarray(grad)


def _loss(name, backend, x, y, **kwargs):
    if backend == "jit":
        return _value_grad(name, x, y, **kwargs)[0]
    mask = kwargs.pop("mask", None)
    return np.asarray(LOSSES[name](x, y, mask=mask, **kwargs))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_logit_at_a_scored_pixel_is_never_a_finite_loss(backend, name, bad):
    x = LOGITS.copy()
    x[0, 1, 1, 0] = bad
    got = _loss(name, backend, x, LABELS)
    assert not np.isfinite(got), f"{name} gave the finite {got} for a {bad} logit"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad, how", [(math.nan, "ignore_index"), (math.inf, "mask"),
                                      (-math.inf, "ignore_index")],
                         ids=["nan-ignore_index", "inf-mask", "-inf-ignore_index"])
def test_non_finite_logits_at_removed_pixels_change_nothing(backend, name, bad, how):
    x = LOGITS.copy()
    removed = IGNORED == 255
    x[removed] = bad
    kwargs = (dict(ignore_index=255) if how == "ignore_index"
              else dict(mask=(~removed).astype(np.float32)))
    target = IGNORED if how == "ignore_index" else LABELS
    clean = LOGITS.copy()
    clean[removed] = 0.0
    got = _loss(name, backend, x, target, **kwargs)
    want = _loss(name, "numpy", clean, target, **dict(kwargs))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if backend == "jit":
        g = _value_grad(name, x, target, **dict(kwargs))[1]
        g_clean = _value_grad(name, clean, target, **dict(kwargs))[1]
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, g_clean, rtol=1e-5, atol=1e-7)
        assert (g[removed] == 0).all()


EMPTY_SHAPES = [((0, 4, C), (0, 4)), ((2, 0, C), (2, 0)), ((2, 0, 3, C), (2, 0, 3))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("shapes", EMPTY_SHAPES, ids=["no-samples", "no-pixels", "no-rows"])
def test_no_pixels_behaves_like_all_ignored(backend, name, shapes):
    x = np.zeros(shapes[0], np.float32)
    y = np.zeros(shapes[1], np.int64)
    want = EMPTY_VALUE.get(name, 0.0)
    got = _loss(name, backend, x, y)
    if shapes[0][0] == 0:
        want = 0.0   # the mean over no samples is 0 (the combo's Dice part too)
    ignored = _loss(name, "numpy", np.zeros((1, 2, C), np.float32), np.full((1, 2), 255),
                    ignore_index=255)
    assert np.isfinite(got) and float(got) == pytest.approx(want, abs=1e-12)
    assert float(ignored) == pytest.approx(EMPTY_VALUE.get(name, 0.0), abs=1e-12)
    if backend == "jit":
        g = _value_grad(name, x, y)[1]
        assert g.shape == x.shape and np.isfinite(g).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad", [C, -1, 255])
def test_jit_out_of_range_label_makes_every_loss_nan(name, bad):
    y = LABELS.copy()
    y[1, 2, 3] = bad
    with pytest.raises(ValueError, match=f"label {bad}"):
        _loss(name, "numpy", LOGITS, y)
    value, g = _value_grad(name, LOGITS, y)
    assert np.isnan(value)
    assert np.isnan(g).any() and (np.isnan(g) | (g == 0)).all()
    if bad == 255:
        assert np.isfinite(_loss(name, "jit", LOGITS, y, ignore_index=bad))


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_jit_out_of_range_label_makes_generalized_dice_score_nan(reduction):
    t = LABELS.copy()
    t[0, 0, 0] = 255
    kw = dict(num_classes=C, reduction=reduction)
    with pytest.raises(ValueError, match="label 255"):
        rl.generalized_dice_score(LABELS, t, **kw)
    got = jax.jit(lambda a, b: rl.generalized_dice_score(a, b, **kw))(jnp.asarray(LABELS),
                                                                      jnp.asarray(t))
    assert np.isnan(np.asarray(got)).all()
    ok = jax.jit(lambda a, b: rl.generalized_dice_score(a, b, ignore_index=255, **kw))(
        jnp.asarray(LABELS), jnp.asarray(t))
    assert np.isfinite(np.asarray(ok)).all()


def test_generalized_dice_score_of_no_pixels_is_zero_division():
    p = np.zeros((2, 0), np.int64)
    for zd in (math.nan, 0.0, 1.0):
        got = rl.generalized_dice_score(p, p, num_classes=C, zero_division=zd,
                                        reduction="none")
        np.testing.assert_array_equal(got, [zd, zd])
        pooled = rl.generalized_dice_score(p, p, num_classes=C, zero_division=zd,
                                           per_sample=False)
        np.testing.assert_array_equal(pooled, np.float64(zd))


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.sensitivity_specificity_loss(LOGITS, LABELS, r=1.5), ValueError, "r must"),
    (lambda: rl.sensitivity_specificity_loss(LOGITS, LABELS, smooth_dr=-1), ValueError,
     "smooth_dr"),
    (lambda: rl.sensitivity_specificity_loss(LOGITS, LABELS, per_sample="no"), TypeError,
     "per_sample must be True or False"),
    (lambda: rl.generalized_wasserstein_dice_loss(LOGITS, LABELS, weighting_mode="gdl"),
     ValueError, "weighting_mode must be one of 'default', 'GDL'"),
    (lambda: rl.generalized_wasserstein_dice_loss(LOGITS, LABELS, dist_matrix=np.ones((3, 3))),
     ValueError, "dist_matrix must have a zero diagonal"),
    (lambda: rl.generalized_wasserstein_dice_loss(LOGITS, LABELS,
                                                  dist_matrix=1 - np.eye(4)),
     ValueError, "dist_matrix is 4 x 4 but the prediction has 3 classes"),
    (lambda: rl.generalized_wasserstein_dice_loss(LOGITS, LABELS, dist_matrix=np.eye(3) - 1),
     ValueError, "non-negative"),
    (lambda: rl.generalized_wasserstein_dice_loss(LOGITS, LABELS, dist_matrix=[1, 2]),
     ValueError, "square"),
    (lambda: rl.generalized_wasserstein_dice_loss(LOGITS, LABELS, activation="sigmoid"),
     ValueError, "activation must be one of 'softmax', None"),
    (lambda: rl.generalized_wasserstein_dice_loss(np.full((2, 4, 1), 0.5), np.zeros((2, 4), int),
                                                  activation=None), ValueError,
     "at least 2 classes"),
    (lambda: rl.exp_log_loss(LOGITS, LABELS, gamma_dice=0), ValueError, "gamma_dice"),
    (lambda: rl.exp_log_loss(LOGITS, LABELS, ce_class_weights="inverse"), ValueError,
     "ce_class_weights must be 'frequency', None"),
    (lambda: rl.exp_log_loss(LOGITS, LABELS, ce_class_weights=[1, 2]), ValueError,
     "ce_class_weights has 2 values but the prediction has 3 classes"),
    (lambda: rl.exp_log_loss(LOGITS, LABELS, activation="sigmoid"), ValueError,
     "activation must be one of 'softmax'"),
    (lambda: rl.exp_log_loss(LOGITS, LABELS, reduction="none"), ValueError,
     "reduction must be one of 'mean', 'sum'"),
    (lambda: rl.combo_loss(LOGITS, LABELS, alpha=2), ValueError, "alpha must"),
    (lambda: rl.combo_loss(LOGITS, LABELS, beta=-0.1), ValueError, "beta must"),
    (lambda: rl.combo_loss(LOGITS, LABELS, one_minus_dice=1), TypeError,
     "one_minus_dice must be True or False"),
    (lambda: rl.combo_loss(LOGITS, LABELS, activation=None), ValueError,
     "activation must be one of 'softmax', 'sigmoid'"),
    (lambda: rl.topk_cross_entropy(LOGITS, LABELS, k=0), ValueError, "k must"),
    (lambda: rl.topk_cross_entropy(LOGITS, LABELS, k=150), ValueError, "k must"),
    (lambda: rl.topk_cross_entropy(LOGITS, LABELS, activation=None), ValueError, "logits"),
    (lambda: rl.dice_topk_loss(LOGITS, LABELS, topk_weight=-1), ValueError, "topk_weight"),
    (lambda: rl.dice_topk_loss(LOGITS, LABELS, reduction="none"), ValueError, "reduction"),
    (lambda: rl.mcc_loss(LOGITS, LABELS, smooth=math.nan), ValueError, "smooth"),
    (lambda: rl.mcc_loss(LOGITS, LABELS, class_weights=[1, 1]), ValueError,
     "class_weights must have one weight per class"),
    (lambda: rl.distance_penalized_cross_entropy(LOGITS, LABELS, spacing="x"), TypeError,
     "spacing"),
    (lambda: rl.distance_penalized_cross_entropy(LOGITS, LABELS, spacing=(1, 2, 3)),
     ValueError, "spacing"),
    (lambda: rl.distance_penalized_cross_entropy(np.zeros((1, 2, 2, 2, 2, 3), np.float32),
                                                 np.zeros((1, 2, 2, 2, 2), np.int64)),
     ValueError, "1 to 3 spatial axes"),
    (lambda: rl.generalized_dice_score(LABELS, LABELS, num_classes=C, weighting="linear"),
     ValueError, "weighting must be one of 'square', 'simple', 'uniform'"),
    (lambda: rl.generalized_dice_score(LABELS, LABELS, num_classes=C, reduction="mean_batch"),
     ValueError, "reduction must be one of"),
    (lambda: rl.generalized_dice_score(LABELS, LABELS, num_classes=C, zero_division=0.5),
     ValueError, "zero_division"),
    (lambda: rl.generalized_dice_score(LOGITS, LABELS, num_classes=C), TypeError,
     "to_labels"),
    (lambda: rl.generalized_dice_score(LABELS, LABELS, num_classes=1,
                                       include_background=False), ValueError,
     "at least 2 classes"),
])
def test_option_and_input_messages_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("value", ["False", 1, None], ids=["str", "1", "None"])
def test_flags_are_never_read_by_truthiness(name, value):
    flag = "per_sample" if name not in ("dice_topk_loss",) else "squared"
    if name == "generalized_wasserstein_dice_loss":
        flag = "per_sample"
    if name == "distance_penalized_cross_entropy":
        pytest.skip("no flag option")
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        LOSSES[name](LOGITS, LABELS, **{flag: value})
