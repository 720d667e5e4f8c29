"""The distance-transform kernel: every path against SciPy, hand-computed cases, policies.

The reference is :func:`scipy.ndimage.distance_transform_edt` called image by image, with
the documented policy for images without a zero element (``inf``) applied on top; the
hand-computed cases do not use SciPy at all. JAX runs with ``jax_enable_x64`` (see
``conftest.py``) unless a test says otherwise, and is checked to 1e-6 relative (float64 is
in fact exact here), under ``jax.jit`` and ``jax.vmap``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import CUPY_SKIP_REASON, HAVE_DASK, HAVE_JAX, HAVE_STRICT, HAVE_TORCH, to_numpy
from regionloss._kernels.distance import euclidean_distance

ndi = pytest.importorskip("scipy.ndimage")

INF = math.inf
RTOL = 1e-6


def scipy_reference(mask, spatial_ndim, spacing=None):
    """SciPy image by image; ``inf`` for images without a zero element (the policy)."""
    mask = np.asarray(mask)
    spatial = mask.shape[mask.ndim - spatial_ndim:]
    flat = mask.reshape((-1,) + spatial) != 0
    out = np.empty(flat.shape)
    for i, img in enumerate(flat):
        out[i] = ndi.distance_transform_edt(img, sampling=spacing) if not img.all() else INF
    return out.reshape(mask.shape)


def assert_distances(got, want, rtol=RTOL):
    got = np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=0)


# --------------------------------------------------------------------------- paths

def _jax_path(mask, **kw):
    import jax.numpy as jnp

    return euclidean_distance(jnp.asarray(mask), **kw)


def _torch_path(method):
    def run(mask, **kw):
        import torch

        out = euclidean_distance(torch.from_numpy(np.ascontiguousarray(mask)), method=method,
                                 **kw)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        return out.numpy()
    return run


def _strict_path(mask, **kw):
    import array_api_strict as xps

    out = euclidean_distance(xps.asarray(mask), **kw)
    assert out.dtype == xps.float64
    return to_numpy(out)


def _dask_path(mask, **kw):
    import dask.array as da

    out = euclidean_distance(da.from_array(mask, chunks=-1), **kw)
    assert isinstance(out, da.Array)
    return np.asarray(out.compute())


def _cupy_path(method):
    def run(mask, **kw):
        import cupy

        out = euclidean_distance(cupy.asarray(mask), method=method, **kw)
        assert isinstance(out, cupy.ndarray) and out.dtype == cupy.float64
        return out.get()
    return run


PATHS = [
    pytest.param(lambda m, **kw: euclidean_distance(m, method="scipy", **kw), id="numpy-scipy"),
    pytest.param(lambda m, **kw: euclidean_distance(m, method="standard", **kw),
                 id="numpy-standard"),
    pytest.param(_jax_path, id="jax",
                 marks=pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")),
    pytest.param(_torch_path("scipy"), id="torch-scipy",
                 marks=pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")),
    pytest.param(_torch_path("standard"), id="torch-standard",
                 marks=pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")),
    pytest.param(_strict_path, id="array_api_strict",
                 marks=pytest.mark.skipif(not HAVE_STRICT, reason="array-api-strict missing")),
    pytest.param(_dask_path, id="dask",
                 marks=pytest.mark.skipif(not HAVE_DASK, reason="Dask not installed")),
    pytest.param(_cupy_path("cupy"), id="cupy-cupyx",
                 marks=pytest.mark.skipif(CUPY_SKIP_REASON is not None,
                                          reason=str(CUPY_SKIP_REASON))),
    pytest.param(_cupy_path("standard"), id="cupy-standard",
                 marks=pytest.mark.skipif(CUPY_SKIP_REASON is not None,
                                          reason=str(CUPY_SKIP_REASON))),
]


def _cases():
    rng = np.random.default_rng(7)
    cases = {
        "random-2d": (rng.random((3, 17, 13)) < 0.6, 2, None),
        "random-3d-anisotropic": (rng.random((2, 7, 9, 6)) < 0.7, 3, (2.5, 0.7, 0.7)),
        "random-1d": (rng.random((4, 23)) < 0.7, 1, (0.3,)),
        "lead-axes": (rng.random((2, 3, 8, 11)) < 0.8, 2, (1.5, 1.0)),
    }
    mixed = rng.random((5, 9, 10)) < 0.5
    mixed[0] = False                       # all zero: all distances 0
    mixed[1] = True                        # no zero: inf (the policy)
    mixed[2] = True
    mixed[2, 4, 6] = False                 # a single zero pixel
    mixed[3] = False
    mixed[3, 0, 0] = True                  # a single foreground pixel in a corner
    cases["special-images"] = (mixed, 2, None)
    cube = np.ones((2, 6, 5, 7), dtype=bool)
    cube[0, 5, 0, 6] = False
    cases["3d-single-zero-anisotropic"] = (cube, 3, (2.5, 0.7, 0.7))
    cases["int-mask"] = (rng.integers(-2, 3, (2, 8, 9)), 2, None)
    cases["float-mask"] = (rng.random((2, 8, 9)) * (rng.random((2, 8, 9)) < 0.6), 2, None)
    cases["thin-axes"] = (rng.random((3, 1, 12)) < 0.7, 2, None)
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("path", PATHS)
def test_every_path_equals_scipy(path, case):
    mask, k, spacing = CASES[case]
    if case == "random-1d" and "cupyx" in repr(path):
        pytest.skip("cupyx transforms 2-D and 3-D images only (1-D goes the standard path)")
    want = scipy_reference(mask, k, spacing)
    got = path(mask, spatial_ndim=k, spacing=spacing)
    assert_distances(got, want)


# --------------------------------------------------------------------------- hand cases


def test_hand_computed_1d_2d_3d():
    got = euclidean_distance(np.array([0, 1, 1, 1, 1, 0, 1]), spatial_ndim=1)
    np.testing.assert_array_equal(got, [0, 1, 2, 2, 1, 0, 1])
    # one zero in the middle of a 5 x 5 image: sqrt(di^2 + dj^2), rows 2 units apart
    img = np.ones((5, 5))
    img[2, 2] = 0
    i, j = np.indices((5, 5))
    for method in ("scipy", "standard"):
        np.testing.assert_allclose(
            euclidean_distance(img, spatial_ndim=2, spacing=(2.0, 1.0), method=method),
            np.sqrt((2.0 * (i - 2)) ** 2 + (j - 2) ** 2), rtol=0, atol=1e-12)
    vol = np.ones((3, 3, 3))
    vol[0, 0, 0] = 0
    got = euclidean_distance(vol, spatial_ndim=3, method="standard")
    assert got[2, 2, 2] == pytest.approx(math.sqrt(12.0))


def test_scipy_returns_a_phantom_feature_for_images_without_zero():
    """The SciPy behaviour the inf policy replaces (checked, so that a change shows up):
    the distance to index (-1, 0, ..., 0), just before the first row."""
    i, j = np.indices((3, 4))
    np.testing.assert_allclose(ndi.distance_transform_edt(np.ones((3, 4))),
                               np.sqrt((i + 1.0) ** 2 + j ** 2))
    np.testing.assert_allclose(ndi.distance_transform_edt(np.ones(5)), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(ndi.distance_transform_edt(np.ones((2, 3)), sampling=(2.5, 0.7)),
                               np.sqrt((2.5 * (np.indices((2, 3))[0] + 1.0)) ** 2
                                       + (0.7 * np.indices((2, 3))[1]) ** 2))
    for method in ("scipy", "standard"):
        assert np.all(np.isinf(euclidean_distance(np.ones((2, 3, 4)), spatial_ndim=2,
                                                  method=method)))


def test_empty_and_zero_size_arrays():
    for method in ("scipy", "standard"):
        out = euclidean_distance(np.ones((0, 4, 5)), spatial_ndim=2, method=method)
        assert out.shape == (0, 4, 5) and out.dtype == np.float64
    zeros = euclidean_distance(np.zeros((2, 3, 3)), spatial_ndim=2)
    np.testing.assert_array_equal(zeros, 0.0)


def test_no_leading_axis():
    img = np.random.default_rng(0).random((7, 8)) < 0.7
    for method in ("scipy", "standard"):
        assert_distances(euclidean_distance(img, spatial_ndim=2, method=method),
                         scipy_reference(img, 2))


def test_argument_errors():
    m = np.ones((2, 4, 4))
    with pytest.raises(ValueError, match="spatial_ndim"):
        euclidean_distance(m, spatial_ndim=4)
    with pytest.raises(ValueError, match="spatial_ndim"):
        euclidean_distance(np.ones(4), spatial_ndim=2)
    with pytest.raises(ValueError, match="spacing"):
        euclidean_distance(m, spatial_ndim=2, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="method"):
        euclidean_distance(m, spatial_ndim=2, method="fast")
    with pytest.raises(ValueError, match="JAX"):
        euclidean_distance(m, spatial_ndim=2, method="jax")
    with pytest.raises(ValueError, match="CuPy"):
        euclidean_distance(m, spatial_ndim=2, method="cupy")


# --------------------------------------------------------------------------- hypothesis


@st.composite
def masks(draw, shapes):
    shape = draw(st.sampled_from(shapes))
    density = draw(st.sampled_from([0.05, 0.5, 0.95]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    mask = np.random.default_rng(seed).random(shape) < density
    return draw(st.one_of(st.just(mask),
                          hnp.arrays(bool, shape, elements=st.booleans())))


SPACINGS_2D = st.sampled_from([None, (1.0, 1.0), (2.5, 0.7), (0.3, 1.7)])
SPACINGS_3D = st.sampled_from([None, (2.5, 0.7, 0.7), (1.0, 0.5, 3.0)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=masks([(2, 9, 12), (1, 15, 4), (3, 6, 6)]), spacing=SPACINGS_2D)
def test_standard_path_equals_scipy_2d(mask, spacing):
    assert_distances(euclidean_distance(mask, spatial_ndim=2, spacing=spacing,
                                        method="standard"),
                     scipy_reference(mask, 2, spacing))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=masks([(2, 5, 6, 7)]), spacing=SPACINGS_3D)
def test_standard_path_equals_scipy_3d(mask, spacing):
    assert_distances(euclidean_distance(mask, spatial_ndim=3, spacing=spacing,
                                        method="standard"),
                     scipy_reference(mask, 3, spacing))


# --------------------------------------------------------------------------- JAX


pytestmark_jax = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")


def _x64(enabled: bool):
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64  # older JAX

    return enable_x64() if enabled else disable_x64()


@functools.lru_cache(maxsize=None)
def _jitted(spatial_ndim, spacing):
    """One jitted transform per option set (a fresh lambda per example would recompile)."""
    import jax

    return jax.jit(lambda m: euclidean_distance(m, spatial_ndim=spatial_ndim,
                                                spacing=spacing))


@pytestmark_jax
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=masks([(2, 9, 12), (3, 16, 5)]), spacing=SPACINGS_2D)
def test_jax_jit_equals_scipy_2d(mask, spacing):
    import jax.numpy as jnp

    with _x64(True):
        got = _jitted(2, spacing)(jnp.asarray(mask))
        assert got.dtype == jnp.float64
        assert_distances(got, scipy_reference(mask, 2, spacing))


@pytestmark_jax
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=masks([(2, 5, 6, 7)]), spacing=SPACINGS_3D)
def test_jax_jit_equals_scipy_3d(mask, spacing):
    import jax.numpy as jnp

    with _x64(True):
        assert_distances(_jitted(3, spacing)(jnp.asarray(mask)),
                         scipy_reference(mask, 3, spacing))


@pytestmark_jax
@pytest.mark.parametrize("case", ["special-images", "3d-single-zero-anisotropic",
                                  "random-3d-anisotropic", "lead-axes", "random-1d"])
def test_jax_vmap_and_jit_of_vmap_equal_scipy(case):
    import jax
    import jax.numpy as jnp

    mask, k, spacing = CASES[case]
    want = scipy_reference(mask, k, spacing)
    with _x64(True):
        def one(m):
            return euclidean_distance(m, spatial_ndim=k, spacing=spacing)

        assert_distances(jax.vmap(one)(jnp.asarray(mask)), want)
        assert_distances(jax.jit(jax.vmap(one))(jnp.asarray(mask)), want)
        assert_distances(jax.vmap(jax.jit(one))(jnp.asarray(mask)), want)


@pytestmark_jax
def test_jax_without_x64_is_float32_and_close():
    import jax.numpy as jnp

    mask, k, spacing = CASES["random-3d-anisotropic"]
    with _x64(False):
        got = euclidean_distance(jnp.asarray(mask), spatial_ndim=k, spacing=spacing)
        assert got.dtype == jnp.float32
    assert_distances(got, scipy_reference(mask, k, spacing), rtol=2e-6)


@pytestmark_jax
def test_jax_standard_path_agrees_with_native_path_under_jit():
    """The standard fallback also runs traced (no early exit: every shift)."""
    import jax
    import jax.numpy as jnp

    mask, k, spacing = CASES["special-images"]
    fn = jax.jit(lambda m: euclidean_distance(m, spatial_ndim=k, method="standard"))
    assert_distances(fn(jnp.asarray(mask)), scipy_reference(mask, k))


@pytestmark_jax
def test_jax_gradient_is_stopped():
    """No gradient flows through the transform: zeros, never NaN or an error."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(0).random((2, 6, 7)))
    mask_of = lambda v: jnp.where(v > 0.5, v, 0.0)  # noqa: E731
    g = jax.grad(lambda v: jnp.sum(jnp.where(
        jnp.isfinite(d := euclidean_distance(mask_of(v), spatial_ndim=2)), d, 0.0)))(x)
    np.testing.assert_array_equal(np.asarray(g), 0.0)


# --------------------------------------------------------------------------- dtypes


def test_result_dtypes():
    assert euclidean_distance(np.ones((1, 3), np.float32), spatial_ndim=1).dtype == np.float64
    assert euclidean_distance(np.ones((1, 3), np.int8), spatial_ndim=1,
                              method="standard").dtype == np.float64
