"""The pooling kernel: native paths against the standard fallback, an independent SciPy
reference, hand-computed windows, gradients (JAX and PyTorch) and argument errors.

SciPy's ``maximum_filter`` / ``minimum_filter`` with ``mode="nearest"`` is an independent
reference for "neighbours outside the array ignored": a centred window that reaches past
the edge always contains the edge element, so repeating it changes nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CUPY_SKIP_REASON, HAVE_JAX, HAVE_STRICT, HAVE_TORCH, to_numpy
from regionloss._kernels.pooling import max_pool, min_pool

ndi = pytest.importorskip("scipy.ndimage")

POOLS = {"max": (max_pool, ndi.maximum_filter), "min": (min_pool, ndi.minimum_filter)}

GEOMETRIES = [
    pytest.param((3, 9, 8), (3, 3), (-2, -1), id="2d-3x3"),
    pytest.param((3, 9, 8), (3, 1), (-2, -1), id="2d-3x1"),
    pytest.param((3, 9, 8), (1, 3), (-2, -1), id="2d-1x3"),
    pytest.param((2, 5, 6, 7), (3, 3, 3), (1, 2, 3), id="3d-3x3x3"),
    pytest.param((2, 6, 7, 3), (3, 3), (1, 2), id="channels-last-3x3"),
    pytest.param((2, 11, 4), (5,), (1,), id="1d-5"),
    pytest.param((4, 6, 5, 3, 2), (3, 1, 3), (1, 2, 3), id="3d-3x1x3"),
]


def reference(kind, x, window, axes):
    size = [1] * x.ndim
    for a, w in zip(axes, window):
        size[a % x.ndim] = w
    return POOLS[kind][1](x, size=size, mode="nearest")


def _data(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def _x64(enabled: bool):
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64  # older JAX

    return enable_x64() if enabled else disable_x64()


# --------------------------------------------------------------------------- values


def test_hand_computed_1d():
    x = np.array([1.0, 5.0, 2.0, 0.0, 3.0])
    np.testing.assert_array_equal(max_pool(x, window=(3,), axes=(0,)), [5, 5, 5, 3, 3])
    np.testing.assert_array_equal(min_pool(x, window=(3,), axes=(0,)), [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(max_pool(x, window=(5,), axes=(0,)), [5, 5, 5, 5, 3])
    # a window wider than the array: the whole array, whatever the position
    np.testing.assert_array_equal(min_pool(x, window=(11,), axes=(0,)), [0] * 5)


def test_hand_computed_vertical_tap():
    x = np.array([[1, 9, 2],
                  [4, 0, 8],
                  [7, 3, 5]])
    np.testing.assert_array_equal(max_pool(x, window=(3, 1), axes=(-2, -1)),
                                  [[4, 9, 8], [7, 9, 8], [7, 3, 8]])
    np.testing.assert_array_equal(min_pool(x, window=(1, 3), axes=(0, 1)),
                                  [[1, 1, 2], [0, 0, 0], [3, 3, 3]])


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("shape, window, axes", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint8, bool])
def test_standard_path_equals_scipy(kind, shape, window, axes, dtype):
    x = _data(shape, dtype)
    got = POOLS[kind][0](x, window=window, axes=axes, method="standard")
    assert got.dtype == x.dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, reference(kind, x, window, axes))


# --------------------------------------------------------------------------- native paths


def _jax(x):
    import jax.numpy as jnp

    return jnp.asarray(x)


def _torch(x):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


def _cupy(x):
    import cupy

    return cupy.asarray(x)


NATIVE = [
    pytest.param("jax", _jax, id="jax",
                 marks=pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")),
    pytest.param("torch", _torch, id="torch",
                 marks=pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")),
    pytest.param("cupy", _cupy, id="cupy",
                 marks=pytest.mark.skipif(CUPY_SKIP_REASON is not None,
                                          reason=str(CUPY_SKIP_REASON))),
]


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("shape, window, axes", GEOMETRIES)
@pytest.mark.parametrize("method, convert", NATIVE)
def test_native_equals_standard_and_scipy(method, convert, kind, shape, window, axes):
    fn = POOLS[kind][0]
    for dtype in (np.float64, np.float32):
        arr = convert(_data(shape, dtype, seed=3))
        x = to_numpy(arr)                      # float32 on JAX without x64
        native = fn(arr, window=window, axes=axes, method=method)
        standard = fn(arr, window=window, axes=axes, method="standard")
        assert type(native) is type(arr)
        assert native.dtype == arr.dtype
        want = reference(kind, x, window, axes)
        np.testing.assert_array_equal(to_numpy(native), want)
        np.testing.assert_array_equal(to_numpy(standard), want)


@pytest.mark.parametrize("method, convert", NATIVE)
def test_native_auto_paths_on_integers_and_infinities(method, convert):
    x = _data((2, 7, 6), np.int32, seed=5)
    for kind in sorted(POOLS):
        got = POOLS[kind][0](convert(x), window=(3, 3), axes=(1, 2))
        np.testing.assert_array_equal(to_numpy(got), reference(kind, x, (3, 3), (1, 2)))
    y = _data((2, 7, 6), np.float32, seed=6)
    y[0, 0, 0], y[1, 3, 3] = np.inf, -np.inf
    for kind in sorted(POOLS):
        got = POOLS[kind][0](convert(y), window=(3, 3), axes=(1, 2), method=method)
        np.testing.assert_array_equal(to_numpy(got), reference(kind, y, (3, 3), (1, 2)))


@pytest.mark.skipif(not HAVE_STRICT, reason="array-api-strict not installed")
def test_array_api_strict_takes_the_standard_path():
    import array_api_strict as xps

    x = _data((2, 6, 5), np.float64)
    got = max_pool(xps.asarray(x), window=(3, 3), axes=(1, 2))
    np.testing.assert_array_equal(to_numpy(got), reference("max", x, (3, 3), (1, 2)))


# --------------------------------------------------------------------------- gradients


def _expected_gradient(kind, x, weights, window, axes):
    """d/dx sum(weights * pool(x)) with distinct values: each output's weight goes to the
    element its window selects (brute force over window offsets)."""
    grad = np.zeros_like(x)
    offsets = np.stack(np.meshgrid(*[np.arange(-(w // 2), w // 2 + 1) for w in window],
                                   indexing="ij"), -1).reshape(-1, len(window))
    axes = [a % x.ndim for a in axes]
    for idx in np.ndindex(*x.shape):
        best, where = None, None
        for off in offsets:
            j = list(idx)
            for a, o in zip(axes, off):
                j[a] += o
            if not all(0 <= j[a] < x.shape[a] for a in axes):
                continue
            v = x[tuple(j)]
            if best is None or (v > best if kind == "max" else v < best):
                best, where = v, tuple(j)
        grad[where] += weights[idx]
    return grad


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("shape, window, axes", [
    ((2, 6, 5), (3, 3), (1, 2)), ((2, 6, 5), (3, 1), (1, 2)), ((2, 6, 5), (1, 3), (1, 2)),
    ((2, 4, 5, 3), (3, 3, 3), (1, 2, 3))])
def test_jax_gradients_native_equal_standard_and_brute_force(kind, shape, window, axes):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(11)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) / 7.0  # no ties
    w = rng.standard_normal(shape)
    fn = POOLS[kind][0]

    def loss(method):
        return jax.jit(jax.grad(
            lambda v: jnp.sum(jnp.asarray(w) * fn(v, window=window, axes=axes, method=method))))

    with _x64(True):
        native = np.asarray(loss("jax")(jnp.asarray(x)))
        standard = np.asarray(loss("standard")(jnp.asarray(x)))
    assert np.all(np.isfinite(native)) and np.all(np.isfinite(standard))
    want = _expected_gradient(kind, x, w, window, axes)
    np.testing.assert_allclose(native, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(standard, want, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_jax_gradient_in_float32_and_bfloat16_is_finite():
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(2).random((2, 8, 8, 3)), dtype=jnp.bfloat16)
    for kind in sorted(POOLS):
        for method in ("jax", "standard"):
            g = jax.grad(lambda v: jnp.sum(POOLS[kind][0](
                v, window=(3, 3), axes=(1, 2), method=method).astype(jnp.float32)))(x)
            assert g.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(g)))


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_jax_pool_under_vmap():
    import jax
    import jax.numpy as jnp

    x = _data((3, 2, 6, 5), np.float32, seed=8)
    got = jax.vmap(lambda v: max_pool(v, window=(3, 3), axes=(1, 2)))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(got), reference("max", x, (1, 3, 3), (1, 2, 3)))


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")
@pytest.mark.parametrize("kind", sorted(POOLS))
def test_torch_gradients_native_equal_standard_and_brute_force(kind):
    import torch

    shape, window, axes = (2, 6, 5, 3), (3, 3), (1, 2)
    rng = np.random.default_rng(12)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) / 7.0
    w = rng.standard_normal(shape)
    grads = {}
    for method in ("torch", "standard"):
        v = torch.from_numpy(x.copy()).requires_grad_(True)
        (torch.from_numpy(w) * POOLS[kind][0](v, window=window, axes=axes,
                                              method=method)).sum().backward()
        grads[method] = v.grad.numpy()
    want = _expected_gradient(kind, x, w, window, axes)
    for method, g in grads.items():
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12, err_msg=method)


# --------------------------------------------------------------------------- errors


def test_window_of_ones_returns_the_input():
    x = _data((2, 3, 4))
    assert max_pool(x, window=(1, 1), axes=(1, 2)) is x


@pytest.mark.parametrize("window, axes, error, match", [
    ((2, 3), (1, 2), ValueError, "odd"),
    ((0,), (1,), ValueError, "odd"),
    ((3,), (1, 2), ValueError, "same length"),
    ((3, 3), (1, -2), ValueError, "distinct"),
    ((3,), (3,), ValueError, "out of range"),
    ((3.0,), (1,), TypeError, "integers"),
])
def test_argument_errors(window, axes, error, match):
    with pytest.raises(error, match=match):
        max_pool(np.zeros((2, 4, 4)), window=window, axes=axes)


def test_method_errors():
    x = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="method"):
        max_pool(x, window=(3,), axes=(1,), method="scipy")
    for method in ("jax", "torch", "cupy"):
        with pytest.raises(ValueError, match=method):
            min_pool(x, window=(3,), axes=(1,), method=method)
