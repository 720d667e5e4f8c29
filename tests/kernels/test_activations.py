"""Activations (regionloss._kernels.activations): native against generic.

JAX and PyTorch get their native softmax / log-softmax / sigmoid / log-sigmoid; every
other namespace the generic version. Both must agree, in value and in gradient, from
moderate logits (0, ±1) to saturated ones (±50, ±1000), and agree with closed forms
computed here in float64 (and with SciPy's functions for the NumPy path).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import jax_only, torch_only
from conftest import jax_x64 as _jax
from regionloss._kernels import activations, arrays

POINTS = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])


ROWS = np.array([[-1000.0, 0.0, 1000.0],
                 [-1.0, 0.0, 1.0],
                 [0.0, 0.0, 0.0],
                 [-50.0, 1.0, 50.0]])


COTANGENT = np.array([0.3, -1.2, 0.7])  # Σ softmax = 1: a plain sum would have zero gradient


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
