"""Formulas (regionloss._formulas): scores as arithmetic on statistics, tested on statistics.

Hand-computed values, the identities between the formulas (Tversky(½, ½) = Dice,
Tversky(1, 1) = IoU, IoU = D / (2 − D), F1 = Dice, informedness, markedness,
Fowlkes–Mallows, the prevalence threshold's closed form) as hypothesis properties, and the
guarded division whose gradient stays finite at 0/0.
"""

from __future__ import annotations

import numpy as np

from conftest import jax_only, torch_only
from conftest import jax_x64 as _jax
from regionloss import _formulas
from regionloss._kernels import arrays


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
