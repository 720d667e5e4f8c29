"""Rates of integer label maps: precision, recall, specificity, their complements, accuracy.

Each is a short ``def`` over :func:`regionloss.metrics.confusion.score_labels` and one row
of the metric table (:mod:`regionloss.metrics._table`); all are one-vs-rest per class.
"""

from __future__ import annotations

from .._typing import Array
from ._docs import fill_doc
from .confusion import score_labels

__all__ = [
    "precision", "recall", "specificity", "negative_predictive_value", "false_positive_rate",
    "false_negative_rate", "false_discovery_rate", "false_omission_rate", "accuracy",
    "balanced_accuracy",
]


@fill_doc("macro")
def precision(pred: Array, target: Array, /, *, num_classes: int,
              average: str | None = "macro", per_sample: bool = False,
              include_background: bool = True, ignore_index: int | None = None,
              zero_division: float = float("nan"), return_defined: bool = False,
              validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Precision (positive predictive value) of integer label maps.

    .. math:: P = \frac{tp}{tp + fp}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    ``zero_division`` for a class that is never predicted.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    recall, false_discovery_rate

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.precision(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.5, 1.0]
    """
    return score_labels("precision", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def recall(pred: Array, target: Array, /, *, num_classes: int,
           average: str | None = "macro", per_sample: bool = False,
           include_background: bool = True, ignore_index: int | None = None,
           zero_division: float = float("nan"), return_defined: bool = False,
           validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Recall (sensitivity, true positive rate) of integer label maps.

    .. math:: R = \frac{tp}{tp + fn}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    ``zero_division`` for a class absent from the reference. With ``average="macro"``
    this is mmsegmentation's mAcc and scikit-learn's ``balanced_accuracy_score``.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    precision, false_negative_rate

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.recall(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 1.0, 0.5]
    """
    return score_labels("recall", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def specificity(pred: Array, target: Array, /, *, num_classes: int,
                average: str | None = "macro", per_sample: bool = False,
                include_background: bool = True, ignore_index: int | None = None,
                zero_division: float = float("nan"), return_defined: bool = False,
                validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Specificity (true negative rate) of integer label maps.

    .. math:: S = \frac{tn}{tn + fp}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    false_positive_rate, recall

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.specificity(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.6667, 1.0]
    """
    return score_labels("specificity", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def negative_predictive_value(pred: Array, target: Array, /, *, num_classes: int,
                              average: str | None = "macro", per_sample: bool = False,
                              include_background: bool = True,
                              ignore_index: int | None = None,
                              zero_division: float = float("nan"),
                              return_defined: bool = False,
                              validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Negative predictive value of integer label maps.

    .. math:: NPV = \frac{tn}{tn + fn}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    precision, false_omission_rate

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.negative_predictive_value(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 1.0, 0.6667]
    """
    return score_labels("npv", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def false_positive_rate(pred: Array, target: Array, /, *, num_classes: int,
                        average: str | None = "macro", per_sample: bool = False,
                        include_background: bool = True, ignore_index: int | None = None,
                        zero_division: float = float("nan"), return_defined: bool = False,
                        validate: bool = True) -> Array | tuple[Array, Array]:
    r"""False positive rate (fall-out) of integer label maps.

    .. math:: FPR = \frac{fp}{fp + tn} = 1 - S

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    specificity

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.false_positive_rate(pred, target, num_classes=3, average="none").round(4).tolist()
    [0.0, 0.3333, 0.0]
    """
    return score_labels("fpr", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def false_negative_rate(pred: Array, target: Array, /, *, num_classes: int,
                        average: str | None = "macro", per_sample: bool = False,
                        include_background: bool = True, ignore_index: int | None = None,
                        zero_division: float = float("nan"), return_defined: bool = False,
                        validate: bool = True) -> Array | tuple[Array, Array]:
    r"""False negative rate (miss rate) of integer label maps.

    .. math:: FNR = \frac{fn}{fn + tp} = 1 - R

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    recall

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.false_negative_rate(pred, target, num_classes=3, average="none").round(4).tolist()
    [0.0, 0.0, 0.5]
    """
    return score_labels("fnr", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def false_discovery_rate(pred: Array, target: Array, /, *, num_classes: int,
                         average: str | None = "macro", per_sample: bool = False,
                         include_background: bool = True, ignore_index: int | None = None,
                         zero_division: float = float("nan"), return_defined: bool = False,
                         validate: bool = True) -> Array | tuple[Array, Array]:
    r"""False discovery rate of integer label maps.

    .. math:: FDR = \frac{fp}{fp + tp} = 1 - P

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    precision

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.false_discovery_rate(pred, target, num_classes=3, average="none").round(4).tolist()
    [0.0, 0.5, 0.0]
    """
    return score_labels("fdr", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def false_omission_rate(pred: Array, target: Array, /, *, num_classes: int,
                        average: str | None = "macro", per_sample: bool = False,
                        include_background: bool = True, ignore_index: int | None = None,
                        zero_division: float = float("nan"), return_defined: bool = False,
                        validate: bool = True) -> Array | tuple[Array, Array]:
    r"""False omission rate of integer label maps.

    .. math:: FOR = \frac{fn}{fn + tn} = 1 - NPV

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    negative_predictive_value

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.false_omission_rate(pred, target, num_classes=3, average="none").round(4).tolist()
    [0.0, 0.0, 0.3333]
    """
    return score_labels("for", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("micro")
def accuracy(pred: Array, target: Array, /, *, num_classes: int,
             average: str | None = "micro", per_sample: bool = False,
             include_background: bool = True, ignore_index: int | None = None,
             zero_division: float = float("nan"), return_defined: bool = False,
             validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Pixel accuracy of integer label maps (default ``average="micro"``).

    .. math::
        A_{micro} = \frac{\sum_c tp_c}{\sum_c (tp_c + fn_c)}, \qquad
        A_c = \frac{tp_c + tn_c}{tp_c + fp_c + fn_c + tn_c}

    ``average="micro"`` (the default here) is the pixel accuracy: the fraction of
    scored pixels whose label is right (mmsegmentation's aAcc, scikit-learn's
    ``accuracy_score`` on flattened maps); with ``include_background=False`` the fraction
    of foreground reference pixels labelled right. Per class (``"none"``, ``"macro"``,
    ``"weighted"``) it is the one-vs-rest accuracy ``A_c`` (MONAI's
    ``ConfusionMatrixMetric`` "accuracy"); for mmsegmentation's per-class Acc / mAcc use
    :func:`recall`.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    recall, balanced_accuracy

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> float(rl.accuracy(pred, target, num_classes=3))
    0.75
    """
    return score_labels("accuracy", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def balanced_accuracy(pred: Array, target: Array, /, *, num_classes: int,
                      average: str | None = "macro", per_sample: bool = False,
                      include_background: bool = True, ignore_index: int | None = None,
                      zero_division: float = float("nan"), return_defined: bool = False,
                      validate: bool = True) -> Array | tuple[Array, Array]:
    r"""One-vs-rest balanced accuracy of integer label maps.

    .. math:: BA_c = \frac{1}{2}\left(\frac{tp}{tp + fn} + \frac{tn}{tn + fp}\right)

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    Per class, (recall + specificity) / 2, undefined where either is. This is NOT
    scikit-learn's multi-class ``balanced_accuracy_score``, which is the macro recall:
    use ``recall(..., average="macro")`` for that.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    recall, specificity, informedness

    References
    ----------
    .. [1] T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27,
       2006.
    .. [2] MONAI ``ConfusionMatrixMetric`` (the same names and formulas).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.balanced_accuracy(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.8333, 0.75]
    """
    return score_labels("balanced_accuracy", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)
