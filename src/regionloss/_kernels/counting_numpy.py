"""NumPy counting kernels: confusion counts of NumPy label maps, block by block.

Two exact ways to count, chosen per block of ``2**18`` pixels (see
:func:`regionloss._kernels.counting.confusion_counts` for the contract):

* *sparse*: only the pixels where prediction and reference differ are bincounted, and the
  diagonal comes from the reference's class sizes (vectorised ``count_nonzero``), because a
  bincount over mostly-agreeing masks is slow (every pixel increments one of a few
  counters, each increment waiting on the previous one);
* *joint*: blocks with many or scattered disagreeing pixels, or with out-of-range labels,
  get the joint-index bincount (for one-byte labels through a 256-entry lookup table that
  maps a reference byte to its row, ignored or bad bin in one gather). Small maps (or
  samples, with ``per_sample``) skip the blocks for one joint bincount, whose single call
  costs less there.

``benchmarks/bench_metrics.py`` ("numpy kernels") shows why each exists and where the
thresholds come from; ``tests/kernels/test_counting.py`` checks them against the generic
paths and an ``np.add.at`` reference.
"""

from __future__ import annotations

import numpy as np

__all__ = ["numpy_counts"]

_INT32_MAX = 2**31 - 1

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
    return a if a.dtype.kind in "ub" else a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _np_narrow(a):
    """``a`` as uint8 / uint16 when its values fit (same values, cheaper passes), else ``a``."""
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
    if a.dtype.kind != "i" or np.iinfo(a.dtype).max >= num_classes - 1:
        return a
    return a.astype(np.int32 if num_classes - 1 <= _INT32_MAX else np.int64)


def numpy_counts(pred, target, num_classes, ignore_index, per_sample, kernel="auto"):
    """Confusion counts of NumPy label maps: ``(counts, n_bad)``, int64 counts.

    ``kernel="auto"`` takes the sparse (disagreement-only) kernel, per sample when
    ``per_sample``, unless the maps (or samples) have fewer than
    ``min(_NP_SPARSE_MIN_PIXELS * (C + 3), 65536)`` pixels, where the joint path's single
    call wins over the sparse kernel's per-call, per-class overhead; inside the sparse
    kernel each block may still go to the joint path (see :func:`_numpy_sparse_block`).
    """
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
