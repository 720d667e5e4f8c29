r"""Exact Euclidean distance transforms, batched, on every backend.

:func:`euclidean_distance` replaces every non-zero element of a mask by its Euclidean
distance to the nearest zero element (zero elements get 0), independently for every image
of a batch: the last ``spatial_ndim`` axes (1, 2 or 3) are the image, every leading axis
(samples, classes, ...) indexes images. It is :func:`scipy.ndimage.distance_transform_edt`
with ``sampling=spacing``, applied image by image, with one documented departure: an image
that has **no zero element** gets ``inf`` everywhere (the distance to an empty set).
SciPy returns finite numbers there, the distance to a phantom feature at index
``(-1, 0, ..., 0)``, i.e. just before the first element along the first axis (a
(3, 4) image of ones gives ``[[1, 1.414, 2.236, 3.162], [2, ...], ...]``); those numbers
depend on the array layout, not on the data, so every path here overrides them. An image
of zeros gives zeros.

Paths (``method``; ``"auto"`` picks the first that applies):

* ``"scipy"``: NumPy arrays, and PyTorch tensors through a host copy (``.cpu().numpy()``,
  the result moved back to the tensor's device). One
  :func:`scipy.ndimage.distance_transform_edt` call per image.
* ``"cupy"``: CuPy arrays with 2 or 3 spatial axes, one
  :func:`cupyx.scipy.ndimage.distance_transform_edt` call per image on the array's GPU
  (CuPy implements 2-D and 3-D only; 1-D CuPy images take the standard path).
* ``"jax"``: JAX arrays. Pure ``jax.numpy`` / ``lax`` with static shapes, so it runs under
  ``jax.jit`` and ``jax.vmap`` without a host callback: a separable exact transform
  (:func:`_jax_edt`).
* ``"standard"``: any other namespace (array-api-strict, Dask, ...), and NumPy or PyTorch
  without SciPy. Pure array API, exact (:func:`_standard_edt`).

The separable transform (both the JAX and the standard path) follows Felzenszwalb and
Huttenlocher: the squared distance is computed one axis at a time,

.. math::

    D_1(x) = \min_{y:\,m(y)=0} s_1^2 (x_1 - y_1)^2, \qquad
    D_k(x) = \min_{y_k} \big[ D_{k-1}(x \text{ with } x_k := y_k) + s_k^2 (x_k - y_k)^2 \big],

and the distance is :math:`\sqrt{D_d}`. The JAX path computes each :math:`D_k` (k > 1) as
the lower envelope of parabolas (one ``lax.scan`` over the axis, vectorised over every
line of the batch), the standard path by trying every shift :math:`x_k - y_k` in turn,
stopping (on concrete arrays) once the shift alone exceeds every current minimum.

Result dtype: float64 wherever the namespace offers it (NumPy, CuPy, PyTorch, Dask,
array-api-strict, JAX with ``jax_enable_x64``), float32 otherwise (JAX's default, PyTorch
on MPS). Distance maps are data, not functions of the network's output: no gradient flows
through them (the JAX path wraps its result in ``lax.stop_gradient``; the SciPy path
returns a tensor without history).

References
----------
.. [1] P. F. Felzenszwalb and D. P. Huttenlocher, "Distance Transforms of Sampled
   Functions", Theory of Computing 8(19), 415-428, 2012.
.. [2] SciPy, ``scipy.ndimage.distance_transform_edt``.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import array_api_compat as aac

__all__ = ["euclidean_distance", "distance_dtype", "METHODS"]

METHODS = ("auto", "scipy", "cupy", "jax", "standard")

# Squared distance standing for "no zero element on this line yet": finite (so that the
# parabola arithmetic never meets inf - inf), far above any real squared distance, and
# representable in float32.
_BIG = 1e30


# --------------------------------------------------------------------------- public


def euclidean_distance(mask: Any, /, *, spatial_ndim: int, spacing=None,
                       method: str = "auto"):
    r"""Exact Euclidean distance from every non-zero element to the nearest zero element.

    Parameters
    ----------
    mask : array
        Any shape whose last ``spatial_ndim`` axes are one image; bool, integer or float
        (non-zero is foreground, as in SciPy).
    spatial_ndim : {1, 2, 3}
        Number of trailing axes forming one image.
    spacing : float or sequence of float, optional
        Element size per spatial axis (SciPy's ``sampling``); default 1 on every axis.
        Assumed validated (positive, finite) by the caller.
    method : {"auto", "scipy", "cupy", "jax", "standard"}
        See the module docstring; ``"auto"`` chooses by the array's library.

    Returns
    -------
    array of ``mask``'s shape, namespace and device
        :math:`d(x) = \min_{y:\,m(y)=0} \lVert (x - y) \odot s \rVert_2` for every
        element (0 on zero elements), per image; ``inf`` everywhere in an image without a
        zero element. float64 where the namespace has it, else float32.
    """
    if spatial_ndim not in (1, 2, 3) or spatial_ndim > mask.ndim:
        raise ValueError(
            f"spatial_ndim must be 1, 2 or 3 and at most mask.ndim ({mask.ndim}), "
            f"got {spatial_ndim!r}")
    spacing = _spacing_tuple(spacing, spatial_ndim)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = _auto_method(mask, spatial_ndim)
    if method == "scipy":
        return _scipy_edt(mask, spatial_ndim, spacing)
    if method == "cupy":
        if not aac.is_cupy_array(mask) or spatial_ndim == 1:
            raise ValueError("method='cupy' needs a CuPy array with 2 or 3 spatial axes")
        return _cupy_edt(mask, spatial_ndim, spacing)
    if method == "jax":
        if not aac.is_jax_array(mask):
            raise ValueError("method='jax' needs a JAX array")
        return _jax_edt(mask, spatial_ndim, spacing)
    return _standard_edt(aac.array_namespace(mask), mask, spatial_ndim, spacing)


def distance_dtype(xp, like: Any):
    """float64 when ``xp`` offers it on ``like``'s device, else float32.

    Asked through the array API inspection interface, so that JAX answers according to
    ``jax_enable_x64`` at call time (float32 by default) and PyTorch on MPS with float32.
    """
    try:
        info = xp.__array_namespace_info__()
    except AttributeError:  # pragma: no cover - a namespace without the inspection API
        return xp.float64
    try:
        kinds = info.dtypes(device=aac.device(like), kind="real floating")
    except Exception:  # noqa: BLE001 - no device to ask about (e.g. a JAX tracer)
        kinds = info.dtypes(kind="real floating")
    return xp.float64 if "float64" in kinds else xp.float32


# --------------------------------------------------------------------------- dispatch


def _auto_method(mask, spatial_ndim: int) -> str:
    if aac.is_numpy_array(mask) or aac.is_torch_array(mask):
        return "scipy" if _have_scipy() else "standard"
    if aac.is_jax_array(mask):
        return "jax"
    if aac.is_cupy_array(mask) and spatial_ndim > 1:
        return "cupy"
    return "standard"


def _have_scipy() -> bool:
    try:
        import scipy.ndimage  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


def _spacing_tuple(spacing, spatial_ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * spatial_ndim
    if isinstance(spacing, numbers.Real):
        return (float(spacing),) * spatial_ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != spatial_ndim:
        raise ValueError(
            f"spacing must have one entry per spatial axis ({spatial_ndim}), got {len(spacing)}")
    return spacing


def _spatial_axes(ndim: int, spatial_ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - spatial_ndim, ndim))


# --------------------------------------------------------------------------- SciPy


def _scipy_edt(mask, spatial_ndim, spacing):
    """One SciPy call per image (NumPy; PyTorch through a host copy)."""
    import numpy as np
    import scipy.ndimage as ndi

    if aac.is_torch_array(mask):
        host = mask.detach().cpu().numpy()
    elif aac.is_numpy_array(mask):
        host = np.asarray(mask)
    else:
        raise ValueError("method='scipy' needs a NumPy array or a PyTorch tensor")
    foreground = host != 0
    out = np.zeros(host.shape, dtype=np.float64)
    lead = host.shape[: host.ndim - spatial_ndim]
    if host.size:
        spatial = _spatial_axes(host.ndim, spatial_ndim)
        has_zero = ~np.all(foreground, axis=spatial)
        has_one = np.any(foreground, axis=spatial)
        for idx in np.ndindex(*lead):
            if not has_zero[idx]:  # no zero element: the policy, not SciPy's phantom feature
                out[idx] = np.inf
            elif has_one[idx]:     # (an image without foreground is 0 everywhere: as made)
                ndi.distance_transform_edt(foreground[idx], sampling=spacing,
                                           distances=out[idx])
    if aac.is_numpy_array(mask):
        return out
    import torch

    dtype = torch.float64 if distance_dtype(aac.array_namespace(mask), mask) == torch.float64 \
        else torch.float32
    return torch.from_numpy(out).to(device=mask.device, dtype=dtype)


# --------------------------------------------------------------------------- CuPy


def _cupy_edt(mask, spatial_ndim, spacing):
    """One ``cupyx.scipy.ndimage.distance_transform_edt`` call per image, on the GPU.

    The images of the batch are transformed one after the other (the PBA+ kernels take
    one 2-D or 3-D image); the result never leaves the device. Isotropic spacing is passed
    as ``None`` and multiplied in afterwards, anisotropic spacing as ``sampling``.
    """
    import cupy
    import cupyx.scipy.ndimage as cndi

    with mask.device:
        foreground = mask != 0
        shape = mask.shape
        spatial_shape = shape[len(shape) - spatial_ndim:]
        spatial = _spatial_axes(mask.ndim, spatial_ndim)
        flat = foreground.reshape((-1,) + spatial_shape)
        if flat.shape[0] == 0 or mask.size == 0:
            return cupy.zeros(shape, dtype=cupy.float64)
        sampling = None if len(set(spacing)) == 1 else spacing
        scale = spacing[0] if sampling is None else 1.0
        # the PBA+ packing kernel reads its input as a raw, C-ordered buffer
        images = [cndi.distance_transform_edt(cupy.ascontiguousarray(flat[i]),
                                              sampling=sampling)
                  for i in range(flat.shape[0])]
        out = cupy.stack(images).astype(cupy.float64, copy=False).reshape(shape)
        if scale != 1.0:
            out = out * scale
        has_zero = ~cupy.all(foreground, axis=spatial, keepdims=True)
        return cupy.where(has_zero, out, cupy.inf)


# --------------------------------------------------------------------------- JAX


def _jax_edt(mask, spatial_ndim, spacing):
    """:func:`_jax_edt_traced` compiled once per (shape, dtype, options).

    Called eagerly, the transform would otherwise trace and compile its ``lax.scan`` body
    anew on every call (a fresh closure each time); inside an outer ``jax.jit`` or
    ``jax.vmap`` the inner ``jit`` is simply inlined.
    """
    return _jax_edt_compiled()(mask, spatial_ndim, spacing)


@functools.lru_cache(maxsize=None)
def _jax_edt_compiled():
    import jax

    return jax.jit(_jax_edt_traced, static_argnums=(1, 2))


def _jax_edt_traced(mask, spatial_ndim, spacing):
    """Separable exact transform in ``jax.numpy`` / ``lax``: jit- and vmap-safe.

    Axis 1 of the image: the 1-D distance to the nearest zero on the same line, from the
    index of the previous zero (``lax.cummax``) and of the next one (``lax.cummin`` in
    reverse). Every further axis: :func:`_jax_envelope_pass`. Lines without any zero
    carry :data:`_BIG`; an image without a zero gets ``inf`` at the end.
    """
    import jax.numpy as jnp
    from jax import lax

    dtype = distance_dtype(jnp, mask)
    mask = lax.stop_gradient(mask)
    zero = mask == 0
    axes = _spatial_axes(mask.ndim, spatial_ndim)
    if mask.size == 0:
        return jnp.zeros(mask.shape, dtype=dtype)
    f = _jax_first_pass(zero, axes[0], spacing[0], dtype)
    for axis, step in zip(axes[1:], spacing[1:]):
        f = _jax_envelope_pass(f, axis, step)
    has_zero = jnp.any(zero, axis=axes, keepdims=True)
    return lax.stop_gradient(jnp.where(has_zero, jnp.sqrt(f), jnp.inf))


def _jax_first_pass(zero, axis: int, step: float, dtype):
    """Squared 1-D distance along ``axis`` to the nearest True of ``zero`` (or _BIG)."""
    import jax.numpy as jnp
    from jax import lax

    n = zero.shape[axis]
    shape = [1] * zero.ndim
    shape[axis] = n
    index = jnp.arange(n, dtype=dtype).reshape(shape)
    previous = lax.cummax(jnp.where(zero, index, -jnp.inf), axis=axis)
    following = lax.cummin(jnp.where(zero, index, jnp.inf), axis=axis, reverse=True)
    gap = jnp.minimum(index - previous, following - index)      # inf: no zero on the line
    return jnp.where(jnp.isinf(gap), jnp.asarray(_BIG, dtype), jnp.square(gap * step))


def _jax_envelope_pass(f, axis: int, step: float):
    r""":math:`D(x) = \min_y f(y) + s^2 (x - y)^2` along ``axis``: lower envelope of parabolas.

    Felzenszwalb and Huttenlocher's algorithm, vectorised over every line (all other axes
    flattened into ``L`` lines of length ``n``): one ``lax.scan`` over the positions ``q``
    keeps, per line, a stack of the parabolas on the envelope so far (their apexes ``v``,
    their values ``g = f(v) + s^2 v^2`` and the abscissa ``z`` where each starts to be the
    lowest); a ``lax.while_loop`` pops, on every line at once, the parabolas that the new
    one hides. The envelope is then read at every integer ``x`` without a second scan:
    the parabola that serves ``x`` is the last one whose start ``ceil(z)`` is ``<= x``,
    i.e. (number of starts ``<= x``) - 1, a scatter-add and a cumulative sum.

    ``f`` must be finite (:data:`_BIG` for "no zero on the line"): a parabola of height
    _BIG never wins against a real one inside the array, and the intersection arithmetic
    never meets ``inf - inf``.
    """
    import jax.numpy as jnp
    from jax import lax

    moved = jnp.moveaxis(f, axis, 0)
    shape = moved.shape
    n = shape[0]
    if n == 1:
        return f
    lines = moved.reshape(n, -1)                       # (n, L)
    count = lines.shape[1]
    dtype = lines.dtype
    s2 = step * step
    x = jnp.arange(n, dtype=dtype)
    g = lines + s2 * jnp.square(x)[:, None]             # f(q) + s^2 q^2
    cols = jnp.arange(count)

    apex0 = jnp.zeros((n, count), dtype=jnp.int32)
    height0 = jnp.zeros((n, count), dtype=dtype).at[0].set(g[0])
    start0 = jnp.full((n, count), -jnp.inf, dtype=dtype)
    top0 = jnp.zeros((count,), dtype=jnp.int32)

    def push(carry, new):
        apex, height, start, top = carry
        q, gq = new
        qf = q.astype(dtype)

        def crossing(k):
            # where parabola q meets the stacked parabola k: s^2-scaled difference quotient
            p = apex[k, cols].astype(dtype)
            return (gq - height[k, cols]) / (2.0 * s2 * (qf - p))

        def hidden(state):
            k, s = state
            return s <= start[k, cols]

        def pop(state):
            k, s = state
            drop = hidden(state)
            k = jnp.where(drop, k - 1, k)
            return k, jnp.where(drop, crossing(k), s)

        # the bottom parabola starts at -inf, so a line never pops below it
        top, s = lax.while_loop(lambda st: jnp.any(hidden(st)), pop, (top, crossing(top)))
        top = top + 1
        apex = apex.at[top, cols].set(q)
        height = height.at[top, cols].set(gq)
        start = start.at[top, cols].set(s)
        return (apex, height, start, top), None

    positions = jnp.arange(1, n, dtype=jnp.int32)
    (apex, _, start, top), _ = lax.scan(push, (apex0, height0, start0, top0),
                                        (positions, g[1:]))
    # first integer abscissa served by each stacked parabola (stale entries above top: n)
    first = jnp.clip(jnp.ceil(start), 0, n).astype(jnp.int32)
    first = jnp.where(jnp.arange(n)[:, None] > top[None, :], n, first)
    first = first.at[0].set(0)
    starts = jnp.zeros((n + 1, count), dtype=jnp.int32).at[first, cols[None, :]].add(1)
    which = jnp.cumsum(starts[:n], axis=0) - 1         # stack index serving each x
    nearest = jnp.take_along_axis(apex, which, axis=0)
    out = jnp.take_along_axis(lines, nearest, axis=0) + s2 * jnp.square(
        x[:, None] - nearest.astype(dtype))
    return jnp.moveaxis(out.reshape(shape), 0, axis)


# --------------------------------------------------------------------------- standard


def _standard_edt(xp, mask, spatial_ndim, spacing):
    """Separable exact transform written against the array API only.

    Every axis is a min-plus pass over shifts (:func:`_shift_pass`); the first starts from
    0 on zero elements and :data:`_BIG` elsewhere.
    """
    dtype = distance_dtype(xp, mask)
    device = aac.device(mask)
    if xp.isdtype(mask.dtype, "bool"):
        zero = xp.logical_not(mask)
    else:
        zero = mask == xp.zeros((), dtype=mask.dtype, device=device)
    axes = _spatial_axes(mask.ndim, spatial_ndim)
    if math.prod(mask.shape) == 0:
        return xp.zeros(mask.shape, dtype=dtype, device=device)
    f = xp.where(zero, xp.zeros(mask.shape, dtype=dtype, device=device),
                 xp.full(mask.shape, _BIG, dtype=dtype, device=device))
    eager = _is_concrete(mask)
    for axis, step in zip(axes, spacing):
        f = _shift_pass(xp, f, axis, step, eager=eager)
    has_zero = xp.any(zero, axis=axes, keepdims=True)
    inf = xp.full(mask.shape, math.inf, dtype=dtype, device=device)
    return xp.where(has_zero, xp.sqrt(f), inf)


def _shift_pass(xp, f, axis: int, step: float, *, eager: bool):
    r""":math:`D(x) = \min_{|t| < n} f(x + t) + s^2 t^2` along ``axis``, shift by shift.

    ``f`` is padded with :data:`_BIG` on both sides once; shift ``t`` compares every
    element with its neighbours ``t`` away. On concrete arrays the loop stops after shift
    ``t`` once ``s^2 (t + 1)^2`` reaches every current minimum (no farther element can
    win), ignoring lines that hold no real value at all (they cannot improve); lazy arrays
    (Dask, traced JAX) take every shift up to ``n - 1``.
    """
    n = f.shape[axis]
    if n == 1:
        return f
    device = aac.device(f)
    pad_shape = list(f.shape)
    pad_shape[axis] = n
    pad = xp.full(tuple(pad_shape), _BIG, dtype=f.dtype, device=device)
    padded = xp.concat([pad, f, pad], axis=axis)

    def window(offset):
        index = [slice(None)] * f.ndim
        index[axis] = slice(n + offset, 2 * n + offset)
        return padded[tuple(index)]

    best = f
    live = None
    if eager:
        live = xp.any(f < _BIG / 2, axis=axis, keepdims=True)
        zero = xp.zeros_like(f)
    s2 = step * step
    for shift in range(1, n):
        best = xp.minimum(best, xp.minimum(window(-shift), window(shift)) + s2 * shift * shift)
        if eager:
            worst = float(xp.max(xp.where(live, best, zero)))
            if worst <= s2 * (shift + 1) ** 2:
                break
    return best


def _is_concrete(x) -> bool:
    """True when values may be inspected: not a JAX tracer, not a lazy (Dask) array."""
    if aac.is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    return not aac.is_lazy_array(x)
