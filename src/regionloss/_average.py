"""NaN-aware averaging of metric values over classes and over samples.

A metric value is *undefined* where its formula's denominator is zero (a class absent from
both prediction and reference, for Dice). Undefined values are computed as NaN, which is
what tells them apart; ``zero_division`` then decides what they become: left NaN (the
default) they are left out of every mean below, set to 1.0 or 0.0 they enter the means like
any other value. The number of *defined* values (denominator non-zero) is counted alongside,
whatever ``zero_division`` is, so a caller can report how many values a mean rests on.

Averaging over classes (the last axis):

* ``"none"``: per-class values, unchanged.
* ``"macro"``: unweighted mean over classes, NaN-aware.
* ``"weighted"``: mean weighted by reference support ``tp + fn``, NaN-aware (an undefined
  class leaves the numerator *and* the weights); a zero total weight gives ``zero_division``.
* ``"micro"``: tp, fp, fn, tn summed over classes first, then the formula once.

Averaging over samples (axis 0, ``per_sample=True``) is a NaN-aware mean as well.
Everything here is written against the array API: no value-dependent Python branching.
"""

from __future__ import annotations

import math
import numbers

from ._backend import is_nan_value, safe_divide, scalar
from ._counting import count_dtype

__all__ = [
    "AVERAGES",
    "check_average",
    "check_zero_division",
    "apply_zero_division",
    "nan_sum_count",
    "nanmean",
    "average_classes",
    "average_samples",
]

AVERAGES = ("none", "macro", "micro", "weighted")


def check_average(average) -> str:
    """Validate ``average`` (``None`` is read as ``"none"``)."""
    if average is None:
        return "none"
    if average not in AVERAGES:
        raise ValueError(
            f"average must be one of {AVERAGES}, got {average!r}"
        )
    return average


ZERO_DIVISION_CHOICES = "nan, 0.0 or 1.0"


def check_zero_division(zero_division) -> float:
    """Validate ``zero_division``, the value of a metric whose denominator is zero.

    It must be NaN (the default: left out of every NaN-aware mean), 0.0 or 1.0 (entering
    the means like any other value), the rule of every metric of the library (overlap
    and boundary metrics) and of the ``--zero-division`` option of the CLI. Any real
    number type is accepted (Python, NumPy scalars such as ``np.float32(1)``); a bool, a
    string or any other value is an error.

    Returns
    -------
    float
        ``nan``, ``0.0`` or ``1.0``.

    Raises
    ------
    TypeError
        ``zero_division`` is not a real number.
    ValueError
        It is a number other than NaN, 0 and 1.
    """
    if isinstance(zero_division, bool) or not isinstance(zero_division, numbers.Real):
        raise TypeError(
            f"zero_division must be a number ({ZERO_DIVISION_CHOICES}), got "
            f"{type(zero_division).__name__} {zero_division!r}"
        )
    value = float(zero_division)
    if not (math.isnan(value) or value in (0.0, 1.0)):
        raise ValueError(
            f"zero_division must be {ZERO_DIVISION_CHOICES} (the value of a metric whose "
            f"denominator is zero), got {zero_division!r}"
        )
    return value


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
    count = xp.count_nonzero(ok, axis=axis)
    return total, count


def nanmean(xp, values, axis, empty=float("nan")):
    """Mean of the non-NaN entries along ``axis``; ``empty`` where there are none."""
    total, count = nan_sum_count(xp, values, axis)
    return safe_divide(xp, total, xp.astype(count, total.dtype), empty)


def average_classes(xp, stats, formula, *, average, zero_division, micro_formula=None):
    """Reduce per-class statistics to per-class or class-averaged metric values.

    Parameters
    ----------
    stats : tuple of 4 float arrays ``(tp, fp, fn, tn)``, each ``(..., C)``
        Statistics of the classes to be scored (background already removed if it should
        be). Floating point (float64 where available).
    formula : callable ``formula(tp, fp, fn, tn, empty)``
        The per-class metric; ``empty`` is NaN here (undefined values are found as NaN).
    average : {"none", "macro", "micro", "weighted"}
    zero_division : float
        The value of an undefined metric (NaN: left out of the means).
    micro_formula : callable, optional
        Formula used on the class-summed statistics for ``"micro"`` (default ``formula``).

    Returns
    -------
    value : float array, ``(..., C)`` for ``"none"``, else ``(...)``
    defined : integer array of the same shape
        How many (class) values with a non-zero denominator went into each value (0 or 1
        per class for ``"none"``; for ``"micro"``, 1 if the pooled denominator is non-zero).
    """
    tp, fp, fn, tn = stats
    if average == "micro":
        summed = tuple(xp.sum(s, axis=-1) for s in stats)
        raw = (micro_formula or formula)(*summed, float("nan"))
        value, defined = apply_zero_division(xp, raw, zero_division)
        return value, xp.astype(defined, count_dtype(xp))

    raw = formula(tp, fp, fn, tn, float("nan"))
    value, defined = apply_zero_division(xp, raw, zero_division)
    if average == "none":
        return value, xp.astype(defined, count_dtype(xp))
    n_defined = xp.astype(xp.count_nonzero(defined, axis=-1), count_dtype(xp))
    if average == "macro":
        return nanmean(xp, value, -1), n_defined
    # weighted: by reference support; NaN (undefined, zero_division=nan) classes leave the
    # weights too, so they neither add nor dilute.
    support = tp + fn
    ok = ~xp.isnan(value)
    zero = scalar(xp, 0.0, value)
    weights = xp.where(ok, support, zero)
    numerator = xp.sum(xp.where(ok, weights * value, zero), axis=-1)
    denominator = xp.sum(weights, axis=-1)
    return safe_divide(xp, numerator, denominator, zero_division), n_defined


def average_samples(xp, value, defined):
    """NaN-aware mean over the sample axis 0; the defined-counts are summed."""
    return nanmean(xp, value, 0), xp.sum(defined, axis=0)
