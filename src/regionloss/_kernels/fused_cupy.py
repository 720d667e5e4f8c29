"""Soft statistics straight from logits and an integer label map: one CUDA kernel on CuPy.

The loss path computes soft statistics from probabilities and a dense target (one-hot of
the label map): on CuPy that is a softmax of several elementwise kernels, a one-hot
target as large as the logits, then the sums. :func:`soft_stats_from_logits` reads the
logits and the label map once and returns the three sums directly,

.. math::
    S_{py} = \\sum_i w_i\\,p_{ic}\\,[y_i = c],\\qquad S_p = \\sum_i w_i\\,p_{ic},
    \\qquad S_y = \\sum_i w_i\\,[y_i = c],

with :math:`p_{ic}` the softmax over the classes of pixel :math:`i`
(:math:`e^{x_{ic} - m_i} / \\sum_k e^{x_{ik} - m_i}`, :math:`m_i = \\max_k x_{ik}`) or the
sigmoid of each logit (:math:`1/(1 + e^{-x})` for :math:`x \\ge 0`,
:math:`e^{x}/(1 + e^{x})` below, so that ``exp`` never overflows), in the logits' precision
(float32, float64 for float64), and :math:`w_i` the pixel's weight: 0 where the label
equals ``ignore_index`` or the weight is not positive, else the weight (1 without one).
The sums run over the spatial axes (per sample, ``(N, C)``) or over the sample axis too
(pooled, ``(C,)``), with the layout of :func:`regionloss._kernels.sums.soft_sums`.

Pixel rules:

* a pixel of weight 0 (ignored label, weight 0 or NaN) leaves every sum, and its logits
  are never used: NaN or infinite logits there do not reach a sum;
* a label outside ``[0, C)`` that is not ``ignore_index`` belongs to no class: its
  probabilities enter :math:`S_p` and nothing enters :math:`S_{py}` or :math:`S_y` (as an
  all-zero one-hot row). Labels are only compared, never used as addresses, so no value of
  any integer dtype reads out of bounds. An ``ignore_index`` the label dtype cannot hold
  (300 or -1 for uint8) matches nothing;
* with ``C == 1`` the label map is a foreground mask, as in the loss path: label 1 is the
  class, every other label is background.

Kernel (one template per logits dtype, label dtype, class bound ``CMAX`` (the power of two
at or above ``C``, at most :data:`MAX_CLASSES`), activation and layout): a block walks
tiles of ``blockDim.x`` pixels of one sample, one pixel per thread. Channels-last tiles
are staged through shared memory (a tile's ``C`` logits per pixel are contiguous: one
coalesced copy, then each thread reads its pixel's row at an odd stride, free of bank
conflicts); channels-first tiles are read straight from global memory (consecutive pixels
of one class plane are consecutive addresses). Each thread computes its pixel's
probabilities in registers and writes them to a class-major tile; then ``blockDim.x / C``
threads per class add the tile's column into per-thread float64 sums. At the end of a
sample the block reduces those in shared memory and writes one float64 partial per
(sample, sum, class) (no atomics: the result is deterministic); a short trailing sum over
the blocks finishes, and the totals are cast to the logits' dtype.

What is not covered raises :class:`Unsupported` (a ``ValueError``), on which
:func:`regionloss._kernels.sums.fused_soft_statistics` returns None so that the caller takes
the general path: other logits dtypes than float32 and float64, more than
:data:`MAX_CLASSES` classes, a class axis that is neither last nor 1, sums over other axes,
weights that differ per class, softmax over one channel.

References
----------
.. [1] M. Harris, "Optimizing parallel reduction in CUDA", NVIDIA, 2007 (per-block partial
   sums, then a second small reduction).
.. [2] P. Blanchard, D. J. Higham, N. J. Higham, "Accurately computing the log-sum-exp and
   softmax functions", IMA Journal of Numerical Analysis 41(4), 2021 (subtracting the
   maximum before ``exp``).
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from .counting_cupy import (
    _TYPENAMES,
    _reachable_ignore,
    check_threads,
    kernel_thread_limit,
    sm_count,
)

__all__ = ["soft_stats_from_logits", "fused_plan", "fused_launch", "fused_kernel_name",
           "class_bound", "Unsupported", "MAX_CLASSES", "FUSED_SOURCE"]

MAX_CLASSES = 64
# threads (= pixels) per block before the shared-memory limit halves them
_THREADS = 256
_SMEM_LIMIT = 48 * 1024          # dynamic shared memory a block uses without opting in
_MAX_GRID_Y = 65535
_KERNELS: dict = {}

_FLOAT_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_ACTIVATIONS = {"softmax": 0, "sigmoid": 1}
_LAYOUTS = {"last": 0, "first": 1}


class Unsupported(ValueError):
    """The fused kernel does not cover these inputs (the caller takes the general path)."""


FUSED_SOURCE = r"""
// Full unrolling keeps a pixel's CMAX values in registers (NVRTC, nvcc's device pass).
#if defined(__CUDACC_RTC__) || defined(__CUDA_ARCH__)
#define RL_FUSED_UNROLL _Pragma("unroll")
#else
#define RL_FUSED_UNROLL
#endif

// Labels are widened to a 64-bit type of their own signedness before any comparison, so
// that every value of every integer dtype is compared exactly (no wrap into [0, C)).
template <typename L> struct rl_fused_wide { typedef long long type; };
template <> struct rl_fused_wide<unsigned char> { typedef unsigned long long type; };
template <> struct rl_fused_wide<unsigned short> { typedef unsigned long long type; };
template <> struct rl_fused_wide<unsigned int> { typedef unsigned long long type; };
template <> struct rl_fused_wide<unsigned long long> { typedef unsigned long long type; };

// The class of a widened label, or -1 (no class). C == 1: label 1 is the class.
__device__ __forceinline__ int rl_fused_class(long long v, int C) {
    if (C == 1) return v == 1 ? 0 : -1;
    return (v >= 0 && v < (long long)C) ? (int)v : -1;
}
__device__ __forceinline__ int rl_fused_class(unsigned long long v, int C) {
    if (C == 1) return v == 1ULL ? 0 : -1;
    return v < (unsigned long long)C ? (int)v : -1;
}

__device__ __forceinline__ float rl_fused_exp(float v) { return expf(v); }
__device__ __forceinline__ double rl_fused_exp(double v) { return exp(v); }

// 1 / (1 + exp(-v)) for v >= 0, exp(v) / (1 + exp(v)) below: exp never overflows.
template <typename T>
__device__ __forceinline__ T rl_fused_sigmoid(T v) {
    if (v >= (T)0) return (T)1 / ((T)1 + rl_fused_exp(-v));
    const T e = rl_fused_exp(v);
    return e / ((T)1 + e);
}

// Per (sample, class), partial sums over one block's tiles of
//   w*p*[y == c],  w*p,  w*[y == c]
// in double, p the softmax (ACT 0) or sigmoid (ACT 1) of the logits. CF 0: channels-last
// (a sample is M pixels of C contiguous logits); CF 1: channels-first (a sample is C planes
// of M logits). The labels (and weights, with has_weight) are (n_samples, M). A pixel whose
// label is ignored or whose weight is not > 0 is skipped: its logits enter no arithmetic.
// Tiles are blockDim.x pixels, one per thread; C <= CMAX <= blockDim.x.
// Shared memory: acc (3 * nt doubles) | buf (buf_len T) | wts (nt T) | cls (nt int).
// `part` is (n_samples, 3, C, gridDim.x); every cell is written once.
template <typename T, typename L, int CMAX, int ACT, int CF>
__global__ void rl_fused_soft(const T* __restrict__ x, const L* __restrict__ lab,
                              const T* __restrict__ w, const long long n_samples,
                              const long long M, const int C, const int has_weight,
                              const int has_ignore, const long long ignore,
                              double* __restrict__ part)
{
    extern __shared__ double rl_fused_smem[];
    const int nt = (int)blockDim.x;
    const int t = (int)threadIdx.x;
    const int SP = C | 1;          // odd row stride of a staged channels-last tile
    const int S2 = nt + 1;         // class stride of the probability tile
    const int buf_len = (nt * SP > C * S2) ? nt * SP : C * S2;
    double* acc = rl_fused_smem;
    T* buf = (T*)(acc + 3 * nt);
    T* wts = buf + buf_len;
    int* cls = (int*)(wts + nt);
    const int q = nt / C;          // threads per class when summing a tile
    const int c2 = t / q;          // this thread's class there (none when c2 >= C)
    const int r2 = t - c2 * q;     // and its first row
    const int dq = nt / C;         // staging: element j + nt lies dq pixels, dr classes on
    const int dr = nt - dq * C;
    const int p0 = t / C;
    const int k0 = t - p0 * C;
    const L ig = (L)ignore;
    const long long G = gridDim.x;
    const long long n_tiles = (M + nt - 1) / nt;
    for (long long s = blockIdx.y; s < n_samples; s += gridDim.y) {
        double a0 = 0.0, a1 = 0.0, a2 = 0.0;
        for (long long tile = blockIdx.x; tile < n_tiles; tile += G) {
            const long long first = tile * nt;
            const long long left = M - first;
            const int np = left < (long long)nt ? (int)left : nt;
            const long long px = s * M + first + t;     // this thread's pixel, if t < np
            // every load of the tile is issued before any of its values is tested, so
            // that their latencies overlap; a skipped pixel's logits are loaded (or
            // staged) but replaced by 0 before any arithmetic
            L a = (L)0;
            T wt = (T)0;
            if (t < np) {
                a = lab[px];
                wt = has_weight ? w[px] : (T)1;
            }
            T v[CMAX];
            if (CF == 0) {
                // one coalesced copy of the tile's np * C logits, rows at stride SP
                const T* xt = x + (s * M + first) * C;
                const int n_el = np * C;
                int pp = p0, kk = k0;
                for (int j = t; j < n_el; j += nt) {
                    buf[pp * SP + kk] = xt[j];
                    pp += dq;
                    kk += dr;
                    if (kk >= C) { kk -= C; ++pp; }
                }
            } else {
                const long long base = s * C * M + first + t;
                RL_FUSED_UNROLL
                for (int c = 0; c < CMAX; ++c)
                    v[c] = (t < np && c < C) ? x[base + (long long)c * M] : (T)0;
            }
            // the pixel's weight (0: skipped, also for NaN) and class (-1: none)
            const bool keep = t < np && !(has_ignore && a == ig) && wt > (T)0;
            const T wv = keep ? wt : (T)0;
            const int k = keep ? rl_fused_class((typename rl_fused_wide<L>::type)a, C) : -1;
            if (CF == 0) {
                __syncthreads();
                RL_FUSED_UNROLL
                for (int c = 0; c < CMAX; ++c) v[c] = (keep && c < C) ? buf[t * SP + c] : (T)0;
                __syncthreads();                        // buf is overwritten below
            } else {
                RL_FUSED_UNROLL
                for (int c = 0; c < CMAX; ++c) v[c] = keep ? v[c] : (T)0;
            }
            if (keep) {
                if (ACT == 0) {
                    T m = v[0];
                    RL_FUSED_UNROLL
                    for (int c = 1; c < CMAX; ++c) if (c < C && v[c] > m) m = v[c];
                    T z = (T)0;
                    RL_FUSED_UNROLL
                    for (int c = 0; c < CMAX; ++c) {
                        if (c < C) { v[c] = rl_fused_exp(v[c] - m); z += v[c]; }
                    }
                    RL_FUSED_UNROLL
                    for (int c = 0; c < CMAX; ++c) if (c < C) v[c] = v[c] / z;
                } else {
                    RL_FUSED_UNROLL
                    for (int c = 0; c < CMAX; ++c) if (c < C) v[c] = rl_fused_sigmoid(v[c]);
                }
            }
            // the tile class-major (0 and no class at skipped pixels)
            RL_FUSED_UNROLL
            for (int c = 0; c < CMAX; ++c) if (c < C) buf[c * S2 + t] = v[c];
            cls[t] = k;
            wts[t] = wv;
            __syncthreads();
            if (c2 < C) {
                for (int r = r2; r < np; r += q) {
                    const double wr = (double)wts[r];
                    const double pw = wr * (double)buf[c2 * S2 + r];
                    a1 += pw;
                    if (cls[r] == c2) { a0 += pw; a2 += wr; }
                }
            }
            __syncthreads();
        }
        acc[t] = a0;
        acc[nt + t] = a1;
        acc[2 * nt + t] = a2;
        __syncthreads();
        if (t < C) {
            double b0 = 0.0, b1 = 0.0, b2 = 0.0;
            for (int r = 0; r < q; ++r) {
                const int j = t * q + r;
                b0 += acc[j];
                b1 += acc[nt + j];
                b2 += acc[2 * nt + j];
            }
            double* o = part + (s * 3 * C + t) * G + blockIdx.x;
            o[0] = b0;
            o[(long long)C * G] = b1;
            o[2LL * C * G] = b2;
        }
        __syncthreads();
    }
}
"""


# --------------------------------------------------------------------------- pure logic


def class_bound(num_classes: int) -> int:
    """The kernel's class bound ``CMAX``: the power of two at or above ``num_classes``."""
    return 1 << max(0, int(num_classes) - 1).bit_length()


def fused_kernel_name(dtype, label_dtype, num_classes: int, activation: str,
                      layout: str) -> str:
    """The template instantiation for float ``dtype`` logits, ``label_dtype`` labels,
    ``num_classes`` classes, 'softmax'/'sigmoid', 'last'/'first' (an NVRTC name)."""
    return (f"rl_fused_soft<{_FLOAT_TYPES[np.dtype(dtype)]}, "
            f"{_TYPENAMES[np.dtype(label_dtype)]}, {class_bound(num_classes)}, "
            f"{_ACTIVATIONS[activation]}, {_LAYOUTS[layout]}>")


def _smem_bytes(threads: int, num_classes: int, itemsize: int) -> int:
    """Dynamic shared memory of a block (the kernel's acc | buf | wts | cls)."""
    buf = max(threads * (num_classes | 1), num_classes * (threads + 1))
    return 3 * 8 * threads + (buf + threads) * itemsize + 4 * threads


def fused_launch(n_samples: int, pixels: int, num_classes: int, itemsize: int, *, sms: int,
                 threads: int | None = None, blocks: int | None = None):
    """``(grid, block, shared_bytes)`` of a launch over ``n_samples`` of ``pixels`` pixels.

    ``threads`` (1 to 1024, default 256, never below the class bound) is halved while a
    block's shared memory exceeds 48 KiB, never below the class bound (the kernel needs
    at least one thread per class); ``blocks`` (default: ``sms`` multiprocessors of 2048
    threads) is split between samples (grid y, at most 65535) and the tiles of a sample
    (grid x, at most one block per tile).
    """
    cmax = class_bound(num_classes)
    nt = _THREADS if threads is None else check_threads(threads)
    nt = max(nt, cmax)
    while nt > cmax and _smem_bytes(nt, num_classes, itemsize) > _SMEM_LIMIT:
        nt = max(cmax, nt // 2)
    gy = max(1, min(n_samples, _MAX_GRID_Y))
    tiles = max(1, -(-pixels // nt))
    if blocks is None:
        blocks = sms * max(1, 2048 // nt)
    gx = max(1, min(-(-int(blocks) // gy), tiles))
    return (gx, gy), (nt,), _smem_bytes(nt, num_classes, itemsize)


class FusedPlan(NamedTuple):
    """How the kernel reads the inputs: ``layout`` ('last' or 'first'), ``n_samples`` of
    ``pixels`` pixels each (channels-last pooled: one sample of every pixel), the class
    axis, the class count, and whether the sample axis is kept."""

    layout: str
    n_samples: int
    pixels: int
    class_axis: int
    num_classes: int
    per_sample: bool


def _axes(axes, ndim):
    if isinstance(axes, int):
        axes = (axes,)
    out = set()
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array with {ndim} axes")
        out.add(a % ndim)
    return out


def fused_plan(logits, labels, weight, *, class_axis, activation, num_classes, sum_axes,
               ignore_index=None) -> FusedPlan:
    """Check the inputs' static metadata and return the kernel's :class:`FusedPlan`.

    Raises :class:`Unsupported` for what the kernel does not cover (see the module
    docstring), ``ValueError``/``TypeError`` for inconsistent arguments.
    """
    shape = tuple(logits.shape)
    nd = len(shape)
    if np.dtype(logits.dtype) not in _FLOAT_TYPES:
        raise Unsupported(f"logits dtype {logits.dtype}: the kernel reads float32 and float64")
    if nd < 2:
        raise Unsupported(f"logits of shape {shape}: a sample axis and a class axis are needed")
    axis = operator.index(class_axis)
    if not -nd <= axis < nd:
        raise ValueError(f"class_axis {class_axis} is out of range for {nd} axes")
    axis %= nd
    if axis == nd - 1:
        layout = "last"
    elif axis == 1:
        layout = "first"
    else:
        raise Unsupported(f"class axis {axis} of {nd}: the kernel reads axis 1 or the last")
    C = shape[axis]
    if isinstance(num_classes, bool) or operator.index(num_classes) != C:
        raise ValueError(f"num_classes={num_classes!r} but logits have {C} classes on axis "
                         f"{axis}")
    if not 1 <= C <= MAX_CLASSES:
        raise Unsupported(f"{C} classes: the kernel holds at most {MAX_CLASSES}")
    if activation not in _ACTIVATIONS:
        raise Unsupported(f"activation {activation!r}: the kernel applies 'softmax' or "
                          "'sigmoid'")
    if activation == "softmax" and C == 1:
        raise Unsupported("softmax over one channel")
    if np.dtype(labels.dtype) not in _TYPENAMES:
        raise Unsupported(f"labels dtype {labels.dtype}: an integer label map is needed")
    spatial = shape[:axis] + shape[axis + 1:]
    pixel_shape = shape[:axis] + (1,) + shape[axis + 1:]
    if tuple(labels.shape) not in (spatial, pixel_shape):
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not fit logits {shape} "
                         f"with class axis {axis} (expected {spatial} or {pixel_shape})")
    if ignore_index is not None and (isinstance(ignore_index, bool)
                                     or not isinstance(ignore_index, (int, np.integer))):
        raise TypeError(f"ignore_index must be an integer or None, got {ignore_index!r}")
    if weight is not None:
        wshape = tuple(weight.shape)
        if np.dtype(weight.dtype).kind not in "fiub":
            raise Unsupported(f"weight dtype {weight.dtype}")
        if len(wshape) > nd:
            raise ValueError(f"weight of shape {wshape} has more axes than logits {shape}")
        padded = (1,) * (nd - len(wshape)) + wshape
        if any(ws not in (1, s) for ws, s in zip(padded, shape)):
            raise ValueError(f"weight of shape {wshape} does not broadcast to logits {shape}")
        if padded[axis] != 1:
            raise Unsupported("weights that differ per class")
    spatial_axes = {a for a in range(nd) if a not in (0, axis)}
    axes = _axes(sum_axes, nd)
    if axes == spatial_axes:
        per_sample = True
    elif axes == spatial_axes | {0}:
        per_sample = False
    else:
        raise Unsupported(f"sums over axes {sorted(axes)}: the kernel sums the spatial axes, "
                          "and the sample axis when pooled")
    N = shape[0]
    M = math.prod(shape[1:axis] + shape[axis + 1:])
    if layout == "last" and not per_sample:
        return FusedPlan(layout, 1, N * M, axis, C, False)
    return FusedPlan(layout, N, M, axis, C, per_sample)


# --------------------------------------------------------------------------- CuPy


def _kernel(name):
    import cupy

    key = (name, cupy.cuda.Device().id)
    kernel = _KERNELS.get(key)
    if kernel is None:
        module = cupy.RawModule(code=FUSED_SOURCE, name_expressions=(name,))
        kernel = module.get_function(name)
        _KERNELS[key] = kernel
    return kernel


def soft_stats_from_logits(logits, labels, weight, *, class_axis, activation, num_classes,
                           sum_axes, ignore_index=None, threads=None, blocks=None):
    """``(Σ w·p·y, Σ w·p, Σ w·y)`` of CuPy logits and an integer label map, in one pass.

    Parameters
    ----------
    logits : cupy.ndarray, float32 or float64
        Sample axis 0, class axis ``class_axis`` (the last, or 1 with the spatial axes
        after it).
    labels : cupy.ndarray of an integer (or bool) dtype
        The logits' shape without the class axis, or with a size-1 class axis. ``C == 1``:
        a foreground mask (label 1).
    weight : cupy.ndarray or None
        Per-pixel weights broadcastable to the logits with a size-1 class axis (a mask);
        pixels with weight ``<= 0`` (or NaN) leave every sum. None weighs every pixel 1.
    class_axis : int
    activation : {'softmax', 'sigmoid'}
    num_classes : int
        The size of the class axis (checked), at most :data:`MAX_CLASSES`.
    sum_axes : tuple of int
        The spatial axes (per sample), or axis 0 and the spatial axes (pooled).
    ignore_index : int or None
        Label whose pixels leave every sum (their logits are not used).
    threads, blocks : int or None
        Launch shape overrides (tests, tuning); see :func:`fused_launch`.

    Returns
    -------
    tuple of three cupy.ndarray
        ``(Σ w·p·y, Σ w·p, Σ w·y)`` of shape ``(N, C)`` per sample or ``(C,)`` pooled, in
        the logits' dtype (summed in float64).

    Raises
    ------
    Unsupported
        For inputs the kernel does not cover (see the module docstring).
    """
    import cupy

    plan = fused_plan(logits, labels, weight, class_axis=class_axis, activation=activation,
                      num_classes=num_classes, sum_axes=sum_axes, ignore_index=ignore_index)
    dtype = np.dtype(logits.dtype)
    n, M, C = plan.n_samples, plan.pixels, plan.num_classes
    if n * M == 0:
        shape = (logits.shape[0], C) if plan.per_sample else (C,)
        z = cupy.zeros(shape, dtype=dtype)
        return z, z.copy(), z.copy()
    x = cupy.ascontiguousarray(logits)
    lab = cupy.ascontiguousarray(labels).reshape(n, M)
    has_ignore, bits = _reachable_ignore(labels.dtype,
                                         None if ignore_index is None else int(ignore_index))
    w, has_weight = x, 0     # (w is not read without a weight)
    if weight is not None:
        wa = weight.astype(dtype, copy=False)
        wa = wa.reshape((1,) * (x.ndim - wa.ndim) + tuple(wa.shape))
        pixel_shape = tuple(1 if i == plan.class_axis else s for i, s in enumerate(x.shape))
        w = cupy.ascontiguousarray(cupy.broadcast_to(wa, pixel_shape)).reshape(n, M)
        has_weight = 1
    grid, block, smem = fused_launch(n, M, C, dtype.itemsize, sms=sm_count(),
                                     threads=threads, blocks=blocks)
    kernel = _kernel(fused_kernel_name(dtype, labels.dtype, C, activation, plan.layout))
    limit = kernel_thread_limit(kernel)
    if block[0] > limit:              # more threads than the compiled kernel's registers allow
        nt = max(class_bound(C), limit)
        grid, block, smem = fused_launch(n, M, C, dtype.itemsize, sms=sm_count(),
                                         threads=nt, blocks=blocks)
    part = cupy.empty((n, 3, C, grid[0]), dtype=cupy.float64)   # one column per block
    kernel(grid, block, (x, lab, w, cupy.int64(n), cupy.int64(M), cupy.int32(C),
                         cupy.int32(has_weight), cupy.int32(has_ignore), cupy.int64(bits),
                         part), shared_mem=smem)
    sums = part.sum(axis=-1)                       # (n, 3, C): a short trailing sum
    if not plan.per_sample:
        sums = sums.sum(axis=0) if n > 1 else sums[0]
    sums = sums.astype(dtype)
    return sums[..., 0, :], sums[..., 1, :], sums[..., 2, :]
