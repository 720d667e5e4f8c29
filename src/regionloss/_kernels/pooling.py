r"""Sliding-window maximum and minimum (stride 1, same-size output), on every backend.

:func:`max_pool` and :func:`min_pool` replace every element by the maximum (minimum) of
the box window centred on it: ``window[i]`` elements (odd) along ``axes[i]``, one element
along every other axis. Neighbours outside the array are ignored, as if the array were
padded with ``-inf`` (``+inf``) for floats, or with the dtype's smallest (largest) value
for integers:

.. math::

    \operatorname{maxpool}(x)_i = \max_{j \in W(i) \cap \Omega} x_j, \qquad
    W(i) = \{ j : |j_a - i_a| \le \lfloor w_a / 2 \rfloor \text{ for every axis } a \}.

This is PyTorch's ``max_pool{1,2,3}d(kernel_size=w, stride=1, padding=w // 2)``, the
building block of soft morphology (soft erosion is a min-pool, soft dilation a max-pool).

Paths (``method``; ``"auto"`` picks the first that applies):

* ``"jax"``: JAX arrays (not bool): ``lax.reduce_window`` with ``lax.max`` / ``lax.min``
  and the identity as padding, one 1-D window per pooled axis; differentiable (the
  gradient goes to the selected element).
* ``"torch"``: PyTorch floating tensors with at most 3 pooled axes: the pooled axes moved
  last, the others flattened into the batch, one ``max_pool{1,2,3}d`` call (min-pool as
  ``-max_pool(-x)``).
* ``"cupy"``: CuPy numeric arrays: ``cupyx.scipy.ndimage.maximum_filter`` / ``minimum_filter``
  with ``mode="nearest"``. Repeating the edge value is the same as ignoring the outside:
  whenever a window reaches past the edge it already contains the edge element.
* ``"standard"``: every other case, NumPy included: one pass per pooled axis (a box
  maximum is separable), each the element-wise maximum of the padded array shifted by
  ``-r .. r``. Pure array API, and differentiable on JAX and PyTorch.

``benchmarks/bench_distance.py --pooling`` times the native paths against the standard
one; ``tests/kernels/test_pooling.py`` checks that they agree, gradients included.
"""

from __future__ import annotations

import operator
from typing import Any

import array_api_compat as aac

__all__ = ["max_pool", "min_pool", "METHODS"]

METHODS = ("auto", "jax", "torch", "cupy", "standard")


def max_pool(x: Any, /, *, window, axes, method: str = "auto"):
    r"""Sliding maximum over a box window, stride 1, same-size output.

    Parameters
    ----------
    x : array
        Bool, integer or real floating.
    window : sequence of int
        Odd window size per entry of ``axes`` (1 leaves that axis alone).
    axes : sequence of int
        The axes the window spans, one per entry of ``window`` (negative counts from the
        end); every other axis has window 1.
    method : {"auto", "jax", "torch", "cupy", "standard"}
        See the module docstring.

    Returns
    -------
    array of ``x``'s shape, dtype, namespace and device
        :math:`\max_{j \in W(i)} x_j` with neighbours outside the array ignored.
    """
    return _pool(x, window, axes, method, largest=True)


def min_pool(x: Any, /, *, window, axes, method: str = "auto"):
    r"""Sliding minimum over a box window, stride 1, same-size output.

    Same parameters as :func:`max_pool`; :math:`\min_{j \in W(i)} x_j` with neighbours
    outside the array ignored.
    """
    return _pool(x, window, axes, method, largest=False)


# --------------------------------------------------------------------------- dispatch


def _pool(x, window, axes, method, *, largest: bool):
    pooled = _normalise(x.ndim, window, axes)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not pooled:
        return x
    xp = aac.array_namespace(x)
    is_bool = xp.isdtype(x.dtype, "bool")
    if method == "auto":
        method = _auto_method(xp, x, pooled, is_bool)
    if method == "jax":
        if not aac.is_jax_array(x) or is_bool:
            raise ValueError("method='jax' needs a JAX array of a numeric dtype")
        return _jax_pool(x, pooled, largest)
    if method == "torch":
        if (not aac.is_torch_array(x) or not xp.isdtype(x.dtype, "real floating")
                or len(pooled) > 3):
            raise ValueError(
                "method='torch' needs a floating PyTorch tensor and at most 3 pooled axes")
        return _torch_pool(x, pooled, largest)
    if method == "cupy":
        if not aac.is_cupy_array(x):
            raise ValueError("method='cupy' needs a CuPy array")
        return _cupy_pool(x, pooled, largest)
    return _standard_pool(xp, x, pooled, largest, is_bool)


def _normalise(ndim: int, window, axes) -> dict[int, int]:
    """``{axis: window}`` for the axes with a window above 1, axes non-negative, sorted."""
    try:
        window = tuple(operator.index(w) for w in window)
        axes = tuple(operator.index(a) for a in axes)
    except TypeError:
        raise TypeError(
            f"window and axes must be sequences of integers, got {window!r} and {axes!r}"
        ) from None
    if len(window) != len(axes):
        raise ValueError(
            f"window and axes must have the same length, got {len(window)} and {len(axes)}")
    for w in window:
        if w < 1 or w % 2 == 0:
            raise ValueError(f"window sizes must be odd positive integers, got {window!r}")
    normal = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axes {axes!r} out of range for an array of {ndim} dimensions")
        normal.append(a % ndim)
    if len(set(normal)) != len(normal):
        raise ValueError(f"axes must be distinct, got {axes!r}")
    return {a: w for a, w in sorted(zip(normal, window)) if w > 1}


def _auto_method(xp, x, pooled, is_bool) -> str:
    if aac.is_jax_array(x) and not is_bool:
        return "jax"
    if (aac.is_torch_array(x) and xp.isdtype(x.dtype, "real floating")
            and len(pooled) <= 3):
        return "torch"
    if aac.is_cupy_array(x) and not is_bool:
        return "cupy"
    return "standard"


# --------------------------------------------------------------------------- native


def _jax_pool(x, pooled, largest):
    """One ``lax.reduce_window`` per pooled axis, the reduction's identity as padding.

    A box maximum is separable, and a chain of 1-D windows runs faster on the CPU than one
    n-D window, forward and backward (about 0.7x and 0.85x the time of the 3 x 3 window
    in a soft skeleton; ``benchmarks/bench_distance.py --pooling``). The gradient is the
    same: each 1-D pass routes it to the element it selected.
    """
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    if jnp.issubdtype(x.dtype, jnp.floating):
        init = -np.inf if largest else np.inf
    else:
        info = jnp.iinfo(x.dtype)
        init = info.min if largest else info.max
    # a concrete (NumPy) identity lets JAX recognise the max / min monoid and use its
    # differentiable reduce_window_max / _min primitives
    init = np.asarray(init, dtype=x.dtype)
    reducer = lax.max if largest else lax.min
    out = x
    for axis, w in pooled.items():
        dims = [1] * x.ndim
        dims[axis] = w
        padding = [(0, 0)] * x.ndim
        padding[axis] = (w // 2, w // 2)
        out = lax.reduce_window(out, init, reducer, tuple(dims), (1,) * x.ndim, padding)
    return out


def _torch_pool(x, pooled, largest):
    """One ``max_pool{k}d`` call on the pooled axes moved last, the rest as batch."""
    import torch.nn.functional as F

    axes = sorted(pooled)
    others = [a for a in range(x.ndim) if a not in pooled]
    order = others + axes
    moved = x.permute(order)
    pooled_shape = tuple(moved.shape[len(others):])
    batch = moved.reshape((-1, 1) + pooled_shape)
    kernel = tuple(pooled[a] for a in axes)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[len(axes) - 1]
    padding = tuple(k // 2 for k in kernel)
    if largest:
        out = pool(batch, kernel, stride=1, padding=padding)
    else:
        out = -pool(-batch, kernel, stride=1, padding=padding)
    inverse = [order.index(a) for a in range(x.ndim)]
    return out.reshape(moved.shape).permute(inverse)


def _cupy_pool(x, pooled, largest):
    """``cupyx.scipy.ndimage.maximum_filter`` / ``minimum_filter``, edge mode 'nearest'."""
    import cupyx.scipy.ndimage as cndi

    size = tuple(pooled.get(a, 1) for a in range(x.ndim))
    filt = cndi.maximum_filter if largest else cndi.minimum_filter
    with x.device:
        return filt(x, size=size, mode="nearest")


# --------------------------------------------------------------------------- standard


def _standard_pool(xp, x, pooled, largest, is_bool):
    """Separable: per pooled axis, the extreme of the padded array shifted by -r..r."""
    device = aac.device(x)
    if is_bool:
        fill = not largest                      # False for "or", True for "and"
        combine = xp.logical_or if largest else xp.logical_and
    else:
        if xp.isdtype(x.dtype, "real floating"):
            fill = -float("inf") if largest else float("inf")
        else:
            info = xp.iinfo(x.dtype)
            fill = info.min if largest else info.max
        combine = xp.maximum if largest else xp.minimum
    out = x
    for axis, w in pooled.items():
        r = w // 2
        pad_shape = list(out.shape)
        pad_shape[axis] = r
        pad = xp.full(tuple(pad_shape), fill, dtype=x.dtype, device=device)
        padded = xp.concat([pad, out, pad], axis=axis)
        n = out.shape[axis]
        acc = out
        for shift in range(-r, r + 1):
            if shift == 0:
                continue
            index = [slice(None)] * out.ndim
            index[axis] = slice(r + shift, r + shift + n)
            acc = combine(acc, padded[tuple(index)])
        out = acc
    return out
