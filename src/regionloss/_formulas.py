"""Scores as pure arithmetic on sufficient statistics, shared by losses and metrics.

Every function takes arrays of the same shape (any shape: per (sample, class), per class,
...) holding true positives ``tp``, false positives ``fp``, false negatives ``fn`` and, where
needed, true negatives ``tn``, as floating-point arrays of one namespace. Nothing here sums,
selects classes or averages: that is :mod:`regionloss._reduce`'s job.

Where a denominator is exactly zero the result is ``empty`` (``zero_division`` for metrics,
1 for losses: an empty prediction of an empty reference is perfect), through the
double-``where`` of :func:`safe_divide`, so gradients stay finite. NaN statistics give NaN
(never a plausible number).
"""

from __future__ import annotations

from array_api_compat import array_namespace as namespace
from array_api_compat import device as device_of

__all__ = [
    "safe_divide",
    "scalar",
    "overlap_index",
    "dice",
    "iou",
    "tversky",
    "precision",
    "recall",
    "specificity",
    "accuracy",
    "balanced_accuracy",
    "fbeta",
    "matthews",
    "negative_predictive_value",
    "false_positive_rate",
    "false_negative_rate",
    "false_discovery_rate",
    "false_omission_rate",
    "informedness",
    "markedness",
    "fowlkes_mallows",
    "prevalence_threshold",
    "soft_matthews",
]


def scalar(xp, value, like):
    """A 0-d array holding ``value`` with ``like``'s dtype and device."""
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


def safe_divide(xp, numerator, denominator, fill):
    """``numerator / denominator`` with ``fill`` where the denominator is exactly zero.

    The double-``where`` keeps gradients finite: the division only ever sees a non-zero
    denominator, so no ``0/0`` enters the backward pass (a single ``where`` would still
    differentiate the discarded NaN branch and poison the gradient). A NaN denominator is
    not zero: it gives NaN.
    """
    zero = denominator == 0
    device = device_of(denominator)
    safe = xp.where(zero, xp.asarray(1.0, dtype=denominator.dtype, device=device),
                    denominator)
    quotient = numerator / safe
    return xp.where(zero, xp.asarray(fill, dtype=quotient.dtype, device=device), quotient)


def overlap_index(tp, fp, fn, *, w_tp, w_fp, w_fn, smooth_nr=0.0, smooth_dr=0.0, empty=1.0):
    r"""The one overlap formula behind Dice, IoU and Tversky.

    .. math::
        S = \frac{w_{tp}\,tp + s_{nr}}{w_{tp}\,tp + w_{fp}\,fp + w_{fn}\,fn + s_{dr}}

    Dice is ``(2, 1, 1)``, IoU ``(1, 1, 1)``, Tversky ``(1, alpha, beta)``. Where the
    denominator is exactly zero (possible only with ``smooth_dr=0``) the result is ``empty``.
    """
    xp = namespace(tp, fp, fn)
    weighted_tp = w_tp * tp
    numerator = weighted_tp + smooth_nr
    denominator = weighted_tp + w_fp * fp + w_fn * fn + smooth_dr
    return safe_divide(xp, numerator, denominator, empty)


def dice(tp, fp, fn, *, smooth_nr=0.0, smooth_dr=0.0, empty=1.0):
    r"""Dice / F1: :math:`(2tp + s_{nr}) / (2tp + fp + fn + s_{dr})`."""
    return overlap_index(tp, fp, fn, w_tp=2.0, w_fp=1.0, w_fn=1.0,
                         smooth_nr=smooth_nr, smooth_dr=smooth_dr, empty=empty)


def iou(tp, fp, fn, *, smooth_nr=0.0, smooth_dr=0.0, empty=1.0):
    r"""IoU / Jaccard: :math:`(tp + s_{nr}) / (tp + fp + fn + s_{dr})`."""
    return overlap_index(tp, fp, fn, w_tp=1.0, w_fp=1.0, w_fn=1.0,
                         smooth_nr=smooth_nr, smooth_dr=smooth_dr, empty=empty)


def tversky(tp, fp, fn, *, alpha, beta, smooth_nr=0.0, smooth_dr=0.0, empty=1.0):
    r"""Tversky index, :math:`(tp + s_{nr}) / (tp + \alpha fp + \beta fn + s_{dr})`.

    ``alpha`` weights false positives and ``beta`` false negatives (Salehi et al. 2017).
    ``alpha = beta = 0.5`` is Dice and ``alpha = beta = 1`` is IoU (without smoothing).
    """
    return overlap_index(tp, fp, fn, w_tp=1.0, w_fp=alpha, w_fn=beta,
                         smooth_nr=smooth_nr, smooth_dr=smooth_dr, empty=empty)


def precision(tp, fp, fn, tn, *, empty):
    r"""Precision (positive predictive value): :math:`tp / (tp + fp)`."""
    return safe_divide(namespace(tp, fp), tp, tp + fp, empty)


def recall(tp, fp, fn, tn, *, empty):
    r"""Recall (sensitivity, true positive rate): :math:`tp / (tp + fn)`."""
    return safe_divide(namespace(tp, fn), tp, tp + fn, empty)


def specificity(tp, fp, fn, tn, *, empty):
    r"""Specificity (true negative rate): :math:`tn / (tn + fp)`."""
    return safe_divide(namespace(tn, fp), tn, tn + fp, empty)


def accuracy(tp, fp, fn, tn, *, empty):
    r"""One-vs-rest accuracy: :math:`(tp + tn) / (tp + fp + fn + tn)`."""
    return safe_divide(namespace(tp, tn), tp + tn, tp + fp + fn + tn, empty)


def balanced_accuracy(tp, fp, fn, tn, *, empty):
    r"""One-vs-rest balanced accuracy: (recall + specificity) / 2.

    Undefined (``empty``) where either recall or specificity is undefined.
    """
    xp = namespace(tp, fp, fn, tn)
    defined = ((tp + fn) != 0) & ((tn + fp) != 0)
    value = (recall(tp, fp, fn, tn, empty=0.0) + specificity(tp, fp, fn, tn, empty=0.0)) / 2
    return xp.where(defined, value, scalar(xp, empty, value))


def fbeta(tp, fp, fn, tn, *, beta, empty):
    r"""F-beta: :math:`(1 + \beta^2)\,tp / ((1 + \beta^2)\,tp + \beta^2 fn + fp)`."""
    b2 = float(beta) ** 2
    return overlap_index(tp, fp, fn, w_tp=1.0 + b2, w_fp=1.0, w_fn=b2, empty=empty)


def matthews(tp, fp, fn, tn, *, empty):
    r"""One-vs-rest Matthews correlation coefficient.

    .. math::
        MCC = \frac{tp\,tn - fp\,fn}{\sqrt{(tp + fp)(tp + fn)(tn + fp)(tn + fn)}}

    The denominator is evaluated as a product of square roots so that it cannot overflow
    float32 at dataset-scale counts.
    """
    xp = namespace(tp, fp, fn, tn)
    denominator = (xp.sqrt(tp + fp) * xp.sqrt(tp + fn)) * (xp.sqrt(tn + fp) * xp.sqrt(tn + fn))
    return safe_divide(xp, tp * tn - fp * fn, denominator, empty)


def negative_predictive_value(tp, fp, fn, tn, *, empty):
    r"""Negative predictive value: :math:`tn / (tn + fn)`."""
    return safe_divide(namespace(tn, fn), tn, tn + fn, empty)


def false_positive_rate(tp, fp, fn, tn, *, empty):
    r"""False positive rate (fall-out): :math:`fp / (fp + tn)`."""
    return safe_divide(namespace(fp, tn), fp, fp + tn, empty)


def false_negative_rate(tp, fp, fn, tn, *, empty):
    r"""False negative rate (miss rate): :math:`fn / (fn + tp)`."""
    return safe_divide(namespace(fn, tp), fn, fn + tp, empty)


def false_discovery_rate(tp, fp, fn, tn, *, empty):
    r"""False discovery rate: :math:`fp / (fp + tp)`."""
    return safe_divide(namespace(fp, tp), fp, fp + tp, empty)


def false_omission_rate(tp, fp, fn, tn, *, empty):
    r"""False omission rate: :math:`fn / (fn + tn)`."""
    return safe_divide(namespace(fn, tn), fn, fn + tn, empty)


def _both_defined(xp, a_defined, b_defined, value, empty):
    """``value`` where both parts are defined, ``empty`` elsewhere."""
    return xp.where(a_defined & b_defined, value, scalar(xp, empty, value))


def informedness(tp, fp, fn, tn, *, empty):
    r"""Informedness (bookmaker informedness, Youden's J): :math:`TPR + TNR - 1`.

    Undefined (``empty``) where either rate is.
    """
    xp = namespace(tp, fp, fn, tn)
    value = recall(tp, fp, fn, tn, empty=0.0) + specificity(tp, fp, fn, tn, empty=0.0) - 1.0
    return _both_defined(xp, (tp + fn) != 0, (tn + fp) != 0, value, empty)


def markedness(tp, fp, fn, tn, *, empty):
    r"""Markedness: :math:`PPV + NPV - 1`. Undefined (``empty``) where either value is."""
    xp = namespace(tp, fp, fn, tn)
    value = (precision(tp, fp, fn, tn, empty=0.0)
             + negative_predictive_value(tp, fp, fn, tn, empty=0.0) - 1.0)
    return _both_defined(xp, (tp + fp) != 0, (tn + fn) != 0, value, empty)


def fowlkes_mallows(tp, fp, fn, tn, *, empty):
    r"""Fowlkes-Mallows index: :math:`\sqrt{PPV \cdot TPR} = tp / \sqrt{(tp+fp)(tp+fn)}`.

    Undefined (``empty``) where either factor is.
    """
    xp = namespace(tp, fp, fn)
    value = xp.sqrt(precision(tp, fp, fn, tn, empty=0.0) * recall(tp, fp, fn, tn, empty=0.0))
    return _both_defined(xp, (tp + fp) != 0, (tp + fn) != 0, value, empty)


def prevalence_threshold(tp, fp, fn, tn, *, empty):
    r"""Prevalence threshold (Balayla 2020):

    .. math::
        PT = \frac{\sqrt{TPR \cdot FPR} - FPR}{TPR - FPR}

    Undefined (``empty``) where TPR or FPR is undefined or ``TPR = FPR`` (the zero
    denominator).
    """
    xp = namespace(tp, fp, fn, tn)
    tpr = recall(tp, fp, fn, tn, empty=0.0)
    fpr = false_positive_rate(tp, fp, fn, tn, empty=0.0)
    value = safe_divide(xp, xp.sqrt(tpr * fpr) - fpr, tpr - fpr, float("nan"))
    defined = ((tp + fn) != 0) & ((fp + tn) != 0) & (tpr != fpr)
    return xp.where(defined, value, scalar(xp, empty, value))


def _guarded_root(xp, v):
    """``sqrt(v)`` for ``v > 0``, 0 for ``v <= 0`` (a zero marginal, or rounding just
    below it), NaN for NaN; the square root only ever sees positive numbers, so its
    gradient stays finite where ``v`` is 0."""
    positive = v > 0
    root = xp.sqrt(xp.where(positive, v, xp.ones_like(v)))
    return xp.where(positive, root, xp.where(xp.isnan(v), v, xp.zeros_like(v)))


def soft_matthews(tp, fp, fn, tn, *, smooth=0.0, empty=0.0):
    r"""Matthews correlation coefficient of soft counts, each count plus ``smooth``.

    .. math::
        MCC = \frac{tp\,tn - fp\,fn}{\sqrt{(tp + fp)(tp + fn)(tn + fp)(tn + fn)}},
        \qquad x \leftarrow x + s \text{ for } x \in \{tp, fp, fn, tn\}

    The loss form of :func:`matthews`: the denominator is a product of guarded square
    roots (no overflow, and a finite gradient where a marginal is 0); where it is exactly
    0 (a zero marginal, possible only with ``smooth=0``) the result is ``empty``. NaN
    counts give NaN.
    """
    xp = namespace(tp, fp, fn, tn)
    if smooth:
        tp, fp, fn, tn = tp + smooth, fp + smooth, fn + smooth, tn + smooth
    denominator = ((_guarded_root(xp, tp + fp) * _guarded_root(xp, tp + fn))
                   * (_guarded_root(xp, tn + fp) * _guarded_root(xp, tn + fn)))
    return safe_divide(xp, tp * tn - fp * fn, denominator, empty)
