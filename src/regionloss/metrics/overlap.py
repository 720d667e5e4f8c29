"""Overlap metrics of integer label maps: Dice, IoU (and mIoU), Tversky, F-beta.

Each is a short ``def`` over :func:`regionloss.metrics.confusion.score_labels` and one row
of the metric table (:mod:`regionloss.metrics._table`).
"""

from __future__ import annotations

from .._typing import Array
from ._docs import fill_doc
from .confusion import score_labels

__all__ = ["dice_score", "iou_score", "tversky_score", "fbeta_score", "mean_iou"]


@fill_doc("macro")
def dice_score(pred: Array, target: Array, /, *, num_classes: int,
               average: str | None = "macro", per_sample: bool = False,
               include_background: bool = True, ignore_index: int | None = None,
               zero_division: float = float("nan"), return_defined: bool = False,
               validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Dice score (F1) of integer label maps.

    .. math:: D = \frac{2\,tp}{2\,tp + fp + fn}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    A class absent from reference and prediction is ``zero_division``; absent from the
    reference but predicted it scores 0. Equals ``1 - dice_loss`` with zero smoothing on
    one-hot inputs.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    iou_score, dice_loss, score_confusion, MetricAccumulator

    References
    ----------
    .. [1] L. R. Dice, "Measures of the amount of ecologic association between species",
       Ecology 26, 1945.
    .. [2] MONAI ``DiceMetric``; torchmetrics ``segmentation.DiceScore`` (per-sample and
       global variants, see the equivalence table).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.dice_score(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.6667, 0.6667]
    """
    return score_labels("dice", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def iou_score(pred: Array, target: Array, /, *, num_classes: int,
              average: str | None = "macro", per_sample: bool = False,
              include_background: bool = True, ignore_index: int | None = None,
              zero_division: float = float("nan"), return_defined: bool = False,
              validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Intersection over union (Jaccard index) of integer label maps.

    .. math:: IoU = \frac{tp}{tp + fp + fn} = \frac{D}{2 - D}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    The threat score (critical success index) is the same formula (metric aliases
    ``"threat_score"``, ``"csi"``).

    Parameters
    ----------
    {parameters}

    See Also
    --------
    mean_iou, dice_score, jaccard_loss

    References
    ----------
    .. [1] P. Jaccard, "The distribution of the flora in the alpine zone", New
       Phytologist 11, 1912.
    .. [2] M. Everingham et al., "The PASCAL visual object classes (VOC) challenge", IJCV
       88, 2010 (the mean IoU of semantic segmentation).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.iou_score(pred, target, num_classes=3, average="none").round(4).tolist()
    [1.0, 0.5, 0.5]
    """
    return score_labels("iou", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)


@fill_doc("macro")
def tversky_score(pred: Array, target: Array, /, *, alpha: float = 0.3, beta: float = 0.7,
                  num_classes: int, average: str | None = "macro", per_sample: bool = False,
                  include_background: bool = True, ignore_index: int | None = None,
                  zero_division: float = float("nan"), return_defined: bool = False,
                  validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Tversky index of integer label maps (alpha weights FP, beta weights FN).

    .. math:: TI = \frac{tp}{tp + \alpha\,fp + \beta\,fn}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` is IoU.

    Parameters
    ----------
    alpha : float, default 0.3
        Weight of the false positives (>= 0).
    beta : float, default 0.7
        Weight of the false negatives (>= 0; not both 0).
    {parameters}

    See Also
    --------
    tversky_loss, dice_score

    References
    ----------
    .. [1] A. Tversky, "Features of similarity", Psychological Review 84, 1977.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.tversky_score(pred, target, num_classes=3, alpha=1.0, beta=1.0).round(4).tolist()
    0.6667
    """
    return score_labels("tversky", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate, alpha=alpha, beta=beta)


@fill_doc("macro")
def fbeta_score(pred: Array, target: Array, /, *, beta: float = 1.0, num_classes: int,
                average: str | None = "macro", per_sample: bool = False,
                include_background: bool = True, ignore_index: int | None = None,
                zero_division: float = float("nan"), return_defined: bool = False,
                validate: bool = True) -> Array | tuple[Array, Array]:
    r"""F-beta score of integer label maps (beta > 1 favours recall).

    .. math:: F_\beta = \frac{(1 + \beta^2)\,tp}{(1 + \beta^2)\,tp + \beta^2 fn + fp}

    computed per class from hard counts (one-vs-rest), then averaged over classes as
    ``average`` says.
    ``beta = 1`` is F1 = Dice.

    Parameters
    ----------
    beta : float, default 1.0
        Recall counts beta times as much as precision (> 0; 1 is F1 = Dice).
    {parameters}

    See Also
    --------
    dice_score, asymmetric_loss

    References
    ----------
    .. [1] C. J. van Rijsbergen, "Information Retrieval", 2nd ed., Butterworths, 1979.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> rl.fbeta_score(pred, target, num_classes=3, beta=1.0).round(4).tolist()
    0.7778
    """
    return score_labels("fbeta", pred, target, num_classes=num_classes, average=average,
                        per_sample=per_sample, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate, beta=beta)


def mean_iou(pred: Array, target: Array, /, *, num_classes: int,
             include_background: bool = True, ignore_index: int | None = None,
             zero_division: float = float("nan"), return_defined: bool = False,
             validate: bool = True) -> Array | tuple[Array, Array]:
    r"""Mean IoU (mIoU): the dataset-level macro IoU of semantic segmentation.

    .. math:: mIoU = \frac{1}{|K|} \sum_{c \in K} \frac{tp_c}{tp_c + fp_c + fn_c}

    with tp, fp, fn pooled over every pixel of the batch (``per_sample=False``) and K the
    classes whose IoU is defined (``zero_division=nan``: a class absent from both
    prediction and reference is left out). Same as
    ``iou_score(pred, target, num_classes=C, average="macro", per_sample=False)``: the
    mIoU of mmsegmentation and of torchmetrics' ``JaccardIndex(task="multiclass",
    average="macro")``. For a dataset, stream the counts with :class:`MetricAccumulator`
    (or sum :func:`confusion_matrix` over batches and call :func:`score_confusion`).

    Parameters
    ----------
    pred, target, num_classes, include_background, ignore_index, zero_division : see iou_score
        As :func:`iou_score`.
    return_defined, validate : bool
        As :func:`iou_score`.

    Returns
    -------
    value : 0-d float array (or ``(value, defined)``)

    See Also
    --------
    iou_score, MetricAccumulator

    References
    ----------
    .. [1] M. Everingham et al., "The PASCAL visual object classes (VOC) challenge", IJCV
       88, 2010.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred, target = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    >>> round(float(rl.mean_iou(pred, target, num_classes=3)), 4)
    0.6667
    """
    return score_labels("iou", pred, target, num_classes=num_classes, average="macro",
                        per_sample=False, include_background=include_background,
                        ignore_index=ignore_index, zero_division=zero_division,
                        return_defined=return_defined, validate=validate)
