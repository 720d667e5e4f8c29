"""Array-namespace helpers: namespace lookup, dtypes, devices, guarded division, activations.

This module and :mod:`regionloss._counting` are the only places that may branch on the
backend. Everything else is written once against the array API standard.

Activations (softmax, log-softmax, sigmoid, log-sigmoid) are not part of the standard.
A generic, numerically stable version serves every namespace; JAX and PyTorch get their
native functions, which fuse better and carry hand-written derivatives (measured in
``benchmarks/bench_activation.py``). ``tests/test_backend.py`` checks that both agree.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat as aac

__all__ = [
    "namespace",
    "align",
    "device_of",
    "is_concrete",
    "float_dtype",
    "to_float",
    "safe_divide",
    "scalar",
    "softmax",
    "log_softmax",
    "sigmoid",
    "log_sigmoid",
    "apply_activation",
    "comparable_labels",
    "ACTIVATIONS",
]

ACTIVATIONS = ("softmax", "sigmoid", None)


def namespace(*arrays: Any):
    """Return the array-API-compatible namespace shared by ``arrays`` (``None`` skipped).

    NumPy arrays mixed with arrays of one other library (a NumPy label map next to JAX
    logits, say) resolve to the other library; :func:`align` then converts them.
    """
    present = [a for a in arrays if a is not None]
    others = [a for a in present if not aac.is_numpy_array(a)]
    return aac.array_namespace(*(others or present))


def align(xp, x, like):
    """``x`` as an array of ``xp`` on ``like``'s device (converts NumPy inputs; else as is)."""
    if x is None or not aac.is_numpy_array(x) or aac.is_numpy_namespace(xp):
        return x
    return xp.asarray(x, device=device_of(like))


def device_of(x: Any):
    """The device ``x`` lives on (``array_api_compat.device``)."""
    return aac.device(x)


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values that may be inspected (not a JAX tracer, not Dask).

    Value checks (labels in range, ...) run only on concrete arrays, so that they never
    break ``jax.jit`` or force a Dask graph to compute.
    """
    if aac.is_jax_array(x):
        # array-api-compat calls every JAX array lazy; only tracers (jit, grad, vmap) are.
        import jax

        return not isinstance(x, jax.core.Tracer)
    return not aac.is_lazy_array(x)


def float_dtype(xp, dtype):
    """The accumulation dtype for an input of ``dtype``: float64 stays float64, else float32.

    Half-precision inputs (float16, bfloat16), integers and booleans all accumulate in
    float32, so sums over a 512x512 image cannot overflow (float16 overflows at 65504).
    """
    if dtype == xp.float64:
        return xp.float64
    return xp.float32


def to_float(xp, x, dtype=None):
    """Cast ``x`` to ``dtype`` (default: its accumulation dtype); no copy when it already is."""
    dtype = float_dtype(xp, x.dtype) if dtype is None else dtype
    if x.dtype == dtype:
        return x
    return xp.astype(x, dtype)


def scalar(xp, value, like):
    """A 0-d array holding ``value`` with ``like``'s dtype and device."""
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


def safe_divide(xp, numerator, denominator, fill):
    """``numerator / denominator`` with ``fill`` where the denominator is exactly zero.

    The double-``where`` keeps gradients finite: the division only ever sees a non-zero
    denominator, so no ``0/0`` enters the backward pass (a single ``where`` would still
    differentiate the discarded NaN branch and poison the gradient).
    """
    zero = denominator == 0
    one = scalar(xp, 1.0, denominator)
    safe = xp.where(zero, one, denominator)
    quotient = numerator / safe
    return xp.where(zero, scalar(xp, fill, quotient), quotient)


# --------------------------------------------------------------------------- activations


def _native(xp):
    """'jax', 'torch' or None: which native activation library serves ``xp``."""
    if aac.is_jax_namespace(xp):
        return "jax"
    if aac.is_torch_namespace(xp):
        return "torch"
    return None


def softmax(xp, x, axis: int, *, native: bool = True):
    """Softmax over ``axis``; ``native=False`` forces the generic version (for tests)."""
    lib = _native(xp) if native else None
    if lib == "jax":
        import jax

        return jax.nn.softmax(x, axis=axis)
    if lib == "torch":
        import torch

        return torch.softmax(x, dim=axis)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=axis, keepdims=True)


def log_softmax(xp, x, axis: int, *, native: bool = True):
    """Log-softmax over ``axis``: ``x - max - log(sum(exp(x - max)))``, never ``log(softmax)``."""
    lib = _native(xp) if native else None
    if lib == "jax":
        import jax

        return jax.nn.log_softmax(x, axis=axis)
    if lib == "torch":
        import torch

        return torch.log_softmax(x, dim=axis)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def sigmoid(xp, x, *, native: bool = True):
    """Logistic sigmoid, stable for large ``|x|`` (only ``exp`` of a non-positive number).

    The generic version is a double ``where`` (``1/(1 + exp(-x))`` on ``x >= 0``,
    ``exp(x)/(1 + exp(x))`` below), not a function of ``|x|``: autodiff of ``|x|`` at 0
    is 0 in PyTorch, which would make the derivative there 0 instead of 1/4.
    """
    lib = _native(xp) if native else None
    if lib == "jax":
        import jax

        return jax.nn.sigmoid(x)
    if lib == "torch":
        import torch

        return torch.sigmoid(x)
    upper, positive, negative = _halves(xp, x)
    e = xp.exp(negative)
    return xp.where(upper, 1.0 / (1.0 + xp.exp(-positive)), e / (1.0 + e))


def log_sigmoid(xp, x, *, native: bool = True):
    """``log(sigmoid(x))``: ``-log1p(exp(-x))`` for ``x >= 0``, ``x - log1p(exp(x))`` below.

    Exact for large ``|x|`` (only ``exp`` of a non-positive number is ever evaluated). The
    generic version is a double ``where``: each branch sees its own half of the line (the
    other half clamped to 0), so each is smooth where it is chosen and the derivative is
    ``sigmoid(-x)`` everywhere, 0.5 at ``x = 0`` (``min(x, 0) - log1p(exp(-|x|))`` has the
    same values but differentiates ``min`` and ``|x|`` at their kink there).
    """
    lib = _native(xp) if native else None
    if lib == "jax":
        import jax

        return jax.nn.log_sigmoid(x)
    if lib == "torch":
        import torch

        return torch.nn.functional.logsigmoid(x)
    upper, positive, negative = _halves(xp, x)
    return xp.where(upper, -xp.log1p(xp.exp(-positive)),
                    negative - xp.log1p(xp.exp(negative)))


def check_activation(activation, num_channels: int | None, *, name: str = "activation"):
    """Validate ``activation`` against the number of channels (``None``: no class axis)."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{name} must be one of 'softmax', 'sigmoid' or None, got {activation!r}"
        )
    if activation == "softmax" and (num_channels is None or num_channels == 1):
        what = "no class axis (class_axis=None)" if num_channels is None else "1 channel"
        raise ValueError(
            f"{name}='softmax' over {what} is constant 1: use activation='sigmoid' for a "
            "single foreground channel, or activation=None for probabilities"
        )


def apply_activation(xp, x, activation, axis: int | None):
    """Apply ``activation`` ('softmax' over ``axis``, 'sigmoid', or None) to ``x``."""
    if activation == "softmax":
        return softmax(xp, x, axis)
    if activation == "sigmoid":
        return sigmoid(xp, x)
    return x


def is_nan_value(value) -> bool:
    """True for a Python float NaN (``zero_division=float('nan')``)."""
    return isinstance(value, float) and math.isnan(value)


def _halves(xp, x):
    """``(x >= 0, x clamped to [0, inf), x clamped to (-inf, 0])``: the inputs of a
    double ``where`` that evaluates each branch only on its own half of the line."""
    upper = x >= 0
    zero = xp.zeros_like(x)
    return upper, xp.where(upper, x, zero), xp.where(upper, zero, x)


def comparable_labels(xp, labels):
    """``labels`` in an integer dtype every comparison and reduction works on.

    PyTorch implements almost nothing (no ``==``, ``>=``, ``min``) for uint16, uint32 and
    uint64 on the CPU, and 16-bit PNG label maps arrive as uint16 through
    ``torch.from_numpy``: those become int64 (a uint64 label of 2**63 or more wraps, as
    PyTorch casts). Every other namespace keeps its dtype, without a copy.
    """
    if aac.is_torch_namespace(xp):
        import torch

        if labels.dtype in (torch.uint16, torch.uint32, torch.uint64):
            return labels.to(torch.int64)
    return labels
