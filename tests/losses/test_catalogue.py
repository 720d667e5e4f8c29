"""The loss catalogue: sensitivity-specificity, asymmetric, generalized Wasserstein Dice,
penalty GDL, exp-log, combo, top-k cross-entropy, Dice + top-k, MCC, distance-penalized
cross-entropy.

Hand-computed cases from each paper's formula (the losses no library ships: Brosch,
Hashemi, Yang, Wong, Taghanaki, Wu, Caliva), identities with other losses, minimality at
the target, jit = eager, finite gradients at perfect / empty / all-ignored inputs, JAX
gradients against finite differences, the backend matrix and the compound registry.

Reference numbers of the losses that a library ships (MONAI's generalized Wasserstein
Dice, smp's MCC, nnU-Net's top-k) are in ``test_catalogue_reference.py``.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import (HAVE_JAX, assert_matches, finite_difference, logits_and_labels,
                      to_numpy)
from regionloss.losses._term import term_fields
from regionloss.losses.compound import TERM_CLASSES

jax_only = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
NO_SMOOTH = dict(smooth_nr=0.0, smooth_dr=0.0)

NEW_LOSSES = {
    "sensitivity_specificity_loss": rl.sensitivity_specificity_loss,
    "generalized_wasserstein_dice_loss": rl.generalized_wasserstein_dice_loss,
    "exp_log_loss": rl.exp_log_loss,
    "combo_loss": rl.combo_loss,
    "topk_cross_entropy": rl.topk_cross_entropy,
    "dice_topk_loss": rl.dice_topk_loss,
    "mcc_loss": rl.mcc_loss,
    "distance_penalized_cross_entropy": rl.distance_penalized_cross_entropy,
}
TERMS = [n for n in NEW_LOSSES if n != "dice_topk_loss"]


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


RNG = np.random.default_rng(7)
X = RNG.normal(size=(2, 5, 6, 3)) * 2          # channels-last logits, float64
Y = RNG.integers(0, 3, size=(2, 5, 6))
Y[1, :2] = 0                                   # some structure: a background band

# probabilities of one sample, 4 pixels, 2 classes (the hand case of test_losses.py)
P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]])
T = np.array([[0, 1, 1, 1]])


# =========================================================================== registry


@pytest.mark.parametrize("name", TERMS)
def test_public_signature_matches_the_term(name):
    """A compound builds the term of each loss from the loss's own keyword options."""
    fn = NEW_LOSSES[name]
    params = inspect.signature(fn).parameters
    keywords = {k: p.default for k, p in params.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY
                and k not in ("mask", "penalty_maps")}          # arrays, not options
    assert TERM_CLASSES[fn].name == name
    assert keywords == term_fields(TERM_CLASSES[fn])
    for exported in (rl, rl.losses):
        assert getattr(exported, name) is fn and name in exported.__all__


def test_dice_topk_is_the_sum_and_combine_builds_the_new_terms():
    total = rl.dice_topk_loss(X, Y, k=30, per_sample=False)
    parts = rl.dice_loss(X, Y, per_sample=False) + rl.topk_cross_entropy(X, Y, k=30)
    assert float(total) == pytest.approx(float(parts), rel=1e-12)
    compound = rl.combine((1.0, rl.dice_loss, {"per_sample": False}),
                          (1.0, functools.partial(rl.topk_cross_entropy, k=30)))
    assert float(compound(X, Y)) == pytest.approx(float(parts), rel=1e-12)
    for name in TERMS:
        fn = NEW_LOSSES[name]
        one = rl.combine((2.0, fn))
        assert float(one(X, Y)) == pytest.approx(2 * float(fn(X, Y)), rel=1e-12), name
    mixed = rl.combine((0.5, rl.exp_log_loss), (1.0, rl.combo_loss), (1.0, rl.mcc_loss))
    want = 0.5 * rl.exp_log_loss(X, Y) + rl.combo_loss(X, Y) + rl.mcc_loss(X, Y)
    assert float(mixed(X, Y)) == pytest.approx(float(want), rel=1e-12)
    assert "dice_topk_loss" in rl.__all__


# =========================================================================== Brosch et al.


def test_sensitivity_specificity_hand_case():
    # class 0: reference pixel {0}; class 1: reference pixels {1, 2, 3}
    r = 0.1
    p0, p1 = P[0, :, 0], P[0, :, 1]
    y1 = (T[0] == 1).astype(float)
    y0 = 1 - y1
    sens0 = ((y0 - p0) ** 2 * y0).sum() / y0.sum()          # (0.1²) / 1
    spec0 = ((y0 - p0) ** 2 * (1 - y0)).sum() / (1 - y0).sum()  # (.2² + .6² + .3²) / 3
    sens1 = ((y1 - p1) ** 2 * y1).sum() / y1.sum()
    spec1 = ((y1 - p1) ** 2 * (1 - y1)).sum() / (1 - y1).sum()
    assert sens0 == pytest.approx(0.01) and spec0 == pytest.approx(0.49 / 3)
    want = np.array([[r * sens0 + (1 - r) * spec0, r * sens1 + (1 - r) * spec1]])
    got = rl.sensitivity_specificity_loss(P, T, activation=None, smooth_dr=0.0,
                                          reduction="none")
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    mean = rl.sensitivity_specificity_loss(P, T, activation=None, smooth_dr=0.0)
    assert float(mean) == pytest.approx(want.mean(), rel=1e-12)
    # r = 1: the sensitivity term alone; r = 0: the specificity term alone
    only = rl.sensitivity_specificity_loss(P, T, r=1.0, activation=None, smooth_dr=0.0,
                                           reduction="none")
    np.testing.assert_allclose(to_numpy(only), [[sens0, sens1]], rtol=1e-12)
    # smoothing in both denominators, as the SegLoss collection's smooth = 1
    s = 1.0
    smooth = rl.sensitivity_specificity_loss(P, T, activation=None, smooth_dr=s,
                                             reduction="none")
    want_s = r * ((y1 - p1) ** 2 * y1).sum() / (y1.sum() + s) \
        + (1 - r) * ((y1 - p1) ** 2 * (1 - y1)).sum() / ((1 - y1).sum() + s)
    assert float(to_numpy(smooth)[0, 1]) == pytest.approx(want_s, rel=1e-12)


def test_sensitivity_specificity_empty_sets_pooling_and_options():
    # a class absent from the reference: its sensitivity term is 0/0 -> 0 (no NaN)
    p = np.array([[[0.7, 0.3, 0.0], [0.5, 0.5, 0.0]]])
    y = np.array([[0, 1]])
    got = to_numpy(rl.sensitivity_specificity_loss(p, y, activation=None, smooth_dr=0.0,
                                                   reduction="none"))
    assert got.shape == (1, 3) and np.all(np.isfinite(got)) and got[0, 2] == 0.0
    # pooled = the batch as one sample
    pooled = rl.sensitivity_specificity_loss(X, Y, per_sample=False, reduction="none")
    flat = rl.sensitivity_specificity_loss(X.reshape(1, -1, 3), Y.reshape(1, -1),
                                           reduction="none")
    np.testing.assert_allclose(to_numpy(pooled), to_numpy(flat)[0], rtol=1e-12)
    # class weights and background, as the region losses
    none = to_numpy(rl.sensitivity_specificity_loss(X, Y, reduction="none"))
    cw = rl.sensitivity_specificity_loss(X, Y, class_weights=[0.0, 1.0, 3.0])
    want = ((none[:, 1] + 3 * none[:, 2]) / 4).mean()
    assert float(cw) == pytest.approx(want, rel=1e-12)
    nobg = rl.sensitivity_specificity_loss(X, Y, include_background=False, reduction="none")
    np.testing.assert_allclose(to_numpy(nobg), none[:, 1:], rtol=1e-12)
    # a 0/1 mask equals dropping the pixels (here: a whole row of each sample)
    mask = np.ones(Y.shape)
    mask[:, 0] = 0
    masked = rl.sensitivity_specificity_loss(X, Y, mask=mask, reduction="none")
    dropped = rl.sensitivity_specificity_loss(X[:, 1:], Y[:, 1:], reduction="none")
    np.testing.assert_allclose(to_numpy(masked), to_numpy(dropped), rtol=1e-12)


# =========================================================================== Hashemi et al.


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 3.0])
def test_asymmetric_is_tversky_with_the_stated_weights(beta):
    b2 = beta * beta
    alpha, beta_t = 1 / (1 + b2), b2 / (1 + b2)
    for smooth in (0.0, 1e-5, 1.0):
        got = rl.asymmetric_loss(X, Y, beta=beta, smooth_nr=smooth, smooth_dr=smooth,
                                 reduction="none")
        # dividing by 1 + β² scales the smoothing too
        want = rl.tversky_loss(X, Y, alpha=alpha, beta=beta_t, smooth_nr=smooth / (1 + b2),
                               smooth_dr=smooth / (1 + b2), reduction="none")
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-12)
    assert alpha + beta_t == pytest.approx(1.0)


def test_asymmetric_hand_case():
    # F-beta index per class: (1 + β²) tp / ((1 + β²) tp + β² fn + fp)
    beta = 1.5
    b2 = beta ** 2
    tp = np.array([0.9, 1.9])
    psum = P[0].sum(0)
    vol = np.array([1.0, 3.0])
    fp, fn = psum - tp, vol - tp
    want = 1 - (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
    got = rl.asymmetric_loss(P, T, beta=beta, activation=None, reduction="none", **NO_SMOOTH)
    np.testing.assert_allclose(to_numpy(got), [want], rtol=1e-12)
    # β > 1 weighs false negatives more: moving mass from a false negative to a false
    # positive lowers the loss
    y = np.array([[1, 1, 0, 0]])
    miss = np.array([[[0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])  # fn 0.5 (class 1)
    extra = np.array([[[0.0, 1.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]])  # fp 0.5 (class 1)
    lm = rl.asymmetric_loss(miss, y, activation=None, reduction="none", **NO_SMOOTH)
    le = rl.asymmetric_loss(extra, y, activation=None, reduction="none", **NO_SMOOTH)
    assert float(to_numpy(le)[0, 1]) < float(to_numpy(lm)[0, 1])
    # and the metric on hard inputs: 1 − F-beta score
    hard = np.eye(3)[np.argmax(X, -1)]
    loss = rl.asymmetric_loss(hard, Y, activation=None, per_sample=False, reduction="none",
                              **NO_SMOOTH)
    score = rl.fbeta_score(np.argmax(X, -1), Y, num_classes=3, beta=beta, average="none")
    np.testing.assert_allclose(to_numpy(loss), 1 - score, rtol=1e-12)


# =========================================================================== Yang et al.


def test_penalty_gdl_hand_case_k0_and_bounds():
    # the GDL hand case of test_loss_family.py: class 0 tp .9, Σp 2, V 1;
    # class 1 tp 1.9, Σp 2, V 3
    w = np.array([1.0, 1 / 9])
    gdl = 1 - 2 * (w * [0.9, 1.9]).sum() / (w * [3.0, 5.0]).sum()
    for k in (0.0, 1.0, 2.5, 10.0):
        got = rl.penalty_generalized_dice_loss(P, T, k=k, activation=None, **NO_SMOOTH)
        assert float(got) == pytest.approx(gdl / (1 + k * (1 - gdl)), rel=1e-12)
    # k = 0 is the generalized Dice loss, with every option
    for opts in ({}, dict(weighting="simple", per_sample=False),
                 dict(include_background=False, reduction="none")):
        np.testing.assert_allclose(
            to_numpy(rl.penalty_generalized_dice_loss(X, Y, k=0.0, **opts)),
            to_numpy(rl.generalized_dice_loss(X, Y, **opts)), rtol=1e-12)
    # 0 at a perfect prediction, 1 at a totally wrong one
    onehot = np.eye(3)[Y]
    assert float(rl.penalty_generalized_dice_loss(onehot, Y, activation=None, **NO_SMOOTH)) == 0
    wrong = np.eye(3)[(Y + 1) % 3]
    assert float(rl.penalty_generalized_dice_loss(wrong, Y, activation=None,
                                                  **NO_SMOOTH)) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 20.0))
def test_property_penalty_gdl_is_monotone_in_gdl(seed, k):
    """Predictions moved towards the target lower the GDL, and the penalty loss with it,
    never above the GDL itself."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=(1, 6))
    noise = _softmax(rng.normal(size=(1, 6, 3)))
    steps = np.linspace(0.0, 1.0, 6)
    gdl, pen = [], []
    for t in steps:
        p = (1 - t) * noise + t * np.eye(3)[y]
        gdl.append(float(rl.generalized_dice_loss(p, y, activation=None, **NO_SMOOTH)))
        pen.append(float(rl.penalty_generalized_dice_loss(p, y, k=k, activation=None,
                                                          **NO_SMOOTH)))
    order = np.argsort(gdl)
    assert np.all(np.diff(np.asarray(pen)[order]) >= -1e-12)
    assert np.all(np.asarray(pen) <= np.asarray(gdl) + 1e-12)


# =========================================================================== Fidon et al.


def test_gwdl_hand_case_both_modes():
    M = np.array([[0.0, 2.0, 2.0], [2.0, 0.0, 1.0], [2.0, 1.0, 0.0]])  # max 2: halved
    Mn = M / 2
    p = np.array([[[0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]])
    y = np.array([[1, 2, 0]])
    W = np.array([(Mn[y[0, i]] * p[0, i]).sum() for i in range(3)])
    # default: alpha = (0, 1, 1)
    a = np.array([0.0, 1.0, 1.0])[y[0]]
    tp = (a * (1 - W)).sum()
    want = 1 - 2 * tp / (2 * tp + W.sum())
    got = rl.generalized_wasserstein_dice_loss(p, y, dist_matrix=M, activation=None,
                                               **NO_SMOOTH)
    assert float(got) == pytest.approx(want, rel=1e-12)
    # GDL: alpha_c = 1 / (V_c + 1), each class once in the reference -> 1/2
    a = np.full(3, 0.5)
    tp = (a * (1 - W)).sum()
    want = 1 - 2 * tp / (a * (2 - W)).sum()
    got = rl.generalized_wasserstein_dice_loss(p, y, dist_matrix=M, weighting_mode="GDL",
                                               activation=None, **NO_SMOOTH)
    assert float(got) == pytest.approx(want, rel=1e-12)
    # a matrix and the same matrix scaled give the same loss (normalised by its max)
    for mode in ("default", "GDL"):
        a = rl.generalized_wasserstein_dice_loss(p, y, dist_matrix=M, weighting_mode=mode,
                                                 activation=None)
        b = rl.generalized_wasserstein_dice_loss(p, y, dist_matrix=5 * M, weighting_mode=mode,
                                                 activation=None)
        assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_gwdl_two_classes_default_is_foreground_dice():
    """With two classes and M = 1 − I the 'default' mode is the Dice loss of class 1."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 7, 2))
    y = rng.integers(0, 2, size=(3, 7))
    for opts in ({}, dict(per_sample=False), dict(smooth_nr=1.0, smooth_dr=1.0)):
        got = rl.generalized_wasserstein_dice_loss(x, y, reduction="none", **opts)
        want = rl.dice_loss(x, y, include_background=False, reduction="none", **opts)
        np.testing.assert_allclose(to_numpy(got), to_numpy(want)[..., 0], rtol=1e-12)


def test_gwdl_close_classes_cost_less_and_options():
    y = np.array([[1, 1, 2, 2]])
    M = [[0, 1, 1], [1, 0, 0.2], [1, 0.2, 0]]        # 1 and 2 close, both far from 0
    to_close = np.array([[[0, 0, 1], [0, 1, 0], [0, 0, 1], [0, 0, 1]]], float)
    to_far = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]], float)
    close = rl.generalized_wasserstein_dice_loss(to_close, y, dist_matrix=M, activation=None)
    far = rl.generalized_wasserstein_dice_loss(to_far, y, dist_matrix=M, activation=None)
    assert 0 < float(close) < float(far)
    # reduction, pooling, mask, ignore_index
    none = to_numpy(rl.generalized_wasserstein_dice_loss(X, Y, reduction="none"))
    assert none.shape == (2,)
    assert float(rl.generalized_wasserstein_dice_loss(X, Y)) == pytest.approx(none.mean())
    assert float(rl.generalized_wasserstein_dice_loss(X, Y, reduction="sum")) == \
        pytest.approx(none.sum())
    pooled = rl.generalized_wasserstein_dice_loss(X, Y, per_sample=False, reduction="none")
    flat = rl.generalized_wasserstein_dice_loss(X.reshape(1, -1, 3), Y.reshape(1, -1))
    assert pooled.shape == () and float(pooled) == pytest.approx(float(flat), rel=1e-12)
    y_ign = Y.copy()
    y_ign[:, 0] = 255
    ign = rl.generalized_wasserstein_dice_loss(X, y_ign, ignore_index=255,
                                               weighting_mode="GDL", reduction="none")
    drop = rl.generalized_wasserstein_dice_loss(X[:, 1:], Y[:, 1:], weighting_mode="GDL",
                                                reduction="none")
    np.testing.assert_allclose(to_numpy(ign), to_numpy(drop), rtol=1e-12)
    # a one-hot dense target is the label map
    dense = rl.generalized_wasserstein_dice_loss(X, np.eye(3)[Y], dist_matrix=M)
    assert float(dense) == pytest.approx(float(rl.generalized_wasserstein_dice_loss(
        X, Y, dist_matrix=M)), rel=1e-12)


# =========================================================================== Wong et al.


def test_exp_log_hand_case_with_frequency_weights():
    # one sample, 4 pixels, 2 classes (P, T): label frequencies f = (1, 3)
    g = 0.3
    tp, psum, vol = np.array([0.9, 1.9]), P[0].sum(0), np.array([1.0, 3.0])
    dice = (2 * tp + 1) / (psum + vol + 1)                      # ε = 1 (Wong et al.)
    dice_part = ((-np.log(dice)) ** g).mean()
    w = np.sqrt(4 / vol)                                        # ((Σ f) / f_l)^0.5
    p_true = P[0][np.arange(4), T[0]]
    ce_part = (w[T[0]] * (-np.log(p_true)) ** g).mean()
    want = 0.8 * dice_part + 0.2 * ce_part
    got = rl.exp_log_loss(np.log(P), T)
    assert float(got) == pytest.approx(want, rel=1e-12)
    # given weights, none, and the other exponents
    got = rl.exp_log_loss(np.log(P), T, ce_class_weights=[2.0, 0.5], gamma_dice=1.0,
                          gamma_ce=2.0, dice_weight=0.3, ce_weight=0.7, smooth_nr=0.0,
                          smooth_dr=0.0)
    dice0 = 2 * tp / (psum + vol)
    want = 0.3 * (-np.log(dice0)).mean() \
        + 0.7 * (np.array([2.0, 0.5])[T[0]] * np.log(p_true) ** 2).mean()
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_exp_log_parts_and_identities():
    # γ = 1 and only the Dice part: the mean of −ln Dice
    d = 1 - to_numpy(rl.dice_loss(X, Y, reduction="none", smooth_nr=1.0, smooth_dr=1.0))
    got = rl.exp_log_loss(X, Y, gamma_dice=1.0, ce_weight=0.0, dice_weight=1.0)
    assert float(got) == pytest.approx((-np.log(d)).mean(), rel=1e-12)
    # γ = 1, unweighted, only the CE part: cross-entropy
    got = rl.exp_log_loss(X, Y, gamma_ce=1.0, dice_weight=0.0, ce_weight=1.0,
                          ce_class_weights=None)
    assert float(got) == pytest.approx(float(rl.cross_entropy_loss(X, Y)), rel=1e-12)
    # frequency weights come from the whole batch (pixel weights included)
    f = np.bincount(Y.ravel(), minlength=3).astype(float)
    w = np.sqrt(f.sum() / f)
    got = rl.exp_log_loss(X, Y, gamma_ce=1.0, dice_weight=0.0, ce_weight=1.0)
    want = rl.exp_log_loss(X, Y, gamma_ce=1.0, dice_weight=0.0, ce_weight=1.0,
                           ce_class_weights=w.tolist())
    assert float(got) == pytest.approx(float(want), rel=1e-12)
    # a one-hot dense target is the label map (two code paths, one formula)
    for opts in ({}, dict(ce_class_weights=None, gamma_ce=2.0)):
        dense = rl.exp_log_loss(X, np.eye(3)[Y], **opts)
        assert float(dense) == pytest.approx(float(rl.exp_log_loss(X, Y, **opts)), rel=1e-12)
    # 'sum': Dice part over samples, CE part over pixels
    s = rl.exp_log_loss(X, Y, reduction="sum", ce_weight=0.0)
    assert float(s) == pytest.approx(2 * float(rl.exp_log_loss(X, Y, ce_weight=0.0)),
                                     rel=1e-12)


# =========================================================================== Taghanaki et al.


def test_combo_hand_case_sign_and_beta():
    # one foreground, sigmoid: p = (0.9, 0.2, 0.6), y = (1, 0, 1)
    p = np.array([[0.9, 0.2, 0.6]])
    y = np.array([[1, 0, 1]])
    logits = np.log(p / (1 - p))
    for alpha, beta in ((0.5, 0.5), (0.3, 0.8), (1.0, 0.2), (0.0, 0.5)):
        bce = -(beta * y * np.log(p) + (1 - beta) * (1 - y) * np.log(1 - p)).mean()
        dice = 2 * (p * y).sum() / (p.sum() + y.sum())
        got = rl.combo_loss(logits, y, alpha=alpha, beta=beta, class_axis=None,
                            activation="sigmoid", **NO_SMOOTH)
        assert float(got) == pytest.approx(alpha * bce - (1 - alpha) * dice, rel=1e-12)
        shifted = rl.combo_loss(logits, y, alpha=alpha, beta=beta, one_minus_dice=True,
                                class_axis=None, activation="sigmoid", **NO_SMOOTH)
        assert float(shifted) == pytest.approx(float(got) + (1 - alpha), rel=1e-12, abs=1e-15)
    # at a perfect prediction: −(1 − α) (negative!), or 0 with one_minus_dice
    with np.errstate(divide="ignore"):
        log_onehot = np.log(np.eye(3)[Y])               # logits 0 / -inf: softmax one-hot
    perfect = rl.combo_loss(log_onehot, Y, **NO_SMOOTH)
    assert float(perfect) == pytest.approx(-0.5, abs=1e-12)
    assert float(rl.combo_loss(log_onehot, Y, one_minus_dice=True,
                               **NO_SMOOTH)) == pytest.approx(0.0, abs=1e-12)


def test_combo_beta_weighs_false_negatives():
    y = np.array([[1, 1, 0, 0]])
    miss = np.array([[0.2, 0.9, 0.1, 0.1]])            # a false negative (pixel 0)
    extra = np.array([[0.9, 0.9, 0.8, 0.1]])           # a false positive (pixel 2)
    args = dict(class_axis=None, activation="sigmoid", alpha=1.0)

    def f(p, beta):
        return float(rl.combo_loss(np.log(p / (1 - p)), y, beta=beta, **args))

    assert f(miss, 0.9) > f(extra, 0.9)       # β > 0.5: misses cost more
    assert f(miss, 0.1) < f(extra, 0.1)       # β < 0.5: false positives cost more


def test_combo_softmax_identities():
    # α = 0: −Dice = dice_loss − 1; α = 1: the per-channel BCE of the softmax probabilities
    got = rl.combo_loss(X, Y, alpha=0.0)
    assert float(got) == pytest.approx(float(rl.dice_loss(X, Y)) - 1, rel=1e-12)
    p = _softmax(X)
    y = np.eye(3)[Y]
    bce = -(0.5 * y * np.log(p) + 0.5 * (1 - y) * np.log(1 - p)).mean()
    assert float(rl.combo_loss(X, Y, alpha=1.0)) == pytest.approx(bce, rel=1e-10)
    # without the background the cross-entropy leaves channel 0 too
    bce1 = -(0.5 * y * np.log(p) + 0.5 * (1 - y) * np.log(1 - p))[..., 1:].mean()
    assert float(rl.combo_loss(X, Y, alpha=1.0, include_background=False)) == \
        pytest.approx(bce1, rel=1e-10)
    # stable: a saturated, right prediction gives the finite limit
    big = 60.0 * (2 * np.eye(3)[Y] - 1)
    assert np.isfinite(float(rl.combo_loss(big.astype(np.float32), Y)))


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_combo_label_map_equals_one_hot_target(activation):
    # a label map takes a one-term-per-element path, a dense target the two products:
    # one formula, the same value, and (JAX) the same gradient
    opts = dict(activation=activation, beta=0.7, ignore_index=None)
    dense = rl.combo_loss(X, np.eye(3)[Y], **opts)
    assert float(dense) == pytest.approx(float(rl.combo_loss(X, Y, **opts)), rel=1e-12)
    if HAVE_JAX:
        jax = _jax()
        import jax.numpy as jnp

        g_map = jax.grad(lambda x: rl.combo_loss(x, jnp.asarray(Y), **opts))(jnp.asarray(X))
        g_dense = jax.grad(lambda x: rl.combo_loss(x, jnp.asarray(np.eye(3)[Y]), **opts))(
            jnp.asarray(X))
        np.testing.assert_allclose(np.asarray(g_map), np.asarray(g_dense), rtol=1e-10,
                                   atol=1e-14)


# =========================================================================== Wu et al.


def test_topk_hand_case_count_and_ignore():
    p = np.array([[[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]]])
    y = np.zeros((1, 5), np.int64)
    losses = -np.log(p[0, :, 0])                          # .105 .511 1.609 .693 .357
    top = np.sort(losses)[::-1]
    for k, count in ((10, 1), (40, 2), (50, 2), (60, 3), (100, 5)):   # int(5 k / 100), >= 1
        got = rl.topk_cross_entropy(np.log(p), y, k=k)
        assert float(got) == pytest.approx(top[:count].mean(), rel=1e-12), k
        s = rl.topk_cross_entropy(np.log(p), y, k=k, reduction="sum")
        assert float(s) == pytest.approx(top[:count].sum(), rel=1e-12)
    # ignored pixels are never selected: the hardest pixel ignored -> the next ones
    y_ign = y.copy()
    y_ign[0, 2] = 255
    got = rl.topk_cross_entropy(np.log(p), y_ign, k=40, ignore_index=255)
    assert float(got) == pytest.approx(np.mean([losses[3], losses[1]]), rel=1e-12)
    # fewer scored pixels than the count: the mean of every scored pixel
    y_most = np.full((1, 5), 255)
    y_most[0, 1] = 0
    got = rl.topk_cross_entropy(np.log(p), y_most, k=60, ignore_index=255)
    assert float(got) == pytest.approx(losses[1], rel=1e-12)
    # nothing scored: 0
    assert float(rl.topk_cross_entropy(np.log(p), np.full((1, 5), 255), ignore_index=255)) == 0


@pytest.mark.parametrize("opts", [dict(), dict(ignore_index=255), dict(mask=True),
                                  dict(activation="sigmoid"), dict(label_smoothing=0.1)],
                         ids=lambda o: ",".join(o) or "defaults")
def test_topk_at_100_percent_is_cross_entropy(opts):
    opts = dict(opts)
    y = Y.copy()
    if "ignore_index" in opts:
        y[0, 0] = 255
    if opts.pop("mask", False):
        opts["mask"] = (RNG.random(Y.shape) < 0.7).astype(float)
    got = rl.topk_cross_entropy(X, y, k=100, **opts)
    want = rl.cross_entropy_loss(X, y, **opts)
    assert float(got) == pytest.approx(float(want), rel=1e-12)


def test_topk_per_sample_and_pooling():
    none = to_numpy(rl.topk_cross_entropy(X, Y, k=20, per_sample=True, reduction="none"))
    assert none.shape == (2,)
    for n in range(2):
        one = rl.topk_cross_entropy(X[n:n + 1], Y[n:n + 1], k=20)
        assert float(one) == pytest.approx(none[n], rel=1e-12)
    assert float(rl.topk_cross_entropy(X, Y, k=20, per_sample=True)) == \
        pytest.approx(none.mean(), rel=1e-12)
    # pooled: the hardest 20 % of all 60 pixels (12), not 6 per sample
    ce = -np.log(_softmax(X))[np.arange(2)[:, None, None], np.arange(5)[:, None],
                              np.arange(6), Y]
    want = np.sort(ce.ravel())[::-1][:12].mean()
    assert float(rl.topk_cross_entropy(X, Y, k=20)) == pytest.approx(want, rel=1e-12)
    assert float(rl.topk_cross_entropy(X, Y, k=20)) >= float(rl.cross_entropy_loss(X, Y))


# =========================================================================== Matthews


def test_mcc_hand_case_and_metric_on_hard_inputs():
    # class 1 of (P, T): tp 1.9, fp 0.1, fn 1.1, tn 0.9
    tp, fp, fn, tn = 1.9, 0.1, 1.1, 0.9
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    got = to_numpy(rl.mcc_loss(P, T, activation=None, smooth=0.0, reduction="none"))
    # two classes: the one-vs-rest MCC of class 0 is the same (roles swapped)
    np.testing.assert_allclose(got, [1 - mcc, 1 - mcc], rtol=1e-12)
    # with smoothing, each count + s
    s = 1.0
    tps, fps, fns, tns = tp + s, fp + s, fn + s, tn + s
    mccs = (tps * tns - fps * fns) / math.sqrt((tps + fps) * (tps + fns) * (tns + fps)
                                               * (tns + fns))
    got = to_numpy(rl.mcc_loss(P, T, activation=None, smooth=s, reduction="none"))
    np.testing.assert_allclose(got, [1 - mccs, 1 - mccs], rtol=1e-12)
    # hard one-hot predictions, no smoothing: 1 − the MCC metric, per class
    labels = np.argmax(X, -1)
    for per_sample in (False, True):
        loss = to_numpy(rl.mcc_loss(np.eye(3)[labels], Y, activation=None, smooth=0.0,
                                    per_sample=per_sample, reduction="none"))
        metric = to_numpy(rl.matthews_corrcoef(labels, Y, num_classes=3, average="none",
                                               per_sample=per_sample))
        np.testing.assert_allclose(loss, 1 - metric, rtol=1e-12, atol=1e-15)


def test_mcc_degenerate_classes():
    # smooth = 0, a class absent from reference and prediction: MCC undefined -> loss 0
    p = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    y = np.array([[0, 1]])
    got = to_numpy(rl.mcc_loss(p, y, activation=None, smooth=0.0, reduction="none"))
    np.testing.assert_allclose(got, [0.0, 0.0, 0.0], atol=1e-12)
    # ... predicted although absent: undefined too, loss 1
    q = np.array([[[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]])
    got = to_numpy(rl.mcc_loss(q, y, activation=None, smooth=0.0, reduction="none"))
    assert got[2] == 1.0
    # with smoothing: the absent, empty class scores MCC 1/2 (documented)
    got = to_numpy(rl.mcc_loss(p, y, activation=None, reduction="none"))
    assert got[2] == pytest.approx(0.5, rel=1e-4)


# =========================================================================== Caliva et al.


def test_distance_penalized_hand_cases():
    y = np.array([[0, 1, 1, 1, 1, 1, 0]])
    x = np.zeros((1, 7, 2))
    phi = np.array([0, 2 / 3, 1 / 3, 0, 1 / 3, 2 / 3, 0])
    got = rl.distance_penalized_cross_entropy(x, y)
    assert float(got) == pytest.approx(np.log(2) * (1 + phi).mean(), rel=1e-12)
    none = to_numpy(rl.distance_penalized_cross_entropy(x, y, reduction="none"))
    np.testing.assert_allclose(none, [np.log(2) * (1 + phi)], rtol=1e-12)
    # sigmoid, one channel: inside and outside maps (SegLoss's binary map)
    xs = np.array([[0.5, -1.0, 2.0, 0.3, 1.0, -0.2, 0.0, 0.4]])
    ys = np.array([[0, 0, 0, 1, 1, 1, 0, 0]])
    d_in = np.array([0, 0, 0, 1, 2, 1, 0, 0])             # to the nearest background
    d_out = np.array([3, 2, 1, 0, 0, 0, 1, 2])            # to the nearest foreground
    phi = np.where(ys[0] == 1, (2 - d_in) / 2, (3 - d_out) / 3)
    bce = np.log1p(np.exp(-xs[0])) + (1 - ys[0]) * xs[0]
    got = rl.distance_penalized_cross_entropy(xs, ys, class_axis=None, activation="sigmoid")
    assert float(got) == pytest.approx(((1 + phi) * bce).mean(), rel=1e-12)
    # 2-D with spacing: the map is normalised per region, so a uniform spacing changes
    # nothing, an anisotropic one does
    y2 = np.zeros((1, 6, 6), np.int64)
    y2[0, 1:5, 2:5] = 1
    x2 = RNG.normal(size=(1, 6, 6, 2))
    base = float(rl.distance_penalized_cross_entropy(x2, y2))
    assert float(rl.distance_penalized_cross_entropy(x2, y2, spacing=3.0)) == \
        pytest.approx(base, rel=1e-12)
    assert float(rl.distance_penalized_cross_entropy(x2, y2, spacing=(1.0, 4.0))) != \
        pytest.approx(base, rel=1e-6)


def test_distance_penalized_bounds_and_no_boundary():
    # between CE and 2·CE; a target without any boundary is plain cross-entropy
    ce = float(rl.cross_entropy_loss(X, Y))
    dp = float(rl.distance_penalized_cross_entropy(X, Y))
    assert ce < dp < 2 * ce
    flat = np.zeros_like(Y)
    assert float(rl.distance_penalized_cross_entropy(X, flat)) == \
        pytest.approx(float(rl.cross_entropy_loss(X, flat)), rel=1e-12)
    # channels-first = channels-last
    cf = rl.distance_penalized_cross_entropy(np.moveaxis(X, -1, 1), Y, class_axis=1)
    assert float(cf) == pytest.approx(dp, rel=1e-12)
    # class weights reach the cross-entropy (normaliser Σ w_y, the penalty not in it)
    cw = rl.distance_penalized_cross_entropy(X, Y, class_weights=[1.0, 1.0, 1.0])
    assert float(cw) == pytest.approx(dp, rel=1e-12)


def test_distance_penalty_map_hand_case_sigmoid():
    # the sigmoid map adds the complement's map: the binary case of the hand case above
    ys = np.array([[0, 0, 0, 1, 1, 1, 0, 0]])
    d_in = np.array([0, 0, 0, 1, 2, 1, 0, 0])
    d_out = np.array([3, 2, 1, 0, 0, 0, 1, 2])
    want = np.where(ys[0] == 1, (2 - d_in) / 2, (3 - d_out) / 3)
    phi = rl.distance_penalty_map(ys, num_classes=2, activation="sigmoid")
    np.testing.assert_allclose(phi[0, :, 1], want, rtol=1e-12)
    np.testing.assert_allclose(phi[0, :, 0], want, rtol=1e-12)  # class 0 = the complement


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("class_axis", [-1, 1])
def test_precomputed_penalty_maps_equal_the_in_call_maps(activation, class_axis):
    rng = np.random.default_rng(3)
    x = np.moveaxis(rng.normal(size=(2, 9, 8, 3)), -1, class_axis)
    y = rng.integers(0, 3, (2, 9, 8))
    y[0, :2, :3] = 255
    mask = rng.uniform(size=(2, 9, 8)) > 0.2
    for spacing in (None, (2.5, 0.7)):
        opts = dict(activation=activation, class_axis=class_axis, ignore_index=255,
                    spacing=spacing)
        # mask-0 pixels leave the regions as ignored ones do
        phi = rl.distance_penalty_map(np.where(mask, y, 255), num_classes=3,
                                      activation=activation, class_axis=class_axis,
                                      ignore_index=255, spacing=spacing)
        assert phi.shape == x.shape and np.all(phi >= 0)
        assert np.all(np.moveaxis(phi, class_axis, -1)[0, :2, :3] == 0)  # ignored: 0
        for reduction in ("mean", "sum", "none"):
            want = rl.distance_penalized_cross_entropy(x, y, mask=mask, reduction=reduction,
                                                       **opts)
            got = rl.distance_penalized_cross_entropy(x, y, mask=mask, reduction=reduction,
                                                      penalty_maps=phi, **opts)
            np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-12)
    # a dense one-hot target gives the label map's maps
    dense = np.moveaxis(np.eye(3)[rng.integers(0, 3, (2, 9, 8))], -1, class_axis)
    labels = np.argmax(dense, axis=class_axis)
    np.testing.assert_array_equal(
        rl.distance_penalty_map(dense, num_classes=3, class_axis=class_axis,
                                activation=activation),
        rl.distance_penalty_map(labels, num_classes=3, class_axis=class_axis,
                                activation=activation))
    # in a compound, the maps are the call's keyword array
    loss = rl.combine((1.0, rl.dice_loss), (0.5, rl.distance_penalized_cross_entropy),
                      activation=activation, class_axis=class_axis)
    phi = rl.distance_penalty_map(y % 3, num_classes=3, activation=activation,
                                  class_axis=class_axis)
    assert float(loss(x, y % 3, penalty_maps=phi)) == pytest.approx(float(loss(x, y % 3)),
                                                                     rel=1e-12)


@jax_only
def test_precomputed_penalty_maps_under_jit_and_grad():
    jax = _jax()
    import jax.numpy as jnp

    y = jnp.asarray(Y)
    phi = rl.distance_penalty_map(y, num_classes=3)
    f_maps = jax.jit(jax.value_and_grad(
        lambda x, m: rl.distance_penalized_cross_entropy(x, y, penalty_maps=m)))
    f_call = jax.jit(jax.value_and_grad(lambda x: rl.distance_penalized_cross_entropy(x, y)))
    # the maps themselves can be built under jit too
    jitted = jax.jit(lambda t: rl.distance_penalty_map(t, num_classes=3))(y)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(phi))
    (v1, g1), (v2, g2) = f_maps(jnp.asarray(X), phi), f_call(jnp.asarray(X))
    assert float(v1) == pytest.approx(float(v2), rel=1e-12)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-10, atol=1e-14)


def test_penalty_maps_bad_input():
    phi = rl.distance_penalty_map(Y, num_classes=3)
    loss = rl.distance_penalized_cross_entropy
    with pytest.raises(ValueError,
                       match=r"penalty_maps has shape \(2, 5, 6\).*distance_penalty_map"):
        loss(X, Y, penalty_maps=phi[..., 0])
    with pytest.raises(ValueError, match="penalty_maps must be >= 0.*-1"):
        loss(X, Y, penalty_maps=phi - 1.0)
    bad = phi.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="penalty_maps holds non-finite"):
        loss(X, Y, penalty_maps=bad)
    with pytest.raises(TypeError, match="penalty_maps must be a real floating"):
        loss(X, Y, penalty_maps=phi > 0)
    # a non-finite map at an ignored pixel is never read
    y = Y.copy()
    y[0, 0, 0] = 255
    assert np.isfinite(float(loss(X, y, ignore_index=255, penalty_maps=bad)))
    # only the losses that read it take it
    with pytest.raises(TypeError, match="unexpected keyword argument.*penalty_maps"):
        rl.combine((1.0, rl.dice_loss))(X, Y, penalty_maps=phi)
    with pytest.raises(ValueError, match="activation"):
        rl.distance_penalty_map(Y, num_classes=3, activation="relu")
    with pytest.raises(ValueError, match="ignore_index applies to integer label maps"):
        rl.distance_penalty_map(np.eye(3)[Y], num_classes=3, ignore_index=255)
    with pytest.raises(ValueError, match="spacing"):
        rl.distance_penalty_map(Y, num_classes=3, spacing=(1.0, -2.0))


# =========================================================================== properties


def _at_target_value(name):
    """The loss at a perfect (one-hot probability) prediction, by each formula."""
    return {"combo_loss": -0.5}.get(name, 0.0)


PROB_CALLS = {  # calls on probabilities (activation=None), with the options that make the
    # formula exactly 0 (or its minimum) at the target
    "sensitivity_specificity_loss": lambda p, y: rl.sensitivity_specificity_loss(
        p, y, activation=None),
    "generalized_wasserstein_dice_loss": lambda p, y: rl.generalized_wasserstein_dice_loss(
        p, y, activation=None),
    "mcc_loss": lambda p, y: rl.mcc_loss(p, y, activation=None, smooth=0.0),
    # log-probability losses take log p as logits (log_softmax(log p) = log p)
    "combo_loss": lambda p, y: rl.combo_loss(np.log(p), y, **NO_SMOOTH),
    "exp_log_loss": lambda p, y: rl.exp_log_loss(np.log(p), y),
    "topk_cross_entropy": lambda p, y: rl.topk_cross_entropy(np.log(p), y),
    "distance_penalized_cross_entropy": lambda p, y: rl.distance_penalized_cross_entropy(
        np.log(p), y),
    "dice_topk_loss": lambda p, y: rl.dice_topk_loss(np.log(p), y, **NO_SMOOTH),
}


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(PROB_CALLS)))
def test_property_minimal_at_the_target(seed, name):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=(2, 4, 4))
    y[:, 0, 0], y[:, 0, 1], y[:, 0, 2] = 0, 1, 2          # every class in every sample
    onehot = np.eye(3)[y]
    call = PROB_CALLS[name]
    at_target = float(call(onehot, y))
    assert at_target == pytest.approx(_at_target_value(name), abs=1e-9)
    for t in (0.05, 0.5, 0.95):
        noise = _softmax(rng.normal(size=onehot.shape) * 2)
        assert float(call((1 - t) * onehot + t * noise, y)) > at_target - 1e-12


@pytest.mark.parametrize("name", sorted(NEW_LOSSES))
def test_jit_equals_eager_and_options_are_static(name):
    jax = _jax()
    fn = NEW_LOSSES[name]
    eager = float(fn(X, Y))
    jitted = jax.jit(fn)(jax.numpy.asarray(X), jax.numpy.asarray(Y))
    assert float(jitted) == pytest.approx(eager, rel=1e-10)
    mask = (RNG.random(Y.shape) < 0.8).astype(float)
    eager_m = float(fn(X, Y, mask=mask))
    jit_m = jax.jit(lambda a, b, m: fn(a, b, mask=m))(*(jax.numpy.asarray(v)
                                                       for v in (X, Y, mask)))
    assert float(jit_m) == pytest.approx(eager_m, rel=1e-10)


EDGE_TARGETS = {
    "perfect": lambda: (20.0 * (2 * np.eye(3)[Y] - 1), Y, {}),
    "class absent": lambda: (X, np.where(Y == 2, 0, Y), {}),
    "all ignored": lambda: (X, np.full_like(Y, 255), {"ignore_index": 255}),
    "all background": lambda: (X, np.zeros_like(Y), {}),
}


@jax_only
@pytest.mark.parametrize("edge", sorted(EDGE_TARGETS))
@pytest.mark.parametrize("name", sorted(NEW_LOSSES))
def test_gradients_finite_at_edge_cases(name, edge):
    jax = _jax()
    x, y, opts = EDGE_TARGETS[edge]()
    fn = NEW_LOSSES[name]
    value, grad = jax.jit(jax.value_and_grad(lambda a: fn(a, jax.numpy.asarray(y), **opts)))(
        jax.numpy.asarray(x))
    assert np.isfinite(float(value)), (name, edge, float(value))
    assert np.all(np.isfinite(np.asarray(grad))), (name, edge)
    if edge == "all ignored":   # 0, as every loss (combo: −(1 − α), the Dice of nothing is 1)
        assert float(value) == pytest.approx(_at_target_value(name), abs=1e-12)
        assert np.all(np.asarray(grad) == 0)


@jax_only
@pytest.mark.parametrize("name, opts", [
    ("sensitivity_specificity_loss", dict(per_sample=False, class_weights=[1, 2, 0.5])),
    ("generalized_wasserstein_dice_loss", dict(weighting_mode="GDL",
                                               dist_matrix=[[0, 1, 2], [1, 0, 1], [2, 1, 0]])),
    ("exp_log_loss", dict()),
    ("combo_loss", dict(activation="sigmoid", beta=0.7)),
    ("topk_cross_entropy", dict(k=40)),
    ("mcc_loss", dict(per_sample=True)),
    ("distance_penalized_cross_entropy", dict(activation="sigmoid")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_grad_matches_finite_differences(name, opts):
    jax = _jax()
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 2, 3, 3))
    y = rng.integers(0, 3, size=(2, 2, 3))
    y[0, 0, 0] = 255
    fn = functools.partial(NEW_LOSSES[name], ignore_index=255, **opts)
    grad = np.asarray(jax.jit(jax.grad(lambda a: fn(a, y)))(jax.numpy.asarray(x)))
    numeric = finite_difference(lambda a: float(fn(a, y)), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert np.all(grad[0, 0, 0] == 0)        # an ignored pixel gets no gradient


# =========================================================================== backends


BACKEND_CALLS = {
    "sensitivity_specificity_loss": dict(ignore_index=255),
    "generalized_wasserstein_dice_loss": dict(ignore_index=255, weighting_mode="GDL"),
    "exp_log_loss": dict(ignore_index=255),
    "combo_loss": dict(ignore_index=255),
    "topk_cross_entropy": dict(ignore_index=255, k=25),
    "dice_topk_loss": dict(ignore_index=255),
    "mcc_loss": dict(ignore_index=255),
    "distance_penalized_cross_entropy": dict(ignore_index=255),
}


@pytest.mark.parametrize("name", sorted(BACKEND_CALLS))
def test_backend_matrix(backend, name):
    x = X.astype(np.float32)
    y = Y.copy()
    y[1, 3, 4] = 255
    fn = functools.partial(NEW_LOSSES[name], **BACKEND_CALLS[name])
    want = float(fn(x, y))
    got = fn(backend(x), backend(y))
    assert_matches(got, np.float32(want), backend, rtol=2e-5, atol=1e-6)


def test_float32_and_half_inputs_compute_in_float32():
    for name, fn in NEW_LOSSES.items():
        assert fn(X.astype(np.float32), Y).dtype == np.float32, name
        assert fn(X.astype(np.float16), Y).dtype == np.float32, name
        assert fn(X, Y).dtype == np.float64, name


@settings(max_examples=20, deadline=None)
@given(logits_and_labels(n_max=2, pixels_max=6, c_min=2, c_max=4, bound=6.0),
       st.sampled_from(sorted(TERMS)))
def test_property_finite_and_layout_independent(case, name):
    x, y = case
    fn = NEW_LOSSES[name]
    last = float(fn(x, y))
    first = float(fn(np.moveaxis(x, -1, 1), y, class_axis=1))
    assert np.isfinite(last)
    assert first == pytest.approx(last, rel=1e-10, abs=1e-12)


def test_log_one_minus_edges():
    from regionloss.losses.mixed import log_one_minus

    log_p = np.array([-1e-8, np.log(0.5), -50.0, 0.0, np.nan, -np.inf])
    got = log_one_minus(np, log_p)
    np.testing.assert_allclose(got[:3], [np.log(1e-8), np.log(0.5), np.log1p(-np.exp(-50.0))],
                               rtol=1e-7, atol=1e-15)
    assert got[3] == -np.inf and np.isnan(got[4]) and got[5] == 0.0
    if HAVE_JAX:
        jax = _jax()
        import jax.numpy as jnp

        # p = 1 exactly: −inf with a zero, not NaN, gradient once selected away
        grad = jax.grad(lambda v: jnp.sum(jnp.where(v < 0, log_one_minus(jnp, v), 0.0)))(
            jnp.asarray([0.0, -0.5]))
        assert np.all(np.isfinite(np.asarray(grad))) and float(grad[0]) == 0.0


def test_combo_zero_weights_remove_their_terms():
    # a confidently wrong float32 pixel: log(1 - p) saturates to -inf (documented), but a
    # weight of exactly 0 on that term gives its limit, never 0 * inf = NaN
    x = np.zeros((1, 2, 3), np.float32)
    x[0, 0] = [40.0, 0.0, 0.0]
    y = np.array([[1, 1]])
    assert float(rl.combo_loss(x, y)) == np.inf                     # loud, not plausible
    for alpha, beta in ((0.5, 1.0), (0.0, 0.5), (0.0, 1.0)):
        got = float(rl.combo_loss(x, y, alpha=alpha, beta=beta))
        want = float(rl.combo_loss(x.astype(np.float64), y, alpha=alpha, beta=beta))
        assert np.isfinite(got) and got == pytest.approx(want, rel=1e-5), (alpha, beta)


def test_penalty_maps_of_soft_dense_targets_and_arrays_in_partials():
    # a soft dense target is read where it exceeds 0.5, as the loss itself reads it
    rng = np.random.default_rng(11)
    soft = 0.8 * np.eye(3)[Y] + 0.2 / 3
    phi = rl.distance_penalty_map(soft, num_classes=3)
    assert np.array_equal(phi, rl.distance_penalty_map(Y, num_classes=3))
    x = rng.normal(size=X.shape)
    assert float(rl.distance_penalized_cross_entropy(x, soft, penalty_maps=phi)) == \
        pytest.approx(float(rl.distance_penalized_cross_entropy(x, soft)), rel=1e-12)
    # no pixels: an empty map in the distance dtype
    empty = rl.distance_penalty_map(np.zeros((0, 4, 5), np.int64), num_classes=3)
    assert empty.shape == (0, 4, 5, 3) and empty.dtype == np.float64
    # an array bound into a compound's term is refused with the way to pass it
    with pytest.raises(ValueError, match=r"penalty_maps is an array of each call.*"
                                         r"compound\(pred, target, penalty_maps=\.\.\.\)"):
        rl.combine((1.0, functools.partial(rl.distance_penalized_cross_entropy,
                                           penalty_maps=phi)))


@jax_only
def test_penalty_maps_of_another_library_are_refused_by_name():
    import jax.numpy as jnp

    phi = rl.distance_penalty_map(Y, num_classes=3)
    with pytest.raises(TypeError, match=r"penalty_maps is a jax\S* but the prediction is "
                                        r"read as a numpy.ndarray"):
        rl.distance_penalized_cross_entropy(X, Y, penalty_maps=jnp.asarray(phi))
    # NumPy maps next to a JAX prediction are converted
    got = rl.distance_penalized_cross_entropy(jnp.asarray(X), Y, penalty_maps=phi)
    assert float(got) == pytest.approx(float(rl.distance_penalized_cross_entropy(X, Y)),
                                       rel=1e-5)
