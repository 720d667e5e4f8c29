"""The loss protocol (regionloss.losses._term): a term is a frozen, validated options object
whose call equals the public loss; ``Prepared`` computes what several terms read once;
``prepare_terms`` checks the terms against the inputs and routes auxiliary arrays."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pytest

import regionloss as rl
from conftest import jax_only
from conftest import jax_x64 as _jax
from regionloss._inputs import prepare
from regionloss.losses._term import LossTerm, Prepared, prepare_terms, term_fields
from regionloss.losses.lovasz import LovaszHingeTerm
from regionloss.losses.pixelwise import CrossEntropyTerm, FocalTerm
from regionloss.losses.region import DiceTerm, JaccardTerm, TverskyTerm


def _inputs(seed=0, n=2, pixels=6, c=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, pixels, c)), rng.integers(0, c, size=(n, pixels))


# --------------------------------------------------------------------------- terms


def test_term_fields_are_the_options_with_defaults():
    fields = term_fields(TverskyTerm)
    assert fields["alpha"] == 0.3 and fields["beta"] == 0.7
    assert fields["class_axis"] == -1 and fields["ignore_index"] is None
    assert fields["reduction"] == "mean" and fields["activation"] == "softmax"
    assert "mask" not in fields and "name" not in fields


def test_a_term_is_frozen_and_validated_once():
    term = DiceTerm(ignore_index=np.int64(255), smooth_nr=1, class_axis=np.int32(1))
    assert type(term.ignore_index) is int and term.ignore_index == 255
    assert type(term.class_axis) is int and term.class_axis == 1
    assert type(term.smooth_nr) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        term.smooth_nr = 2.0
    with pytest.raises(TypeError, match="class_axis must be an int or None"):
        DiceTerm(class_axis=True)
    with pytest.raises(ValueError, match="reduction must be one of"):
        DiceTerm(reduction="avg")
    with pytest.raises(ValueError, match="alpha and beta cannot both be 0"):
        TverskyTerm(alpha=0, beta=0)
    with pytest.raises(TypeError):
        DiceTerm(gamma=2.0)      # not an option of the Dice loss


@pytest.mark.parametrize("term, loss", [
    (DiceTerm(include_background=False, squared=True), lambda x, y, **k: rl.dice_loss(
        x, y, include_background=False, squared=True, **k)),
    (TverskyTerm(alpha=0.6, beta=0.4, reduction="none"), lambda x, y, **k: rl.tversky_loss(
        x, y, alpha=0.6, beta=0.4, reduction="none", **k)),
    (CrossEntropyTerm(label_smoothing=0.1), lambda x, y, **k: rl.cross_entropy_loss(
        x, y, label_smoothing=0.1, **k)),
    (FocalTerm(gamma=1.5, activation="sigmoid"), lambda x, y, **k: rl.focal_loss(
        x, y, gamma=1.5, activation="sigmoid", **k)),
    (LovaszHingeTerm(per_sample=False), lambda x, y, **k: rl.lovasz_hinge_loss(
        x, y, per_sample=False, **k)),
], ids=["dice", "tversky", "cross_entropy", "focal", "lovasz_hinge"])
def test_calling_a_term_is_the_public_loss(term, loss):
    x, y = _inputs(1)
    mask = np.random.default_rng(2).random(y.shape)
    np.testing.assert_array_equal(np.asarray(term(x, y)), np.asarray(loss(x, y)))
    np.testing.assert_array_equal(np.asarray(term(x, y, mask=mask)),
                                  np.asarray(loss(x, y, mask=mask)))


def test_input_activation():
    assert DiceTerm().input_activation == "softmax"
    assert DiceTerm(activation=None).input_activation is None
    assert LovaszHingeTerm().reads_logits and LovaszHingeTerm().input_activation == "sigmoid"
    assert CrossEntropyTerm.log_activation and not DiceTerm.log_activation


# --------------------------------------------------------------------------- Prepared


def test_prepared_computes_each_quantity_once():
    x, y = _inputs(3)
    prepared = Prepared(prepare(x, y, class_axis=-1, activation="softmax"))
    probs = prepared.probs("softmax")
    assert prepared.probs("softmax") is probs
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-12)
    stats = prepared.stats("softmax", per_sample=True)
    assert prepared.stats("softmax", per_sample=True) is stats
    assert prepared.stats("softmax", per_sample=True, squared=True) is not stats
    assert stats.tp.shape == (2, 3)
    np.testing.assert_allclose(stats.tp, (probs * np.eye(3)[y]).sum(1), rtol=1e-12)
    pooled = prepared.stats("softmax", per_sample=False)
    np.testing.assert_allclose(pooled.tp, stats.tp.sum(0), rtol=1e-12)
    np.testing.assert_array_equal(prepared.volumes(per_sample=True), np.eye(3)[y].sum(1))
    keys = sorted(prepared._memo, key=repr)
    assert [k[0] for k in keys].count("probs") == 1 and ("log_probs", "softmax") not in keys


def test_prepared_shares_the_log_probabilities():
    x, y = _inputs(4)
    inputs = prepare(x, y, class_axis=-1, activation="softmax")
    prepared = Prepared(inputs, log_first=frozenset({"softmax"}))
    probs = prepared.probs("softmax")
    assert ("log_probs", "softmax") in prepared._memo       # probabilities = exp(log p)
    np.testing.assert_allclose(probs, np.exp(prepared.log_probs("softmax")), rtol=0)
    plain = Prepared(inputs).probs("softmax")
    np.testing.assert_allclose(probs, plain, rtol=1e-14)
    sig = prepared.log_probs("sigmoid")
    np.testing.assert_allclose(sig, -np.log1p(np.exp(-x)), rtol=1e-12)


def test_prepared_volumes_are_weighted():
    x, y = _inputs(5)
    y[0, 0] = 255
    mask = np.random.default_rng(6).random(y.shape)
    prepared = Prepared(prepare(x, y, class_axis=-1, activation="softmax", ignore_index=255,
                                mask=mask))
    w = (y != 255) * mask
    want = (np.eye(3)[np.where(y == 255, 0, y)] * w[..., None]).sum(1)
    np.testing.assert_allclose(prepared.volumes(per_sample=True), want, rtol=1e-12)


# --------------------------------------------------------------------------- prepare_terms


@dataclasses.dataclass(frozen=True, kw_only=True)
class _WeightedSumTerm(LossTerm):
    """A term that reads a per-call auxiliary array ``pixel_weight`` (like a distance map)."""

    name: ClassVar[str] = "weighted_sum"
    aux_names: ClassVar[tuple] = ("pixel_weight",)
    activation: str = "softmax"

    def evaluate(self, prepared):
        xp = prepared.xp
        probs = prepared.probs(self.activation)
        weight = xp.expand_dims(prepared.aux["pixel_weight"], axis=-1)
        return xp.sum(probs * prepared.inputs.target * weight)


def test_auxiliary_arrays_travel_by_keyword():
    x, y = _inputs(7)
    d = np.random.default_rng(8).random(y.shape)
    term = _WeightedSumTerm()
    p = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    want = (p * np.eye(3)[y] * d[..., None]).sum()
    assert float(term(x, y, pixel_weight=d)) == pytest.approx(want, rel=1e-12)
    with pytest.raises(TypeError, match=r"weighted_sum: missing pixel_weight"):
        term(x, y)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) other"):
        term(x, y, pixel_weight=d, other=d)
    with pytest.raises(TypeError, match=r"dice_loss: unexpected keyword argument\(s\) dist"):
        DiceTerm()(x, y, dist=d)


@jax_only
def test_auxiliary_arrays_are_aligned_to_the_prediction():
    jax = _jax()
    x, y = _inputs(9)
    d = np.random.default_rng(10).random(y.shape)       # NumPy, next to a JAX prediction
    prepared = prepare_terms((_WeightedSumTerm(),), jax.numpy.asarray(x), y, None,
                             {"pixel_weight": d})
    assert isinstance(prepared.aux["pixel_weight"], jax.Array)
    np.testing.assert_array_equal(np.asarray(prepared.aux["pixel_weight"]), d)


def test_prepare_terms_checks_every_term_against_the_channels():
    x = np.zeros((2, 5, 1))
    y = np.zeros((2, 5), np.int64)
    terms = (DiceTerm(activation="sigmoid"), CrossEntropyTerm(activation="softmax"))
    with pytest.raises(ValueError, match=r"softmax.*1 channel"):
        prepare_terms(terms, x, y, None)
    # the first term decides how the inputs are read; the others agree or fail above
    prepared = prepare_terms((DiceTerm(activation="sigmoid"), JaccardTerm(activation="sigmoid"),
                              LovaszHingeTerm()), x, y, None)
    assert prepared.inputs.num_classes == 1
    assert set(prepared._log_first) == set()
    prepared = prepare_terms((DiceTerm(), CrossEntropyTerm()), *_inputs(11), None)
    assert set(prepared._log_first) == {"softmax"}


@jax_only
def test_a_term_poisons_its_value_under_jit():
    jax = _jax()
    x, _ = _inputs(12)
    bad = np.array([[0, 1, 2, 3, 0, 1], [0, 0, 0, 0, 0, 0]])   # 3 is out of range
    value = jax.jit(lambda a, b: DiceTerm()(a, b))(jax.numpy.asarray(x), bad)
    assert np.isnan(float(value))
