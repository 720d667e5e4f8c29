r"""Confusion matrices of integer label maps, and scores computed from them.

Every metric of :mod:`regionloss.metrics` is a formula over per-class counts read off one
confusion matrix (rows = reference class, columns = predicted class):

.. math::
    tp_c = M_{cc}, \quad fp_c = \sum_r M_{rc} - tp_c, \quad
    fn_c = \sum_k M_{ck} - tp_c, \quad tn_c = \sum M - tp_c - fp_c - fn_c

Counting (:func:`confusion_matrix`, the kernel layer) is the only step that looks at pixels;
scoring (:func:`score_confusion`) is pure arithmetic on the counts, in float64 wherever the
namespace has it, so dataset-scale counts stay exact. Every public metric function is
``confusion_matrix`` followed by ``score_confusion`` (:func:`score_labels`), and so is the
offline scorer: they cannot disagree.

Labels out of range: concrete label maps raise a ``ValueError`` naming the value, the array
and its position. Under ``jax.jit`` values cannot be checked by raising: a metric whose
labels hold such a value is NaN (every element), and :func:`confusion_matrix` returns a
matrix of ``-1`` (impossible counts, which :func:`score_confusion` turns into NaN).
"""

from __future__ import annotations

import math
from typing import Any

from .._kernels.arrays import count_dtype, count_float_dtype, is_concrete, namespace
from .._kernels.counting import class_counts, confusion_counts
from .._reduce import average_classes, average_samples
from .._stats import class_statistics as _class_statistics
from .._stats import count_statistics
from .._typing import Array
from .._validate import (
    check_average,
    check_flags,
    check_ignore_index,
    check_int,
    check_label_range,
    check_zero_division,
)
from ._table import metric_options, resolve_metric

__all__ = [
    "count_labels",
    "confusion_matrix",
    "class_statistics",
    "score_confusion",
    "score_labels",
    "check_label_maps",
]


def check_label_maps(pred: Array, target: Array, *, num_classes: int,
                     ignore_index: int | None, per_sample: bool) -> Array:
    """Namespace, dtypes, shapes and options of a pair of label maps (never their values).

    Returns ``(xp, pred, target, num_classes, ignore_index)`` with NumPy inputs converted to
    the other array's library.
    """
    from .._kernels.arrays import align

    xp = namespace(pred, target, names=("pred", "target"))
    pred, target = align(xp, pred, target), align(xp, target, pred)
    num_classes = check_int("num_classes", num_classes, minimum=1)
    ignore_index = check_ignore_index(ignore_index)
    for name, arr in (("pred", pred), ("target", target)):
        if not xp.isdtype(arr.dtype, ("integral", "bool")):
            raise TypeError(
                f"{name} must be an integer label map, got dtype {arr.dtype}; turn scores "
                "into labels first with regionloss.to_labels(scores, class_axis=...) "
                "(argmax over classes) or to_labels(probs, class_axis=None, threshold=0.5)")
    if tuple(pred.shape) != tuple(target.shape):
        hint = ""
        if pred.ndim == target.ndim + 1:
            hint = ("; pred has one axis more than target: if it holds class scores, turn "
                    "them into labels with regionloss.to_labels(pred, class_axis=...)")
        raise ValueError(
            f"pred and target must have the same shape, got pred {tuple(pred.shape)} and "
            f"target {tuple(target.shape)} (integer label maps, no class axis){hint}")
    if per_sample and pred.ndim < 2:
        raise ValueError(
            "per_sample=True needs label maps with a sample axis first, (N, ...) with at "
            f"least 2 dimensions, got shape {tuple(pred.shape)}")
    return xp, pred, target, num_classes, ignore_index


def _counts(xp, pred, target, num_classes, ignore_index, per_sample, validate,
            method="auto"):
    """``(counts, n_invalid)``: the kernel's counts, and under ``jax.jit`` the 0-d number of
    scored pixels whose label was out of range (None on concrete arrays, which raise
    instead, and with ``validate=False``, which drops them)."""
    counts, n_bad = confusion_counts(pred, target, num_classes=num_classes,
                                     ignore_index=ignore_index, per_sample=per_sample,
                                     method=method)
    if is_concrete(pred) and is_concrete(target) and is_concrete(n_bad):
        if validate and int(n_bad) != 0:
            check_label_range(pred, target, num_classes=num_classes, ignore_index=ignore_index)
            raise ValueError(  # pragma: no cover - the check above raises on the same rule
                f"label values out of range: labels outside [0, num_classes={num_classes})")
        return counts, None
    return counts, n_bad if validate else None


def _class_counts(pred, target, num_classes, ignore_index, per_sample, validate):
    """``(tp, predicted, reference, n_invalid)``: :func:`_counts` for the per-class counts
    only (no ``C x C`` matrix where the backend can avoid it)."""
    tp, predicted, reference, n_bad = class_counts(
        pred, target, num_classes=num_classes, ignore_index=ignore_index,
        per_sample=per_sample)
    if is_concrete(pred) and is_concrete(target) and is_concrete(n_bad):
        if validate and int(n_bad) != 0:
            check_label_range(pred, target, num_classes=num_classes, ignore_index=ignore_index)
            raise ValueError(  # pragma: no cover - the check above raises on the same rule
                f"label values out of range: labels outside [0, num_classes={num_classes})")
        return tp, predicted, reference, None
    return tp, predicted, reference, (n_bad if validate else None)


def count_labels(pred: Array, target: Array, *, num_classes: int,
                 ignore_index: int | None = None, per_sample: bool = False,
                 validate: bool = True, method="auto") -> Array:
    """:func:`confusion_matrix` with the counting kernel chosen (tests and benchmarks:
    ``method`` is one of :data:`regionloss._kernels.counting.METHODS`)."""
    xp, pred, target, num_classes, ignore_index = check_label_maps(
        pred, target, num_classes=num_classes, ignore_index=ignore_index,
        per_sample=per_sample)
    counts, n_invalid = _counts(xp, pred, target, num_classes, ignore_index, per_sample,
                                validate, method)
    if n_invalid is not None:
        counts = xp.where(n_invalid > 0, xp.asarray(-1, dtype=counts.dtype), counts)
    return counts


def confusion_matrix(pred: Array, target: Array, /, *, num_classes: int,
                     ignore_index: int | None = None, per_sample: bool = False,
                     validate: bool = True) -> Array:
    r"""Confusion matrix of integer label maps: rows = reference class, columns = predicted.

    .. math:: M_{rc} = \#\{\text{pixels } i : target_i = r,\ pred_i = c\}

    Parameters
    ----------
    pred, target : integer arrays of the same shape
        Predicted and reference label maps (no class axis), labels in ``[0, C)``. Turn
        scores into labels with :func:`to_labels`. A NumPy array next to an array of
        another library is converted to it.
    num_classes : int
        The number of classes ``C``.
    ignore_index : int or None, default None
        Pixels whose reference equals it leave every count; any integer (255, -1, a class
        id). The prediction at those pixels is not looked at.
    per_sample : bool, default False
        ``False``: one ``(C, C)`` matrix for the whole batch; ``True``: one per sample,
        ``(N, C, C)``, with axis 0 of the label maps as the sample axis.
    validate : bool, default True
        Labels outside ``[0, C)`` (other than ``ignore_index`` in the reference, and any
        prediction where the reference is ignored): on concrete arrays a ``ValueError``
        naming the value, the array and its position; under ``jax.jit`` (values cannot be
        inspected) a matrix of ``-1``, which :func:`score_confusion` turns into NaN.
        ``False``: such pixels are dropped from every count, silently.

    Returns
    -------
    counts : integer array, ``(C, C)`` or ``(N, C, C)``
        int64 (int32 on JAX without x64: see ``docs/metrics.md`` for dataset-scale
        accumulation), in the caller's namespace and on its device.

    See Also
    --------
    score_confusion, class_statistics, MetricAccumulator

    References
    ----------
    .. [1] scikit-learn ``sklearn.metrics.confusion_matrix`` (same orientation: rows are
       the reference).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> rl.confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), num_classes=2)
    array([[1, 1],
           [0, 1]])
    """
    validate, per_sample = check_flags(validate=validate, per_sample=per_sample)
    return count_labels(pred, target, num_classes=num_classes, ignore_index=ignore_index,
                        per_sample=per_sample, validate=validate)


def _check_confusion(xp, confusion):
    """Shape and dtype of a confusion matrix; on concrete arrays also its values."""
    shape = tuple(confusion.shape)
    if confusion.ndim not in (2, 3) or shape[-1] != shape[-2]:
        raise ValueError(
            "confusion must be a (C, C) matrix or a stack (N, C, C) of them, rows = "
            f"reference class, columns = predicted class; got shape {shape}")
    if not xp.isdtype(confusion.dtype, ("integral", "real floating")):
        raise TypeError(f"confusion must hold counts (integer or float); got dtype "
                        f"{confusion.dtype}")
    if not is_concrete(confusion) or math.prod(shape) == 0:
        return
    lo = xp.min(confusion)
    if not is_concrete(lo):
        return
    lo = float(lo)
    if xp.isdtype(confusion.dtype, "real floating") and not math.isfinite(
            float(xp.max(confusion)) + lo):
        raise ValueError("confusion holds non-finite values (nan or inf); counts are finite")
    if lo < 0:
        raise ValueError(
            f"confusion holds a negative count ({lo:g}); counts are >= 0. On JAX without "
            "x64, int32 counts wrap past 2**31 - 1 pixels in one cell: enable "
            "jax.config.update('jax_enable_x64', True), or sum the counts of smaller "
            "batches in a NumPy int64 array")


def class_statistics(confusion: Array, /) -> Array:
    r"""Per-class ``(tp, fp, fn, tn)`` of a ``(..., C, C)`` confusion matrix, as floats.

    With :math:`M` the matrix (rows = reference class, columns = predicted class):

    .. math::
        tp_c = M_{cc}, \quad fp_c = \sum_r M_{rc} - tp_c, \quad
        fn_c = \sum_k M_{ck} - tp_c, \quad tn_c = \sum M - tp_c - fp_c - fn_c

    Parameters
    ----------
    confusion : integer or float array, ``(C, C)`` or ``(N, C, C)``
        Counts, as returned by :func:`confusion_matrix`, in any array-API namespace;
        concrete matrices must hold finite, non-negative counts.

    Returns
    -------
    tp, fp, fn, tn : tuple of 4 float arrays, each ``(..., C)``
        float64 wherever the namespace has it (float32 on JAX without x64), so counts up
        to 2**53 stay exact; in the caller's namespace and on its device. ``tn`` counts,
        one-vs-rest, every pixel that is class c in neither map.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> tp, fp, fn, tn = rl.class_statistics(np.array([[3, 1], [0, 2]]))
    >>> tp.tolist(), fp.tolist(), fn.tolist(), tn.tolist()
    ([3.0, 2.0], [0.0, 1.0], [1.0, 0.0], [2.0, 3.0])
    """
    xp = namespace(confusion, names=("confusion",))
    _check_confusion(xp, confusion)
    return _class_statistics(confusion, float_dtype=count_float_dtype(xp))


def _score(xp, stats, metric, options, *, average, include_background, zero_division):
    """Per-class stats (..., C) -> values and defined-counts after the class average."""
    if not include_background:
        stats = tuple(s[..., 1:] for s in stats)
    return average_classes(xp, stats, metric.formula, average=average,
                           zero_division=zero_division, count_dtype=count_dtype(xp),
                           micro_formula=metric.micro, options=options)


def _finish(xp, value, defined, *, per_sample_counts, average, invalid, return_defined):
    """Average over samples, apply the jit-time label policy, hand back arrays."""
    if per_sample_counts and average != "none":
        value, defined = average_samples(xp, value, defined)
    value, defined = xp.asarray(value), xp.asarray(defined)
    if invalid is not None:
        value = xp.where(invalid, xp.asarray(math.nan, dtype=value.dtype), value)
    return (value, defined) if return_defined else value


def score_confusion(confusion: Array, /, *, metric: str, average: str | None = "none",
                    include_background: bool = True, zero_division: float = float("nan"),
                    return_defined: bool = False,
                    **metric_options_: Any) -> Array | tuple[Array, Array]:
    r"""Score a confusion matrix with the named metric.

    Parameters
    ----------
    confusion : array, ``(C, C)`` or ``(N, C, C)``
        Counts, rows = reference class, columns = predicted class (as returned by
        :func:`confusion_matrix`), in any array-API namespace. ``(C, C)``: pooled
        statistics; ``(N, C, C)``: one matrix per sample, scored per sample. Concrete
        matrices must hold finite, non-negative counts (a negative count is an error that
        names the int32 overflow of JAX without x64); under ``jax.jit`` a matrix with a
        negative count scores NaN.
    metric : str
        A name of :data:`METRIC_NAMES` or an alias (see ``docs/metrics.md``):
        ``"dice"`` :math:`2tp/(2tp+fp+fn)`, ``"iou"`` :math:`tp/(tp+fp+fn)`,
        ``"tversky"``, ``"fbeta"``, ``"precision"``, ``"recall"``, ``"specificity"``,
        ``"npv"``, ``"fpr"``, ``"fnr"``, ``"fdr"``, ``"for"``, ``"accuracy"`` (per class
        one-vs-rest; micro: pixel accuracy), ``"balanced_accuracy"``, ``"mcc"``,
        ``"informedness"``, ``"markedness"``, ``"fowlkes_mallows"``,
        ``"prevalence_threshold"``.
    average : {"none", "macro", "micro", "weighted"}, default "none"
        ``"none"``: per-class values, ``(C,)`` or ``(N, C)`` (``C - 1`` columns without
        background). ``"macro"``: NaN-aware mean over classes. ``"micro"``: tp, fp, fn, tn
        summed over classes, then the formula. ``"weighted"``: mean weighted by reference
        support, NaN-aware (undefined classes leave the weights too). With ``(N, C, C)``
        input and an average other than ``"none"``, the per-sample values are then
        averaged over samples, NaN-aware, to a 0-d array.
    include_background : bool, default True
        False leaves class 0 out of the output and of every average (its pixels still
        count as negatives of the other classes).
    zero_division : {nan, 0.0, 1.0}, default nan
        The value wherever a denominator is zero. NaN is left out of NaN-aware means;
        0.0 and 1.0 enter them. Any other value is a ``ValueError``.
    return_defined : bool, default False
        Also return how many values with a non-zero denominator went into each output
        value (an integer array of the output's shape).
    **metric_options_
        ``alpha`` (FP weight, default 0.3) and ``beta`` (FN weight, default 0.7) for
        ``"tversky"``; ``beta`` (default 1.0) for ``"fbeta"``.

    Returns
    -------
    value : float array (float64 where available), or ``(value, defined)``

    See Also
    --------
    confusion_matrix, MetricAccumulator

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> cm = np.array([[3, 1], [0, 2]])
    >>> rl.score_confusion(cm, metric="dice").round(4).tolist()
    [0.8571, 0.8]
    """
    xp = namespace(confusion, names=("confusion",))
    _check_confusion(xp, confusion)
    average = check_average(average)
    zero_division = check_zero_division(zero_division)
    include_background, return_defined = check_flags(
        include_background=include_background, return_defined=return_defined)
    spec = resolve_metric(metric)
    options = metric_options(spec, metric_options_)
    C = confusion.shape[-1]
    if not include_background and C < 2:
        raise ValueError(f"include_background=False needs at least 2 classes, got "
                         f"num_classes={C}")
    invalid = None
    if not is_concrete(confusion):
        invalid = xp.any(confusion < 0)
    stats = _class_statistics(confusion, float_dtype=count_float_dtype(xp))
    value, defined = _score(xp, stats, spec, options, average=average,
                            include_background=include_background,
                            zero_division=zero_division)
    return _finish(xp, value, defined, per_sample_counts=confusion.ndim == 3, average=average,
                   invalid=invalid, return_defined=return_defined)


def score_labels(metric: str, pred: Array, target: Array, *, num_classes: int,
                 average: str | None, per_sample: bool, include_background: bool,
                 ignore_index: int | None, zero_division: float, return_defined: bool,
                 validate: bool, **options: Any) -> Array | tuple[Array, Array]:
    """The shared body of the public metric functions: count, then score.

    Under ``jax.jit`` a label out of range makes every element NaN (``validate=True``).
    """
    spec = resolve_metric(metric)
    options = metric_options(spec, options)
    average = check_average(average)
    zero_division = check_zero_division(zero_division)
    per_sample, include_background, return_defined, validate = check_flags(
        per_sample=per_sample, include_background=include_background,
        return_defined=return_defined, validate=validate)
    xp, pred, target, num_classes, ignore_index = check_label_maps(
        pred, target, num_classes=num_classes, ignore_index=ignore_index,
        per_sample=per_sample)
    if not include_background and num_classes < 2:
        raise ValueError(f"include_background=False needs at least 2 classes, got "
                         f"num_classes={num_classes}")
    tp, predicted, reference, n_invalid = _class_counts(pred, target, num_classes,
                                                        ignore_index, per_sample, validate)
    stats = count_statistics(tp, predicted, reference, float_dtype=count_float_dtype(xp))
    value, defined = _score(xp, stats, spec, options, average=average,
                            include_background=include_background,
                            zero_division=zero_division)
    return _finish(xp, value, defined, per_sample_counts=per_sample, average=average,
                   invalid=None if n_invalid is None else n_invalid > 0,
                   return_defined=return_defined)
