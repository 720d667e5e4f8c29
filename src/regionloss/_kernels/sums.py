"""Sums over axes that are fast on every backend, and the soft statistics' sums in one pass.

:func:`sum_over` is ``xp.sum(x, axis=axes)`` with half precision accumulated (and
returned) in float32. On CuPy it is laid out for CuPy's reduction kernel, which gives each
output element one thread group: a sum with few outputs over many elements (a
``(16, 1024, 1024, 4)`` float32 array summed over axes ``(1, 2)``: 64 outputs of 1 M
elements) runs on a handful of blocks, 34.6 ms on an H200 against a bandwidth bound of
0.06 ms. Here the largest summed run of axes is split in two, ``L = L1 * L2`` (a view:
splitting an axis never copies), the first sum runs over ``L2`` with ``L1`` times more
outputs (thousands of blocks), and a second, small sum over ``L1`` finishes (recursively,
if still large). Summation order is fixed: the result is deterministic.

:func:`soft_sums` returns the three sums of the soft statistics,

.. math::
    S_{py} = \\sum w\\,p\\,y,\\qquad S_p = \\sum w\\,p \\;(\\text{or } \\sum w\\,p^2),
    \\qquad S_y = \\sum w\\,y \\;(\\text{or } \\sum w\\,y^2),

over ``sum_axes``, with pixels where ``w == 0`` removed by *selection* (``where``), so a
NaN or infinite probability there never enters a sum (``NaN * 0`` is NaN), nor, on the
autodiff backends, a gradient. Every backend gets the array-API version, except:

* CuPy: one CUDA kernel that reads ``p``, ``y`` and ``w`` once for all three sums
  (channels-last or channels-first layouts; partial sums per block in float64, then one
  small trailing sum; other layouts take the array-API version with the fast sums);
* PyTorch: an autograd function whose backward is the closed form
  ``dL/dp = w·(g_py·y + g_p)`` (``w·(g_py·y + 2·g_p·p)`` with squares), one ``addcmul``
  per input instead of autograd's product, broadcast and accumulation kernels. (A weight
  that needs a gradient takes the array-API version.)

:func:`fused_soft_statistics` goes one step further where the target is an integer label
map and the prediction logits: on CuPy it returns the same three sums from the logits and
the label map in one kernel (:mod:`regionloss._kernels.fused_cupy`: the activation, the
one-hot comparison and the sums fused, nothing as large as the logits written); on every
other backend, and for inputs that kernel does not cover, it returns None and the caller
takes the probabilities → :func:`soft_sums` path.

References
----------
.. [1] F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully convolutional neural networks
   for volumetric medical image segmentation", 3DV 2016 (the squared denominator).
.. [2] M. Harris, "Optimizing parallel reduction in CUDA", NVIDIA, 2007 (two-stage
   reductions with per-block partial sums).
"""

from __future__ import annotations

import math
import operator

import array_api_compat as aac

__all__ = ["sum_over", "soft_sums", "fused_soft_statistics", "accumulation_dtype",
           "SOFT_SOURCE", "USE_FUSED_STATISTICS"]

# False turns :func:`fused_soft_statistics` off (it then always returns None): the switch
# the benchmarks and the device tests compare both paths with.
USE_FUSED_STATISTICS = True

# CuPy sum_over: sums with at least this many outputs, or at most this many elements, go
# straight to cupy.sum; otherwise the largest summed run is split so that the first sum
# runs over _SPLIT_LEN elements.
_DIRECT_OUTPUTS = 8192
_DIRECT_MAX_SIZE = 1 << 18
_SPLIT_LEN = 8192

_MAX_GRID_Y = 65535
_KERNELS: dict = {}


def accumulation_dtype(xp, dtype):
    """float64 for float64, float32 for every other floating dtype (float16, bfloat16,
    float32); None (the namespace's default) for integers and bools."""
    if dtype == xp.float64:
        return xp.float64
    if xp.isdtype(dtype, "real floating"):
        return xp.float32
    return None


def _cupy_accumulation_dtype(dtype):
    """:func:`accumulation_dtype` for CuPy (whose dtypes are NumPy's)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return None
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _normalize_axes(axes, ndim):
    if isinstance(axes, int):
        axes = (axes,)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array with {ndim} axes")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {tuple(axes)}")
    return tuple(sorted(out))


# --------------------------------------------------------------------------- sum_over


def sum_over(x, axes):
    """``sum(x, axis=axes)``, accumulated in at least float32.

    Parameters
    ----------
    x : array (any array-API namespace)
    axes : int or tuple of int
        Axes to sum (negative values count from the end; ``()`` sums nothing).

    Returns
    -------
    array
        The kept axes in their order; float32 for float16, bfloat16 and float32 input,
        float64 for float64, the namespace's default sum dtype for integers.
    """
    xp = aac.array_namespace(x)
    axes = _normalize_axes(axes, x.ndim)
    if aac.is_cupy_array(x):
        return _cupy_sum_over(x, axes)
    acc = accumulation_dtype(xp, x.dtype)
    if not axes:
        return x if acc is None or x.dtype == acc else xp.astype(x, acc)
    return xp.sum(x, axis=axes, dtype=acc)


def _groups(shape, axes):
    """Runs of adjacent axes of one kind: ``[[size, summed], ...]``."""
    groups = []
    for i, s in enumerate(shape):
        summed = i in axes
        if groups and groups[-1][1] == summed:
            groups[-1][0] *= s
        else:
            groups.append([s, summed])
    return groups


def _cupy_sum_over(x, axes, *, split_len=None):
    """:func:`sum_over` for CuPy: a two-stage sum when cupy.sum would run on few blocks."""
    import cupy

    split_len = _SPLIT_LEN if split_len is None else int(split_len)
    acc = _cupy_accumulation_dtype(x.dtype)
    if not axes:
        return x if acc is None or x.dtype == acc else x.astype(acc)
    out_size = math.prod(s for i, s in enumerate(x.shape) if i not in axes)
    if x.size <= _DIRECT_MAX_SIZE or out_size >= _DIRECT_OUTPUTS or acc is None:
        return cupy.sum(x, axis=axes, dtype=acc)
    if not x.flags.c_contiguous:
        x = cupy.ascontiguousarray(x)     # one copy: far cheaper than the few-block sum
    groups = _groups(x.shape, axes)
    xg = x.reshape(tuple(s for s, _ in groups))           # a view: x is C-contiguous
    j = max((i for i, (s, summed) in enumerate(groups) if summed), key=lambda i: groups[i][0])
    L = groups[j][0]
    L2 = min(split_len, L)
    L1 = L // L2
    main = L1 * L2
    lead = (slice(None),) * j
    # stage 1: over L2 and every other summed group; the L1 axis stays at position j
    part = xg[lead + (slice(0, main),)]
    part = part.reshape(part.shape[:j] + (L1, L2) + part.shape[j + 1:])
    first = tuple(i + (1 if i > j else 0) for i, (_, summed) in enumerate(groups)
                  if summed and i != j) + (j + 1,)
    kept_before = sum(1 for i in range(j) if not groups[i][1])
    stage1 = cupy.sum(part, axis=tuple(sorted(first)), dtype=acc)
    total = _cupy_sum_over(stage1, (kept_before,), split_len=split_len)
    if main != L:
        tail = xg[lead + (slice(main, L),)]
        summed = tuple(i for i, (_, s) in enumerate(groups) if s)
        total = total + cupy.sum(tail, axis=summed, dtype=acc)
    kept_shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return total.reshape(kept_shape)


# --------------------------------------------------------------------------- soft_sums


def soft_sums(probs, target, weight, *, sum_axes, squared=False, selected=False):
    """The three sums of the soft statistics, in one pass where the backend allows.

    .. math::
        \\Big(\\sum w\\,p\\,y,\\; \\sum w\\,p^{(2)},\\; \\sum w\\,y^{(2)}\\Big)

    (squares with ``squared=True``), over ``sum_axes``, pixels with ``w == 0`` left out by
    selection.

    Parameters
    ----------
    probs, target : arrays of one shape, floating point
        Probabilities and dense target (one-hot, soft or multi-label).
    weight : array or None
        Per-pixel weights broadcastable to ``probs`` (typically with a size-1 class
        axis); None weighs every pixel 1.
    sum_axes : tuple of int
        Axes summed (the kept axes are the class axis and, per sample, axis 0).
    squared : bool
        Sum ``w·p²`` and ``w·y²`` instead of ``w·p`` and ``w·y`` (V-Net).
    selected : bool
        The caller has already set ``probs`` and ``target`` to finite values (0) where
        ``w == 0`` (:func:`regionloss._inputs.prepare` does): the generic path then
        multiplies by the weights without selecting again.

    Returns
    -------
    tuple of three arrays
        ``(Σ w·p·y, Σ w·p or Σ w·p², Σ w·y or Σ w·y²)``, the kept axes in order; float32
        (float64 for float64 probabilities).
    """
    xp = aac.array_namespace(probs, target) if weight is None else \
        aac.array_namespace(probs, target, weight)
    if tuple(target.shape) != tuple(probs.shape):
        raise ValueError(f"target must have probs' shape {tuple(probs.shape)}, got "
                         f"{tuple(target.shape)}")
    axes = sum_axes
    if type(axes) is not tuple or (axes and not 0 <= min(axes) <= max(axes) < probs.ndim):
        axes = _normalize_axes(sum_axes, probs.ndim)
    if aac.is_cupy_array(probs):
        fast = _cupy_soft_sums(probs, target, weight, axes, bool(squared))
        if fast is not None:
            return fast
    if aac.is_torch_array(probs) and axes:
        fast = _torch_soft_sums(probs, target, weight, axes, bool(squared))
        if fast is not None:
            return fast
    return _generic_soft_sums(xp, probs, target, weight, axes, bool(squared), selected)


def _generic_soft_sums(xp, probs, target, weight, axes, squared, selected=False):
    """The array-API version: products selected with ``where``, then :func:`sum_over`."""
    acc = xp.float64 if probs.dtype == xp.float64 else xp.float32
    p = probs if probs.dtype == acc else xp.astype(probs, acc)
    y = target if target.dtype == acc else xp.astype(target, acc)
    if weight is None:
        py = p * y
        pp = p * p if squared else p
        yy = y * y if squared else y
    else:
        w = weight if weight.dtype == acc else xp.astype(weight, acc)
        if not selected:
            keep = w != 0
            zero = xp.zeros((), dtype=acc, device=aac.device(p))
            # selection before any product: NaN/inf at a weight-0 pixel never enters (and
            # its gradient is an exact 0, not NaN * 0)
            p = xp.where(keep, p, zero)
            y = xp.where(keep, y, zero)
        py = w * p * y
        pp = w * (p * p if squared else p)
        yy = w * (y * y if squared else y)
    # (the products are already in the accumulation dtype: plain sums)
    return xp.sum(py, axis=axes), xp.sum(pp, axis=axes), xp.sum(yy, axis=axes)


def fused_soft_statistics(logits, labels, weight, *, class_axis, activation, num_classes,
                          sum_axes, ignore_index=None):
    """``(Σ w·p·y, Σ w·p, Σ w·y)`` from logits and an integer label map in one pass, or None.

    ``p`` is ``activation`` ('softmax' or 'sigmoid') of ``logits``, ``y`` the one-hot of
    ``labels`` (the logits' shape with a size-1 class axis, or without it), ``w`` the
    per-pixel ``weight`` (None: 1) and ``ignore_index``; the sums run over ``sum_axes``
    (the spatial axes, plus axis 0 when pooled). CuPy only: the one kernel of
    :func:`regionloss._kernels.fused_cupy.soft_stats_from_logits` (pixel rules there);
    None on every other backend and for inputs that kernel does not cover, so that the
    caller computes the probabilities and calls :func:`soft_sums`, whose sums these equal
    to float32 rounding.
    """
    if not aac.is_cupy_array(logits) or not USE_FUSED_STATISTICS:
        return None
    from . import fused_cupy

    try:
        return fused_cupy.soft_stats_from_logits(
            logits, labels, weight, class_axis=class_axis, activation=activation,
            num_classes=num_classes, sum_axes=sum_axes, ignore_index=ignore_index)
    except fused_cupy.Unsupported:
        return None


# --------------------------------------------------------------------------- PyTorch

_TORCH_FUNCTION = []


def _torch_function():
    """The autograd function of the PyTorch path, made on first use (torch is imported
    lazily)."""
    if _TORCH_FUNCTION:
        return _TORCH_FUNCTION[0]
    import torch

    class SoftSums(torch.autograd.Function):
        """Soft sums with a closed-form backward: one fused full-size expression per
        input (``g_tp * y + g_p``, an ``addcmul``), instead of autograd's product,
        broadcast and accumulation kernels."""

        @staticmethod
        def forward(ctx, p, y, w, axes, squared):
            acc = torch.float64 if p.dtype == torch.float64 else torch.float32
            pa, ya = p.to(acc), y.to(acc)
            wa = None
            if w is not None:
                wa = w.to(acc)
                keep = wa != 0
                # selection first: NaN/inf at weight-0 pixels never enter
                pa = torch.where(keep, pa, 0.0)
                ya = torch.where(keep, ya, 0.0)
                pw, yw = pa * wa, ya * wa
            else:
                pw, yw = pa, ya
            tp = torch.sum(pw * ya, dim=axes)
            ps = torch.sum(pw * pa if squared else pw, dim=axes)
            ys = torch.sum(yw * ya if squared else yw, dim=axes)
            ctx.save_for_backward(pa, ya, wa)
            ctx.axes, ctx.squared = axes, squared
            ctx.dtypes = (p.dtype, y.dtype)
            return tp, ps, ys

        @staticmethod
        def backward(ctx, g_tp, g_ps, g_ys):
            pa, ya, wa = ctx.saved_tensors
            shape = list(pa.shape)
            for a in ctx.axes:
                shape[a] = 1

            # cotangents (kept axes) broadcastable against the inputs
            g_tp, g_ps, g_ys = (g.reshape(shape) for g in (g_tp, g_ps, g_ys))
            grads = []
            for this, other, g_self, need, dtype in (
                    (pa, ya, g_ps, ctx.needs_input_grad[0], ctx.dtypes[0]),
                    (ya, pa, g_ys, ctx.needs_input_grad[1], ctx.dtypes[1])):
                if not need:
                    grads.append(None)
                    continue
                # d/d this of (tp, S_this): g_tp * other + g_self (or + 2 * g_self * this),
                # one full-size kernel (two when squared)
                if ctx.squared:
                    g = torch.addcmul(g_tp * other, 2 * g_self, this)
                else:
                    g = torch.addcmul(g_self, g_tp, other)
                if wa is not None:
                    g = g * wa          # 0 at removed pixels (this, other are 0 there)
                grads.append(g.expand(pa.shape).to(dtype))
            return grads[0], grads[1], None, None, None

    _TORCH_FUNCTION.append(SoftSums)
    return SoftSums


def _torch_soft_sums(probs, target, weight, axes, squared):
    """The PyTorch path (an autograd function), or None where it does not apply
    (a weight that needs a gradient)."""
    if weight is not None and getattr(weight, "requires_grad", False):
        return None
    if weight is not None and weight.ndim < probs.ndim:
        weight = weight.reshape((1,) * (probs.ndim - weight.ndim) + tuple(weight.shape))
    return _torch_function().apply(probs, target, weight, tuple(axes), squared)


SOFT_SOURCE = r"""
// Per (sample, class): partial sums over one block's share of the pixels of
//   w*p*y,  w*p (w*p*p with SQ),  w*y (w*y*y with SQ)
// accumulated in double. Pixels with w == 0 are skipped (selection: NaN/inf there never
// enter). WMODE 0: no weight; 1: one weight per pixel (size-1 class axis); 2: one per
// element. `part` is (n_samples, 3, C, gridDim.x); every cell is written once.

// class axis last: a sample is `rows` rows of C contiguous values. blockDim.x = q * C;
// thread t adds class t % C of rows t / C, t / C + q, ... of its block's share.
template <typename T, int WMODE, int SQ>
__global__ void rl_soft_rows(const T* __restrict__ p, const T* __restrict__ y,
                             const T* __restrict__ w, const long long n_samples,
                             const long long rows, const int C, double* __restrict__ part)
{
    extern __shared__ double rl_acc[];
    const int q = blockDim.x / C;
    const int r0 = threadIdx.x / C;
    const long long G = gridDim.x;
    for (long long s = blockIdx.y; s < n_samples; s += gridDim.y) {
        const long long base = s * rows;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0;
        for (long long r = (long long)blockIdx.x * q + r0; r < rows; r += G * q) {
            const long long e = (base + r) * C + threadIdx.x % C;
            double wv = 1.0;
            if (WMODE == 1) wv = (double)w[base + r];
            if (WMODE == 2) wv = (double)w[e];
            if (WMODE == 0 || wv != 0.0) {
                const double pv = (double)p[e];
                const double yv = (double)y[e];
                a0 += wv * pv * yv;
                a1 += wv * (SQ ? pv * pv : pv);
                a2 += wv * (SQ ? yv * yv : yv);
            }
        }
        rl_acc[threadIdx.x] = a0;
        rl_acc[blockDim.x + threadIdx.x] = a1;
        rl_acc[2 * blockDim.x + threadIdx.x] = a2;
        __syncthreads();
        if ((int)threadIdx.x < C) {
            double b0 = 0.0, b1 = 0.0, b2 = 0.0;
            for (int k = 0; k < q; ++k) {
                const int j = k * C + threadIdx.x;
                b0 += rl_acc[j];
                b1 += rl_acc[blockDim.x + j];
                b2 += rl_acc[2 * blockDim.x + j];
            }
            double* o = part + (s * 3 * C + threadIdx.x) * G + blockIdx.x;
            o[0] = b0;
            o[(long long)C * G] = b1;
            o[2LL * C * G] = b2;
        }
        __syncthreads();
    }
}

// class axis 1: a sample is C contiguous segments of M values (one per class).
// blockDim.x is a power of two; grid y walks the (sample, class) segments.
template <typename T, int WMODE, int SQ>
__global__ void rl_soft_segments(const T* __restrict__ p, const T* __restrict__ y,
                                 const T* __restrict__ w, const long long n_samples,
                                 const int C, const long long M, double* __restrict__ part)
{
    extern __shared__ double rl_acc[];
    const long long G = gridDim.x;
    const long long n_seg = n_samples * C;
    const int t = threadIdx.x;
    const int nt = blockDim.x;
    for (long long seg = blockIdx.y; seg < n_seg; seg += gridDim.y) {
        const long long s = seg / C;
        const long long off = seg * M;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0;
        for (long long m = (long long)blockIdx.x * nt + t; m < M; m += G * nt) {
            const long long e = off + m;
            double wv = 1.0;
            if (WMODE == 1) wv = (double)w[s * M + m];
            if (WMODE == 2) wv = (double)w[e];
            if (WMODE == 0 || wv != 0.0) {
                const double pv = (double)p[e];
                const double yv = (double)y[e];
                a0 += wv * pv * yv;
                a1 += wv * (SQ ? pv * pv : pv);
                a2 += wv * (SQ ? yv * yv : yv);
            }
        }
        rl_acc[t] = a0;
        rl_acc[nt + t] = a1;
        rl_acc[2 * nt + t] = a2;
        __syncthreads();
        for (int h = nt / 2; h > 0; h >>= 1) {
            if (t < h) {
                rl_acc[t] += rl_acc[t + h];
                rl_acc[nt + t] += rl_acc[nt + t + h];
                rl_acc[2 * nt + t] += rl_acc[2 * nt + t + h];
            }
            __syncthreads();
        }
        if (t == 0) {
            const long long c = seg - s * C;
            double* o = part + (s * 3 * C + c) * G + blockIdx.x;
            o[0] = rl_acc[0];
            o[(long long)C * G] = rl_acc[nt];
            o[2LL * C * G] = rl_acc[2 * nt];
        }
        __syncthreads();
    }
}
"""

_SOFT_TYPES = {"float32": "float", "float64": "double"}
_SEGMENT_THREADS = 256
_ROW_THREADS = 256


def soft_kernel_name(kind: str, dtype_name: str, wmode: int, squared: bool) -> str:
    """Template instantiation of the soft-sums kernel ``kind`` ('rows' or 'segments')."""
    return f"rl_soft_{kind}<{_SOFT_TYPES[dtype_name]}, {int(wmode)}, {int(bool(squared))}>"


def _soft_kernel(kind, dtype_name, wmode, squared):
    import cupy

    key = (kind, dtype_name, wmode, squared, cupy.cuda.Device().id)
    kernel = _KERNELS.get(key)
    if kernel is None:
        name = soft_kernel_name(kind, dtype_name, wmode, squared)
        module = cupy.RawModule(code=SOFT_SOURCE, name_expressions=(name,))
        kernel = module.get_function(name)
        _KERNELS[key] = kernel
    return kernel


def soft_layout(shape, axes):
    """How the CuPy kernel reads an array of ``shape`` summed over ``axes``.

    Returns ``(kind, n_samples, C, inner, per_sample)`` or None (no kernel layout):

    * ``'rows'``: the class axis is last; each of ``n_samples`` holds ``inner`` rows of
      ``C`` values (pooled: one sample of every row);
    * ``'segments'``: the class axis is 1 and every later axis is summed; each of
      ``n_samples`` holds ``C`` segments of ``inner`` values (pooled: per sample, then
      summed over samples).
    """
    nd = len(shape)
    if nd < 2:
        return None
    kept = [a for a in range(nd) if a not in axes]
    last = nd - 1
    if kept in ([last], [0, last]):
        per_sample = kept == [0, last]
        C = shape[last]
        n = shape[0] if per_sample else 1
        rows = math.prod(shape[1:last]) if per_sample else math.prod(shape[:last])
        return "rows", n, C, rows, per_sample
    if nd >= 3 and kept in ([1], [0, 1]):
        return "segments", shape[0], shape[1], math.prod(shape[2:]), kept == [0, 1]
    return None


def soft_launch(kind, n_samples, C, inner, *, sms):
    """``(grid, block, shared_bytes)`` of a soft-sums launch, or None (C too large for a
    row block)."""
    target = sms * 8          # 2048 threads per multiprocessor, 256-thread blocks
    if kind == "rows":
        q = max(1, _ROW_THREADS // C)
        threads = q * C
        if threads > 1024:
            return None
        gy = max(1, min(n_samples, _MAX_GRID_Y))
        gx = max(1, min(-(-target // gy), -(-inner // (4 * q))))
    else:
        threads = _SEGMENT_THREADS
        gy = max(1, min(n_samples * C, _MAX_GRID_Y))
        gx = max(1, min(-(-target // gy), -(-inner // (4 * threads))))
    return (gx, gy), (threads,), 3 * 8 * threads


def _cupy_soft_sums(probs, target, weight, axes, squared):
    """The CuPy kernel path, or None when the layout (or class count) has none."""
    import cupy

    from .counting_cupy import sm_count

    layout = soft_layout(probs.shape, axes)
    if layout is None or probs.size == 0:
        return None
    kind, n, C, inner, per_sample = layout
    acc = cupy.float64 if probs.dtype == cupy.float64 else cupy.float32
    launch = soft_launch(kind, n, C, inner, sms=sm_count())
    if launch is None:
        return None
    grid, block, smem = launch
    p = cupy.ascontiguousarray(probs.astype(acc, copy=False))
    y = cupy.ascontiguousarray(target.astype(acc, copy=False))
    class_axis = probs.ndim - 1 if kind == "rows" else 1
    wmode, w = 0, p     # (w is not read with wmode 0)
    if weight is not None:
        w = weight.astype(acc, copy=False)
        if w.ndim < probs.ndim:
            w = w.reshape((1,) * (probs.ndim - w.ndim) + tuple(w.shape))
        if w.shape[class_axis] == 1:
            wmode = 1
            pixel_shape = tuple(1 if i == class_axis else s for i, s in enumerate(probs.shape))
            w = cupy.broadcast_to(w, pixel_shape)
        else:
            wmode = 2
            w = cupy.broadcast_to(w, probs.shape)
        w = cupy.ascontiguousarray(w)
    part = cupy.empty((n, 3, C, grid[0]), dtype=cupy.float64)
    kernel = _soft_kernel(kind, cupy.dtype(acc).name, wmode, squared)
    if kind == "rows":
        args = (p, y, w, cupy.int64(n), cupy.int64(inner), cupy.int32(C), part)
    else:
        args = (p, y, w, cupy.int64(n), cupy.int32(C), cupy.int64(inner), part)
    kernel(grid, block, args, shared_mem=smem)
    sums = part.sum(axis=-1)                      # (n, 3, C), a short trailing sum
    if kind == "segments" and not per_sample:
        sums = sums.sum(axis=0)
    elif not per_sample:
        sums = sums[0]
    sums = sums.astype(acc)
    return sums[..., 0, :], sums[..., 1, :], sums[..., 2, :]
