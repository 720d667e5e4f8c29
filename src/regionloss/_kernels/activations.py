"""Activations: softmax, log-softmax, sigmoid and log-sigmoid over any array namespace.

They are not part of the array API standard. A generic, numerically stable version serves
every namespace; JAX and PyTorch get their native functions, which fuse better and carry
hand-written derivatives (``benchmarks/bench_activation.py``: a generic softmax made a Dice
forward+backward about 2x slower on JAX and 3.5x slower on PyTorch).
``tests/kernels/test_activations.py`` checks that both agree.
"""

from __future__ import annotations

import array_api_compat as aac

__all__ = ["softmax", "log_softmax", "sigmoid", "log_sigmoid", "activate"]


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


def activate(xp, x, activation, axis: int | None):
    """Apply ``activation`` ('softmax' over ``axis``, 'sigmoid', or None) to ``x``.

    The native JAX and PyTorch functions where they exist (dispatched here directly: this
    runs on every loss call), else the generic versions.
    """
    if activation is None:
        return x
    if aac.is_jax_namespace(xp):
        import jax

        return jax.nn.softmax(x, axis=axis) if activation == "softmax" else jax.nn.sigmoid(x)
    if aac.is_torch_namespace(xp):
        import torch

        return torch.softmax(x, dim=axis) if activation == "softmax" else torch.sigmoid(x)
    if activation == "softmax":
        return softmax(xp, x, axis, native=False)
    return sigmoid(xp, x, native=False)


def _halves(xp, x):
    """``(x >= 0, x clamped to [0, inf), x clamped to (-inf, 0])``: the inputs of a
    double ``where`` that evaluates each branch only on its own half of the line."""
    upper = x >= 0
    zero = xp.zeros_like(x)
    return upper, xp.where(upper, x, zero), xp.where(upper, zero, x)
