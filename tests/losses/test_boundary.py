"""boundary_loss and hausdorff_dt_loss: hand-computed cases, NumPy/SciPy references written
from the papers' formulas, properties, compounds, the backend matrix, JAX ``jit`` / ``vmap``
/ ``grad`` and the empty, perfect and all-ignored inputs.

References that share no code with the library:

* ``ref_boundary``: the mean over pixels of ``w · p · φ`` per (sample, class) with NumPy;
* ``ref_hausdorff``: Karimi and Salcudean's loss with MONAI's field rule written out with
  :func:`scipy.ndimage.distance_transform_edt` image by image (``edt(M) + edt(~M)``, 0 for an
  empty or full mask), removed pixels outside every class.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAVE_JAX, assert_matches, finite_difference, to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl

ndi = pytest.importorskip("scipy.ndimage")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
if HAVE_JAX:
    import jax
    import jax.numpy as jnp

C = 3
RNG = np.random.default_rng(7)
LOGITS = (2.0 * RNG.normal(size=(2, 6, 7, C))).astype(np.float64)   # channels-last
LABELS = RNG.integers(0, C, size=(2, 6, 7))
LABELS[1, :3] = 0                                                     # a larger background
MAPS = np.asarray(rl.signed_distance_map(LABELS, num_classes=C))
IGNORED = LABELS.copy()
IGNORED[0, 2:4, 1:3] = 255
IGNORED[1, 5, 6] = 255


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def onehot(labels, num_classes=C):
    return np.stack([labels == c for c in range(num_classes)], axis=-1).astype(np.float64)


def _weighted_means(values, weight, per_sample):
    """values (N, *spatial, K), weight (N, *spatial): Σ w v / Σ w per (sample, class)."""
    axes = tuple(range(1, values.ndim - 1))
    w = weight[..., None]
    if per_sample:
        num, den = np.sum(w * values, axis=axes), np.sum(w, axis=axes)
    else:
        num, den = np.sum(w * values, axis=(0,) + axes), np.sum(w, axis=(0,) + axes)
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def ref_boundary(probs, maps, weight=None, include_background=False, per_sample=True):
    first = 0 if include_background else 1
    weight = np.ones(probs.shape[:-1]) if weight is None else weight
    per = _weighted_means(probs[..., first:] * maps[..., first:], weight, per_sample)
    return per.mean(axis=-1).mean()


def monai_field(mask, spacing=None):
    if not mask.any() or mask.all():
        return np.zeros(mask.shape)
    return (ndi.distance_transform_edt(mask, sampling=spacing)
            + ndi.distance_transform_edt(~mask, sampling=spacing))


def ref_hausdorff(probs, target, *, alpha=2.0, weight=None, include_background=False,
                  per_sample=True, spacing=None, reduction="mean"):
    """probs, target (N, *spatial, C) float; weight (N, *spatial) or None."""
    first = 0 if include_background else 1
    p, y = probs[..., first:], target[..., first:]
    kept = np.ones(p.shape[:-1], bool) if weight is None else weight > 0
    values = np.zeros(p.shape)
    for n in range(p.shape[0]):
        for k in range(p.shape[-1]):
            dp = monai_field((p[n, ..., k] > 0.5) & kept[n], spacing)
            dy = monai_field((y[n, ..., k] > 0.5) & kept[n], spacing)
            values[n, ..., k] = (p[n, ..., k] - y[n, ..., k]) ** 2 * (dp ** alpha + dy ** alpha)
    per = _weighted_means(values, np.ones(p.shape[:-1]) if weight is None else weight,
                          per_sample)
    if reduction == "none":
        return per
    means = per.mean(axis=-1)
    return means.sum() if reduction == "sum" else means.mean()


# --------------------------------------------------------------------------- boundary_loss


def test_boundary_loss_hand_computed():
    labels = np.array([[0, 0, 1, 1, 1, 1, 0]])
    maps = rl.signed_distance_map(labels, num_classes=2)
    perfect = np.eye(2)[labels]
    # foreground map [2, 1, 0, -1, -1, 0, 1]: at the reference, the inside -1 - 1 over 7
    assert float(rl.boundary_loss(perfect, maps, activation=None)) == pytest.approx(-2 / 7)
    # everything predicted foreground: the sum of the map over 7 pixels
    everywhere = np.stack([np.zeros(7), np.ones(7)], axis=-1)[None]
    assert float(rl.boundary_loss(everywhere, maps, activation=None)) == pytest.approx(2 / 7)
    # with the background: its map is the mirror image, [-1, 0, 1, 2, 2, 1, 0] ...
    both = rl.boundary_loss(perfect, maps, activation=None, include_background=True,
                            reduction="none")
    np.testing.assert_allclose(both, [[-1 / 7, -2 / 7]])


@pytest.mark.parametrize("per_sample", [True, False])
@pytest.mark.parametrize("include_background", [False, True])
def test_boundary_loss_equals_the_weighted_formula(per_sample, include_background):
    mask = RNG.random(LABELS.shape)
    mask[0, 0] = 0.0
    got = rl.boundary_loss(LOGITS, MAPS, mask=mask, per_sample=per_sample,
                           include_background=include_background)
    want = ref_boundary(softmax(LOGITS), MAPS, mask, include_background, per_sample)
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


def test_boundary_loss_channels_first_and_class_axis_none():
    first = np.moveaxis(LOGITS, -1, 1)
    maps_first = rl.signed_distance_map(LABELS, num_classes=C, class_axis=1)
    np.testing.assert_allclose(float(rl.boundary_loss(first, maps_first, class_axis=1)),
                               float(rl.boundary_loss(LOGITS, MAPS)), rtol=1e-12)
    # one foreground channel without a class axis: sigmoid, the map of class 1
    fg = (LABELS == 1).astype(np.int64)
    fg_maps = np.asarray(rl.signed_distance_map(fg, num_classes=2))[..., 1]
    got = rl.boundary_loss(LOGITS[..., 1], fg_maps, class_axis=None, activation="sigmoid",
                           include_background=True, reduction="none")
    p = 1 / (1 + np.exp(-LOGITS[..., 1]))
    np.testing.assert_allclose(got, (p * fg_maps).mean(axis=(1, 2))[:, None], rtol=1e-12)


def test_boundary_loss_ignore_index_needs_the_target_and_equals_a_mask():
    with pytest.raises(ValueError, match="ignore_index needs the label map: pass target="):
        rl.boundary_loss(LOGITS, MAPS, ignore_index=255)
    got = rl.boundary_loss(LOGITS, MAPS, target=IGNORED, ignore_index=255)
    want = rl.boundary_loss(LOGITS, MAPS, mask=(IGNORED != 255).astype(np.float64))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
    # the target is validated like every loss's target
    with pytest.raises(ValueError, match="label 255"):
        rl.boundary_loss(LOGITS, MAPS, target=IGNORED)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 16), c=st.integers(2, 4))
def test_boundary_loss_is_smallest_at_the_target(seed, c):
    """Pointwise φ·(p − y) >= 0 for one-hot y: any probabilities score at least the target."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, size=(1, 5, 6))
    maps = rl.signed_distance_map(labels, num_classes=c)
    best = float(rl.boundary_loss(onehot(labels, c), maps, activation=None))
    probs = rng.dirichlet(np.ones(c), size=labels.shape)
    assert float(rl.boundary_loss(probs, maps, activation=None)) >= best - 1e-12
    logits = 3.0 * rng.normal(size=labels.shape + (c,))
    assert float(rl.boundary_loss(logits, maps)) >= best - 1e-12


def test_boundary_loss_in_a_compound():
    compound = rl.combine((1.0, rl.dice_loss), (0.01, rl.boundary_loss))
    got = compound(LOGITS, LABELS, distance_maps=MAPS)
    want = rl.dice_loss(LOGITS, LABELS) + 0.01 * rl.boundary_loss(LOGITS, MAPS)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
    parts = compound.parts(LOGITS, LABELS, distance_maps=MAPS)
    assert set(parts) == {"dice_loss", "boundary_loss"}
    # shared ignore_index: the compound's label map serves the boundary term too
    shared = rl.combine((1.0, rl.dice_loss), (0.5, rl.boundary_loss), ignore_index=255)
    np.testing.assert_allclose(
        float(shared(LOGITS, IGNORED, distance_maps=MAPS)),
        float(rl.dice_loss(LOGITS, IGNORED, ignore_index=255)
              + 0.5 * rl.boundary_loss(LOGITS, MAPS, target=IGNORED, ignore_index=255)),
        rtol=1e-12)
    with pytest.raises(TypeError, match="missing distance_maps"):
        compound(LOGITS, LABELS)
    with pytest.raises(TypeError, match="unexpected keyword argument.*distance_maps"):
        rl.combine((1.0, rl.dice_loss))(LOGITS, LABELS, distance_maps=MAPS)
    with pytest.raises(TypeError, match="boundary_loss has no option 'alpha'"):
        rl.combine((1.0, rl.boundary_loss, {"alpha": 1.0}))


@pytest.mark.parametrize("maps, error, match", [
    (MAPS[..., :2], ValueError, "one map per class of the prediction"),
    (np.moveaxis(MAPS, -1, 1), ValueError, r"distance_maps has shape \(2, 3, 6, 7\)"),
    (MAPS.astype(np.complex128), TypeError, "real floating"),
    (np.where(LABELS[..., None] == 1, np.inf, MAPS), ValueError, "non-finite"),
])
def test_boundary_loss_distance_map_errors(maps, error, match):
    with pytest.raises(error, match=match):
        rl.boundary_loss(LOGITS, maps)


def test_boundary_loss_non_finite_maps_at_removed_pixels_change_nothing():
    removed = IGNORED == 255
    maps = np.where(removed[..., None], np.nan, MAPS)
    got = rl.boundary_loss(LOGITS, maps, target=IGNORED, ignore_index=255)
    want = rl.boundary_loss(LOGITS, MAPS, target=IGNORED, ignore_index=255)
    assert float(got) == float(want)


def test_boundary_loss_reduction_shapes():
    assert rl.boundary_loss(LOGITS, MAPS, reduction="none").shape == (2, C - 1)
    assert rl.boundary_loss(LOGITS, MAPS, reduction="none", per_sample=False).shape == (C - 1,)
    per = rl.boundary_loss(LOGITS, MAPS, reduction="none")
    np.testing.assert_allclose(float(rl.boundary_loss(LOGITS, MAPS, reduction="sum")),
                               per.mean(axis=1).sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="no background channel to drop"):
        rl.boundary_loss(LOGITS[..., 0], MAPS[..., 0], class_axis=None, activation="sigmoid")


# --------------------------------------------------------------------------- hausdorff_dt_loss


def test_hausdorff_hand_computed():
    probs = np.array([[[0.9], [0.8], [0.2], [0.1]]])
    target = np.array([[1, 1, 0, 0]])
    got = rl.hausdorff_dt_loss(probs, target, activation=None, include_background=True)
    # both fields [2, 1, 1, 2]; errors² [.01, .04, .04, .01]; (e² · 2 d²) averaged: 0.08
    assert float(got) == pytest.approx(0.08)
    # a prediction that misses the object: its field is 0 (empty mask), the target's stays
    missed = np.array([[[0.1], [0.4], [0.2], [0.1]]])
    got = rl.hausdorff_dt_loss(missed, target, activation=None, include_background=True)
    assert float(got) == pytest.approx((0.81 * 4 + 0.36 * 1 + 0.04 * 1 + 0.01 * 4) / 4)


HD_OPTIONS = [
    dict(),
    dict(include_background=True, alpha=1.0),
    dict(per_sample=False, alpha=3.0),
    dict(spacing=(0.8, 1.3), reduction="none"),
    dict(spacing=0.5, reduction="sum", include_background=True),
]


@pytest.mark.parametrize("options", HD_OPTIONS, ids=str)
def test_hausdorff_equals_the_scipy_reference(options):
    got = rl.hausdorff_dt_loss(LOGITS, LABELS, **options)
    want = ref_hausdorff(softmax(LOGITS), onehot(LABELS), **options)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_hausdorff_3d_sigmoid_channels_first_with_a_mask():
    x = RNG.normal(size=(2, 2, 5, 6, 4))
    y = (RNG.random(x.shape) < 0.4).astype(np.float64)
    y[1, 0] = 0.0                                          # an empty channel
    mask = (RNG.random((2, 5, 6, 4)) < 0.8).astype(np.float64)
    got = rl.hausdorff_dt_loss(x, y, class_axis=1, activation="sigmoid",
                               include_background=True, mask=mask, spacing=(2.0, 1.0, 0.7))
    want = ref_hausdorff(np.moveaxis(1 / (1 + np.exp(-x)), 1, -1), np.moveaxis(y, 1, -1),
                         include_background=True, weight=mask, spacing=(2.0, 1.0, 0.7))
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


def test_hausdorff_removed_pixels_are_outside_every_class():
    got = rl.hausdorff_dt_loss(LOGITS, IGNORED, ignore_index=255, reduction="none")
    kept = (IGNORED != 255).astype(np.float64)
    want = ref_hausdorff(softmax(LOGITS), onehot(IGNORED), weight=kept, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # by hand: a run of class 1 whose right end is ignored ends where the ignored pixels
    # begin; its field at the kept pixel 4 is 1 (not 3, as with the run measured whole)
    labels = np.array([[0, 0, 1, 1, 1, 1, 1, 0]])
    ignored = np.where(np.arange(8) >= 5, 255, labels)
    probs = np.eye(2)[labels] * 0.8 + 0.1          # p = 0.9 on the reference, else 0.1
    per = rl.hausdorff_dt_loss(probs, ignored, activation=None, ignore_index=255,
                               reduction="none")
    # class 1 fields on the kept pixels 0..4 (mask [2, 3, 4]): [2, 1, 1, 2, 1]
    fields = np.array([2.0, 1.0, 1.0, 2.0, 1.0])
    np.testing.assert_allclose(per, [[np.mean(0.01 * 2 * fields ** 2)]], rtol=1e-12)


def test_hausdorff_option_errors():
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        rl.hausdorff_dt_loss(LOGITS, LABELS, alpha=0.0)
    with pytest.raises(ValueError, match="spacing must have one entry per spatial axis"):
        rl.hausdorff_dt_loss(LOGITS, LABELS, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing entries must be positive"):
        rl.hausdorff_dt_loss(LOGITS, LABELS, spacing=-1.0)
    with pytest.raises(ValueError, match="1 to 3 spatial axes"):
        rl.hausdorff_dt_loss(np.zeros((1, 2, 2, 2, 2, 3)), np.zeros((1, 2, 2, 2, 2), int))


# --------------------------------------------------------------------------- backends and JAX


LOSS_CALLS = {
    "boundary_loss": lambda x, y, **kw: rl.boundary_loss(x, MAPS, **kw),
    "hausdorff_dt_loss": rl.hausdorff_dt_loss,
}


@pytest.mark.parametrize("name", list(LOSS_CALLS))
def test_backend_matrix(backend, name):
    x = LOGITS.astype(np.float32)
    if name == "boundary_loss":
        want = np.asarray(rl.boundary_loss(x, MAPS))
        got = rl.boundary_loss(backend(x), backend(MAPS))
    else:
        want = np.asarray(rl.hausdorff_dt_loss(x, LABELS))
        got = rl.hausdorff_dt_loss(backend(x), backend(LABELS))
    assert_matches(got, want, backend, rtol=1e-5)


@needs_jax
def test_jax_jit_vmap_and_finite_differences():
    x = jnp.asarray(LOGITS)
    for name, fn in LOSS_CALLS.items():
        def f(a, fn=fn):
            return fn(a, jnp.asarray(LABELS))

        eager = float(fn(LOGITS, LABELS))
        value, grad = jax.jit(jax.value_and_grad(f))(x)
        assert float(value) == pytest.approx(eager, rel=1e-12)
        # a per-sample loss under vmap: one value per sample, equal to the sliced calls
        if name == "hausdorff_dt_loss":
            per = jax.vmap(lambda a, b: rl.hausdorff_dt_loss(a[None], b[None]))(
                x, jnp.asarray(LABELS))
            np.testing.assert_allclose(
                per, [float(rl.hausdorff_dt_loss(LOGITS[i:i + 1], LABELS[i:i + 1]))
                      for i in range(2)], rtol=1e-12)
        # finite differences on a few coordinates (the fields are piecewise constant, and
        # no probability here sits within 1e-6 of the 0.5 threshold)
        probe = np.zeros_like(LOGITS)
        flat = probe.reshape(-1)
        idx = RNG.choice(flat.size, 6, replace=False)
        for i in idx:
            step = np.zeros(flat.size)
            step[i] = 1e-6
            step = step.reshape(LOGITS.shape)
            fd = (float(fn(LOGITS + step, LABELS)) - float(fn(LOGITS - step, LABELS))) / 2e-6
            np.testing.assert_allclose(np.asarray(grad).reshape(-1)[i], fd, rtol=1e-6,
                                       atol=1e-9)


@needs_jax
def test_jax_gradients_finite_at_empty_perfect_and_all_ignored():
    perfect = 30.0 * (onehot(LABELS) - 0.5)
    empty = np.zeros_like(LABELS)
    all_ignored = np.full_like(LABELS, 255)
    maps = {id(y): jnp.asarray(rl.signed_distance_map(y, num_classes=C, ignore_index=255))
            for y in (LABELS, empty, all_ignored)}
    for name, fn in (
        ("hd", lambda a, y, m: rl.hausdorff_dt_loss(a, y, ignore_index=255)),
        ("boundary", lambda a, y, m: rl.boundary_loss(a, m, target=y, ignore_index=255)),
    ):
        g = jax.jit(jax.grad(fn))
        for x, y in ((perfect, LABELS), (LOGITS, empty), (LOGITS, all_ignored)):
            grad = np.asarray(g(jnp.asarray(x), jnp.asarray(y), maps[id(y)]))
            assert np.isfinite(grad).all(), name
        args = (jnp.asarray(LOGITS), jnp.asarray(all_ignored), maps[id(all_ignored)])
        assert float(fn(*args)) == 0.0
        assert (np.asarray(g(*args)) == 0).all()


@needs_jax
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_accumulates_in_float32(dtype):
    x = jnp.asarray(LOGITS, dtype=getattr(jnp, dtype))
    for got, want in (
        (rl.hausdorff_dt_loss(x, LABELS), rl.hausdorff_dt_loss(np.asarray(x, np.float32),
                                                                LABELS)),
        (rl.boundary_loss(x, MAPS), rl.boundary_loss(np.asarray(x, np.float32), MAPS)),
    ):
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_numpy_float16_accumulates_in_float32():
    got = rl.hausdorff_dt_loss(LOGITS.astype(np.float16), LABELS)
    assert got.dtype == np.float32
    assert math.isfinite(float(got))
    assert to_numpy(rl.boundary_loss(LOGITS.astype(np.float16), MAPS)).dtype == np.float32


def test_finite_difference_helper_agrees_for_the_boundary_loss():
    """The boundary loss is linear in p: its gradient is exact for finite differences."""
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(LOGITS[:1, :3, :4].copy()).requires_grad_(True)
    maps = torch.from_numpy(MAPS[:1, :3, :4].copy())
    rl.boundary_loss(x, maps).backward()
    fd = finite_difference(lambda a: rl.boundary_loss(a, MAPS[:1, :3, :4]),
                           LOGITS[:1, :3, :4].copy())
    np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-6, atol=1e-10)


def test_docstring_examples_run():
    import doctest

    from regionloss.losses import boundary, topology

    for module in (boundary, topology):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
