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
* **standard path** (everything else: array-api-strict, Dask, ...): comparisons against
  ``arange(C)`` and ``count_nonzero``, one Python iteration per *reference class* (never
  per pixel), so its memory stays at one ``(pixels, C)`` boolean block at a time.

Both paths give identical counts (``tests/test_counting.py``); ``benchmarks/bench_metrics.py``
shows why the native one exists.

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

__all__ = [
    "confusion_counts",
    "check_labels",
    "count_dtype",
    "count_float_dtype",
    "state_device",
    "METHODS",
]

METHODS = ("auto", "native", "standard")

_INT32_MAX = 2**31 - 1


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


def _describe_bad(xp, arr, name, bad, num_classes, ignore_index):
    """Error text naming the first offending label in ``arr`` (concrete arrays only)."""
    flat_bad = xp.reshape(bad, (-1,))
    n_bad = int(xp.count_nonzero(flat_bad))
    if n_bad == 0:
        return None
    first = int(xp.argmax(xp.astype(flat_bad, xp.int8)))
    value = int(xp.reshape(arr, (-1,))[first])
    position = []
    rest = first
    for size in reversed(tuple(arr.shape)):
        position.append(rest % size)
        rest //= size
    position = tuple(reversed(position))
    ignore = "" if ignore_index is None else f" and is not ignore_index={ignore_index}"
    return (
        f"{name} holds label {value} at index {position} ({n_bad} such pixel(s)), "
        f"outside [0, num_classes={num_classes}){ignore}"
    )


def _raise_bad_labels(xp, pred, target, num_classes, ignore_index):
    """Raise a ValueError naming the offending labels (called only on concrete arrays)."""
    ignored = (target == ignore_index) if ignore_index is not None else None
    bad_t = (target < 0) | (target >= num_classes)
    if ignored is not None:
        bad_t = bad_t & ~ignored
    msgs = [_describe_bad(xp, target, "target", bad_t, num_classes, ignore_index)]
    bad_p = (pred < 0) | (pred >= num_classes)
    if ignored is not None:
        bad_p = bad_p & ~ignored
    msg_p = _describe_bad(xp, pred, "pred", bad_p, num_classes, None)
    if msg_p is not None:
        msg_p += (" where the reference is not ignored (a prediction must name a class "
                  "wherever the reference is scored)")
    msgs.append(msg_p)
    text = "; ".join(m for m in msgs if m is not None)
    raise ValueError(f"label values out of range: {text}")


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


def _numpy_counts(pred, target, num_classes, ignore_index, per_sample):
    """The NumPy specialisation of :func:`_native_counts` (same bins, same result).

    NumPy-only tricks that save whole passes over the data (measured in
    ``benchmarks/bench_metrics.py``, "generic bincount path" row): the range check is one
    unsigned comparison per array (a negative label viewed as unsigned is huge), and the
    spare bins are written in place into the freshly made joint index.
    """
    import numpy as np

    C = num_classes
    n_samples = pred.shape[0] if per_sample else 1
    cells = n_samples * C * C
    ignored_bin, bad_bin = cells, cells + 1
    idx_dtype = np.dtype(np.int64) if (target.dtype.itemsize >= 8 or cells + 2 > _INT32_MAX // 2
                                       ) else np.dtype(np.int32)
    t = target if target.dtype == idx_dtype else target.astype(idx_dtype)
    p = pred if pred.dtype == idx_dtype else pred.astype(idx_dtype)
    unsigned = np.dtype(f"u{idx_dtype.itemsize}")
    invalid = t.view(unsigned) >= C
    invalid |= p.view(unsigned) >= C
    joint = np.multiply(t, C, dtype=idx_dtype)
    joint += p
    if per_sample:
        joint += np.arange(0, cells, C * C, dtype=idx_dtype).reshape(
            (n_samples,) + (1,) * (t.ndim - 1))
    np.copyto(joint, bad_bin, where=invalid)
    if ignore_index is not None:
        np.copyto(joint, ignored_bin, where=(t == ignore_index))
    counts = np.bincount(joint.reshape(-1), minlength=cells + 2)
    n_bad = counts[bad_bin]
    counts = counts[:cells].astype(np.int64, copy=False)
    shape = (n_samples, C, C) if per_sample else (C, C)
    return counts.reshape(shape), n_bad


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
        looked at). Any integer, inside or outside ``[0, C)``.
    per_sample : bool
        Count each sample (axis 0) apart: shape ``(N, C, C)`` instead of ``(C, C)``.
    validate : bool
        On concrete arrays, raise ``ValueError`` for labels outside ``[0, C)`` (other than
        ``ignore_index`` in the reference). Costs no extra pass over the data on the native
        path (a spare bin is read; on CuPy that is one scalar device-to-host read). Under
        ``jax.jit`` and on Dask the check cannot run, and such pixels are dropped from
        every count.
    method : {"auto", "native", "standard"}
        ``"auto"``: the backend's bincount where it has one (on NumPy a specialised
        variant with in-place spare bins), else the standard path. ``"native"``: the
        generic bincount path; ``"standard"``: the comparison path (both for tests and
        benchmarks).

    Returns
    -------
    counts : integer array, (C, C) or (N, C, C)
        int64, or int32 on JAX without x64.
    """
    xp = aac.array_namespace(pred, target)
    num_classes, ignore_index = check_labels(
        xp, pred, target, num_classes=num_classes, ignore_index=ignore_index,
        per_sample=per_sample)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if xp.isdtype(pred.dtype, "bool"):
        pred = xp.astype(pred, xp.int32)
    if xp.isdtype(target.dtype, "bool"):
        target = xp.astype(target, xp.int32)
    if pred.dtype != target.dtype:
        common = xp.result_type(pred.dtype, target.dtype)
        if not xp.isdtype(common, "integral"):  # e.g. uint64 with int64 in NumPy
            common = xp.int64
        pred = xp.astype(pred, common)
        target = xp.astype(target, common)

    bincount = _native_bincount(xp) if method != "standard" else None
    if method == "native" and bincount is None:
        raise ValueError(f"method='native': the namespace {xp.__name__} has no bincount")
    if method == "auto" and aac.is_numpy_namespace(xp):
        counts, n_bad = _numpy_counts(pred, target, num_classes, ignore_index, per_sample)
    elif bincount is not None:
        counts, n_bad = _native_counts(xp, bincount, pred, target, num_classes,
                                       ignore_index, per_sample)
    else:
        counts, n_bad = _standard_counts(xp, pred, target, num_classes, ignore_index,
                                         per_sample)
    if validate and is_concrete(pred) and is_concrete(target) and is_concrete(n_bad):
        if int(n_bad) != 0:
            _raise_bad_labels(xp, pred, target, num_classes, ignore_index)
    return counts

