"""The counting kernel: confusion matrices from integer label maps.

Every pixel (voxel) of a pair of integer label maps falls into one cell of a confusion
matrix: row = reference (``target``) class, column = predicted class. This module is one of
the two places in regionloss that may branch on the backend (:mod:`regionloss._backend`
is the other), because counting is where the backends differ most in speed:

* **native path** (NumPy, CuPy, JAX, PyTorch): one joint index per pixel,
  ``target * C + pred`` (plus ``sample * C * C`` when counting per sample), is histogrammed
  by the backend's own ``bincount`` (JAX: ``jnp.bincount`` with a static ``length``, so it
  runs under ``jit``). Ignored pixels are sent to a spare bin, and pixels holding a label
  outside ``[0, C)`` to a second spare bin; the spare bins are cut off afterwards, and the
  second one tells, at no extra pass over the data, whether the input was valid.
* **NumPy kernels** (NumPy's ``method="auto"``), block by block of ``2**18`` pixels:
  *sparse*: only the pixels where prediction and reference differ are bincounted, and the
  diagonal comes from the reference's class sizes (vectorised ``count_nonzero``), because a
  bincount over mostly-agreeing masks is slow (every pixel increments one of a few
  counters, each increment waiting on the previous one); *joint*: blocks with many or
  scattered disagreeing pixels, or with out-of-range labels, get the joint-index bincount
  (for one-byte labels through a 256-entry lookup table that maps a reference byte to its
  row, ignored or bad bin in one gather). Small maps (or samples, with ``per_sample``) skip
  the blocks for one joint bincount, whose single call costs less there.
* **standard path** (everything else: array-api-strict, Dask, ...): comparisons against
  ``arange(C)`` and ``count_nonzero``, one Python iteration per *reference class* (never
  per pixel), so its memory stays at one ``(pixels, C)`` boolean block at a time.

On concrete input all paths give identical counts and drops (``validate=False``) and raise
on the same inputs (``tests/test_counting.py``: hypothesis, all paths against each other and
against an ``np.add.at`` reference, every integer dtype, int8 with up to 300 classes, labels
of 2**63 and above); ``benchmarks/bench_metrics.py`` shows why each fast one exists and
where ``auto``'s thresholds come from. Before any kernel: an ``ignore_index`` the reference's
dtype cannot hold is dropped (it can never match; messages still name it), uint64 maps become
int64 without letting a label of 2**63 or more wrap into range or onto ``ignore_index``
(:func:`_uint64_as_int64`), and on NumPy a signed map whose dtype cannot hold ``C - 1`` is
widened (:func:`_np_unsigned`'s invariant).

Counts are exact integers: int64 wherever the backend has it (NumPy, CuPy, PyTorch,
array-api-strict, Dask, and JAX with ``jax_enable_x64``). JAX without x64 has no 64-bit
integers, so its counts are int32 and wrap past 2**31 - 1 (2.1e9) pixels in one cell: count
per batch (a batch is far below that) and accumulate the batches' counts in a float64 or
int64 NumPy array on the host, or enable x64 (see ``docs/metrics.md``).
"""

from __future__ import annotations

import operator

import array_api_compat as aac

from ._backend import is_concrete
from ._labels import check_label_range

__all__ = [
    "confusion_counts",
    "check_labels",
    "count_dtype",
    "count_float_dtype",
    "state_device",
    "METHODS",
]

METHODS = ("auto", "native", "standard", "joint", "sparse")

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


# --------------------------------------------------------------------------- dtypes


def _jax_x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def count_dtype(xp):
    """The integer dtype counts come back in: int64, or int32 on JAX without x64."""
    if aac.is_jax_namespace(xp) and not _jax_x64():
        return xp.int32
    return xp.int64


def count_float_dtype(xp):
    """The floating dtype counts are converted to before any formula.

    float64 wherever the namespace has it, so dataset-scale counts (up to 2**53) stay exact;
    float32 on JAX without x64 (exact up to 2**24 per count; relative error ~6e-8 beyond).
    """
    if aac.is_jax_namespace(xp) and not _jax_x64():
        return xp.float32
    return xp.float64


def state_device(like):
    """The device for new count/state arrays made to go with the array ``like``.

    ``like``'s device, except for a JAX array sharded over several devices (its sharding
    splits axis 0, which would not fit a (C, C) state): None there, i.e. JAX's default
    placement, which ``jit`` replicates or moves as needed.
    """
    device = aac.device(like)
    if aac.is_jax_array(like) and not hasattr(device, "platform"):
        # a Sharding rather than a single Device
        devices = getattr(device, "device_set", None)
        if devices is not None and len(devices) == 1:
            return next(iter(devices))
        return None
    return device


# --------------------------------------------------------------------------- checks


def _check_int(value, name, *, minimum=None):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a Python integer, got {type(value).__name__} {value!r}"
        ) from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_labels(xp, pred, target, *, num_classes, ignore_index, per_sample):
    """Validate the static metadata (dtypes, shapes, options) of a pair of label maps.

    Returns ``(num_classes, ignore_index)`` as plain Python integers. Never looks at values.
    """
    num_classes = _check_int(num_classes, "num_classes", minimum=1)
    if ignore_index is not None:
        ignore_index = _check_int(ignore_index, "ignore_index")
    for name, arr in (("pred", pred), ("target", target)):
        if not (xp.isdtype(arr.dtype, "integral") or xp.isdtype(arr.dtype, "bool")):
            raise TypeError(
                f"{name} must be an integer label map, got dtype {arr.dtype}; turn scores "
                "into labels first with regionloss.to_labels(scores, class_axis=...) "
                "(argmax over classes) or to_labels(probs, class_axis=None, threshold=0.5)"
            )
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"pred and target must have the same shape, got pred {tuple(pred.shape)} and "
            f"target {tuple(target.shape)} (integer label maps, no class axis)"
        )
    if per_sample and pred.ndim < 2:
        raise ValueError(
            "per_sample=True needs label maps with a sample axis first, (N, ...) with at "
            f"least 2 dimensions, got shape {tuple(pred.shape)}"
        )
    return num_classes, ignore_index


def _raise_bad_labels(xp, pred, target, num_classes, ignore_index):
    """Raise a ValueError naming the offending labels (called only on concrete arrays,
    once a kernel has counted some): the shared check and wording of
    :func:`regionloss._labels.check_label_range`."""
    check_label_range(pred, target, num_classes=num_classes, ignore_index=ignore_index)
    # The kernel counted pixels that the check excuses: cannot happen (both apply the same
    # rule), but never return silently from here.
    raise ValueError(  # pragma: no cover
        f"label values out of range: labels outside [0, num_classes={num_classes}) "
        f"(ignore_index={ignore_index})")


def _reachable_ignore(xp, dtype, ignore_index):
    """``ignore_index``, or None when no value of the integer (or bool) ``dtype`` can
    equal it: such an ``ignore_index`` can never match, and comparing an array with a
    Python int its dtype cannot hold is an error in some namespaces (JAX, array-api-strict).
    """
    if ignore_index is None:
        return None
    if xp.isdtype(dtype, "bool"):
        lo, hi = 0, 1
    else:
        info = xp.iinfo(dtype)
        lo, hi = int(info.min), int(info.max)
    return ignore_index if lo <= ignore_index <= hi else None


def _uint64_as_int64(xp, x, ignore_index=None):
    """A uint64 label map as int64, and the ``ignore_index`` to compare it with.

    A label above ``2**63 - 1`` must stay out of range (never wrap to -1 and match an
    ``ignore_index`` of -1, never become a class) and an ``ignore_index`` in
    ``[2**63, 2**64)`` must still match exactly the pixels holding it (``ignore_index`` is
    already None when out of uint64's range, :func:`_reachable_ignore`):

    * NumPy: viewed as int64 (no copy; two's complement is a bijection), huge labels
      become negative, hence out of range; ``ignore_index`` is shifted by ``-2**64`` alike.
    * PyTorch (no ``>`` for uint64): cast to int64, which PyTorch defines as two's
      complement; same shift.
    * elsewhere: saturated, ``where(x > 2**63 - 1, 2**63 - 1, x)`` before the cast (a
      huge label stays huge); when ``ignore_index`` is itself above ``2**63 - 1``, the
      pixels equal to it are set to -1 first (a uint64 map holds no negative label) and
      ``ignore_index`` becomes -1.
    """
    big = ignore_index is not None and ignore_index > _INT64_MAX
    if aac.is_numpy_array(x):
        import numpy as np

        return x.view(np.int64), (ignore_index - 2**64 if big else ignore_index)
    if aac.is_torch_array(x):
        return xp.astype(x, xp.int64), (ignore_index - 2**64 if big else ignore_index)
    dev = aac.device(x)
    top = xp.asarray(_INT64_MAX, dtype=x.dtype, device=dev)
    wide = xp.astype(xp.where(x > top, top, x), xp.int64)
    if big:
        # (the Python int as an array of x's dtype: JAX parses a bare one as int64)
        wide = xp.where(x == xp.asarray(ignore_index, dtype=x.dtype, device=dev),
                        xp.asarray(-1, dtype=xp.int64, device=dev), wide)
        ignore_index = -1
    return wide, ignore_index


# --------------------------------------------------------------------------- kernels


def _native_bincount(xp):
    """The backend's bincount as ``f(flat_index, length)``, or None if it has none."""
    if aac.is_numpy_namespace(xp):
        import numpy as np

        return lambda idx, length: np.bincount(idx, minlength=length)
    if aac.is_cupy_namespace(xp):
        import cupy

        return lambda idx, length: cupy.bincount(idx, minlength=length)
    if aac.is_jax_namespace(xp):
        import jax.numpy as jnp

        return lambda idx, length: jnp.bincount(idx, length=length)
    if aac.is_torch_namespace(xp):
        import torch

        return lambda idx, length: torch.bincount(idx, minlength=length)
    return None


def _index_dtype(xp, label_dtype, needed):
    """int32 when the labels are narrow and the bins fit, else int64 (when available)."""
    wide = count_dtype(xp)
    if label_dtype == xp.int64 or label_dtype == xp.uint64 or needed > _INT32_MAX // 2:
        return wide
    return xp.int32


def _native_counts(xp, bincount, pred, target, num_classes, ignore_index, per_sample):
    """Confusion counts by one bincount over the joint index (spare bins: ignored, bad)."""
    C = num_classes
    n_samples = pred.shape[0] if per_sample else 1
    cells = n_samples * C * C
    ignored_bin, bad_bin = cells, cells + 1
    # The joint index must not wrap: narrow (uint8, int16, ...) labels are widened first.
    idx_dtype = _index_dtype(xp, target.dtype, max(cells + 2, 256 * C + 256))
    t = target if target.dtype == idx_dtype else xp.astype(target, idx_dtype)
    p = pred if pred.dtype == idx_dtype else xp.astype(pred, idx_dtype)

    valid = (t >= 0) & (t < C) & (p >= 0) & (p < C)
    joint = t * C + p
    if per_sample:
        shape = (n_samples,) + (1,) * (t.ndim - 1)
        offset = xp.reshape(xp.arange(0, cells, C * C, dtype=idx_dtype,
                                      device=aac.device(t)), shape)
        joint = joint + offset
    joint = xp.where(valid, joint, xp.asarray(bad_bin, dtype=idx_dtype, device=aac.device(t)))
    if ignore_index is not None:
        joint = xp.where(t == ignore_index,
                         xp.asarray(ignored_bin, dtype=idx_dtype, device=aac.device(t)), joint)
    counts = bincount(xp.reshape(joint, (-1,)), cells + 2)
    n_bad = counts[bad_bin]
    counts = counts[:cells]
    want = count_dtype(xp)
    if counts.dtype != want:
        counts = xp.astype(counts, want)
    shape = (n_samples, C, C) if per_sample else (C, C)
    return xp.reshape(counts, shape), n_bad


# ---- NumPy kernels. Two exact ways to count, chosen per block of pixels:
#
# * "joint": one bincount over the joint index ``target * C + pred`` built directly in intp
#   (np.bincount converts anything else to intp first: an extra pass), spare bins written in
#   place, range masks only when a max() says a label is out of range.
# * "sparse": segmentation masks mostly agree, so only the pixels where prediction and
#   reference differ are bincounted; the diagonal comes from the reference's class sizes
#   (one vectorised count_nonzero per class, or a bincount for many classes). A bincount
#   over mostly-agreeing pixels hammers a few counters (each increment waits for the
#   previous one), which is why the joint path is slow on real masks.
#
# The thresholds below were set by timing both kernels, interleaved, on realistic masks
# (ellipses erring at their borders) and on random labels / scattered errors, 2-19 classes,
# uint8 and int64, one image to 16 x 512 x 512, on a 2-core x86-64 machine (numpy 2.4);
# benchmarks/bench_metrics.py ("numpy kernels" section) reproduces the main cases.

_NP_BLOCK = 1 << 18              # pixels per block (one 512 x 512 image): temporaries stay in L2
_NP_SPARSE_MAX_DIFFER = 0.25     # a block whose pixels disagree more often goes to "joint",
_NP_SPARSE_CHECK_SWITCHES = 0.05  # and, past 5 % disagreeing pixels, a block whose
_NP_SPARSE_MAX_SWITCHES = 0.08    # disagreement switches on/off at more than 8 % of pixels
_NP_COUNT_MAX_CLASSES = 24       # diagonal by per-class count_nonzero up to this C
_NP_SPARSE_MIN_PIXELS = 2048     # x (C + 3), at most 65536: fewer pixels (per sample
                                 # with per_sample=True) go to "joint" (call overhead)


def _np_unsigned(a):
    """``a`` viewed as the unsigned type of its width (negative labels become huge).

    Invariant (kept by :func:`_numpy_counts`, which widens signed maps first): a signed
    ``a``'s dtype holds ``C - 1``, so a negative label ``-x`` reads as ``2**bits - x >=
    2**(bits - 1) > iinfo.max >= C - 1``, i.e. out of range, never as a class. (An int8
    map with ``C > 128`` would break it: ``-100`` would read as class 156.)
    """
    import numpy as np

    return a if a.dtype.kind in "ub" else a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _np_narrow(a):
    """``a`` as uint8 / uint16 when its values fit (same values, cheaper passes), else ``a``."""
    import numpy as np

    if a.dtype.itemsize == 1 or a.size == 0:
        return a
    top = _np_unsigned(a).max()
    if top < 256:
        return a.astype(np.uint8)
    if a.dtype.itemsize > 2 and top < 65536:
        return a.astype(np.uint16)
    return a


def _numpy_joint_counts(pred, target, num_classes, ignore_index, per_sample):
    """NumPy joint-index bincount: same bins and result as :func:`_native_counts`.

    Returns ``(counts, n_bad)``; ``counts`` is int64 ``(C, C)`` or ``(N, C, C)``.
    """
    import numpy as np

    C = num_classes
    n_samples = pred.shape[0] if per_sample else 1
    cells = n_samples * C * C
    ignored_bin, bad_bin = cells, cells + 1
    shape = (n_samples, C, C) if per_sample else (C, C)
    if target.size == 0:
        return np.zeros(shape, np.int64), 0
    if target.ndim == 0:  # ufuncs return scalars for 0-d input
        target, pred = target.reshape(1), pred.reshape(1)
    # The joint index in intp from the start: no intermediate copies, no cast inside
    # bincount. Huge labels may wrap here; they all go to the bad bin below.
    joint = np.multiply(target, C, dtype=np.intp, casting="unsafe")
    np.add(joint, pred, out=joint, casting="unsafe")
    if per_sample:
        joint += np.arange(0, cells, C * C, dtype=np.intp).reshape(
            (n_samples,) + (1,) * (target.ndim - 1))
    tu, pu = _np_unsigned(target), _np_unsigned(pred)
    t_out = bool(tu.max() >= C)   # one unsigned max per array: a negative label is huge
    p_out = bool(pu.max() >= C)
    if t_out or p_out:
        invalid = tu >= C if t_out else pu >= C
        if t_out and p_out:
            invalid |= pu >= C
        np.copyto(joint, bad_bin, where=invalid)
    if ignore_index is not None and (t_out or 0 <= ignore_index < C):
        # (an ignore_index outside [0, C) can only be present when the max said so)
        np.copyto(joint, ignored_bin, where=(target == ignore_index))
    counts = np.bincount(joint.reshape(-1), minlength=cells + 2)
    n_bad = int(counts[bad_bin])
    return counts[:cells].astype(np.int64, copy=False).reshape(shape), n_bad


def _numpy_byte_counts(pred, target, num_classes, ignore_index):
    """Pooled ``(C, C)`` counts of two one-byte label maps by a lookup table; ``(counts, n_bad)``.

    The joint path for blocks the sparse kernel declines. A 256-entry table maps each
    reference byte straight to its row offset ``t * C``, or to a spare range for
    ``ignore_index`` / out-of-range labels: one gather replaces the multiply, the range
    masks and the ignore mask of :func:`_numpy_joint_counts`. Bins::

        [0, C*C)                  valid pixels
        [C*C, C*C + C)            reference ignored (prediction in range)
        [C*C + C, C*C + 2C)       reference out of range
        C*C + 2C + row + col      prediction out of range: never valid; ignored when
                                  the row is the ignored range, else bad
    """
    import numpy as np

    C = num_classes
    cells = C * C
    t = _np_unsigned(target).reshape(-1)
    p = _np_unsigned(pred).reshape(-1)
    table = np.full(256, cells + C, dtype=np.intp)
    table[:min(C, 256)] = np.arange(min(C, 256), dtype=np.intp) * C
    if ignore_index is not None:
        # the byte ignore_index is stored as in this dtype (-1 is 255 in an int8 map)
        lo, hi = (-128, 128) if target.dtype.kind == "i" else (0, 256)
        if lo <= ignore_index < hi:
            table[ignore_index & 0xFF] = cells
    joint = table.take(t)
    if p.size and p.max() >= C:
        p_table = np.full(256, cells + 2 * C, dtype=np.intp)
        p_table[:min(C, 256)] = np.arange(min(C, 256), dtype=np.intp)
        joint += p_table.take(p)
        length = 2 * cells + 3 * C + 1
        counts = np.bincount(joint, minlength=length)
        n_ignored = int(counts[cells:cells + C].sum()) + int(counts[2 * cells + 2 * C])
    else:
        joint += p
        counts = np.bincount(joint, minlength=cells + 2 * C)
        n_ignored = int(counts[cells:cells + C].sum())
    valid = counts[:cells].astype(np.int64, copy=False)
    n_bad = t.size - int(valid.sum()) - n_ignored
    return valid.reshape(C, C), n_bad


def _numpy_sparse_block(t, p, num_classes, ignore_index):
    """Off-diagonal counts (C*C,) and class sizes (C,) of one flat block, or None.

    None when the block is better counted by the joint path (too many disagreeing
    pixels, or many scattered ones) or holds a label outside [0, C) (the joint path
    counts and reports those).
    """
    import numpy as np

    C = num_classes
    differ = t != p
    n_differ = np.count_nonzero(differ)
    if n_differ > _NP_SPARSE_MAX_DIFFER * t.size:
        return None
    if n_differ > _NP_SPARSE_CHECK_SWITCHES * t.size:
        # Scattered (noise-like) errors make the extraction below costly; real masks err
        # in runs along borders. Count where `differ` switches: cheap, on booleans.
        if np.count_nonzero(differ[1:] != differ[:-1]) > _NP_SPARSE_MAX_SWITCHES * t.size:
            return None
    idx = np.flatnonzero(differ)     # branch-free, unlike boolean-mask indexing
    td, pd = t.take(idx), p.take(idx)
    n_ignored = 0
    skip = None
    if ignore_index is not None:
        keep = td != ignore_index    # predictions at ignored pixels are never looked at
        td, pd = td[keep], pd[keep]
        n_ignored = np.count_nonzero(t == ignore_index)
        if 0 <= ignore_index < C:
            skip = ignore_index
    if td.size and (_np_unsigned(td).max() >= C or _np_unsigned(pd).max() >= C):
        return None
    if C <= _NP_COUNT_MAX_CLASSES:
        sizes = np.zeros(C, np.int64)
        counted = [c for c in range(C) if c != skip]
        if t.size and counted and _np_unsigned(t).max() < C:
            # every reference label is a class or the (in-range) ignore_index: the last
            # class size is what remains, one counting pass fewer (a max is ~4x cheaper)
            rest = counted.pop()
            for c in counted:
                sizes[c] = np.count_nonzero(t == c)
            sizes[rest] = t.size - n_ignored - int(sizes.sum())
        else:
            for c in counted:
                sizes[c] = np.count_nonzero(t == c)
    else:
        tu = _np_unsigned(t)
        if t.size and tu.max() >= max(C, 1 << 16):
            return None
        sizes = np.bincount(tu, minlength=C)[:C].astype(np.int64, copy=False)
        if skip is not None:
            sizes[skip] = 0
    if int(sizes.sum()) + int(n_ignored) != t.size:   # some reference label out of range
        return None
    joint = np.multiply(td, C, dtype=np.intp)
    joint += pd
    return np.bincount(joint, minlength=C * C), sizes


def _numpy_sparse_counts(pred, target, num_classes, ignore_index):
    """Pooled ``(C, C)`` counts of two label maps, block by block; ``(counts, n_bad)``.

    Each block is counted by :func:`_numpy_sparse_block`, or when that declines (many
    disagreeing pixels, or labels out of range) by the joint path: the byte lookup table of
    :func:`_numpy_byte_counts` for one-byte labels, else :func:`_numpy_joint_counts`. All
    are exact.
    """
    import numpy as np

    C = num_classes
    t, p = target.reshape(-1), pred.reshape(-1)
    off = sizes = dense = None   # made on first use: one block needs no accumulators
    n_bad = 0
    for start in range(0, t.size, _NP_BLOCK):
        # Narrow labels (int64 holding 0..255 -> uint8) make every later pass cheaper.
        tb = _np_narrow(t[start:start + _NP_BLOCK])
        pb = _np_narrow(p[start:start + _NP_BLOCK])
        part = _numpy_sparse_block(tb, pb, C, ignore_index)
        if part is None:
            if tb.dtype.itemsize == 1 and pb.dtype.itemsize == 1:
                counts, bad = _numpy_byte_counts(pb, tb, C, ignore_index)
            else:
                counts, bad = _numpy_joint_counts(pb, tb, C, ignore_index, False)
            dense = counts if dense is None else dense + counts
            n_bad += bad
        elif off is None:
            off, sizes = part[0].astype(np.int64, copy=False), part[1]
        else:
            off = off + part[0]
            sizes = sizes + part[1]
    if off is None:
        return (np.zeros((C, C), np.int64) if dense is None else dense), n_bad
    matrix = off.reshape(C, C)
    # The off-diagonal cells hold no agreeing pixel; the diagonal is the rest of each row.
    matrix[np.diag_indices(C)] = sizes - matrix.sum(axis=1)
    return (matrix if dense is None else matrix + dense), n_bad


def _np_widen_signed(a, num_classes):
    """``a``, widened to int32 (int64) when it is signed and its dtype cannot hold
    ``num_classes - 1`` (see :func:`_np_unsigned`)."""
    import numpy as np

    if a.dtype.kind != "i" or np.iinfo(a.dtype).max >= num_classes - 1:
        return a
    return a.astype(np.int32 if num_classes - 1 <= _INT32_MAX else np.int64)


def _numpy_counts(pred, target, num_classes, ignore_index, per_sample, kernel="auto"):
    """Confusion counts of NumPy label maps: ``(counts, n_bad)``, int64 counts.

    ``kernel="auto"`` takes the sparse (disagreement-only) kernel, per sample when
    ``per_sample``, unless the maps (or samples) have fewer than
    ``min(_NP_SPARSE_MIN_PIXELS * (C + 3), 65536)`` pixels, where the joint path's single
    call wins over the sparse kernel's per-call, per-class overhead; inside the sparse
    kernel each block may still go to the joint path (see :func:`_numpy_sparse_block`).
    """
    import numpy as np

    if pred.dtype == np.bool_:
        pred = pred.view(np.uint8)
    if target.dtype == np.bool_:
        target = target.view(np.uint8)
    C = num_classes
    # Keep _np_unsigned's invariant: a signed map whose dtype cannot hold C - 1 (int8 with
    # C > 128, int16 with C > 32768) is widened, so its negative labels stay huge unsigned.
    pred, target = _np_widen_signed(pred, C), _np_widen_signed(target, C)
    if per_sample:
        n = pred.shape[0]
        pixels = pred.size // n if n else 0
    else:
        pixels = pred.size
    small = pixels < min(_NP_SPARSE_MIN_PIXELS * (C + 3), 1 << 16)
    if kernel == "joint" or (kernel == "auto" and small):
        return _numpy_joint_counts(pred, target, C, ignore_index, per_sample)
    if not per_sample:
        return _numpy_sparse_counts(pred, target, C, ignore_index)
    out = np.zeros((n, C, C), np.int64)
    n_bad = 0
    for i in range(n):
        out[i], bad = _numpy_sparse_counts(pred[i], target[i], C, ignore_index)
        n_bad += bad
    return out, n_bad


def _standard_counts(xp, pred, target, num_classes, ignore_index, per_sample):
    """Confusion counts from comparisons only (any array-API namespace, no bincount).

    The joint index ``target * C + pred`` (-1 for ignored or invalid pixels) is compared
    with one block of ``C`` cells at a time, one Python iteration per *reference class*
    (never per pixel): memory stays at one ``(pixels, C)`` boolean block.
    """
    C = num_classes
    dev = aac.device(target)
    idx_dtype = count_dtype(xp)
    t = xp.astype(target, idx_dtype)
    p = xp.astype(pred, idx_dtype)
    in_range = (t >= 0) & (t < C) & (p >= 0) & (p < C)
    if ignore_index is not None:
        scored = t != ignore_index
        valid = in_range & scored
        n_bad = xp.count_nonzero(~in_range & scored)
    else:
        valid = in_range
        n_bad = xp.count_nonzero(~in_range)
    joint = xp.where(valid, t * C + p, xp.asarray(-1, dtype=idx_dtype, device=dev))
    joint = joint[..., None]
    axes = tuple(range(1 if per_sample else 0, pred.ndim))
    rows = []
    for c in range(C):  # a loop over reference classes, never over pixels
        cells = xp.arange(c * C, (c + 1) * C, dtype=idx_dtype, device=dev)
        hits = joint == cells
        rows.append(xp.count_nonzero(hits, axis=axes) if axes else
                    xp.astype(hits, idx_dtype))
    counts = xp.stack(rows, axis=-2)
    if counts.dtype != idx_dtype:
        counts = xp.astype(counts, idx_dtype)
    return counts, n_bad


def confusion_counts(pred, target, *, num_classes, ignore_index=None, per_sample=False,
                     validate=True, method="auto"):
    """Confusion counts of integer label maps (rows = reference, columns = prediction).

    Parameters
    ----------
    pred, target : integer arrays of one shape
        Predicted and reference label maps (bool is read as {0, 1}).
    num_classes : int
        ``C``; labels must lie in ``[0, C)``.
    ignore_index : int or None
        Pixels whose *reference* equals it leave every count (their prediction is not
        looked at). Any integer, inside or outside ``[0, C)``; one the reference's dtype
        cannot hold (300 or -1 for uint8, 2**40 for int32) matches no pixel.
    per_sample : bool
        Count each sample (axis 0) apart: shape ``(N, C, C)`` instead of ``(C, C)``.
    validate : bool
        On concrete arrays, raise ``ValueError`` for labels outside ``[0, C)`` (other than
        ``ignore_index`` in the reference). Costs no extra pass over the data on the native
        path (a spare bin is read; on CuPy that is one scalar device-to-host read). Under
        ``jax.jit`` and on Dask the check cannot run, and such pixels are dropped from
        every count.
    method : {"auto", "native", "standard", "joint", "sparse"}
        ``"auto"``: on NumPy, the NumPy kernels chosen by size and per block (see
        ``docs/metrics.md``); elsewhere the backend's bincount where it has one, else the
        standard path. ``"native"``: the generic bincount path; ``"standard"``: the
        comparison path; ``"joint"`` / ``"sparse"`` (NumPy only): one NumPy kernel forced
        (the sparse one still hands blocks it cannot count to the joint one). All give
        identical counts and raise on the same inputs (the message may differ only for
        PyTorch uint64 maps); the non-default ones exist for tests and benchmarks.

    Returns
    -------
    counts : integer array, (C, C) or (N, C, C)
        int64, or int32 on JAX without x64.
    """
    xp = aac.array_namespace(pred, target)
    num_classes, ignore_index = check_labels(
        xp, pred, target, num_classes=num_classes, ignore_index=ignore_index,
        per_sample=per_sample)
    # the caller's arrays and ignore_index, for the error message
    pred_in, target_in, ignore_in = pred, target, ignore_index
    # an ignore_index the reference's dtype cannot hold never matches: count without it
    ignore_index = _reachable_ignore(xp, target.dtype, ignore_index)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if xp.isdtype(pred.dtype, "bool") and not aac.is_numpy_array(pred):
        pred = xp.astype(pred, xp.int32)
    if xp.isdtype(target.dtype, "bool") and not aac.is_numpy_array(target):
        target = xp.astype(target, xp.int32)
    if aac.is_numpy_array(pred) and aac.is_numpy_array(target):
        # bool is viewed as uint8 by the NumPy kernels (no copy)
        if pred.dtype.kind == "b" and target.dtype.kind != "b":
            pred = pred.view("uint8")
        elif target.dtype.kind == "b" and pred.dtype.kind != "b":
            target = target.view("uint8")
    # uint64 first (no wrap of huge labels into range or onto ignore_index), after which
    # the common dtype of the two maps is an integer one (uint64 + int64 is float64 in
    # NumPy and JAX, an error in array-api-strict)
    if pred.dtype == xp.uint64:
        pred, _ = _uint64_as_int64(xp, pred)
    if target.dtype == xp.uint64:
        target, ignore_index = _uint64_as_int64(xp, target, ignore_index)
    if pred.dtype != target.dtype:
        common = xp.result_type(pred.dtype, target.dtype)
        if not xp.isdtype(common, "integral"):  # e.g. uint64 with int64 in NumPy
            common = xp.int64
        pred = xp.astype(pred, common)
        target = xp.astype(target, common)

    is_numpy = aac.is_numpy_namespace(xp)
    if method in ("joint", "sparse") and not is_numpy:
        raise ValueError(f"method={method!r} is a NumPy kernel; got {xp.__name__} arrays")
    bincount = _native_bincount(xp) if method != "standard" else None
    if method == "native" and bincount is None:
        raise ValueError(f"method='native': the namespace {xp.__name__} has no bincount")
    if is_numpy and method in ("auto", "joint", "sparse"):
        counts, n_bad = _numpy_counts(pred, target, num_classes, ignore_index, per_sample,
                                      kernel=method)
    elif bincount is not None:
        counts, n_bad = _native_counts(xp, bincount, pred, target, num_classes,
                                       ignore_index, per_sample)
    else:
        counts, n_bad = _standard_counts(xp, pred, target, num_classes, ignore_index,
                                         per_sample)
    if validate and is_concrete(pred) and is_concrete(target) and is_concrete(n_bad):
        if int(n_bad) != 0:
            _raise_bad_labels(xp, pred_in, target_in, num_classes, ignore_in)
    return counts

