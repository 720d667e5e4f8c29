"""Distance maps and soft morphology (regionloss.distance_maps).

References that share no code with the library:

* ``authors_signed_map``: the boundary-loss authors' per-class formula, written out with
  :func:`scipy.ndimage.distance_transform_edt` (``sampling=spacing``), one sample and
  class at a time;
* ``monai_field``: MONAI's ``HausdorffDTLoss.distance_field`` rule, written out with SciPy
  (threshold > 0.5, zeros unless the image has both foreground and background);
* ``scipy_skeleton``: clDice's Algorithm 1 with SciPy's grey-level ``minimum_filter``
  (cross footprint) and ``maximum_filter`` (3 x ... x 3 box).

Plus hand-computed maps, hypothesis properties of the signed map (zero exactly on the
inner boundary, one exactly on the outer boundary, a sign change across it), the backend
matrix, JAX ``jit`` / ``vmap`` / ``grad``, finite differences and argument errors.
"""

from __future__ import annotations

import doctest
import inspect
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import HAVE_JAX, HAVE_TORCH, assert_matches, finite_difference, to_numpy
from regionloss import distance_maps
from regionloss.distance_maps import (
    boundary_distance_field,
    distance_transform,
    signed_distance_map,
    soft_dilate,
    soft_erode,
    soft_skeleton,
)

ndi = pytest.importorskip("scipy.ndimage")

INF = math.inf
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")


def _x64(enabled: bool):
    """JAX's x64 mode as a context (the suite runs with x64; float32 is tested apart)."""
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64  # older JAX

    return enable_x64() if enabled else disable_x64()


# --------------------------------------------------------------------------- references


def scipy_edt_batch(mask, spacing=None):
    """SciPy per sample, ``inf`` for a sample without zero (the documented policy)."""
    out = np.empty(mask.shape)
    for n, img in enumerate(np.asarray(mask) != 0):
        out[n] = INF if img.all() else ndi.distance_transform_edt(img, sampling=spacing)
    return out


def authors_signed_map(labels, num_classes, spacing=None):
    """one_hot2dist of the boundary-loss authors, per sample, channels-last output.

    ``edt(neg) * neg - (edt(pos) - 1) * pos`` for a present class; zeros for an absent
    class and (the one documented departure) for a class filling the whole image.
    """
    out = np.zeros(labels.shape + (num_classes,))
    for n in range(labels.shape[0]):
        for c in range(num_classes):
            pos = labels[n] == c
            if pos.any() and not pos.all():
                neg = ~pos
                out[n, ..., c] = (ndi.distance_transform_edt(neg, sampling=spacing) * neg
                                  - (ndi.distance_transform_edt(pos, sampling=spacing) - 1)
                                  * pos)
    return out


def monai_field(mask, spatial_ndim, spacing=None):
    """MONAI's distance_field rule for every image of the trailing ``spatial_ndim`` axes."""
    mask = np.asarray(mask)
    spatial = mask.shape[mask.ndim - spatial_ndim:]
    flat = mask.reshape((-1,) + spatial)
    out = np.zeros(flat.shape)
    for i, img in enumerate(flat):
        fg = img > 0.5
        if fg.any() and not fg.all():
            out[i] = (ndi.distance_transform_edt(fg, sampling=spacing)
                      + ndi.distance_transform_edt(~fg, sampling=spacing))
    return out.reshape(mask.shape)


def _cross(ndim):
    return np.sum(np.abs(np.indices((3,) * ndim) - 1), axis=0) <= 1


def scipy_skeleton(x, iterations, spatial_axes):
    """clDice Algorithm 1 with SciPy grey-level filters (edge mode 'nearest' ignores the
    outside for centred windows)."""
    spatial_axes = [a % x.ndim for a in spatial_axes]
    cross = np.ones([3 if a in spatial_axes else 1 for a in range(x.ndim)], dtype=bool)
    cross[...] = False
    core = _cross(len(spatial_axes))
    cross[tuple(slice(None) if a in spatial_axes else 0 for a in range(x.ndim))] = core
    box = [3 if a in spatial_axes else 1 for a in range(x.ndim)]

    def erode(v):
        return ndi.minimum_filter(v, footprint=cross, mode="nearest")

    def open_(v):
        return ndi.maximum_filter(erode(v), size=box, mode="nearest")

    skel = np.maximum(x - open_(x), 0)
    for _ in range(iterations):
        x = erode(x)
        delta = np.maximum(x - open_(x), 0)
        skel = skel + np.maximum(delta - skel * delta, 0)
    return skel


def _labels(shape, num_classes, seed):
    """Blocky random label maps (neighbouring pixels share labels, so that classes have
    insides), with one class absent from sample 0."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, num_classes, size=(shape[0],) + tuple(-(-s // 3) for s in shape[1:]))
    labels = coarse
    for axis in range(1, len(shape)):
        labels = np.repeat(labels, 3, axis=axis)
    labels = labels[(slice(None),) + tuple(slice(0, s) for s in shape[1:])]
    noise = rng.random(shape) < 0.1
    labels = np.where(noise, rng.integers(0, num_classes, size=shape), labels)
    labels[0][labels[0] == num_classes - 1] = 0
    return labels.astype(np.int64)


# --------------------------------------------------------------------------- distance_transform


def test_distance_transform_backends(backend):
    rng = np.random.default_rng(0)
    mask = rng.random((3, 9, 11)) < 0.6
    mask[1] = True                                     # no zero: inf
    mask[2] = False                                    # all zero: zeros
    mask[2, 4, 5] = True
    want = scipy_edt_batch(mask, (2.0, 0.5))
    got = distance_transform(backend(mask), spacing=(2.0, 0.5))
    assert_matches(got, want, backend, rtol=1e-6, atol=0)


@pytest.mark.parametrize("shape", [(2, 17), (2, 6, 7, 8)])
def test_distance_transform_1d_3d_and_scalar_spacing(shape):
    mask = np.random.default_rng(1).random(shape) < 0.7
    np.testing.assert_allclose(distance_transform(mask, spacing=0.5),
                               scipy_edt_batch(mask, 0.5), rtol=1e-12)
    np.testing.assert_array_equal(distance_transform(mask, spacing=0.5),
                                  distance_transform(mask, spacing=[0.5] * (len(shape) - 1)))


def test_distance_transform_mask_dtypes():
    rng = np.random.default_rng(2)
    ints = rng.integers(-1, 2, (2, 7, 6))
    floats = ints * 0.25
    want = scipy_edt_batch(ints)
    for m in (ints, ints.astype(np.uint8), floats, floats.astype(np.float32), ints != 0):
        np.testing.assert_allclose(distance_transform(m), want, rtol=1e-12)


@pytest.mark.parametrize("mask, spacing, error, match", [
    (np.zeros((2, 3), np.complex128), None, TypeError, "mask must be a bool, integer"),
    (np.zeros(4), None, ValueError, r"mask must have shape \(N, \*spatial\)"),
    (np.zeros((1, 2, 2, 2, 2)), None, ValueError, "mask must have shape"),
    (np.zeros((2, 3, 4)), (1.0,), ValueError, "spacing must have one entry per spatial axis"),
    (np.zeros((2, 3, 4)), (1.0, 0.0), ValueError, "spacing entries must be positive"),
    (np.zeros((2, 3, 4)), (1.0, -2.0), ValueError, "spacing entries must be positive"),
    (np.zeros((2, 3, 4)), (1.0, math.nan), ValueError, "finite"),
    (np.zeros((2, 3, 4)), math.inf, ValueError, "finite"),
    (np.zeros((2, 3, 4)), True, TypeError, "spacing"),
    (np.zeros((2, 3, 4)), "1,1", TypeError, "spacing must be a positive number"),
    (np.zeros((2, 3, 4)), (1.0, "1"), TypeError, "spacing entries must be real numbers"),
    (np.zeros((2, 3, 4)), object(), TypeError, "spacing must be a positive number"),
])
def test_distance_transform_errors(mask, spacing, error, match):
    with pytest.raises(error, match=match):
        distance_transform(mask, spacing=spacing)


# --------------------------------------------------------------------------- signed map


def test_signed_map_hand_computed_square():
    labels = np.zeros((1, 7, 7), dtype=np.int64)
    labels[0, 1:6, 1:6] = 1                            # a 5 x 5 square
    phi = signed_distance_map(labels, num_classes=2)[0, ..., 1]
    want = np.array([
        [math.sqrt(2), 1, 1, 1, 1, 1, math.sqrt(2)],
        [1, 0, 0, 0, 0, 0, 1],
        [1, 0, -1, -1, -1, 0, 1],
        [1, 0, -1, -2, -1, 0, 1],
        [1, 0, -1, -1, -1, 0, 1],
        [1, 0, 0, 0, 0, 0, 1],
        [math.sqrt(2), 1, 1, 1, 1, 1, math.sqrt(2)],
    ])
    np.testing.assert_allclose(phi, want, rtol=0, atol=1e-12)
    # the background class is the complement: its own ring and inside (the frame)
    bg = signed_distance_map(labels, num_classes=2)[0, ..., 0]
    assert bg[3, 3] == 3.0 and bg[1, 1] == 1.0 and bg[0, 3] == 0.0
    assert bg[0, 0] == pytest.approx(1 - math.sqrt(2))   # a frame corner: not on the ring


def test_signed_map_anisotropic_minus_one_is_one_unit():
    """The documented consequence of the literal "- 1": 1 - s on the inner boundary."""
    labels = np.zeros((1, 7, 13), dtype=np.int64)
    labels[0, 2:5, 1:12] = 1                           # 3 rows x 11 columns
    phi = signed_distance_map(labels, num_classes=2, spacing=(2.5, 0.7))[0, ..., 1]
    assert phi[2, 6] == pytest.approx(1 - 2.5)         # outside neighbour across rows
    assert phi[3, 1] == pytest.approx(1 - 0.7)         # outside neighbour along the row: > 0
    assert phi[3, 6] == pytest.approx(1 - 6 * 0.7)     # centre: 6 columns beat 2 rows (5.0)
    assert phi[1, 6] == pytest.approx(2.5)             # outside: true distances
    assert phi[3, 0] == pytest.approx(0.7)
    assert phi[0, 0] == pytest.approx(math.hypot(2 * 2.5, 0.7))


@pytest.mark.parametrize("shape, num_classes, spacing", [
    ((3, 12, 10), 4, None),
    ((3, 12, 10), 4, (2.5, 0.7)),
    ((2, 6, 7, 8), 3, (2.5, 0.7, 0.7)),
    ((2, 6, 7, 8), 3, 1.3),
    ((2, 15), 3, (0.4,)),
])
def test_signed_map_equals_the_authors_formula(shape, num_classes, spacing):
    labels = _labels(shape, num_classes, seed=sum(shape))
    got = signed_distance_map(labels, num_classes=num_classes, spacing=spacing)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, authors_signed_map(labels, num_classes, spacing),
                               rtol=1e-12, atol=1e-12)


def test_signed_map_absent_and_full_classes_are_zero():
    labels = np.zeros((2, 5, 6), dtype=np.int64)
    labels[1, 2, 3] = 1
    phi = signed_distance_map(labels, num_classes=3)
    np.testing.assert_array_equal(phi[..., 2], 0.0)    # class 2 absent everywhere
    np.testing.assert_array_equal(phi[0], 0.0)         # sample 0: class 0 fills it, 1 absent
    assert phi[1, 2, 3, 1] == 0.0 and phi[1, 0, 0, 1] == pytest.approx(math.hypot(2, 3))
    # the authors' code would give SciPy's phantom numbers for the full class
    phantom = -(ndi.distance_transform_edt(np.ones((5, 6))) - 1)
    assert np.any(phantom != 0)


@st.composite
def label_maps(draw):
    ndim = draw(st.sampled_from([1, 2, 3]))
    sizes = {1: (3, 12), 2: (2, 8), 3: (2, 5)}[ndim]
    shape = (draw(st.integers(1, 2)),) + tuple(
        draw(st.integers(sizes[0], sizes[1])) for _ in range(ndim))
    num_classes = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        return _labels(shape, num_classes, seed), num_classes
    return rng.integers(0, num_classes, size=shape), num_classes


def _face_shifts(ndim):
    for axis in range(ndim):
        for step in (-1, 1):
            yield axis, step


def _neighbour(a, axis, step, fill):
    """``a`` shifted so that out[i] = a[i + step] along ``axis`` (``fill`` outside)."""
    out = np.full_like(a, fill)
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    if step == 1:
        src[axis], dst[axis] = slice(1, None), slice(None, -1)
    else:
        src[axis], dst[axis] = slice(None, -1), slice(1, None)
    out[tuple(dst)] = a[tuple(src)]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=label_maps())
def test_signed_map_properties(case):
    labels, num_classes = case
    phi = signed_distance_map(labels, num_classes=num_classes, class_axis=1)
    for n in range(labels.shape[0]):
        for c in range(num_classes):
            s = labels[n] == c
            p = phi[n, c]
            if not s.any() or s.all():
                np.testing.assert_array_equal(p, 0.0)
                continue
            inner = np.zeros_like(s)
            outer = np.zeros_like(s)
            for axis, step in _face_shifts(s.ndim):
                nb_in = _neighbour(s, axis, step, fill=True)    # outside the array: no
                nb_out = _neighbour(~s, axis, step, fill=True)  # neighbour to count
                inner |= s & ~nb_in
                outer |= ~s & ~nb_out
                # across every face pair (inside, outside) the sign changes: <= 0 < ...
                pair = s & _neighbour(~s, axis, step, fill=False)
                nb_phi = _neighbour(p, axis, step, fill=np.nan)
                assert np.all(p[pair] == 0) and np.all(nb_phi[pair] == 1)
            assert np.all(p[inner] == 0)                     # exactly 0 on the inner boundary
            assert np.all(p[s & ~inner] < 0)                 # negative deeper inside
            assert np.all(p[s & ~inner] <= 1 - math.sqrt(2) + 1e-12)
            assert np.all(p[outer] == 1)                     # exactly 1 on the outer boundary
            assert np.all(p[~s] >= 1)                        # positive outside


@pytest.mark.parametrize("class_axis", [1, 2, -1, -2])
def test_signed_map_class_axis_and_dense_targets(class_axis):
    labels = _labels((2, 9, 8), 3, seed=5)
    channels_last = signed_distance_map(labels, num_classes=3)
    got = signed_distance_map(labels, num_classes=3, class_axis=class_axis)
    np.testing.assert_array_equal(got, np.moveaxis(channels_last, -1, class_axis))
    onehot = np.moveaxis(np.eye(3, dtype=bool)[labels], -1, class_axis)
    for dense in (onehot, onehot.astype(np.float32), onehot.astype(np.float64)):
        np.testing.assert_array_equal(
            signed_distance_map(dense, num_classes=3, class_axis=class_axis), got)


def test_signed_map_ignore_index_policy():
    """Ignored pixels: in no class while measuring, and 0 in every class map."""
    labels = _labels((2, 10, 9), 3, seed=8)
    keep = np.random.default_rng(3).random(labels.shape) > 0.15
    ignored = np.where(keep, labels, 255)
    got = signed_distance_map(ignored, num_classes=3, ignore_index=255)
    in_no_class = np.where(keep, labels, 7)           # a label outside [0, 3): no class
    want = np.where(keep[..., None], authors_signed_map(in_no_class, 3), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[~keep], 0.0)
    # labels outside [0, C) that are not ignore_index: in no class, but measured
    np.testing.assert_allclose(signed_distance_map(in_no_class, num_classes=3),
                               authors_signed_map(in_no_class, 3), rtol=1e-12, atol=1e-12)


def test_signed_map_ignore_index_that_is_a_class_id():
    labels = _labels((2, 8, 8), 3, seed=9)
    got = signed_distance_map(labels, num_classes=3, ignore_index=1)
    np.testing.assert_array_equal(got[..., 1], 0.0)
    keep = labels != 1
    want = np.where(keep[..., None], authors_signed_map(np.where(keep, labels, 9), 3), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, ignore", [(np.uint8, 255), (np.uint8, -1), (np.int8, 300),
                                           (np.int16, -1), (np.uint16, 65535)])
def test_signed_map_label_dtypes_and_ignore_outside_the_dtype(dtype, ignore):
    labels = _labels((2, 8, 7), 3, seed=10)
    want = signed_distance_map(labels, num_classes=3)
    got = signed_distance_map(labels.astype(dtype), num_classes=3, ignore_index=ignore)
    np.testing.assert_array_equal(got, want)


def test_signed_map_more_classes_than_the_label_dtype_holds():
    labels = _labels((1, 6, 6), 3, seed=11).astype(np.int8)
    got = signed_distance_map(labels, num_classes=200)
    assert got.shape == (1, 6, 6, 200)
    np.testing.assert_array_equal(got[..., :3], signed_distance_map(labels, num_classes=3))
    np.testing.assert_array_equal(got[..., 3:], 0.0)


def test_signed_map_backends(backend):
    labels = _labels((2, 9, 8), 3, seed=12)
    labels[0, 0, :3] = 255
    want = signed_distance_map(labels, num_classes=3, spacing=(1.5, 1.0), ignore_index=255)
    got = signed_distance_map(backend(labels), num_classes=3, spacing=(1.5, 1.0),
                              ignore_index=255)
    assert_matches(got, want, backend, rtol=1e-6, atol=1e-9)
    dense = np.moveaxis(np.eye(3, dtype=np.float32)[_labels((2, 9, 8), 3, seed=13)], -1, 1)
    got = signed_distance_map(backend(dense), num_classes=3, class_axis=1)
    assert_matches(got, signed_distance_map(dense, num_classes=3, class_axis=1), backend,
                   rtol=1e-6, atol=1e-9)


@needs_jax
def test_signed_map_jax_jit_and_vmap_equal_numpy():
    import jax
    import jax.numpy as jnp

    with _x64(True):
        _signed_map_jax_checks(jax, jnp)


def _signed_map_jax_checks(jax, jnp):
    labels = _labels((3, 10, 9), 4, seed=14)
    labels[1, :2] = 255
    kw = dict(num_classes=4, spacing=(2.5, 0.7), ignore_index=255)
    want = signed_distance_map(labels, **kw)
    jitted = jax.jit(lambda y: signed_distance_map(y, **kw))(jnp.asarray(labels))
    np.testing.assert_allclose(np.asarray(jitted), want, rtol=1e-6, atol=1e-9)
    batched = jax.vmap(lambda y: signed_distance_map(y, **kw))(jnp.asarray(labels)[:, None])
    np.testing.assert_allclose(np.asarray(batched)[:, 0], want, rtol=1e-6, atol=1e-9)
    vol = _labels((2, 5, 6, 7), 3, seed=15)
    kw3 = dict(num_classes=3, spacing=(2.5, 0.7, 0.7), class_axis=1)
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda y: signed_distance_map(y, **kw3))(jnp.asarray(vol))),
        authors_signed_map(vol, 3, (2.5, 0.7, 0.7)).transpose(0, 4, 1, 2, 3),
        rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("labels, kw, error, match", [
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=0), ValueError, "num_classes must be an integer >= 1"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2.0), TypeError, "num_classes"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=True), TypeError, "num_classes"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2, class_axis=0), ValueError, "class_axis"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2, class_axis=4), ValueError, "class_axis"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2, class_axis=-4), ValueError, "class_axis"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2, class_axis=-5), ValueError, "class_axis"),
    (np.zeros(4, np.int64), dict(num_classes=2), ValueError, "label map"),
    (np.zeros((2, 4, 4, 4, 4), np.int64), dict(num_classes=2), ValueError, "label map"),
    (np.zeros((2, 4, 4), bool), dict(num_classes=2), ValueError, "num_classes"),
    (np.zeros((2, 4, 2), bool), dict(num_classes=2, ignore_index=0), ValueError,
     "ignore_index applies to integer label maps"),
    (np.zeros((2, 4), bool), dict(num_classes=2), ValueError, "dense target"),
    (np.zeros((2, 4, 4), np.complex64), dict(num_classes=2), TypeError, "labels must be"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2, ignore_index=1.5), TypeError,
     "ignore_index"),
    (np.zeros((2, 4, 4), np.int64), dict(num_classes=2, spacing=(1.0,)), ValueError,
     "spacing"),
])
def test_signed_map_errors(labels, kw, error, match):
    with pytest.raises(error, match=match):
        signed_distance_map(labels, **kw)


# --------------------------------------------------------------------------- HD field


def test_boundary_field_equals_monai_rule():
    rng = np.random.default_rng(20)
    probs = rng.random((2, 3, 9, 10))
    probs[0, 0] = 0.2                                  # all background: zeros
    probs[0, 1] = 0.8                                  # all foreground: zeros
    probs[1, 2, 4, 4:] = 0.5                           # exactly 0.5 is background
    for spacing in (None, (2.0, 0.5)):
        got = boundary_distance_field(probs, spatial_ndim=2, spacing=spacing)
        np.testing.assert_allclose(got, monai_field(probs, 2, spacing), rtol=1e-12)
    np.testing.assert_array_equal(got[0, :2], 0.0)


def test_boundary_field_hand_computed_and_dtypes():
    m = np.array([[0, 1, 1, 1, 0, 0]])
    want = np.array([[1.0, 1.0, 2.0, 1.0, 1.0, 2.0]])
    for x in (m, m.astype(bool), m.astype(np.float32), m * 3):
        np.testing.assert_array_equal(boundary_distance_field(x, spatial_ndim=1), want)
    vol = np.random.default_rng(21).random((2, 5, 6, 7)) > 0.6
    np.testing.assert_allclose(boundary_distance_field(vol, spatial_ndim=3, spacing=0.5),
                               monai_field(vol, 3, 0.5), rtol=1e-12)


def test_boundary_field_backends(backend):
    probs = np.random.default_rng(22).random((2, 2, 7, 8))
    probs[1, 0] = 0.9
    want = monai_field(probs, 2)
    assert_matches(boundary_distance_field(backend(probs), spatial_ndim=2), want, backend,
                   rtol=1e-6, atol=1e-9)


@needs_jax
def test_boundary_field_jax_jit():
    import jax
    import jax.numpy as jnp

    probs = np.random.default_rng(23).random((3, 8, 9))
    got = jax.jit(lambda p: boundary_distance_field(p, spatial_ndim=2))(jnp.asarray(probs))
    np.testing.assert_allclose(np.asarray(got), monai_field(probs, 2), rtol=1e-6)


@pytest.mark.parametrize("kw, error, match", [
    (dict(spatial_ndim=4), ValueError, "spatial_ndim"),
    (dict(spatial_ndim=True), ValueError, "spatial_ndim"),
    (dict(spatial_ndim=2, spacing=(1.0,)), ValueError, "spacing"),
])
def test_boundary_field_errors(kw, error, match):
    with pytest.raises(error, match=match):
        boundary_distance_field(np.zeros((2, 3, 4)), **kw)


# --------------------------------------------------------------------------- soft morphology


@pytest.mark.parametrize("shape, axes", [((2, 7, 8), (1, 2)), ((2, 6, 7, 3), (1, 2)),
                                         ((2, 4, 5, 6), (1, 2, 3)), ((3, 9), (1,))])
def test_soft_erode_and_dilate_equal_scipy_filters(shape, axes):
    x = np.random.default_rng(30).random(shape)
    k = len(axes)
    footprint = np.zeros([3 if a in axes else 1 for a in range(x.ndim)], dtype=bool)
    footprint[tuple(slice(None) if a in axes else 0 for a in range(x.ndim))] = _cross(k)
    size = [3 if a in axes else 1 for a in range(x.ndim)]
    np.testing.assert_array_equal(soft_erode(x, spatial_axes=axes),
                                  ndi.minimum_filter(x, footprint=footprint, mode="nearest"))
    np.testing.assert_array_equal(soft_dilate(x, spatial_axes=axes),
                                  ndi.maximum_filter(x, size=size, mode="nearest"))


def test_soft_morphology_backends(backend):
    x = to_numpy(backend(np.random.default_rng(31).random((2, 8, 9, 2))))  # the backend's
    for fn in (soft_erode, soft_dilate):
        assert_matches(fn(backend(x), spatial_axes=(1, 2)), fn(x, spatial_axes=(1, 2)),
                       backend, rtol=0, atol=0)
    tol = 1e-12 if x.dtype == np.float64 else 1e-6
    assert_matches(soft_skeleton(backend(x), iterations=3, spatial_axes=(1, 2)),
                   scipy_skeleton(x, 3, (1, 2)), backend, rtol=tol, atol=tol)


@needs_jax
def test_jax_float32_without_x64():
    """JAX's default mode: float32 maps and skeletons, close to the float64 NumPy ones."""
    import jax
    import jax.numpy as jnp

    labels = _labels((2, 10, 9), 3, seed=40)
    probs = np.random.default_rng(41).random((2, 10, 9, 3)).astype(np.float32)
    with _x64(False):
        phi = jax.jit(lambda y: signed_distance_map(y, num_classes=3, spacing=(2.5, 0.7)))(
            jnp.asarray(labels))
        field = jax.jit(lambda p: boundary_distance_field(p, spatial_ndim=2))(
            jnp.asarray(probs[..., 0]))
        skel, grad = jax.jit(jax.value_and_grad(lambda p: jnp.sum(
            soft_skeleton(p, iterations=3, spatial_axes=(1, 2)))))(jnp.asarray(probs))
        assert phi.dtype == field.dtype == jnp.float32
        assert grad.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(grad)))
    np.testing.assert_allclose(np.asarray(phi),
                               authors_signed_map(labels, 3, (2.5, 0.7)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(field), monai_field(probs[..., 0], 2), rtol=1e-6)
    np.testing.assert_allclose(float(skel), scipy_skeleton(probs, 3, (1, 2)).sum(), rtol=1e-5)


@pytest.mark.parametrize("shape, axes, iterations", [
    ((2, 12, 11), (1, 2), 3), ((2, 9, 10, 2), (1, 2), 5), ((2, 6, 7, 8), (1, 2, 3), 2),
    ((1, 2, 9, 8), (2, 3), 0)])
def test_soft_skeleton_equals_scipy_reference(shape, axes, iterations):
    x = np.random.default_rng(32).random(shape)
    np.testing.assert_allclose(soft_skeleton(x, iterations=iterations, spatial_axes=axes),
                               scipy_skeleton(x, iterations, axes), rtol=1e-12, atol=1e-12)


def _line_images():
    horizontal = np.zeros((1, 7, 9))
    horizontal[0, 3, 1:8] = 1
    diagonal = np.zeros((1, 8, 8))
    for i in range(1, 7):
        diagonal[0, i, i] = 1
    bent = np.zeros((1, 9, 9))
    bent[0, 2, 2:7] = 1
    bent[0, 2:7, 6] = 1
    line3d = np.zeros((1, 6, 7, 8))
    line3d[0, 3, 2, 1:7] = 1
    return {"horizontal": (horizontal, (1, 2)), "diagonal": (diagonal, (1, 2)),
            "bent": (bent, (1, 2)), "3d": (line3d, (1, 2, 3))}


def _convert(name):
    if name == "numpy":
        return lambda a: a, lambda a: np.asarray(a)
    import jax.numpy as jnp

    return jnp.asarray, np.asarray


BACKENDS_NJ = ["numpy", pytest.param("jax", marks=needs_jax)]


@pytest.mark.parametrize("name", BACKENDS_NJ)
@pytest.mark.parametrize("case", sorted(_line_images()))
def test_soft_skeleton_of_a_thin_line_is_the_line(name, case):
    to, back = _convert(name)
    line, axes = _line_images()[case]
    for iterations in (0, 1, 3):
        np.testing.assert_array_equal(
            back(soft_skeleton(to(line), iterations=iterations, spatial_axes=axes)), line)


@pytest.mark.parametrize("name", BACKENDS_NJ)
def test_soft_skeleton_of_filled_rectangles_is_their_medial_structure(name):
    to, back = _convert(name)
    odd = np.zeros((1, 9, 15))
    odd[0, 2:7, 2:13] = 1                              # 5 x 11
    medial = np.zeros_like(odd)
    medial[0, 4, 4:11] = 1                             # middle row, 2 short at each end
    for iterations in (2, 3, 6):
        np.testing.assert_array_equal(
            back(soft_skeleton(to(odd), iterations=iterations, spatial_axes=(1, 2))), medial)
    # one erosion is not enough to reach the middle of a 5-pixel-thick bar
    np.testing.assert_array_equal(
        back(soft_skeleton(to(odd), iterations=1, spatial_axes=(1, 2))), 0.0)
    even = np.zeros((1, 8, 14))
    even[0, 2:6, 2:12] = 1                             # 4 x 10: two middle rows
    medial = np.zeros_like(even)
    medial[0, 3:5, 3:11] = 1
    np.testing.assert_array_equal(
        back(soft_skeleton(to(even), iterations=3, spatial_axes=(1, 2))), medial)
    box = np.zeros((1, 7, 7, 11))
    box[0, 1:6, 1:6, 1:10] = 1                         # 5 x 5 x 9: the central line
    medial = np.zeros_like(box)
    medial[0, 3, 3, 3:8] = 1
    np.testing.assert_array_equal(
        back(soft_skeleton(to(box), iterations=3, spatial_axes=(1, 2, 3))), medial)


def test_soft_skeleton_dtypes():
    mask = np.zeros((1, 5, 6), dtype=bool)
    mask[0, 2, 1:5] = True
    for m in (mask, mask.astype(np.uint8), mask.astype(np.float16)):
        out = soft_skeleton(m, iterations=2, spatial_axes=(1, 2))
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, mask)
    assert soft_skeleton(mask.astype(np.float64), iterations=1,
                         spatial_axes=(1, 2)).dtype == np.float64


@needs_jax
def test_soft_skeleton_jax_gradient_equals_finite_differences():
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(33)
    x = rng.random((1, 7, 8))
    w = rng.standard_normal(x.shape)

    def loss_np(v):
        return np.sum(w * soft_skeleton(v, iterations=2, spatial_axes=(1, 2)))

    grad = jax.jit(jax.grad(lambda v: jnp.sum(
        jnp.asarray(w) * soft_skeleton(v, iterations=2, spatial_axes=(1, 2)))))
    got = np.asarray(grad(jnp.asarray(x)))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, finite_difference(loss_np, x, eps=1e-7), atol=1e-6)


@needs_jax
@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")
def test_soft_skeleton_gradients_jax_equal_torch():
    import jax
    import jax.numpy as jnp
    import torch

    rng = np.random.default_rng(34)
    x = rng.random((2, 6, 7, 5))
    w = rng.standard_normal(x.shape)
    axes = (1, 2, 3)
    with _x64(True):
        gj = jax.grad(lambda v: jnp.sum(jnp.asarray(w) * soft_skeleton(
            v, iterations=3, spatial_axes=axes)))(jnp.asarray(x))
    v = torch.from_numpy(x.copy()).requires_grad_(True)
    (torch.from_numpy(w) * soft_skeleton(v, iterations=3, spatial_axes=axes)).sum().backward()
    np.testing.assert_allclose(np.asarray(gj), v.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw, error, match", [
    (dict(iterations=-1, spatial_axes=(1, 2)), ValueError, "iterations must be an integer >= 0"),
    (dict(iterations=1.5, spatial_axes=(1, 2)), TypeError, "iterations"),
    (dict(iterations=1, spatial_axes=(1, 1)), ValueError, "spatial_axes must be distinct"),
    (dict(iterations=1, spatial_axes=(1, 5)), ValueError, "out of range"),
    (dict(iterations=1, spatial_axes=()), ValueError, "1 to 3 axes"),
    (dict(iterations=1, spatial_axes=1), TypeError, "spatial_axes"),
])
def test_soft_skeleton_errors(kw, error, match):
    with pytest.raises(error, match=match):
        soft_skeleton(np.zeros((2, 4, 4)), **kw)


# --------------------------------------------------------------------------- module


def test_docstring_examples_run():
    result = doctest.testmod(distance_maps, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_module_does_not_branch_on_the_backend():
    """Every backend question is left to the kernel layer (regionloss._kernels)."""
    source = inspect.getsource(distance_maps)
    for needle in ("is_numpy", "is_jax", "is_torch", "is_cupy", "is_dask", "import jax",
                   "import torch", "import cupy", "import scipy", "jax.config"):
        assert needle not in source, needle


def test_results_are_not_python_scalars():
    out = to_numpy(distance_transform(np.zeros((1, 1))))
    assert out.shape == (1, 1)
