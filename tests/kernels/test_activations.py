"""The backend helpers (regionloss._kernels): native vs generic activations, guarded
division, concreteness, namespace resolution.

JAX and PyTorch get their native softmax / log-softmax / sigmoid / log-sigmoid; every
other namespace the generic version. Both must agree, in value and in gradient, from
moderate logits (0, ±1) to saturated ones (±50, ±1000), and agree with closed forms
computed here in float64 (and with SciPy's functions for the NumPy path).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import HAVE_DASK, HAVE_JAX, HAVE_STRICT, HAVE_TORCH
from regionloss import _formulas
from regionloss._kernels import activations, arrays

POINTS = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])
# softmax rows: saturated, moderate, a tie, and a row mixing both scales
ROWS = np.array([[-1000.0, 0.0, 1000.0],
                 [-1.0, 0.0, 1.0],
                 [0.0, 0.0, 0.0],
                 [-50.0, 1.0, 50.0]])
COTANGENT = np.array([0.3, -1.2, 0.7])  # Σ softmax = 1: a plain sum would have zero gradient

jax_only = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
torch_only = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")


def _sigmoid64(x):
    """σ(x) in float64, from exp of a non-positive number only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softmax64(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _expected(name, x):
    """(value, gradient of Σ cotangent·f) in float64, by closed forms."""
    if name == "sigmoid":  # σ' = σ(x) σ(-x), with no 1 - σ cancellation
        return _sigmoid64(x), _sigmoid64(x) * _sigmoid64(-x)
    if name == "log_sigmoid":
        value = np.where(x >= 0, -np.log1p(np.exp(-np.abs(x))), x - np.log1p(np.exp(-np.abs(x))))
        return value, _sigmoid64(-x)
    p = _softmax64(x)
    if name == "softmax":  # p_i (c_i - Σ_j p_j c_j) = p_i Σ_j p_j (c_i - c_j): no cancellation
        g = p * (p[..., None, :] * (COTANGENT[:, None] - COTANGENT[None, :])).sum(-1)
        return p, g
    logp = x - x.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return logp, COTANGENT - p * COTANGENT.sum()


def _call(name, xp, x, native):
    fn = getattr(activations, name)
    if name in ("softmax", "log_softmax"):
        return fn(xp, x, -1, native=native)
    return fn(xp, x, native=native)


def _input(name):
    return ROWS if name in ("softmax", "log_softmax") else POINTS


NAMES = ["softmax", "log_softmax", "sigmoid", "log_sigmoid"]


# --------------------------------------------------------------------------- NumPy / SciPy


@pytest.mark.parametrize("name", NAMES)
def test_generic_numpy_values_match_closed_forms_and_scipy(name):
    import scipy.special as sp

    x = _input(name)
    got = _call(name, np, x, native=True)  # NumPy has no native version: generic
    want, _ = _expected(name, x)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
    scipy_fn = {"softmax": lambda a: sp.softmax(a, axis=-1),
                "log_softmax": lambda a: sp.log_softmax(a, axis=-1),
                "sigmoid": sp.expit, "log_sigmoid": sp.log_expit}[name]
    np.testing.assert_allclose(got, scipy_fn(x), rtol=1e-13, atol=1e-300)
    assert np.all(np.isfinite(got))


# --------------------------------------------------------------------------- JAX


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_value_and_grad(name, x, native, dtype):
    jax = _jax()
    jnp = jax.numpy
    xp = arrays.namespace(jnp.zeros(1))
    arr = jnp.asarray(x, dtype=dtype)
    cot = jnp.asarray(COTANGENT if x.ndim == 2 else np.ones_like(x), dtype=dtype)

    def f(a):
        return jnp.sum(_call(name, xp, a, native) * cot)

    value = _call(name, xp, arr, native)
    return np.asarray(value, np.float64), np.asarray(jax.grad(f)(arr), np.float64)


@jax_only
@pytest.mark.parametrize("name", NAMES)
def test_jax_native_and_generic_agree_in_value_and_gradient(name):
    x = _input(name)
    want_value, want_grad = _expected(name, x)
    for native in (True, False):
        value, grad = _jax_value_and_grad(name, x, native, "float64")
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (native, value, grad)
        np.testing.assert_allclose(value, want_value, rtol=1e-12, atol=1e-300,
                                   err_msg=f"native={native}")
        # native σ' is σ(1 - σ): 0 where the exact value is ~1e-22 (at x = 50)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15,
                                   err_msg=f"native={native}")
    # float32: the two paths agree to float32 rounding
    v_native, g_native = _jax_value_and_grad(name, x, True, "float32")
    v_generic, g_generic = _jax_value_and_grad(name, x, False, "float32")
    np.testing.assert_allclose(v_generic, v_native, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g_generic, g_native, rtol=1e-6, atol=1e-7)


@jax_only
def test_generic_log_sigmoid_gradient_at_zero_is_one_half():
    # min(x, 0) - log1p(exp(-|x|)) has the right values but a gradient of 1.0 at x = 0
    jax = _jax()
    jnp = jax.numpy
    xp = arrays.namespace(jnp.zeros(1))
    for dtype in (jnp.float32, jnp.float64):
        g = jax.grad(lambda a: activations.log_sigmoid(xp, a, native=False))(jnp.asarray(0.0, dtype))
        assert float(g) == 0.5
        g = jax.grad(lambda a: activations.sigmoid(xp, a, native=False))(jnp.asarray(0.0, dtype))
        assert float(g) == 0.25


# --------------------------------------------------------------------------- PyTorch


def _torch_value_and_grad(name, x, native, dtype):
    import torch

    arr = torch.tensor(x, dtype=dtype, requires_grad=True)
    xp = arrays.namespace(arr)
    cot = torch.tensor(COTANGENT if x.ndim == 2 else np.ones_like(x), dtype=dtype)
    value = _call(name, xp, arr, native)
    (value * cot).sum().backward()
    return (value.detach().numpy().astype(np.float64),
            arr.grad.detach().numpy().astype(np.float64))


@torch_only
@pytest.mark.parametrize("name", NAMES)
def test_torch_native_and_generic_agree_in_value_and_gradient(name):
    import torch

    x = _input(name)
    want_value, want_grad = _expected(name, x)
    for native in (True, False):
        value, grad = _torch_value_and_grad(name, x, native, torch.float64)
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (native, value, grad)
        np.testing.assert_allclose(value, want_value, rtol=1e-12, atol=1e-300,
                                   err_msg=f"native={native}")
        # native σ' is σ(1 - σ): 0 where the exact value is ~1e-22 (at x = 50)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15,
                                   err_msg=f"native={native}")
    v_native, g_native = _torch_value_and_grad(name, x, True, torch.float32)
    v_generic, g_generic = _torch_value_and_grad(name, x, False, torch.float32)
    np.testing.assert_allclose(v_generic, v_native, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g_generic, g_native, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- safe_divide


def test_safe_divide_values():
    num = np.array([1.0, 0.0, 3.0, 0.0])
    den = np.array([2.0, 0.0, 0.0, 4.0])
    np.testing.assert_array_equal(_formulas.safe_divide(np, num, den, 7.0), [0.5, 7.0, 7.0, 0.0])
    out = _formulas.safe_divide(np, num, den, float("nan"))
    assert np.isnan(out[1]) and np.isnan(out[2]) and out[0] == 0.5


@jax_only
def test_safe_divide_gradient_is_finite_where_the_denominator_is_zero():
    jax = _jax()
    jnp = jax.numpy
    xp = arrays.namespace(jnp.zeros(1))

    def f(num, den):
        return jnp.sum(_formulas.safe_divide(xp, num, den, 1.0))

    num = jnp.asarray([1.0, 0.0, 3.0])
    den = jnp.asarray([2.0, 0.0, 0.0])
    g_num, g_den = jax.grad(f, argnums=(0, 1))(num, den)
    np.testing.assert_array_equal(np.asarray(g_num), [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(g_den), [-0.25, 0.0, 0.0])
    # the single-where spelling it replaces poisons the gradient with NaN
    g_bad = jax.grad(lambda n, d: jnp.sum(jnp.where(d == 0, 1.0, n / d)), argnums=1)(num, den)
    assert np.isnan(np.asarray(g_bad)).any()


@torch_only
def test_safe_divide_gradient_is_finite_in_torch():
    import torch

    num = torch.tensor([1.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    den = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    _formulas.safe_divide(arrays.namespace(num), num, den, 1.0).sum().backward()
    np.testing.assert_array_equal(num.grad.numpy(), [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(den.grad.numpy(), [-0.25, 0.0, 0.0])


# --------------------------------------------------------------------------- concreteness


def test_is_concrete_numpy():
    assert arrays.is_concrete(np.zeros(3))


@jax_only
def test_is_concrete_jax_eager_and_traced():
    jax = _jax()
    jnp = jax.numpy
    assert arrays.is_concrete(jnp.zeros(3))
    seen = {}

    def f(a):
        seen["jit"] = arrays.is_concrete(a)
        return a

    jax.jit(f)(jnp.zeros(3))
    jax.grad(lambda a: (seen.__setitem__("grad", arrays.is_concrete(a)), jnp.sum(a))[1])(
        jnp.zeros(3))
    jax.vmap(lambda a: (seen.__setitem__("vmap", arrays.is_concrete(a)), a)[1])(jnp.zeros((2, 3)))
    assert seen == {"jit": False, "grad": False, "vmap": False}


@pytest.mark.skipif(not HAVE_DASK, reason="Dask not installed")
def test_is_concrete_dask_is_false():
    import dask.array as da

    assert not arrays.is_concrete(da.zeros(3, chunks=-1))


@torch_only
def test_is_concrete_torch():
    import torch

    assert arrays.is_concrete(torch.zeros(3))
    assert arrays.is_concrete(torch.zeros(3, requires_grad=True))


# --------------------------------------------------------------------------- namespace / align


@jax_only
def test_namespace_prefers_the_non_numpy_array_and_align_converts():
    import array_api_compat as aac

    jax = _jax()
    jnp = jax.numpy
    logits = jnp.zeros((2, 3))
    labels = np.array([0, 1])
    xp = arrays.namespace(labels, logits, None)
    assert aac.is_jax_namespace(xp)
    aligned = arrays.align(xp, labels, logits)
    assert isinstance(aligned, jax.Array)
    assert arrays.device_of(aligned) == arrays.device_of(logits)
    np.testing.assert_array_equal(np.asarray(aligned), labels)
    assert arrays.align(xp, logits, logits) is logits  # not NumPy: as is
    assert arrays.align(xp, None, logits) is None


def test_namespace_of_numpy_only_and_align_is_a_no_op_there():
    import array_api_compat as aac

    a = np.zeros(2)
    xp = arrays.namespace(a, None, np.ones(3))
    assert aac.is_numpy_namespace(xp)
    assert arrays.align(xp, a, a) is a


@pytest.mark.skipif(not HAVE_STRICT, reason="array-api-strict not installed")
def test_namespace_strict_and_mixing_two_non_numpy_libraries_is_an_error():
    import array_api_strict as xps

    xp = arrays.namespace(xps.zeros(2), np.zeros(2))
    assert xp is arrays.namespace(xps.zeros(1))
    aligned = arrays.align(xp, np.array([1.0, 2.0]), xps.zeros(2))
    assert type(aligned).__module__.startswith("array_api_strict")
    if HAVE_TORCH:
        import torch

        with pytest.raises(TypeError):
            arrays.namespace(xps.zeros(2), torch.zeros(2))


def test_float_dtype_and_to_float():
    assert arrays.float_dtype(np, np.float64) == np.float64
    for dtype in (np.float16, np.float32, np.int64, np.bool_):
        assert arrays.float_dtype(np, np.dtype(dtype)) == np.float32
    x = np.zeros(3, np.float32)
    assert arrays.to_float(np, x) is x
    assert arrays.to_float(np, np.zeros(3, np.float16)).dtype == np.float32
