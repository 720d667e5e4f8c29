"""cldice_loss and dice_cldice_loss: a reference written from Shit et al.'s Algorithm 1 with
SciPy filters, hand cases, the per-class variant, compounds, backends and JAX.

``ref_cldice`` shares no code with the library: the soft skeleton with
:func:`scipy.ndimage.minimum_filter` (cross footprint, the border ignored) and
:func:`scipy.ndimage.maximum_filter` (3 x ... x 3 box), then the clDice formula with NumPy.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import HAVE_JAX, assert_matches

import regionloss as rl

ndi = pytest.importorskip("scipy.ndimage")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
if HAVE_JAX:
    import jax
    import jax.numpy as jnp

C = 3
RNG = np.random.default_rng(11)
LOGITS = (2.0 * RNG.normal(size=(2, 9, 10, C))).astype(np.float64)  # channels-last
LABELS = np.zeros((2, 9, 10), np.int64)
LABELS[0, 4, 1:9] = 1                      # a thin line
LABELS[0, 1:3, 2:7] = 2                    # a thick bar
LABELS[1, 2:8, 5] = 1
LABELS[1, 6, 1:9] = 2
IGNORED = LABELS.copy()
IGNORED[0, 6:9, 0:3] = 255


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def onehot(labels):
    return np.stack([labels == c for c in range(C)], axis=-1).astype(np.float64)


def _skeleton(img, iterations):
    """Soft skeleton of one image (any dimension), Algorithm 1 of Shit et al."""
    cross = ndi.generate_binary_structure(img.ndim, 1)

    def erode(a):
        return ndi.minimum_filter(a, footprint=cross, mode="constant", cval=np.inf)

    def dilate(a):
        return ndi.maximum_filter(a, size=3, mode="constant", cval=-np.inf)

    def part(a):
        return np.maximum(a - dilate(erode(a)), 0.0)

    skel = part(img)
    for _ in range(iterations):
        img = erode(img)
        delta = part(img)
        skel = skel + np.maximum(delta - skel * delta, 0.0)
    return skel


def ref_cldice(probs, target, *, iterations=3, weight=None, include_background=True,
               per_class=False, per_sample=True, smooth_nr=1.0, smooth_dr=1.0, smooth=1e-4):
    """probs, target (N, *spatial, C); weight (N, *spatial) or None. Returns 1 − clDice,
    (N,) / (N, K) / () / (K,)."""
    first = 0 if include_background else 1
    p, y = probs[..., first:], target[..., first:]
    w = np.ones(p.shape[:-1]) if weight is None else weight
    p = np.where(w[..., None] > 0, p, 0.0)
    sp, sy = np.zeros_like(p), np.zeros_like(y)
    for n in range(p.shape[0]):
        for k in range(p.shape[-1]):
            sp[n, ..., k] = _skeleton(p[n, ..., k], iterations)
            sy[n, ..., k] = _skeleton(y[n, ..., k], iterations)
    axes = tuple(range(1, p.ndim - 1)) + (() if per_class else (p.ndim - 1,))
    if not per_sample:
        axes = (0,) + axes
    ww = w[..., None]

    def total(v):
        return np.sum(ww * v, axis=axes)

    tprec = (total(sp * y) + smooth_nr) / (total(sp) + smooth_dr)
    tsens = (total(sy * p) + smooth_nr) / (total(sy) + smooth_dr)
    return 1.0 - 2.0 * tprec * tsens / (tprec + tsens + smooth)


OPTIONS = [
    dict(),
    dict(iterations=1, include_background=False),
    dict(per_class=True),
    dict(per_sample=False, smooth_nr=0.5, smooth_dr=2.0, smooth=0.1),
    dict(per_class=True, per_sample=False, iterations=5),
]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_cldice_equals_the_scipy_reference(options):
    got = rl.cldice_loss(LOGITS, LABELS, reduction="none", **options)
    want = ref_cldice(softmax(LOGITS), onehot(LABELS), **options)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_cldice_3d_channels_first_sigmoid_with_a_mask():
    x = RNG.normal(size=(1, 2, 6, 7, 5))
    y = (RNG.random(x.shape) < 0.3).astype(np.float64)
    mask = (RNG.random((1, 6, 7, 5)) < 0.85).astype(np.float64) * 0.5
    got = rl.cldice_loss(x, y, class_axis=1, activation="sigmoid", mask=mask)
    want = ref_cldice(np.moveaxis(1 / (1 + np.exp(-x)), 1, -1), np.moveaxis(y, 1, -1),
                      weight=mask)
    np.testing.assert_allclose(float(got), want.mean(), rtol=1e-12)


def test_ignore_index_equals_a_binary_mask_and_removes_pixels_from_the_skeletons():
    got = rl.cldice_loss(LOGITS, IGNORED, ignore_index=255, reduction="none")
    kept = (IGNORED != 255).astype(np.float64)
    np.testing.assert_allclose(got, ref_cldice(softmax(LOGITS), onehot(IGNORED), weight=kept),
                               rtol=1e-12)
    np.testing.assert_allclose(got, rl.cldice_loss(LOGITS, LABELS, mask=kept,
                                                   reduction="none"), rtol=1e-12)


def test_a_thin_line_against_itself():
    line = np.zeros((1, 5, 7))
    line[0, 2, 1:6] = 1.0
    assert float(rl.cldice_loss(line, line.astype(np.int64), class_axis=None,
                                activation=None, smooth=0.0)) == 0.0
    # a thick bar is not its own skeleton, but its skeleton lies inside it: loss 0 too
    bar = np.zeros((1, 9, 9))
    bar[0, 2:7, 1:8] = 1.0
    assert float(rl.cldice_loss(bar, bar.astype(np.int64), class_axis=None, activation=None,
                                smooth=0.0)) == 0.0
    # with MONAI's smoothing, an empty prediction of an empty reference is (almost) perfect
    empty = np.zeros((1, 5, 7))
    assert float(rl.cldice_loss(empty, empty.astype(np.int64), class_axis=None,
                                activation=None)) == pytest.approx(1 - 2 / (2 + 1e-4))


def test_dice_cldice_is_the_weighted_sum():
    for per_class in (False, True):
        for alpha in (0.0, 0.3, 1.0):
            got = rl.dice_cldice_loss(LOGITS, LABELS, alpha=alpha, per_class=per_class)
            want = ((1 - alpha) * rl.dice_loss(LOGITS, LABELS, smooth_nr=1.0, smooth_dr=1.0)
                    + alpha * rl.cldice_loss(LOGITS, LABELS, per_class=per_class))
            np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
    none = rl.dice_cldice_loss(LOGITS, LABELS, per_class=True, reduction="none")
    assert none.shape == (2, C)
    np.testing.assert_allclose(
        none, 0.5 * rl.dice_loss(LOGITS, LABELS, smooth_nr=1.0, smooth_dr=1.0,
                                 reduction="none")
        + 0.5 * rl.cldice_loss(LOGITS, LABELS, per_class=True, reduction="none"), rtol=1e-12)


def test_compounds_and_shapes():
    loss = rl.combine((1.0, rl.cldice_loss, {"include_background": False}),
                      (1.0, rl.dice_loss, {"include_background": False}))
    np.testing.assert_allclose(
        float(loss(LOGITS, LABELS, mask=(IGNORED != 255).astype(float))),
        float(rl.cldice_loss(LOGITS, LABELS, include_background=False,
                             mask=(IGNORED != 255).astype(float))
              + rl.dice_loss(LOGITS, LABELS, include_background=False,
                             mask=(IGNORED != 255).astype(float))), rtol=1e-12)
    assert rl.cldice_loss(LOGITS, LABELS, reduction="none").shape == (2,)
    assert rl.cldice_loss(LOGITS, LABELS, reduction="none", per_sample=False).shape == ()
    assert rl.cldice_loss(LOGITS, LABELS, reduction="none", per_class=True,
                          include_background=False).shape == (2, C - 1)
    assert rl.dice_cldice_loss(LOGITS, LABELS, reduction="none").shape == (2,)
    np.testing.assert_allclose(float(rl.cldice_loss(LOGITS, LABELS, reduction="sum")),
                               float(np.sum(rl.cldice_loss(LOGITS, LABELS, reduction="none"))),
                               rtol=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.cldice_loss(LOGITS, LABELS, iterations=-1), ValueError,
     "iterations must be an integer >= 0"),
    (lambda: rl.cldice_loss(LOGITS, LABELS, iterations=2.5), TypeError, "iterations"),
    (lambda: rl.cldice_loss(LOGITS, LABELS, smooth=-1.0), ValueError, "smooth must be"),
    (lambda: rl.cldice_loss(LOGITS, LABELS, per_class="yes"), TypeError,
     "per_class must be True or False"),
    (lambda: rl.dice_cldice_loss(LOGITS, LABELS, alpha=1.5), ValueError,
     r"alpha must be a number in \[0, 1\]"),
    (lambda: rl.cldice_loss(np.zeros((1, 2, 2, 2, 2, 3)), np.zeros((1, 2, 2, 2, 2), int)),
     ValueError, "1 to 3 spatial axes"),
])
def test_option_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", ["cldice_loss", "dice_cldice_loss"])
def test_backend_matrix(backend, name):
    if backend.name == "dask" and name == "dice_cldice_loss":
        pytest.skip("the same soft skeleton as cldice_loss; a Dask graph of it takes seconds")
    fn = getattr(rl, name)
    x = LOGITS.astype(np.float32)
    want = np.asarray(fn(x, LABELS, iterations=1))   # one erosion: a smaller Dask / XLA graph
    assert_matches(fn(backend(x), backend(LABELS), iterations=1), want, backend, rtol=1e-5)


@needs_jax
def test_jax_jit_vmap_gradient_and_edge_cases():
    """One compiled value-and-gradient serves every check (one erosion keeps the graph
    small; the reference tests hold the default three under jit)."""
    x, y = jnp.asarray(LOGITS), jnp.asarray(LABELS)
    loss = functools.partial(rl.dice_cldice_loss, ignore_index=255, iterations=1)
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    value, grad = value_and_grad(x, y)
    assert float(value) == pytest.approx(float(loss(LOGITS, LABELS)), rel=1e-12)
    flat = np.asarray(grad).reshape(-1)
    for i in RNG.choice(flat.size, 6, replace=False):     # finite differences
        step = np.zeros(flat.size)
        step[i] = 1e-6
        step = step.reshape(LOGITS.shape)
        fd = (float(loss(LOGITS + step, LABELS)) - float(loss(LOGITS - step, LABELS))) / 2e-6
        np.testing.assert_allclose(flat[i], fd, rtol=1e-5, atol=1e-8)
    # finite gradients at a perfect prediction, an empty reference and all pixels ignored
    for a, b in ((30.0 * (onehot(LABELS) - 0.5), LABELS), (LOGITS, np.zeros_like(LABELS)),
                 (LOGITS, np.full_like(LABELS, 255))):
        value, grad = value_and_grad(jnp.asarray(a), jnp.asarray(b))
        assert np.isfinite(float(value)) and np.isfinite(np.asarray(grad)).all()
    cldice = functools.partial(rl.cldice_loss, iterations=1)
    per = jax.jit(jax.vmap(lambda a, b: cldice(a[None], b[None])))(x, y)
    np.testing.assert_allclose(per, cldice(LOGITS, LABELS, reduction="none"), rtol=1e-12)
    half = jnp.asarray(LOGITS, dtype=jnp.bfloat16)
    got = jax.jit(loss)(half, y)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), float(loss(np.asarray(half, np.float32), LABELS)),
                               rtol=1e-5)
