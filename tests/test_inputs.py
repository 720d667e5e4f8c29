"""Input alignment (regionloss._inputs.prepare): shapes and layouts, one-hot targets,
``ignore_index`` and ``mask`` merged into one per-pixel weight, weight-0 pixels removed by
selection, the accumulation dtype, value checks on concrete arrays only, and the jit-time
label policy (``LossInputs.invalid`` and :meth:`LossInputs.poison`).

``prepare`` is tested directly (the aligned arrays it hands to every loss) and through the
public losses (the errors and dtypes a caller sees).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import ERR_LABELS as LAB
from conftest import ERR_PRED as X
from conftest import (IGNORE_VALUES, NO_SMOOTH, assert_same_namespace, jax_only,
                      logits_and_labels, to_numpy)
from conftest import jax_x64 as _jax
from regionloss._inputs import LossInputs, prepare

# --------------------------------------------------------------------------- prepare()


def test_label_map_channels_last_one_hot_and_axes():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 24  # (N, pixels, C)
    y = np.array([[0, 3, 1], [2, 2, 0]])
    inputs = prepare(x, y, class_axis=-1, activation="softmax")
    assert isinstance(inputs, LossInputs)
    assert inputs.xp is not None and inputs.dtype == np.float64
    np.testing.assert_array_equal(inputs.pred, x)            # no activation here
    np.testing.assert_array_equal(inputs.target, np.eye(4)[y])
    assert inputs.target.dtype == np.float64
    np.testing.assert_array_equal(inputs.labels, y[..., None])
    assert inputs.weight is None and inputs.invalid is None and not inputs.mask_given
    assert (inputs.class_axis, inputs.num_classes, inputs.had_class_axis) == (2, 4, True)
    assert inputs.spatial_axes == (1,)
    assert inputs.sum_axes(True) == (1,) and inputs.sum_axes(False) == (0, 1)


def test_label_map_channels_first():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)    # (N, C, H, W)
    y = rng.integers(0, 4, size=(2, 3, 5))
    inputs = prepare(x, y, class_axis=1, activation="softmax")
    assert inputs.dtype == np.float32 and inputs.pred.dtype == np.float32
    assert inputs.target.shape == (2, 4, 3, 5)
    for c in range(4):
        np.testing.assert_array_equal(inputs.target[:, c], (y == c).astype(np.float32))
    assert inputs.labels.shape == (2, 1, 3, 5)
    assert (inputs.class_axis, inputs.num_classes) == (1, 4)
    assert inputs.spatial_axes == (2, 3)
    assert inputs.sum_axes(False) == (0, 2, 3)
    # a negative class axis is normalised
    assert prepare(np.moveaxis(x, 1, -1), y, class_axis=-1,
                   activation="softmax").class_axis == 3


def test_class_axis_none_appends_one_channel():
    p = np.array([[0.9, 0.2, 0.6], [0.1, 0.5, 0.3]])
    y = np.array([[1, 0, 1], [0, 0, 1]])
    inputs = prepare(p, y, class_axis=None, activation=None)
    assert inputs.pred.shape == (2, 3, 1) and inputs.target.shape == (2, 3, 1)
    np.testing.assert_array_equal(inputs.pred[..., 0], p)
    np.testing.assert_array_equal(inputs.target[..., 0], y.astype(np.float64))
    assert (inputs.class_axis, inputs.num_classes, inputs.had_class_axis) == (2, 1, False)
    assert inputs.spatial_axes == (1,)
    # a float target of the same shape is dense, a bool one a 0/1 label map
    dense = prepare(p, y.astype(np.float64), class_axis=None, activation=None)
    assert dense.labels is None
    np.testing.assert_array_equal(dense.target, inputs.target)
    boolean = prepare(p, y.astype(bool), class_axis=None, activation=None)
    np.testing.assert_array_equal(boolean.target, inputs.target)
    assert boolean.labels is not None


def test_single_channel_reads_labels_as_foreground():
    p = np.array([[[0.9], [0.2], [0.6]]])
    y = np.array([[1, 0, 1]])
    inputs = prepare(p, y, class_axis=-1, activation="sigmoid")
    np.testing.assert_array_equal(inputs.target, [[[1.0], [0.0], [1.0]]])
    with pytest.raises(ValueError, match=r"label 2 .*single-channel prediction"):
        prepare(p, np.array([[1, 2, 0]]), class_axis=-1, activation="sigmoid")


def test_ignore_index_and_mask_merge_into_one_weight():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 3))
    y = rng.integers(0, 3, size=(2, 6))
    y[0, 1] = y[1, 4] = 255
    mask = rng.random((2, 6))
    mask[0, 2] = 0.0
    inputs = prepare(x, y, class_axis=-1, activation="softmax", ignore_index=255, mask=mask)
    want_w = (y != 255) * mask
    assert inputs.weight.shape == (2, 6, 1) and inputs.mask_given
    np.testing.assert_allclose(inputs.weight[..., 0], want_w, rtol=1e-15)
    kept = want_w > 0
    np.testing.assert_array_equal(inputs.pred[kept], x[kept])
    np.testing.assert_array_equal(inputs.pred[~kept], 0.0)
    onehot = np.eye(3)[np.where(y == 255, 0, y)]
    np.testing.assert_array_equal(inputs.target[kept], onehot[kept])
    np.testing.assert_array_equal(inputs.target[~kept], 0.0)
    # ignore_index alone: a 0/1 weight; mask alone: the mask, broadcastable
    only_ignore = prepare(x, y, class_axis=-1, activation="softmax", ignore_index=255)
    np.testing.assert_array_equal(only_ignore.weight[..., 0], (y != 255).astype(float))
    only_mask = prepare(x, np.where(y == 255, 0, y), class_axis=-1, activation="softmax",
                        mask=mask[:1])
    assert only_mask.weight.shape == (1, 6, 1)
    np.testing.assert_array_equal(only_mask.weight[0, :, 0], mask[0])


def test_weight_zero_pixels_are_selected_to_zero_even_when_non_finite():
    x = np.array([[[0.2, 0.8], [np.nan, np.inf], [-np.inf, 1.0], [0.6, 0.4]]])
    y = np.array([[1, 255, 0, 0]])
    mask = np.array([[1.0, 1.0, 0.0, 0.5]])
    inputs = prepare(x, y, class_axis=-1, activation=None, ignore_index=255, mask=mask)
    assert np.all(np.isfinite(inputs.pred)) and np.all(np.isfinite(inputs.target))
    np.testing.assert_array_equal(inputs.pred[0, 1:3], 0.0)
    np.testing.assert_array_equal(inputs.target[0, 1:3], 0.0)
    np.testing.assert_array_equal(inputs.pred[0, [0, 3]], x[0, [0, 3]])
    # activation=None checks probabilities after the selection: the inf there is no error
    value = rl.dice_loss(x, y, activation=None, ignore_index=255, mask=mask)
    assert np.isfinite(float(value))


@jax_only
def test_non_finite_logits_at_ignored_pixels_reach_no_gradient():
    jax = _jax()
    x = np.random.default_rng(2).normal(size=(1, 5, 3))
    x[0, 1] = [np.nan, np.inf, -np.inf]
    y = np.array([[0, 255, 1, 2, 1]])
    for loss in (rl.dice_loss, rl.cross_entropy_loss, rl.lovasz_softmax_loss):
        value, grad = jax.value_and_grad(lambda a, f=loss: f(a, y, ignore_index=255))(
            jax.numpy.asarray(x))
        grad = np.asarray(grad)
        assert np.isfinite(float(value)) and np.all(np.isfinite(grad)), loss.__name__
        np.testing.assert_array_equal(grad[0, 1], 0.0)
        clean = x.copy()
        clean[0, 1] = 0.0
        assert float(value) == pytest.approx(float(loss(clean, y, ignore_index=255)),
                                             rel=1e-12)


def test_dense_targets_pass_through():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4))
    t = rng.dirichlet(np.ones(4), size=(2, 3))
    inputs = prepare(x, t, class_axis=-1, activation="softmax")
    assert inputs.labels is None and inputs.weight is None
    np.testing.assert_array_equal(inputs.target, t)
    t32 = prepare(x.astype(np.float32), t.astype(np.float16), class_axis=-1,
                  activation="softmax")
    assert t32.target.dtype == np.float32


@pytest.mark.parametrize("dtype, want", [(np.float16, np.float32), (np.float32, np.float32),
                                         (np.float64, np.float64)])
def test_accumulation_dtype(dtype, want):
    inputs = prepare(np.zeros((1, 2, 3), dtype), np.array([[0, 2]]), class_axis=-1,
                     activation="softmax", mask=np.ones((1, 2), np.int64))
    assert inputs.dtype == want
    assert inputs.pred.dtype == want and inputs.target.dtype == want
    assert inputs.weight.dtype == want


def test_channels_first_hint_in_the_shape_error():
    x = np.zeros((2, 4, 3, 5))               # channels-first logits, default class_axis=-1
    y = np.zeros((2, 3, 5), np.int64)
    with pytest.raises(ValueError, match=r"label map has shape \(2, 3, 5\) but pred "
                       r"\(2, 4, 3, 5\) without its class axis 3 is \(2, 4, 3\); the "
                       r"shapes fit channels-first \(class axis 1, size 4\): pass "
                       r"class_axis=1"):
        prepare(x, y, class_axis=-1, activation="softmax")
    with pytest.raises(ValueError, match="pass class_axis=1"):
        rl.dice_loss(x, y)
    # no hint where channels-first does not fit either
    with pytest.raises(ValueError) as info:
        prepare(x, np.zeros((2, 3, 6), np.int64), class_axis=-1, activation="softmax")
    assert "channels-first" not in str(info.value)
    assert float(rl.dice_loss(x, y, class_axis=1)) >= 0  # the hinted call works


@settings(max_examples=40, deadline=None)
@given(logits_and_labels(), st.integers(0, 2**32 - 1), st.sampled_from(IGNORE_VALUES))
def test_property_weight_and_one_hot(case, seed, ignore):
    x, y = case
    keep = np.random.default_rng(seed).random(y.shape) < 0.6
    y_ignored = np.where(keep, y, ignore)
    kept = y_ignored != ignore
    inputs = prepare(x, y_ignored, class_axis=-1, activation="softmax", ignore_index=ignore)
    np.testing.assert_array_equal(inputs.weight[..., 0], kept.astype(np.float64))
    # one-hot rows sum to 1 where kept, 0 where ignored; the kept rows are the labels
    np.testing.assert_array_equal(inputs.target.sum(-1), kept.astype(np.float64))
    np.testing.assert_array_equal(np.argmax(inputs.target, -1)[kept], y_ignored[kept])
    np.testing.assert_array_equal(inputs.pred[kept], x[kept])
    np.testing.assert_array_equal(inputs.pred[~kept], 0.0)


# --------------------------------------------------------------------------- jit-time labels


@jax_only
def test_invalid_flag_under_jit_and_poison():
    jax = _jax()
    jnp = jax.numpy
    x = jnp.asarray(np.random.default_rng(4).normal(size=(1, 4, 3)))

    def flag(a, b, **kw):
        inputs = prepare(a, b, class_axis=-1, activation="softmax", **kw)
        return inputs.invalid

    f = jax.jit(flag, static_argnames=("ignore_index",))
    assert bool(f(x, jnp.asarray([[0, 1, 2, 1]]))) is False
    assert bool(f(x, jnp.asarray([[0, 1, 3, 1]]))) is True        # 3 is out of [0, 3)
    assert bool(f(x, jnp.asarray([[0, -1, 2, 1]]))) is True
    assert bool(f(x, jnp.asarray([[0, 255, 2, 1]]), ignore_index=255)) is False
    assert bool(f(x, jnp.asarray([[0, 255, 7, 1]]), ignore_index=255)) is True
    # a single foreground channel: labels are 0/1
    g = jax.jit(lambda a, b: prepare(a, b, class_axis=None, activation="sigmoid").invalid)
    assert bool(g(x[..., 0], jnp.asarray([[0, 1, 1, 0]]))) is False
    assert bool(g(x[..., 0], jnp.asarray([[0, 2, 1, 0]]))) is True
    # eager: no flag, an error instead
    assert prepare(x, jnp.asarray([[0, 1, 2, 1]]), class_axis=-1,
                   activation="softmax").invalid is None
    with pytest.raises(ValueError, match="label 3"):
        prepare(x, jnp.asarray([[0, 1, 3, 1]]), class_axis=-1, activation="softmax")

    # poison: NaN value and NaN gradient when invalid, the value itself otherwise
    def poisoned(a, b):
        inputs = prepare(a, b, class_axis=-1, activation="softmax")
        return inputs.poison(jnp.sum(inputs.pred ** 2))

    vg = jax.jit(jax.value_and_grad(poisoned))
    value, grad = vg(x, jnp.asarray([[0, 1, 3, 1]]))
    assert np.isnan(float(value)) and np.isnan(np.asarray(grad)).all()
    value, grad = vg(x, jnp.asarray([[0, 1, 2, 1]]))
    assert float(value) == pytest.approx(float(jnp.sum(x ** 2)), rel=1e-12)
    np.testing.assert_allclose(np.asarray(grad), 2 * np.asarray(x), rtol=1e-12)


def test_poison_without_a_flag_is_the_identity():
    inputs = prepare(np.zeros((1, 2, 2)), np.array([[0, 1]]), class_axis=-1,
                     activation="softmax")
    value = np.asarray(0.25)
    assert inputs.poison(value) is value


# --------------------------------------------------------------------------- through the losses


def test_half_precision_accumulates_in_float32():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 512, 512, 2)).astype(np.float16)
    y = rng.integers(0, 2, size=(1, 512, 512))
    got = rl.dice_loss(x, y)
    assert got.dtype == np.float32
    want = rl.dice_loss(x.astype(np.float64), y)
    assert np.isfinite(float(got))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    # float16 probabilities would overflow a float16 sum (65504); the result is still right
    p = np.ones((1, 512, 512, 1), dtype=np.float16)
    assert float(rl.dice_loss(p, np.ones((1, 512, 512), np.int64), activation=None,
                              **NO_SMOOTH)) == 0.0


def test_float64_stays_float64_and_float32_stays_float32():
    y = np.array([[0, 1]])
    assert rl.dice_loss(np.zeros((1, 2, 2)), y).dtype == np.float64
    assert rl.dice_loss(np.zeros((1, 2, 2), np.float32), y).dtype == np.float32


@jax_only
def test_jit_makes_out_of_range_labels_nan_and_bf16_gives_float32():
    jax = _jax()
    jnp = jax.numpy
    x = jnp.zeros((1, 2, 2), dtype=jnp.bfloat16)
    y = jnp.asarray([[0, 7]])  # label 7 is out of range: an error eagerly, NaN under jit
    with pytest.raises(ValueError, match="label 7"):
        rl.dice_loss(x, y)
    out = jax.jit(lambda a, b: rl.dice_loss(a, b))(x, y)
    assert out.dtype == jnp.float32 and np.isnan(float(out))
    grad = jax.jit(jax.grad(lambda a, b: rl.dice_loss(a, b)))(x.astype(jnp.float32), y)
    assert np.isnan(np.asarray(grad)).all()
    ok = jax.jit(lambda a, b: rl.dice_loss(a, b))(x, jnp.asarray([[0, 1]]))
    assert ok.dtype == jnp.float32 and np.isfinite(float(ok))


def test_value_checks_accept_what_they_should():
    # 0/1 dense targets of any dtype, bool and integer masks, soft targets: no error
    t = np.zeros((2, 3, 4), np.uint8)
    t[..., 0] = 1
    base = float(rl.dice_loss(X, t))
    for target in (t.astype(bool), t.astype(np.float32), t.astype(np.int64)):
        assert float(rl.dice_loss(X, target)) == pytest.approx(base)
    for mask in (np.ones((2, 3), bool), np.ones((2, 3), np.int64), np.zeros((2, 3))):
        assert np.isfinite(float(rl.dice_loss(X, LAB, mask=mask)))
    assert np.isfinite(float(rl.dice_loss(X, np.full((2, 3, 4), 0.25), soft_labels=True)))
    assert np.isfinite(float(rl.dice_loss(X, LAB, ignore_index=np.int64(255))))
    assert np.isfinite(float(rl.dice_loss(X, LAB, per_sample=np.True_)))


@jax_only
def test_value_checks_are_skipped_under_jit():
    jax = _jax()
    bad = np.full((2, 3, 4), 255.0)
    with pytest.raises(ValueError, match="dense target"):
        rl.dice_loss(jax.numpy.asarray(X), bad)
    out = jax.jit(lambda a, b, m: rl.dice_loss(a, b, mask=m))(X, bad, -np.ones((2, 3)))
    assert out.shape == ()  # a number (a wrong one: the caller's responsibility under jit)


def test_inputs_are_not_modified():
    x = np.random.default_rng(8).normal(size=(2, 3, 4))
    y = np.array([[0, 255, 1], [2, 3, 255]])
    x0, y0 = x.copy(), y.copy()
    rl.dice_loss(x, y, ignore_index=255)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


@jax_only
def test_numpy_target_with_jax_pred_resolves_to_jax():
    jax = _jax()
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 5, 3))
    y = rng.integers(0, 3, size=(2, 5))  # a NumPy label map from a data loader
    got = jax.jit(lambda a: rl.dice_loss(a, y))(jax.numpy.asarray(x))
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(float(got), float(rl.dice_loss(x, y)), rtol=1e-12)


def test_uint8_labels_with_more_classes_than_the_dtype_holds():
    # class ids 256.. are not representable in uint8: they must not wrap onto 0..
    x = np.zeros((1, 2, 300), np.float32)
    t = np.array([[0, 1]], np.uint8)
    got = to_numpy(rl.dice_loss(x, t, per_sample=False, reduction="none"))
    want = to_numpy(rl.dice_loss(x, t.astype(np.int64), per_sample=False, reduction="none"))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype, ignore_index", [(np.uint8, -1), (np.uint8, 256), (np.uint8, 2**40),
                                                  (np.int8, 255), (np.int8, -1)])
def test_ignore_index_outside_the_label_dtype_matches_nothing(backend, dtype, ignore_index):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    t = rng.integers(0, 3, size=(2, 5)).astype(dtype)
    if ignore_index == -1 and dtype == np.int8:
        t[0, 1] = -1  # representable: those pixels are ignored
        want = rl.dice_loss(x, t.astype(np.int64), ignore_index=-1)
    else:
        want = rl.dice_loss(x, t.astype(np.int64))
    got = rl.dice_loss(backend(x), backend(t), ignore_index=ignore_index)
    assert_same_namespace(got, backend)
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-6)


def test_torch_uint16_label_maps():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    t = rng.integers(0, 3, size=(2, 5)).astype(np.uint16)  # 16-bit PNG label maps
    got = rl.dice_loss(torch.from_numpy(x), torch.from_numpy(t))
    np.testing.assert_allclose(float(got), float(rl.dice_loss(x, t.astype(np.int64))), rtol=1e-6)
    with pytest.raises(ValueError, match="label 7"):
        rl.dice_loss(torch.from_numpy(x), torch.from_numpy(t * 0 + 7))


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


# --------------------------------------------------------------------------- errors
# Input errors reach every loss through prepare(); each message names the argument and the
# shapes or values at fault.


@pytest.mark.parametrize("call, match", [
    (lambda: rl.dice_loss(X, np.zeros((2, 4), np.int64)), r"label map has shape \(2, 4\).*\(2, 3\)"),
    (lambda: rl.dice_loss(X, np.zeros((2, 3, 5))), r"dense target has shape \(2, 3, 5\).*\(2, 3, 4\)"),
    (lambda: rl.dice_loss(X, np.zeros((2, 3), np.float32)), r"integer dtype; got float32"),
    (lambda: rl.dice_loss(X, np.zeros((2, 3, 4)), ignore_index=255), r"ignore_index applies to integer"),
    (lambda: rl.dice_loss(X, LAB + 4), r"label 4 at index \(0, 0\) \(6 such.*num_classes=4"),
    (lambda: rl.dice_loss(X, LAB - 3, ignore_index=255), r"label -3"),
    (lambda: rl.dice_loss(X, LAB, mask=np.ones((3, 3))), r"mask has shape \(3, 3\)"),
    (lambda: rl.dice_loss(X.astype(np.int64), LAB), r"pred must be a floating-point"),
    (lambda: rl.dice_loss(X + 2.0, LAB, activation=None), r"activation=None expects probabilities"),
    (lambda: rl.dice_loss(X, LAB, mask=np.ones(2)), r"mask has shape \(2,\)"),
    # a dense target must hold values in [0, 1] (a 0/255 mask is a silent wrong number)
    (lambda: rl.dice_loss(X, np.full((2, 3, 4), 255, np.uint8)),
     r"target is a dense target .*uint8.* values in \[255, 255\].*\[0, 1\]"),
    (lambda: rl.dice_loss(X, np.full((2, 3, 4), -0.5)), r"values in \[-0.5, -0.5\]"),
    (lambda: rl.dice_loss(X, np.full((2, 3, 4), np.nan)), r"target .*non-finite"),
    (lambda: rl.dice_loss(X, LAB, mask=-np.ones((2, 3))), r"mask holds values in \[-1, -1\]"),
    (lambda: rl.dice_loss(X, LAB, mask=np.full((2, 3), np.inf)), r"mask holds non-finite"),
    (lambda: rl.dice_loss(X, LAB, mask=np.array([np.nan, 1.0, 1.0])), r"mask holds non-finite"),
    (lambda: rl.dice_loss(X + np.nan, LAB, activation=None), r"pred holds non-finite"),
    (lambda: rl.lovasz_softmax_loss(X, LAB + 4), r"label 4"),
    (lambda: rl.lovasz_hinge_loss(X, np.zeros((2, 4)), class_axis=None), r"class_axis=None"),
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
