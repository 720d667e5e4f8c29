"""Reductions: from per-(sample, class) values to what a loss or a metric returns.

Losses (soft, differentiable)
-----------------------------
A region loss first produces one value per (sample, class), shape (N, C), or per class,
shape (C,), when the batch was pooled (``per_sample=False``). :func:`reduce_losses` then

1. drops class 0 with ``include_background=False`` (after the activation, which saw it);
2. returns the kept columns unweighted for ``reduction="none"``, (N, K) or (K,);
3. otherwise takes the class mean, weighted by ``class_weights`` (indexed by class id) and
   restricted to ``selected`` classes if given (the Lovász "present" classes), and then
   averages (``"mean"``) or sums (``"sum"``) the samples. A pooled batch is one sample.

Pixel-wise losses (cross-entropy, focal) use :func:`weighted_pixel_mean`. Sample means over
an empty batch (N = 0, a static shape) are 0, the value of a batch whose pixels are all
ignored.

Metrics (hard counts)
---------------------
A metric value is *undefined* where its formula's denominator is zero; undefined values are
computed as NaN, and ``zero_division`` decides what they become (:func:`apply_zero_division`):
left NaN (the default) they are left out of every mean, 1.0 or 0.0 enter the means like any
other value. :func:`average_classes` reduces over classes (``"none"``, ``"macro"``,
``"micro"``, ``"weighted"``) and :func:`average_samples` over samples, NaN-aware, and both
count the *defined* values a mean rests on.
"""

from __future__ import annotations

from array_api_compat import device as device_of

from ._formulas import safe_divide, scalar
from ._validate import check_class_weights, is_nan_value

__all__ = [
    "select_classes",
    "class_mean",
    "reduce_samples",
    "reduce_losses",
    "weighted_pixel_mean",
    "apply_zero_division",
    "nan_sum_count",
    "nanmean",
    "average_classes",
    "average_samples",
]


# --------------------------------------------------------------------------- losses


def select_classes(values, *, include_background: bool):
    """Drop class 0 (last axis) when ``include_background`` is False."""
    return values if include_background else values[..., 1:]


def class_mean(xp, values, *, weights=None, selected=None):
    r"""Mean over the last (class) axis, :math:`\sum_c w_c s_c L_c / \sum_c w_c s_c`.

    ``weights`` (K,) and ``selected`` (a 0/1 float mask of ``values``' shape) are optional;
    a row whose weights all vanish gives 0 (guarded division, finite gradient).
    """
    if weights is None and selected is None:
        return xp.mean(values, axis=-1)
    w = selected if weights is None else (weights if selected is None else selected * weights)
    w = xp.broadcast_to(w, values.shape)
    total = xp.sum(xp.where(w > 0, values * w, xp.zeros_like(values)), axis=-1)
    return safe_divide(xp, total, xp.sum(w, axis=-1), 0.0)


def reduce_samples(xp, values, reduction: str):
    """``"mean"`` or ``"sum"`` over the sample axis 0 (a 0-d input is returned as it is).

    The mean of an empty batch (N = 0) is 0, like a batch whose pixels are all ignored.
    """
    if values.ndim == 0 or reduction == "none":
        return values
    total = xp.sum(values, axis=0)
    if reduction == "sum":
        return total
    return total / max(values.shape[0], 1)


def reduce_losses(xp, per_class, *, num_classes: int, include_background: bool,
                  class_weights, reduction: str, selected=None):
    """Reduce per-(sample, class) losses (last axis: all C classes) as the module says.

    Parameters
    ----------
    per_class : array, (N, C) or (C,)
    num_classes : int
    include_background : bool
    class_weights : sequence of C floats, array, or None
    reduction : {'mean', 'sum', 'none'}
    selected : array of ``per_class``' shape or None
        0/1: which classes enter the class mean (and are kept, others 0, with 'none').

    Returns
    -------
    array
        0-d for ``'mean'``/``'sum'``; (N, K) or (K,) for ``'none'``.
    """
    first = 0 if include_background else 1   # class 0 dropped without the background
    kept = per_class[..., first:]
    if selected is not None:
        selected = selected[..., first:]
        kept = xp.where(selected > 0, kept, xp.zeros_like(kept))
    if reduction == "none":
        return kept
    weights = None
    if class_weights is not None:
        weights = check_class_weights(xp, class_weights, num_classes, per_class.dtype,
                                      device_of(per_class),
                                      include_background=include_background)[first:]
    if weights is None and selected is None:
        per_sample = xp.mean(kept, axis=-1)      # the plain class mean
    else:
        per_sample = class_mean(xp, kept, weights=weights, selected=selected)
    return reduce_samples(xp, per_sample, reduction)


def weighted_pixel_mean(xp, loss, weight, *, reduction: str, normaliser=None):
    r"""Pixel losses :math:`\ell` reduced with pixel weights :math:`m` (None: 1).

    'none': :math:`m\,\ell` (0 where ``m = 0``, selected, so that a non-finite
    :math:`\ell` there cannot leak); 'sum': :math:`\sum m\ell`; 'mean':
    :math:`\sum m\ell / \sum m W` with ``normaliser`` :math:`W` per element (None: 1),
    guarded (0 when every weight is 0, or when there are no pixels).
    """
    if weight is None:
        weighted = loss
    else:
        weight = xp.broadcast_to(weight, loss.shape)
        weighted = xp.where(weight > 0, loss * weight, xp.zeros_like(loss))
    if reduction == "none":
        return weighted
    total = xp.sum(weighted)
    if reduction == "sum":
        return total
    if weight is None and normaliser is None:
        count = 1
        for size in loss.shape:
            count *= size
        return total / max(count, 1)
    if normaliser is None:
        norm = weight
    else:
        normaliser = xp.broadcast_to(normaliser, loss.shape)
        norm = normaliser if weight is None else normaliser * weight
    return safe_divide(xp, total, xp.sum(norm), 0.0)


# --------------------------------------------------------------------------- metrics


def apply_zero_division(xp, raw, zero_division):
    """``(value, defined)`` from a formula evaluated with ``empty=nan``.

    ``defined`` is True where the denominator was non-zero; ``value`` is ``raw`` there and
    ``zero_division`` elsewhere.
    """
    defined = ~xp.isnan(raw)
    if is_nan_value(zero_division):
        return raw, defined
    return xp.where(defined, raw, scalar(xp, zero_division, raw)), defined


def nan_sum_count(xp, values, axis):
    """Sum and count of the non-NaN entries of ``values`` along ``axis``."""
    ok = ~xp.isnan(values)
    total = xp.sum(xp.where(ok, values, scalar(xp, 0.0, values)), axis=axis)
    return total, xp.count_nonzero(ok, axis=axis)


def nanmean(xp, values, axis, empty=float("nan")):
    """Mean of the non-NaN entries along ``axis``; ``empty`` where there are none."""
    total, count = nan_sum_count(xp, values, axis)
    return safe_divide(xp, total, xp.astype(count, total.dtype), empty)


def average_classes(xp, stats, formula, *, average, zero_division, count_dtype,
                    micro_formula=None, options=None):
    """Reduce per-class statistics to per-class or class-averaged metric values.

    Parameters
    ----------
    stats : tuple of 4 float arrays ``(tp, fp, fn, tn)``, each ``(..., C)``
        Statistics of the classes to be scored (background already removed if it should
        be).
    formula : callable ``formula(tp, fp, fn, tn, *, empty, **options)``
        The per-class metric; ``empty`` is NaN here (undefined values are found as NaN).
    average : {"none", "macro", "micro", "weighted"}
    zero_division : float
        The value of an undefined metric (NaN: left out of the means).
    count_dtype : integer dtype of the defined-counts
    micro_formula : callable, optional
        Formula used on the class-summed statistics for ``"micro"`` (default ``formula``).
    options : dict, optional
        The metric's own options, passed to the formula by keyword.

    Returns
    -------
    value : float array, ``(..., C)`` for ``"none"``, else ``(...)``
    defined : integer array of the same shape
        How many (class) values with a non-zero denominator went into each value (0 or 1
        per class for ``"none"``; for ``"micro"``, 1 if the pooled denominator is non-zero).
    """
    tp, fp, fn, tn = stats
    options = options or {}
    if average == "micro":
        summed = tuple(xp.sum(s, axis=-1) for s in stats)
        raw = (micro_formula or formula)(*summed, empty=float("nan"), **options)
        value, defined = apply_zero_division(xp, raw, zero_division)
        return value, xp.astype(defined, count_dtype)
    raw = formula(tp, fp, fn, tn, empty=float("nan"), **options)
    value, defined = apply_zero_division(xp, raw, zero_division)
    if average == "none":
        return value, xp.astype(defined, count_dtype)
    n_defined = xp.astype(xp.count_nonzero(defined, axis=-1), count_dtype)
    if average == "macro":
        return nanmean(xp, value, -1), n_defined
    # weighted: by reference support; NaN (undefined, zero_division=nan) classes leave the
    # weights too, so they neither add nor dilute.
    support = tp + fn
    ok = ~xp.isnan(value)
    zero = scalar(xp, 0.0, value)
    weights = xp.where(ok, support, zero)
    numerator = xp.sum(xp.where(ok, weights * value, zero), axis=-1)
    return safe_divide(xp, numerator, xp.sum(weights, axis=-1), zero_division), n_defined


def average_samples(xp, value, defined):
    """NaN-aware mean over the sample axis 0; the defined-counts are summed."""
    return nanmean(xp, value, 0), xp.sum(defined, axis=0)
