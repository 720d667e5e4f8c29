"""Confusion counts of CuPy label maps: a privatised shared-memory histogram kernel.

Counting is a histogram: each scored pixel increments the cell ``(reference, prediction)``
of a ``C x C`` matrix. A global-memory histogram (``cupy.bincount`` of the joint index
``target * C + pred``) serialises its atomic increments on the few cells that most pixels
hit (the diagonal, when prediction and reference mostly agree). Here every thread block
keeps its own copy of the histogram in shared memory (32-bit bins, plus one bin counting
invalid pixels), walks its share of the pixels with a grid-stride loop, and adds its copy
to the 64-bit global counts once at the end, so that global memory sees
``blocks x bins`` atomic additions instead of one per pixel [1]_.

Kernel modes (one templated CUDA kernel, instantiated per label dtype pair and mode):

=====  ====================  ===========================  ============================
mode   shared-memory bins    counts produced              used for
=====  ====================  ===========================  ============================
0      ``C*C``               confusion matrix             ``C <= FULL_MAX_CLASSES``
1      ``C`` (diagonal)      confusion matrix; off-       ``C <= DIAG_MAX_CLASSES``
                             diagonal cells straight to
                             global memory (few pixels)
2      ``3*C``               tp, pred, ref per class      class counts, larger ``C``
3      ``C*C``               tp, pred, ref per class      class counts, small ``C``
                             (reduced in shared memory)
=====  ====================  ===========================  ============================

Beyond those limits (``C > DIAG_MAX_CLASSES`` for the matrix, ``C > CLASS_MAX_CLASSES``
for class counts) the pure-CuPy reference path (``cupy.bincount`` of a joint index with
spare bins) counts instead; it is also the oracle of the tests.

Per sample (``per_sample=True``) the grid is two-dimensional: ``blockIdx.y`` walks the
samples (a loop when there are more than 65535), ``blockIdx.x`` splits one sample's pixels,
and each block clears, fills and merges its shared histogram once per sample it visits.

Pixel rules (identical in every path):

* a pixel whose reference equals ``ignore_index`` leaves every count; its prediction is
  not read. An ``ignore_index`` the reference's dtype cannot hold (300 or -1 for uint8)
  matches nothing.
* otherwise, a pixel whose reference or prediction lies outside ``[0, C)`` is *invalid*:
  it is counted in ``n_bad`` and in no cell. Labels are compared in their own dtype's
  value range (a uint64 label of ``2**64 - 1`` is out of range, never ``-1``).

Counts are int64 (viewed from the unsigned 64-bit atomics' buffer). A block's 32-bit
shared bins cannot overflow: the launch gives every block fewer than ``2**31`` pixels of a
sample.

References
----------
.. [1] N. Wilt, *The CUDA Handbook*, Addison-Wesley, 2013, ch. 12 (reduction and
   privatised shared-memory histograms); NVIDIA CUDA C++ Programming Guide, "Atomic
   Functions" and "Shared Memory".
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = [
    "confusion_counts_cupy",
    "class_counts_cupy",
    "confusion_counts_reference",
    "class_counts_reference",
    "kernel_mode",
    "FULL_MAX_CLASSES",
    "DIAG_MAX_CLASSES",
    "CLASS_MAX_CLASSES",
    "KERNEL_SOURCE",
]

# Shared memory a block may use without opting in: 48 KiB of 32-bit words, one of which
# is the invalid-pixel counter.
_SMEM_WORDS = 48 * 1024 // 4
FULL_MAX_CLASSES = math.isqrt(_SMEM_WORDS - 1)      # 110: C*C + 1 words fit
DIAG_MAX_CLASSES = _SMEM_WORDS - 1                   # 12287: C + 1 words fit
CLASS_MAX_CLASSES = (_SMEM_WORDS - 1) // 3           # 4095: 3*C + 1 words fit

_MAX_GRID_Y = 65535
# a block never sees this many pixels of one sample (32-bit shared bins)
_MAX_PIXELS_PER_BLOCK = 2**31

_TYPENAMES = {
    np.dtype(np.bool_): "bool",
    np.dtype(np.int8): "signed char",
    np.dtype(np.uint8): "unsigned char",
    np.dtype(np.int16): "short",
    np.dtype(np.uint16): "unsigned short",
    np.dtype(np.int32): "int",
    np.dtype(np.uint32): "unsigned int",
    np.dtype(np.int64): "long long",
    np.dtype(np.uint64): "unsigned long long",
}

KERNEL_SOURCE = r"""
// Labels are widened to a 64-bit type of their own signedness before the range test, so
// that every value of every integer dtype is compared exactly (no wrap into [0, C)).
template <typename T> struct rl_wide { typedef long long type; };
template <> struct rl_wide<unsigned char> { typedef unsigned long long type; };
template <> struct rl_wide<unsigned short> { typedef unsigned long long type; };
template <> struct rl_wide<unsigned int> { typedef unsigned long long type; };
template <> struct rl_wide<unsigned long long> { typedef unsigned long long type; };

// The class index of a widened label, or -1 outside [0, C).
__device__ __forceinline__ int rl_class(long long v, int C) {
    return (v >= 0 && v < (long long)C) ? (int)v : -1;
}
__device__ __forceinline__ int rl_class(unsigned long long v, int C) {
    return v < (unsigned long long)C ? (int)v : -1;
}

// MODE 0: C*C shared bins, confusion matrix out (n_samples, C, C)
// MODE 1: C shared bins (diagonal); off-diagonal cells go straight to global memory
// MODE 2: 3*C shared bins [tp | pred | ref], class counts out (n_samples, 3, C)
// MODE 3: C*C shared bins, reduced to class counts out (n_samples, 3, C) at the merge
// In every mode shared word `nb` counts invalid pixels, merged into *bad.
template <typename TT, typename TP, int MODE>
__global__ void rl_count(const TT* __restrict__ t, const TP* __restrict__ p,
                         const long long n_samples, const long long pixels, const int C,
                         const int has_ignore, const long long ignore,
                         unsigned long long* __restrict__ out,
                         unsigned long long* __restrict__ bad)
{
    extern __shared__ unsigned int rl_bins[];
    const int nb = (MODE == 1) ? C : ((MODE == 2) ? 3 * C : C * C);
    const long long out_stride = (MODE == 2 || MODE == 3) ? 3LL * C : (long long)C * C;
    const TT ig = (TT)ignore;
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long s = blockIdx.y; s < n_samples; s += gridDim.y) {
        for (int k = threadIdx.x; k <= nb; k += blockDim.x) rl_bins[k] = 0u;
        __syncthreads();
        const TT* ts = t + s * pixels;
        const TP* ps = p + s * pixels;
        unsigned long long* os = out + s * out_stride;
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < pixels;
             i += step) {
            const TT a = ts[i];
            if (has_ignore && a == ig) continue;   // the prediction is not read
            const int r = rl_class((typename rl_wide<TT>::type)a, C);
            const int c = rl_class((typename rl_wide<TP>::type)ps[i], C);
            if (r < 0 || c < 0) {
                atomicAdd(&rl_bins[nb], 1u);
            } else if (MODE == 0 || MODE == 3) {
                atomicAdd(&rl_bins[r * C + c], 1u);
            } else if (MODE == 1) {
                if (r == c) atomicAdd(&rl_bins[r], 1u);
                else atomicAdd(&os[(long long)r * C + c], 1ULL);
            } else {
                if (r == c) atomicAdd(&rl_bins[r], 1u);
                atomicAdd(&rl_bins[C + c], 1u);
                atomicAdd(&rl_bins[2 * C + r], 1u);
            }
        }
        __syncthreads();
        if (MODE == 3) {
            for (int k = threadIdx.x; k < C; k += blockDim.x) {
                unsigned long long pred = 0ULL, ref = 0ULL;
                for (int j = 0; j < C; ++j) {
                    ref += rl_bins[k * C + j];
                    pred += rl_bins[j * C + k];
                }
                const unsigned int tp = rl_bins[k * C + k];
                if (tp) atomicAdd(&os[k], (unsigned long long)tp);
                if (pred) atomicAdd(&os[C + k], pred);
                if (ref) atomicAdd(&os[2 * C + k], ref);
            }
        } else {
            for (int k = threadIdx.x; k < nb; k += blockDim.x) {
                const unsigned int v = rl_bins[k];
                if (v) atomicAdd(&os[(MODE == 1) ? (long long)k * (C + 1) : (long long)k],
                                 (unsigned long long)v);
            }
        }
        if (threadIdx.x == 0 && rl_bins[nb]) atomicAdd(bad, (unsigned long long)rl_bins[nb]);
        __syncthreads();
    }
}
"""

_KERNELS: dict = {}
_DEVICE_SMS: dict = {}


# --------------------------------------------------------------------------- helpers


def _cupy():
    import cupy

    return cupy


def kernel_name(target_dtype, pred_dtype, mode: int) -> str:
    """The template instantiation counting ``target_dtype`` references against
    ``pred_dtype`` predictions in ``mode`` (a name expression for NVRTC)."""
    return (f"rl_count<{_TYPENAMES[np.dtype(target_dtype)]}, "
            f"{_TYPENAMES[np.dtype(pred_dtype)]}, {int(mode)}>")


def _kernel(target_dtype, pred_dtype, mode: int):
    """The compiled kernel, built on first use per (dtypes, mode, device) and cached
    (CuPy also caches the binary on disk)."""
    cupy = _cupy()
    key = (np.dtype(target_dtype), np.dtype(pred_dtype), int(mode), cupy.cuda.Device().id)
    kernel = _KERNELS.get(key)
    if kernel is None:
        name = kernel_name(target_dtype, pred_dtype, mode)
        module = cupy.RawModule(code=KERNEL_SOURCE, name_expressions=(name,))
        kernel = module.get_function(name)
        _KERNELS[key] = kernel
    return kernel


def sm_count() -> int:
    """The current device's multiprocessor count (cached per device): the launch shapes
    of every CuPy kernel of the package size their grids from it."""
    cupy = _cupy()
    dev = cupy.cuda.Device().id
    sms = _DEVICE_SMS.get(dev)
    if sms is None:
        sms = int(cupy.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"])
        _DEVICE_SMS[dev] = sms
    return sms


def check_threads(threads) -> int:
    """A launch's threads per block, an integer in [1, 1024] (CUDA's limit)."""
    if isinstance(threads, bool):
        raise TypeError(f"threads must be an integer, got {threads!r}")
    value = operator.index(threads)
    if not 1 <= value <= 1024:
        raise ValueError(f"threads must be in [1, 1024] (CUDA's block limit), got {value}")
    return value


def kernel_thread_limit(kernel) -> int:
    """The most threads per block a compiled kernel can launch with (its registers), 1024
    where the kernel object does not say (CuPy 14: a method; earlier: an attribute)."""
    limit = getattr(kernel, "max_threads_per_block", None)
    limit = limit() if callable(limit) else limit
    return int(limit) if limit else 1024


def kernel_mode(num_classes: int, *, class_counts: bool) -> int | None:
    """The kernel mode for ``num_classes`` classes, or None when the reference path
    counts (more classes than shared memory holds)."""
    if class_counts:
        if num_classes <= FULL_MAX_CLASSES:
            return 3
        return 2 if num_classes <= CLASS_MAX_CLASSES else None
    if num_classes <= FULL_MAX_CLASSES:
        return 0
    return 1 if num_classes <= DIAG_MAX_CLASSES else None


def launch_shape(n_samples: int, pixels: int, *, smem_bytes: int, sms: int,
                 threads: int | None = None, blocks: int | None = None):
    """``(grid, block)`` of a counting launch.

    ``blocks`` (default: as many as fit on the device at once, ``sms`` multiprocessors of
    2048 threads and 228 KiB shared memory each) is split between samples (grid y, at most
    65535) and pixels of a sample (grid x); every block gets fewer than ``2**31`` pixels
    of a sample, so its 32-bit shared bins cannot overflow.
    """
    threads = 512 if threads is None else check_threads(threads)
    if blocks is None:
        per_sm = max(1, min(2048 // threads, (228 * 1024) // max(smem_bytes, 1)))
        blocks = sms * per_sm
    gy = max(1, min(n_samples, _MAX_GRID_Y))
    gx = max(1, min(-(-blocks // gy), -(-pixels // threads)))
    gx = max(gx, -(-pixels // _MAX_PIXELS_PER_BLOCK))
    return (gx, gy), (threads,)


def _reachable_ignore(dtype, ignore_index):
    """``(has_ignore, bits)``: whether ``ignore_index`` can equal a value of ``dtype``,
    and that value as a signed 64-bit pattern (the kernel casts it back to ``dtype``)."""
    if ignore_index is None:
        return 0, 0
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        lo, hi = 0, 1
    else:
        info = np.iinfo(dtype)
        lo, hi = int(info.min), int(info.max)
    if not lo <= ignore_index <= hi:
        return 0, 0
    return 1, (ignore_index - 2**64 if ignore_index >= 2**63 else ignore_index)


def _check(pred, target, num_classes, ignore_index, per_sample):
    """Validate the static metadata; returns ``(pred, target, C, ignore_index)`` with the
    maps C-contiguous."""
    cupy = _cupy()
    for name, a in (("pred", pred), ("target", target)):
        if not isinstance(a, cupy.ndarray):
            raise TypeError(f"{name} must be a CuPy array, got {type(a).__name__}")
        if np.dtype(a.dtype) not in _TYPENAMES:
            raise TypeError(f"{name} must be an integer or bool label map, got dtype {a.dtype}")
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"pred and target must have the same shape, got pred "
                         f"{tuple(pred.shape)} and target {tuple(target.shape)}")
    if isinstance(num_classes, bool):
        raise TypeError(f"num_classes must be an integer, got {num_classes!r}")
    C = operator.index(num_classes)
    if C < 1:
        raise ValueError(f"num_classes must be >= 1, got {C}")
    if ignore_index is not None:
        if isinstance(ignore_index, bool):
            raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
        ignore_index = operator.index(ignore_index)
    if per_sample and pred.ndim < 1:
        raise ValueError("per_sample=True needs a sample axis 0; got a 0-d label map")
    return cupy.ascontiguousarray(pred), cupy.ascontiguousarray(target), C, ignore_index


def _run(pred, target, C, ignore_index, per_sample, mode, *, threads=None, blocks=None):
    """Launch the kernel in ``mode``; returns ``(out, n_bad)``, out of shape
    ``(n_samples, cells)`` int64."""
    cupy = _cupy()
    n_samples = pred.shape[0] if per_sample else 1
    pixels = pred.size // n_samples if n_samples else 0
    cells = 3 * C if mode in (2, 3) else C * C
    buf = cupy.zeros(n_samples * cells + 1, dtype=cupy.uint64)
    if pixels and n_samples:
        nb = C if mode == 1 else (3 * C if mode == 2 else C * C)
        smem = 4 * (nb + 1)
        grid, block = launch_shape(n_samples, pixels, smem_bytes=smem, sms=sm_count(),
                                   threads=threads, blocks=blocks)
        has_ignore, bits = _reachable_ignore(target.dtype, ignore_index)
        kernel = _kernel(target.dtype, pred.dtype, mode)
        limit = kernel_thread_limit(kernel)
        if block[0] > limit:          # more threads than the compiled kernel's registers allow
            grid, block = launch_shape(n_samples, pixels, smem_bytes=smem, sms=sm_count(),
                                       threads=limit, blocks=blocks)
        kernel(grid, block,
               (target, pred, np.int64(n_samples), np.int64(pixels), np.int32(C),
                np.int32(has_ignore), np.int64(bits), buf, buf[n_samples * cells:]),
               shared_mem=smem)
    out = buf[:n_samples * cells].view(cupy.int64).reshape(n_samples, cells)
    n_bad = buf[n_samples * cells:].view(cupy.int64).reshape(())
    return out, n_bad


# --------------------------------------------------------------------------- public


def confusion_counts_cupy(pred, target, *, num_classes, ignore_index=None, per_sample=False,
                          threads=None, blocks=None):
    """Confusion counts of two CuPy label maps (rows = reference, columns = prediction).

    .. math::
        M_{rc} = \\#\\{i : t_i = r,\\; p_i = c,\\; t_i \\ne \\text{ignore}\\}

    Parameters
    ----------
    pred, target : cupy.ndarray of one shape
        Predicted and reference label maps, any integer dtype or bool (the two may
        differ).
    num_classes : int
        ``C``; labels outside ``[0, C)`` are invalid.
    ignore_index : int or None
        Reference label whose pixels leave every count (their prediction is not read).
        Any Python int; one the reference's dtype cannot hold matches nothing.
    per_sample : bool
        Count each sample (axis 0) apart.
    threads, blocks : int or None
        Launch shape (threads per block, total blocks); default: 512 threads and as many
        blocks as the device runs at once. For benchmarks.

    Returns
    -------
    counts : cupy.ndarray, int64, (C, C) or (N, C, C)
    n_bad : cupy.ndarray, int64, 0-d
        Pixels whose reference is not ``ignore_index`` and whose reference or prediction
        lies outside ``[0, C)``; they are in no count.

    Notes
    -----
    No value is read back to the host. ``C <= FULL_MAX_CLASSES`` (110) counts the whole
    matrix in shared memory; up to ``DIAG_MAX_CLASSES`` only the diagonal is privatised
    (off-diagonal pixels, the disagreements, go to global memory); beyond, the reference
    path (:func:`confusion_counts_reference`) counts.
    """
    pred, target, C, ignore_index = _check(pred, target, num_classes, ignore_index,
                                           per_sample)
    mode = kernel_mode(C, class_counts=False)
    if mode is None:
        return confusion_counts_reference(pred, target, num_classes=C,
                                          ignore_index=ignore_index, per_sample=per_sample)
    out, n_bad = _run(pred, target, C, ignore_index, per_sample, mode, threads=threads,
                      blocks=blocks)
    shape = (out.shape[0], C, C) if per_sample else (C, C)
    return out.reshape(shape), n_bad


def class_counts_cupy(pred, target, *, num_classes, ignore_index=None, per_sample=False,
                      threads=None, blocks=None):
    """One-vs-rest counts per class of two CuPy label maps.

    For each class ``c``, over the valid pixels (reference not ``ignore_index``, both
    labels in ``[0, C)``)::

        tp[c]         = #{t = c and p = c}      (the confusion matrix's diagonal)
        pred_count[c] = #{p = c}                (its column sums)
        ref_count[c]  = #{t = c}                (its row sums)

    so that ``fp = pred_count - tp``, ``fn = ref_count - tp`` and
    ``tn = valid - tp - fp - fn``.

    Parameters
    ----------
    pred, target, num_classes, ignore_index, per_sample, threads, blocks
        As in :func:`confusion_counts_cupy`.

    Returns
    -------
    tp, pred_count, ref_count : cupy.ndarray, int64, (C,) or (N, C)
    n_bad : cupy.ndarray, int64, 0-d

    Notes
    -----
    Up to ``FULL_MAX_CLASSES`` classes a block counts the full matrix in shared memory
    (one shared atomic per pixel) and reduces it to ``3*C`` numbers before the merge; up
    to ``CLASS_MAX_CLASSES`` it keeps ``3*C`` shared bins (three atomics per pixel);
    beyond, the reference path counts.
    """
    pred, target, C, ignore_index = _check(pred, target, num_classes, ignore_index,
                                           per_sample)
    mode = kernel_mode(C, class_counts=True)
    if mode is None:
        return class_counts_reference(pred, target, num_classes=C, ignore_index=ignore_index,
                                      per_sample=per_sample)
    out, n_bad = _run(pred, target, C, ignore_index, per_sample, mode, threads=threads,
                      blocks=blocks)
    out = out.reshape(out.shape[0], 3, C)
    if not per_sample:
        out = out[0]
    return out[..., 0, :], out[..., 1, :], out[..., 2, :], n_bad


# --------------------------------------------------------------------------- reference


def _codes(cupy, x, C):
    """Class index of every label as int64, -1 outside ``[0, C)``: the range test runs in
    the label's own dtype, before any cast (a uint64 label of ``2**64 - 1`` stays out of
    range)."""
    if x.dtype == cupy.bool_:
        x = x.view(cupy.uint8)
    info = np.iinfo(x.dtype)
    ok = (x >= x.dtype.type(0)) if info.min < 0 else cupy.ones(x.shape, dtype=cupy.bool_)
    if C <= info.max:
        ok = ok & (x < x.dtype.type(C))
    return cupy.where(ok, x.astype(cupy.int64), -1)


def _scored(cupy, target, ignore_index):
    """Pixels whose reference is not ``ignore_index`` (compared in the reference's dtype)."""
    has, _ = _reachable_ignore(target.dtype, ignore_index)
    if not has:
        return cupy.ones(target.shape, dtype=cupy.bool_)
    return target != target.dtype.type(ignore_index)


def _reference_codes(pred, target, num_classes, ignore_index, per_sample):
    cupy = _cupy()
    pred, target, C, ignore_index = _check(pred, target, num_classes, ignore_index,
                                           per_sample)
    tc, pc = _codes(cupy, target, C), _codes(cupy, pred, C)
    scored = _scored(cupy, target, ignore_index)
    valid = scored & (tc >= 0) & (pc >= 0)
    n_bad = cupy.count_nonzero(scored & ~valid).astype(cupy.int64).reshape(())
    n = pred.shape[0] if per_sample else 1
    sample = cupy.zeros(pred.shape, dtype=cupy.int64)
    if per_sample and pred.ndim:
        sample = sample + cupy.arange(n, dtype=cupy.int64).reshape((n,) + (1,) * (pred.ndim - 1))
    return cupy, C, n, tc, pc, valid, sample, n_bad


def confusion_counts_reference(pred, target, *, num_classes, ignore_index=None,
                               per_sample=False):
    """:func:`confusion_counts_cupy` by ``cupy.bincount`` of the joint index
    ``(sample * C + target) * C + pred``, invalid and ignored pixels sent to a spare bin.

    The test oracle of the kernel, and the path for more classes than it holds.
    """
    cupy, C, n, tc, pc, valid, sample, n_bad = _reference_codes(
        pred, target, num_classes, ignore_index, per_sample)
    cells = n * C * C
    joint = cupy.where(valid, (sample * C + tc) * C + pc, cells)
    counts = cupy.bincount(joint.reshape(-1), minlength=cells + 1)[:cells]
    shape = (n, C, C) if per_sample else (C, C)
    return counts.astype(cupy.int64).reshape(shape), n_bad


def class_counts_reference(pred, target, *, num_classes, ignore_index=None, per_sample=False):
    """:func:`class_counts_cupy` by three ``cupy.bincount`` calls (no ``C x C`` matrix)."""
    cupy, C, n, tc, pc, valid, sample, n_bad = _reference_codes(
        pred, target, num_classes, ignore_index, per_sample)
    cells = n * C
    spare = cupy.asarray(cells, dtype=cupy.int64)

    def count(keep, code):
        idx = cupy.where(keep, sample * C + code, spare)
        c = cupy.bincount(idx.reshape(-1), minlength=cells + 1)[:cells].astype(cupy.int64)
        return c.reshape((n, C) if per_sample else (C,))

    return (count(valid & (tc == pc), tc), count(valid, pc), count(valid, tc), n_bad)
