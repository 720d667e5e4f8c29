"""The counting kernel: confusion counts from integer label maps, with no validation.

Every pixel (voxel) of a pair of integer label maps falls into one cell of a confusion
matrix: row = reference (``target``) class, column = predicted class. Counting is where the
backends differ most in speed:

* **native path** (CuPy, JAX, PyTorch; NumPy with ``method="native"``): one joint index per
  pixel, ``target * C + pred`` (plus ``sample * C * C`` when counting per sample), is
  histogrammed by the backend's own ``bincount`` (JAX: ``jnp.bincount`` with a static
  ``length``, so it runs under ``jit``). Ignored pixels are sent to a spare bin, and pixels
  holding a label outside ``[0, C)`` to a second spare bin; the spare bins are cut off
  afterwards, and the second one tells, at no extra pass over the data, whether the input
  was valid.
* **NumPy kernels** (:mod:`~regionloss._kernels.counting_numpy`, NumPy's ``"auto"``):
  block-wise sparse (disagreement-only) and joint kernels.
* **CuPy kernel** (:mod:`~regionloss._kernels.counting_cupy`, CuPy's ``"auto"``): a
  privatised shared-memory histogram, one global merge; a global-memory ``bincount``
  serialises its atomics on the few bins most pixels hit.
* **JAX formulations** (:mod:`~regionloss._kernels.counting_jax`, JAX's ``"auto"``):
  ``jnp.bincount`` on the CPU, scatter-free compare-and-sum / one-hot products on
  accelerators, chosen per platform and ``C``.

:func:`class_counts` gives only the per-class ``(tp, predicted, reference)`` counts, which
every one-vs-rest metric needs: on CuPy and JAX accelerators without the ``C x C`` matrix.
* **standard path** (everything else: array-api-strict, Dask, ...): comparisons against
  ``arange(C)`` and ``count_nonzero``, one Python iteration per *reference class* (never
  per pixel), so its memory stays at one ``(pixels, C)`` boolean block at a time.

All paths give identical counts and the same number of out-of-range pixels
(``tests/kernels/test_counting.py``: hypothesis, all paths against each other and against
an ``np.add.at`` reference, every integer dtype, int8 with up to 300 classes, labels of 2**63
and above); ``benchmarks/bench_metrics.py`` shows why each fast one exists. Before any
kernel: an ``ignore_index`` the reference's dtype cannot hold is dropped (it can never
match), uint64 maps become int64 without letting a label of 2**63 or more wrap into range or
onto ``ignore_index`` (:func:`_uint64_as_int64`).

Checking labels and options, and raising, is the caller's job
(:mod:`regionloss.metrics.confusion`): this module only counts.
"""

from __future__ import annotations

import array_api_compat as aac

from .arrays import count_dtype
from .counting_numpy import numpy_counts

__all__ = ["confusion_counts", "class_counts", "METHODS"]

METHODS = ("auto", "native", "standard", "joint", "sparse")

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


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


def _jax_accelerated(x) -> bool:
    """True for a JAX array on (or traced for) a GPU or TPU: there the scatter-free
    formulations of :mod:`~regionloss._kernels.counting_jax` count; on the CPU the native
    ``jnp.bincount`` path below is the fastest (measured in ``choose_method``)."""
    from .counting_jax import platform_of

    return platform_of(x) != "cpu"


def confusion_counts(pred, target, *, num_classes: int, ignore_index: int | None = None,
                     per_sample: bool = False, method: str = "auto"):
    """Confusion counts of two integer label maps and the number of out-of-range pixels.

    Parameters
    ----------
    pred, target : integer (or bool) arrays of one shape and one namespace
        Predicted and reference label maps (already checked by the caller).
    num_classes : int
        ``C``; labels must lie in ``[0, C)``.
    ignore_index : int or None
        Pixels whose *reference* equals it leave every count (their prediction is not
        looked at). Any integer; one the reference's dtype cannot hold matches no pixel.
    per_sample : bool
        Count each sample (axis 0) apart: shape ``(N, C, C)`` instead of ``(C, C)``.
    method : {"auto", "native", "standard", "joint", "sparse"}
        ``"auto"``: on NumPy, the NumPy kernels chosen by size and per block; elsewhere the
        backend's bincount where it has one, else the standard path. ``"native"``: the
        generic bincount path; ``"standard"``: the comparison path; ``"joint"`` /
        ``"sparse"`` (NumPy only): one NumPy kernel forced. All give identical results.

    Returns
    -------
    counts : integer array, ``(C, C)`` or ``(N, C, C)``
        int64, or int32 on JAX without x64; rows = reference, columns = prediction.
    n_bad : 0-d integer array or int
        The number of scored pixels (reference not ``ignore_index``) where the reference
        or the prediction lies outside ``[0, C)``; those pixels are in no cell.
    """
    xp = aac.array_namespace(pred, target)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    if method == "auto" and aac.is_cupy_namespace(xp):
        from .counting_cupy import confusion_counts_cupy

        return confusion_counts_cupy(pred, target, num_classes=num_classes,
                                     ignore_index=ignore_index, per_sample=per_sample)
    if method == "auto" and aac.is_jax_namespace(xp) and _jax_accelerated(target):
        from .counting_jax import confusion_counts_jax

        return confusion_counts_jax(pred, target, num_classes=num_classes,
                                    ignore_index=ignore_index, per_sample=per_sample)
    # an ignore_index the reference's dtype cannot hold never matches: count without it
    ignore_index = _reachable_ignore(xp, target.dtype, ignore_index)
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
        return numpy_counts(pred, target, num_classes, ignore_index, per_sample, kernel=method)
    if bincount is not None:
        return _native_counts(xp, bincount, pred, target, num_classes, ignore_index,
                              per_sample)
    return _standard_counts(xp, pred, target, num_classes, ignore_index, per_sample)


def class_counts(pred, target, *, num_classes: int, ignore_index: int | None = None,
                 per_sample: bool = False, method: str = "auto"):
    """Per-class one-vs-rest counts of two integer label maps, and the out-of-range count.

    Over the scored pixels (reference not ``ignore_index``, both labels in ``[0, C)``)::

        tp[c] = #{t = c and p = c},  predicted[c] = #{p = c},  reference[c] = #{t = c}

    i.e. the diagonal, column sums and row sums of :func:`confusion_counts`, which is what
    one-vs-rest metrics need (``fp = predicted - tp``, ``fn = reference - tp``,
    ``tn = Σ reference - tp - fp - fn``). CuPy and JAX count them directly (3C bins, no
    ``C x C`` matrix); every other backend reads them off the matrix.

    Returns
    -------
    tp, predicted, reference : integer arrays, (C,) or (N, C)
    n_bad : 0-d integer array or int
        As in :func:`confusion_counts`.
    """
    xp = aac.array_namespace(pred, target)
    if method == "auto" and aac.is_cupy_namespace(xp):
        from .counting_cupy import class_counts_cupy

        return class_counts_cupy(pred, target, num_classes=num_classes,
                                 ignore_index=ignore_index, per_sample=per_sample)
    if method == "auto" and aac.is_jax_namespace(xp) and _jax_accelerated(target):
        from .counting_jax import class_counts_jax

        return class_counts_jax(pred, target, num_classes=num_classes,
                                ignore_index=ignore_index, per_sample=per_sample)
    counts, n_bad = confusion_counts(pred, target, num_classes=num_classes,
                                     ignore_index=ignore_index, per_sample=per_sample,
                                     method=method)
    eye = xp.eye(num_classes, dtype=xp.bool, device=aac.device(counts))
    tp = xp.sum(xp.where(eye, counts, xp.zeros_like(counts)), axis=-1)
    return tp, xp.sum(counts, axis=-2), xp.sum(counts, axis=-1), n_bad
