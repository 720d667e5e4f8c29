"""boundary_iou: bands against SciPy references, hand-computed values, the overlap metrics'
averaging and empty-set rules, ignore_index, the Euclidean variant, backends and JAX.

References that share no code with the library:

* ``scipy_band``: ``M & ~binary_erosion(M, ones((3,) * d), iterations=w, border_value=0)``,
  the authors' band (their cv2 erosion of the zero-padded mask gives the same bands);
* ``scipy_euclidean_band``: ``M & (edt(pad(M)) <= w)`` with the mask padded by one empty
  pixel on every side (outside the image counts as outside the mask).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAVE_JAX, assert_matches
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from regionloss.metrics.boundary_overlap import band_width, boundary_bands

ndi = pytest.importorskip("scipy.ndimage")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
NAN = math.nan

C = 4
RNG = np.random.default_rng(3)


def _blobs(rng, shape, num_classes=C):
    """Label maps of rectangles (with a background), not salt-and-pepper noise."""
    labels = np.zeros(shape, np.int64)
    for n in range(shape[0]):
        for c in range(1, num_classes):
            lo = [rng.integers(0, s - 2) for s in shape[1:]]
            hi = [rng.integers(a + 1, s + 1) for a, s in zip(lo, shape[1:])]
            labels[(n,) + tuple(slice(a, b) for a, b in zip(lo, hi))] = c
    return labels


TARGET = _blobs(RNG, (3, 20, 24))
PRED = np.where(RNG.random(TARGET.shape) < 0.9, TARGET, _blobs(RNG, (3, 20, 24)))


def scipy_band(mask, width):
    out = np.zeros_like(mask)
    structure = np.ones((3,) * (mask.ndim - 1), bool)
    for n, m in enumerate(mask):
        if m.any():
            out[n] = m & ~ndi.binary_erosion(m, structure, iterations=width, border_value=0)
    return out


def scipy_euclidean_band(mask, width, spacing=None):
    out = np.zeros_like(mask)
    for n, m in enumerate(mask):
        padded = np.pad(m, 1)
        dist = ndi.distance_transform_edt(padded, sampling=spacing)
        out[n] = m & (dist[(slice(1, -1),) * m.ndim] <= width)
    return out


def ref_counts(pred, target, width, *, band=scipy_band, valid=None, classes=range(C)):
    """(N, K) intersections, predicted and reference band sizes."""
    inter, bp, bt = [], [], []
    for c in classes:
        p, t = pred == c, target == c
        if valid is not None:
            p, t = p & valid, t & valid
        a, b = band(p, width), band(t, width)
        axes = tuple(range(1, pred.ndim))
        inter.append((a & b).sum(axis=axes))
        bp.append(a.sum(axis=axes))
        bt.append(b.sum(axis=axes))
    return (np.stack(inter, -1).astype(float), np.stack(bp, -1).astype(float),
            np.stack(bt, -1).astype(float))


def iou(inter, bp, bt):
    union = bp + bt - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), NAN)


# --------------------------------------------------------------------------- bands


def test_band_width_is_the_authors_rounding():
    assert [band_width((32, 32), r) for r in (0.02, 0.05, 0.1)] == [1, 2, 5]
    assert band_width((4, 4), 0.0) == 1                       # at least one pixel
    assert band_width((100, 100), 0.035355339059327376) == 5   # round(5.0)
    assert band_width((10, 10, 10), 0.1) == 2                  # 3-D diagonal 17.3
    assert band_width((32, 32), 0.02, method="euclidean") == 1.0
    assert band_width((32, 32), 0.05, method="euclidean") == pytest.approx(0.05 * 32 * 2 ** .5)
    assert band_width((8, 8), 0.0, method="euclidean", spacing=(2.5, 0.7)) == 2.5


@pytest.mark.parametrize("shape, width", [((3, 20, 24), 1), ((3, 20, 24), 3),
                                          ((2, 9, 10, 11), 2), ((2, 5, 6), 4)])
def test_grid_bands_equal_scipy(shape, width):
    mask = _blobs(RNG, shape, 2) == 1
    mask[0] = True                                     # a mask filling the image
    mask[-1] = False                                   # an empty one
    got = np.asarray(boundary_bands(mask, width=width))
    np.testing.assert_array_equal(got, scipy_band(mask, width))


@pytest.mark.parametrize("spacing", [None, (0.8, 1.3), (2.5, 0.7, 0.7)])
def test_euclidean_bands_equal_scipy(spacing):
    shape = (2, 9, 10, 11) if spacing is not None and len(spacing) == 3 else (2, 20, 24)
    mask = _blobs(RNG, shape, 2) == 1
    width = band_width(shape[1:], 0.1, method="euclidean", spacing=spacing)
    got = np.asarray(boundary_bands(mask, width=width, method="euclidean", spacing=spacing))
    np.testing.assert_array_equal(got, scipy_euclidean_band(mask, width, spacing))


# --------------------------------------------------------------------------- values


def test_hand_computed_shifted_square():
    target = np.zeros((1, 8, 8), np.int64)
    target[0, 1:7, 1:7] = 1
    pred = np.zeros((1, 8, 8), np.int64)
    pred[0, 1:7, 2:8] = 1
    # class 1: rings of 20 pixels sharing 2 rows of 5 -> 10 / 30; the background's bands
    # are the whole background (every pixel is near the border or the square): 22 / 34
    got = rl.boundary_iou(pred, target, num_classes=2, average="none")
    np.testing.assert_allclose(got, [22 / 34, 10 / 30])
    assert float(rl.boundary_iou(target, target, num_classes=2)) == 1.0


@pytest.mark.parametrize("ratio", [0.02, 0.05, 0.1])
@pytest.mark.parametrize("per_sample", [True, False])
def test_averages_follow_the_overlap_metrics(ratio, per_sample):
    width = band_width(TARGET.shape[1:], ratio)
    inter, bp, bt = ref_counts(PRED, TARGET, width)
    if not per_sample:
        inter, bp, bt = inter.sum(0), bp.sum(0), bt.sum(0)
    per = iou(inter, bp, bt)
    kw = dict(num_classes=C, dilation_ratio=ratio, per_sample=per_sample)
    np.testing.assert_allclose(rl.boundary_iou(PRED, TARGET, average="none", **kw), per)
    macro = np.nanmean(per, axis=-1)
    np.testing.assert_allclose(rl.boundary_iou(PRED, TARGET, **kw),
                               np.nanmean(macro) if per_sample else macro)
    micro = inter.sum(-1) / (bp.sum(-1) + bt.sum(-1) - inter.sum(-1))
    np.testing.assert_allclose(rl.boundary_iou(PRED, TARGET, average="micro", **kw),
                               np.mean(micro) if per_sample else micro)
    weighted = np.nansum(per * bt, -1) / np.sum(np.where(np.isnan(per), 0, bt), -1)
    np.testing.assert_allclose(rl.boundary_iou(PRED, TARGET, average="weighted", **kw),
                               np.mean(weighted) if per_sample else weighted)
    # without background: the same columns, one fewer
    np.testing.assert_allclose(
        rl.boundary_iou(PRED, TARGET, average="none", include_background=False, **kw),
        per[..., 1:])


def test_empty_sets_follow_zero_division():
    pred = np.zeros((2, 6, 6), np.int64)
    target = np.zeros((2, 6, 6), np.int64)
    pred[0, 1:4, 1:4] = 1                               # sample 0: spurious class 1
    target[1, 2:5, 2:5] = 2                             # sample 1: missed class 2
    for zd in (NAN, 0.0, 1.0):
        got = rl.boundary_iou(pred, target, num_classes=4, average="none", per_sample=True,
                              zero_division=zd)
        np.testing.assert_array_equal(got[:, 1:], [[0.0, zd, zd], [zd, 0.0, zd]])
        value, defined = rl.boundary_iou(pred, target, num_classes=4, per_sample=True,
                                         average="none", zero_division=zd,
                                         return_defined=True)
        np.testing.assert_array_equal(defined[:, 1:], [[1, 0, 0], [0, 1, 0]])
    # a batch without a single pixel of a class anywhere: zero_division for the average
    empty = np.zeros((1, 5, 5), np.int64)
    assert math.isnan(float(rl.boundary_iou(empty, empty, num_classes=2,
                                            include_background=False)))


def test_ignore_index_removes_pixels_from_both_masks():
    target = TARGET.copy()
    target[0, 5:9, 5:12] = 255
    target[2, 0] = 255
    valid = target != 255
    width = band_width(TARGET.shape[1:], 0.05)
    per = iou(*ref_counts(PRED, target, width, valid=valid))
    got = rl.boundary_iou(PRED, target, num_classes=C, dilation_ratio=0.05, average="none",
                          per_sample=True, ignore_index=255)
    np.testing.assert_allclose(got, per)
    # the prediction under ignored pixels is never looked at
    pred = np.where(valid, PRED, 77)
    np.testing.assert_allclose(rl.boundary_iou(pred, target, num_classes=C, dilation_ratio=0.05,
                                               average="none", per_sample=True,
                                               ignore_index=255), per)


def test_euclidean_method_with_spacing_3d():
    target = _blobs(RNG, (2, 8, 12, 12), 3)
    pred = np.roll(target, 1, axis=2)
    spacing = (2.5, 0.7, 0.7)
    width = band_width(target.shape[1:], 0.05, method="euclidean", spacing=spacing)
    band = lambda m, w: scipy_euclidean_band(m, w, spacing)   # noqa: E731
    per = iou(*ref_counts(pred, target, width, band=band, classes=range(3)))
    got = rl.boundary_iou(pred, target, num_classes=3, dilation_ratio=0.05, average="none",
                          per_sample=True, method="euclidean", spacing=spacing)
    np.testing.assert_allclose(got, per)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 16), ratio=st.sampled_from([0.0, 0.05, 0.2]))
def test_properties(seed, ratio):
    """In [0, 1]; 1 against itself wherever defined; symmetric in its two arguments."""
    rng = np.random.default_rng(seed)
    target = _blobs(rng, (2, 7, 9), 3)
    pred = _blobs(rng, (2, 7, 9), 3)
    kw = dict(num_classes=3, dilation_ratio=ratio, average="none", per_sample=True)
    got = np.asarray(rl.boundary_iou(pred, target, **kw))
    ok = ~np.isnan(got)
    assert ((got[ok] >= 0) & (got[ok] <= 1)).all()
    np.testing.assert_array_equal(got, np.asarray(rl.boundary_iou(target, pred, **kw)))
    self = np.asarray(rl.boundary_iou(target, target, **kw))
    present = np.stack([[np.any(target[n] == c) for c in range(3)] for n in range(2)])
    np.testing.assert_array_equal(self[present], 1.0)
    assert np.isnan(self[~present]).all()


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.boundary_iou(PRED, TARGET, num_classes=C, spacing=1.0), ValueError,
     "spacing applies to method='euclidean'"),
    (lambda: rl.boundary_iou(PRED, TARGET, num_classes=C, method="chamfer"), ValueError,
     "method must be one of 'grid', 'euclidean'"),
    (lambda: rl.boundary_iou(PRED, TARGET, num_classes=C, dilation_ratio=-0.1), ValueError,
     "dilation_ratio must be a finite number >= 0"),
    (lambda: rl.boundary_iou(PRED, TARGET, num_classes=C, method="euclidean",
                             spacing=(1.0, 2.0, 3.0)), ValueError,
     "spacing must have one entry per spatial axis"),
    (lambda: rl.boundary_iou(PRED[None, None], TARGET[None, None], num_classes=C), ValueError,
     "1 to 3 spatial axes"),
    (lambda: rl.boundary_iou(PRED, TARGET, num_classes=C, per_sample=1), TypeError,
     "per_sample must be True or False"),
    (lambda: rl.boundary_iou(PRED.astype(float), TARGET, num_classes=C), TypeError,
     "to_labels"),
    (lambda: rl.boundary_iou(PRED, TARGET + 1, num_classes=C), ValueError,
     r"target holds label 4 .* outside \[0, num_classes=4\)"),
    (lambda: rl.boundary_iou(PRED, TARGET, num_classes=1, include_background=False),
     ValueError, "at least 2 classes"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_validate_false_drops_out_of_range_labels():
    target = TARGET.copy()
    target[0, 0, 0] = 9
    got = rl.boundary_iou(PRED, target, num_classes=C, validate=False, average="none",
                          per_sample=True)
    want = iou(*ref_counts(PRED, target, 1))
    np.testing.assert_allclose(got, want)


# --------------------------------------------------------------------------- backends


@pytest.mark.parametrize("method", ["grid", "euclidean"])
def test_backend_matrix(backend, method):
    if backend.name == "dask" and method == "euclidean":
        pytest.skip("a lazy distance transform tries every shift: minutes for a Dask graph")
    kw = dict(num_classes=C, dilation_ratio=0.05, method=method, ignore_index=255)
    target = np.where(RNG.random(TARGET.shape) < 0.05, 255, TARGET)
    want = rl.boundary_iou(PRED, target, average="none", per_sample=True, **kw)
    got = rl.boundary_iou(backend(PRED), backend(target), average="none", per_sample=True,
                          **kw)
    assert_matches(got, want, backend, rtol=1e-12)
    assert_matches(rl.boundary_iou(backend(PRED), backend(target), **kw),
                   rl.boundary_iou(PRED, target, **kw), backend, rtol=1e-12)


@needs_jax
def test_jax_jit_and_the_label_policy():
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda p, t: rl.boundary_iou(p, t, num_classes=C, average="none",
                                             per_sample=True, ignore_index=255))
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(PRED), jnp.asarray(TARGET))),
                               rl.boundary_iou(PRED, TARGET, num_classes=C, average="none",
                                               per_sample=True), rtol=1e-12)
    bad = TARGET.copy()
    bad[1, 2, 3] = 7
    assert np.isnan(np.asarray(f(jnp.asarray(PRED), jnp.asarray(bad)))).all()
    ignored = TARGET.copy()
    ignored[1, 2, 3] = 255
    assert not np.isnan(np.asarray(f(jnp.asarray(PRED), jnp.asarray(ignored)))).all()


def test_docstring_examples_run():
    import doctest

    from regionloss.metrics import boundary_overlap, topology

    modules = [boundary_overlap]
    try:
        import skimage  # noqa: F401
        modules.append(topology)
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
