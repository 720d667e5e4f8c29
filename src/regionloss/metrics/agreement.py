"""Agreement measures of integer label maps: MCC, informedness, markedness, Fowlkes-Mallows,
prevalence threshold.

Each is a short ``def`` over :func:`regionloss.metrics.confusion.score_labels` and one row
of the metric table (:mod:`regionloss.metrics._table`); all are one-vs-rest per class.
"""

from __future__ import annotations

from .._typing import Array
from ._docs import fill_doc
from .confusion import score_labels

__all__ = ["matthews_corrcoef", "informedness", "markedness", "fowlkes_mallows_index",
           "prevalence_threshold"]


@fill_doc("macro")
def matthews_corrcoef(pred: Array, target: Array, /, *, num_classes: int,
                      average: str | None = "macro", per_sample: bool = False,
                      include_background: bool = True, ignore_index: int | None = None,
                      zero_division: float = float("nan"), return_defined: bool = False,
                      validate: bool = True) -> Array | tuple[Array, Array]:
    r"""One-vs-rest Matthews correlation coefficient of integer label maps.

    .. math:: MCC_c = \frac{tp\,tn - fp\,fn}{\sqrt{(tp + fp)(tp + fn)(tn + fp)(tn + fn)}}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    Per class, the binary MCC of class c against the rest (undefined where any factor of
    the denominator is 0). This is NOT scikit-learn's multi-class ``matthews_corrcoef``
    (one number from the whole C x C matrix, Gorodkin's R_K); ``average="micro"`` gives
    the MCC of the class-summed one-vs-rest counts, which is not R_K either.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    informedness, markedness

    References
    ----------
    .. [1] B. W. Matthews, "Comparison of the predicted and observed secondary structure of
       T4 phage lysozyme", Biochimica et Biophysica Acta 405, 1975.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.matthews_corrcoef(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.5774, 0.5774]
    """
    return score_labels("mcc", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def informedness(pred: Array, target: Array, /, *, num_classes: int,
                 average: str | None = "macro", per_sample: bool = False,
                 include_background: bool = True, ignore_index: int | None = None,
                 zero_division: float = float("nan"), return_defined: bool = False,
                 validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Informedness (bookmaker informedness, Youden's J) of integer label maps.

    .. math:: BM = TPR + TNR - 1 = \frac{tp}{tp + fn} + \frac{tn}{tn + fp} - 1

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    Undefined where either rate is.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    markedness, balanced_accuracy

    References
    ----------
    .. [1] D. M. W. Powers, "Evaluation: from precision, recall and F-measure to ROC,
       informedness, markedness and correlation", J. Machine Learning Technologies 2, 2011.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.informedness(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.6667, 0.5]
    """
    return score_labels("informedness", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def markedness(pred: Array, target: Array, /, *, num_classes: int,
               average: str | None = "macro", per_sample: bool = False,
               include_background: bool = True, ignore_index: int | None = None,
               zero_division: float = float("nan"), return_defined: bool = False,
               validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Markedness of integer label maps.

    .. math:: MK = PPV + NPV - 1 = \frac{tp}{tp + fp} + \frac{tn}{tn + fn} - 1

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    Undefined where either predictive value is.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    informedness

    References
    ----------
    .. [1] D. M. W. Powers, "Evaluation: from precision, recall and F-measure to ROC,
       informedness, markedness and correlation", J. Machine Learning Technologies 2, 2011.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.markedness(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.5, 0.6667]
    """
    return score_labels("markedness", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def fowlkes_mallows_index(pred: Array, target: Array, /, *, num_classes: int,
                          average: str | None = "macro", per_sample: bool = False,
                          include_background: bool = True, ignore_index: int | None = None,
                          zero_division: float = float("nan"), return_defined: bool = False,
                          validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Fowlkes-Mallows index of integer label maps.

    .. math:: FM = \sqrt{PPV \cdot TPR} = \frac{tp}{\sqrt{(tp + fp)(tp + fn)}}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    Undefined where precision or recall is.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    precision, recall

    References
    ----------
    .. [1] E. B. Fowlkes, C. L. Mallows, "A method for comparing two hierarchical
       clusterings", J. American Statistical Association 78, 1983.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.fowlkes_mallows_index(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.7071, 0.7071]
    """
    return score_labels("fowlkes_mallows", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def prevalence_threshold(pred: Array, target: Array, /, *, num_classes: int,
                         average: str | None = "macro", per_sample: bool = False,
                         include_background: bool = True, ignore_index: int | None = None,
                         zero_division: float = float("nan"), return_defined: bool = False,
                         validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Prevalence threshold of integer label maps.

    .. math:: PT = \frac{\sqrt{TPR \cdot FPR} - FPR}{TPR - FPR}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    Undefined where TPR or FPR is undefined, or where ``TPR = FPR``.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    recall, false_positive_rate

    References
    ----------
    .. [1] J. Balayla, "Prevalence threshold (phi_e) and the geometry of screening
       curves", PLoS ONE 15, 2020.
    .. [2] MONAI ``ConfusionMatrixMetric("prevalence threshold")``.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.prevalence_threshold(pred, target, num_classes=3, average="none").round(4).tolist()
    [0.0, 0.366, 0.0]
    """
    return score_labels("prevalence_threshold", pred, target, num_classes=num_classes,
                        average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)
