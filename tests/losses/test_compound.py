"""Compound losses (regionloss.losses.compound): ``combine`` equals the weighted sum and
shares its work (one set of statistics, one log-softmax), ``dice_ce_loss`` and
``dice_focal_loss`` route their options, conflicts are build-time errors; jit and
gradients, the backend matrix."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import regionloss as rl
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import (assert_same_namespace, check_loss_on_backend, finite_difference, jax_only,
                      loss_matrix_inputs, to_numpy)
from conftest import jax_x64 as _jax


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


# --------------------------------------------------------------------------- backends, vmap


FAMILY = {
    "dice_ce_loss": (rl.dice_ce_loss, [dict(ignore_index=255)]),
    "dice_focal_loss": (rl.dice_focal_loss, [dict(class_axis=1)]),
}
MATRIX = [(name, i) for name, (_, opts) in FAMILY.items() for i in range(len(opts))]


def _matrix_inputs(opts):
    return loss_matrix_inputs(opts, seed=16)


@pytest.mark.parametrize("name, index", MATRIX, ids=[f"{n}-{i}" for n, i in MATRIX])
def test_backend_matrix(backend, name, index):
    loss, option_sets = FAMILY[name]
    opts = option_sets[index]
    check_loss_on_backend(loss, opts, backend, seed=16)


def test_backend_compound_object(backend):
    x, y, mask = _matrix_inputs({})
    loss = rl.combine((1.0, rl.dice_loss), (0.5, rl.lovasz_softmax_loss),
                      (2.0, rl.cross_entropy_loss))
    got = loss(backend(x), backend(y), mask=backend(mask))
    assert_same_namespace(got, backend)
    np.testing.assert_allclose(to_numpy(got), to_numpy(loss(x, y, mask=mask)), rtol=2e-5)


@jax_only
@pytest.mark.parametrize("loss", [rl.dice_ce_loss],
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
    (lambda: rl.dice_ce_loss(X, LAB, activation=None), r"take logits"),
    (lambda: rl.dice_ce_loss(X, LAB, reduction="none"), r"reduction must be one of 'mean', 'sum'"),
    (lambda: rl.dice_focal_loss(X, LAB, alpha=0.5), r"single number"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
