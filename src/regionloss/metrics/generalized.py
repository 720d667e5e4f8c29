r"""Generalized Dice score (Sudre et al.) of integer label maps.

Not a one-vs-rest metric of the table (:mod:`regionloss.metrics._table`): the classes are
summed inside one ratio, with weights from the reference volumes,

.. math::
    GDS = \frac{2 \sum_c w_c\,tp_c}{\sum_c w_c\,(R_c + P_c)}

with :math:`R_c` and :math:`P_c` the reference and predicted pixel counts of class
:math:`c` (:math:`R_c + P_c = 2tp_c + fp_c + fn_c`). The counts come from the same kernel
as every other metric (:func:`regionloss.metrics.confusion.count_labels`'s per-class
counts).
"""

from __future__ import annotations

import math

from .._formulas import safe_divide, scalar
from .._kernels.arrays import count_float_dtype
from .._reduce import nan_sum_count, nanmean
from .._typing import Array
from .._validate import check_choice, check_flags, check_zero_division
from .confusion import _class_counts, check_label_maps

__all__ = ["GDS_WEIGHTINGS", "generalized_dice_score", "volume_weights"]

GDS_WEIGHTINGS = ("square", "simple", "uniform")


def volume_weights(xp, reference, *, weighting, absent_class_weight):
    r"""Sudre's class weights from reference counts ``R`` (last axis: classes).

    ``1/R²`` ('square'), ``1/R`` ('simple') or 1 ('uniform'). A class absent from the
    reference (``R = 0``, an infinite raw weight) gets the largest finite weight of the
    same row (sample, or pooled batch), or 1 when the row has no present class ('max', as
    MONAI), or 0 ('zero').
    """
    if weighting == "uniform":
        return xp.ones_like(reference)
    present = reference > 0
    safe = xp.where(present, reference, xp.ones_like(reference))
    raw = 1.0 / (safe * safe) if weighting == "square" else 1.0 / safe
    finite = xp.where(present, raw, xp.zeros_like(raw))
    if absent_class_weight == "zero":
        return finite
    largest = xp.max(finite, axis=-1, keepdims=True)
    largest = xp.where(largest > 0, largest, xp.ones_like(largest))
    return xp.where(present, finite, largest)


def generalized_dice_score(pred: Array, target: Array, /, *, num_classes: int,
                           weighting: str = "square", absent_class_weight: str = "max",
                           per_sample: bool = True, reduction: str = "mean",
                           include_background: bool = True, ignore_index: int | None = None,
                           zero_division: float = float("nan"),
                           validate: bool = True) -> Array:
    r"""Generalized Dice score (Sudre et al. 2017) of integer label maps.

    .. math::
        GDS = \frac{2 \sum_c w_c\,tp_c}{\sum_c w_c\,(R_c + P_c)}, \qquad
        w_c = 1/R_c^2,\ 1/R_c \text{ or } 1

    per sample (or once for the pooled batch), with :math:`tp_c`, :math:`R_c`,
    :math:`P_c` the pixels of class :math:`c` in both maps, in the reference, in the
    prediction, over the kept classes (after ``include_background``). The weights make
    every class count alike whatever its size ('square'). Per class the weight cancels:
    the per-class form is :func:`dice_score` (``average="none"``).

    Parameters
    ----------
    pred, target : integer arrays of the same shape
        Predicted and reference label maps, labels in ``[0, num_classes)``; axis 0 is the
        sample axis. Turn scores into labels with :func:`regionloss.to_labels`.
    num_classes : int
    weighting : {'square', 'simple', 'uniform'}, default 'square'
        :math:`1/R^2`, :math:`1/R` or 1 (torchmetrics' 'linear', MONAI's 'uniform': then
        the score is the Dice of the counts pooled over classes).
    absent_class_weight : {'max', 'zero'}, default 'max'
        The weight of a class absent from the reference of a sample: the largest finite
        weight of that sample (1 if no kept class is present), as MONAI; or 0 (the class
        leaves both sums: predicting it costs nothing).
    per_sample : bool, default True
        True: one score per sample (axis 0), then ``reduction``. False: the counts of the
        whole batch are pooled first (weights from the batch's volumes): one score.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        Over samples (``per_sample=True``): the NaN-aware mean, the NaN-aware sum, or the
        scores per sample, shape (N,). Pooled, a 0-d score in every case.
    include_background : bool, default True
        False leaves class 0 out of both sums (its pixels still count as the other
        classes' negatives: they are not in any kept :math:`R_c` or :math:`P_c`).
    ignore_index : int or None, default None
        Pixels whose reference equals it leave every count.
    zero_division : {nan, 0.0, 1.0}, default nan
        The score where the denominator is 0: no kept class in the reference or the
        prediction of the sample (e.g. every pixel ignored). NaN is left out of the mean;
        MONAI gives 1.0 there, torchmetrics 0.0.
    validate : bool, default True
        Labels outside ``[0, C)``: an error naming them (concrete arrays), NaN under
        ``jax.jit``; False drops such pixels silently.

    Returns
    -------
    value : float array
        0-d, or (N,) with ``reduction='none'`` and ``per_sample=True``; float64 (float32 on
        JAX without x64), in the caller's namespace and on its device.

    Notes
    -----
    MONAI's ``GeneralizedDiceScore`` (``reduction='mean'``/``'sum'``) is this function
    with ``zero_division=1.0`` (its weights are float32). torchmetrics' pooled
    ``generalized_dice_score`` (``per_class=False``) follows the same formula but replaces
    an infinite weight by a value read through a transposed index (not the largest weight
    of the class or of the sample); where no class is absent from a sample's reference,
    and with 'linear' weights, it gives the same numbers as this function
    (``docs/metrics_catalogue.md``). The score is not available in
    :class:`MetricAccumulator` (it is not one-vs-rest: its per-sample values need the
    weights of each sample) nor in ``regionloss score``.

    See Also
    --------
    dice_score, generalized_dice_loss

    References
    ----------
    .. [1] C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso, "Generalised
       Dice overlap as a deep learning loss function for highly unbalanced
       segmentations", DLMIA 2017.
    .. [2] W. R. Crum, O. Camara, D. L. G. Hill, "Generalized overlap measures for
       evaluation and validation in medical image analysis", IEEE TMI 25(11), 2006.
    .. [3] MONAI ``GeneralizedDiceScore`` (the weights and the rule for absent classes
       followed here); torchmetrics ``segmentation.GeneralizedDiceScore``.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> pred = np.array([[0, 0, 1, 1]])
    >>> target = np.array([[0, 0, 0, 1]])
    >>> # class 0: tp 2, R 3, P 2, w 1/9; class 1: tp 1, R 1, P 2, w 1
    >>> got = rl.generalized_dice_score(pred, target, num_classes=2)
    >>> bool(abs(float(got) - 2 * (2 / 9 + 1) / (5 / 9 + 3)) < 1e-12)
    True
    """
    weighting = check_choice("weighting", weighting, GDS_WEIGHTINGS)
    absent_class_weight = check_choice("absent_class_weight", absent_class_weight,
                                       ("max", "zero"))
    reduction = check_choice("reduction", reduction, ("mean", "sum", "none"))
    zero_division = check_zero_division(zero_division)
    per_sample, include_background, validate = check_flags(
        per_sample=per_sample, include_background=include_background, validate=validate)
    xp, pred, target, num_classes, ignore_index = check_label_maps(
        pred, target, num_classes=num_classes, ignore_index=ignore_index,
        per_sample=per_sample)
    if not include_background and num_classes < 2:
        raise ValueError(f"include_background=False needs at least 2 classes, got "
                         f"num_classes={num_classes}")
    tp, predicted, reference, n_invalid = _class_counts(pred, target, num_classes,
                                                        ignore_index, per_sample, validate)
    dtype = count_float_dtype(xp)
    first = 0 if include_background else 1
    tp, predicted, reference = (xp.astype(v, dtype)[..., first:]
                                for v in (tp, predicted, reference))
    w = volume_weights(xp, reference, weighting=weighting,
                       absent_class_weight=absent_class_weight)
    numerator = 2.0 * xp.sum(w * tp, axis=-1)
    denominator = xp.sum(w * (reference + predicted), axis=-1)
    value = safe_divide(xp, numerator, denominator, zero_division)
    if per_sample and reduction != "none":
        if reduction == "mean":
            value = nanmean(xp, value, 0)
        else:
            value, _ = nan_sum_count(xp, value, 0)
    if n_invalid is not None:
        value = xp.where(n_invalid > 0, scalar(xp, math.nan, value), value)
    return value
