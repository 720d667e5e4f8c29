"""Generalized Dice losses: one Dice per sample with class weights from reference volumes.

:func:`generalized_dice_loss` (Sudre et al. 2017) weighs each class's statistics by the
inverse (squared) volume of its reference before summing over classes;
:func:`penalty_generalized_dice_loss` (Yang et al. 2019) penalises it further. Both return
one value per sample (or per pooled batch), not per class.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Sequence

from .._formulas import safe_divide, scalar
from .._reduce import reduce_samples, select_classes
from .._typing import Array
from .._validate import check_class_weights
from ._docs import REDUCTION_PER_SAMPLE, fill_doc
from ._term import Prepared
from .region import RegionTerm, check_class_options

__all__ = [
    "GDL_WEIGHTINGS",
    "ABSENT_CLASS_WEIGHTS",
    "generalized_dice_weights",
    "GeneralizedDiceTerm",
    "PenaltyGeneralizedDiceTerm",
    "generalized_dice_loss",
    "penalty_generalized_dice_loss",
]

GDL_WEIGHTINGS = ("square", "simple", "uniform")
ABSENT_CLASS_WEIGHTS = ("max", "zero")


def generalized_dice_weights(xp, volumes, *, weighting: str,
                             absent_class_weight: str) -> Array:
    r"""Sudre et al.'s class weights from reference volumes ``V`` (last axis: classes).

    ``w = 1/V²`` ('square'), ``1/V`` ('simple') or ``1`` ('uniform'). A class with ``V = 0``
    has an infinite raw weight; it gets the largest finite weight of the same row (sample,
    or batch), 'max' (as MONAI), or 0, 'zero'. A row without any present class gets weight
    0 for all (then the loss is 0 with the default smoothing). The division is guarded
    (double ``where``): weights and gradients stay finite. ``V`` depends on the target
    only, so the weights are constants for the gradient w.r.t. the prediction.
    """
    if weighting == "uniform":
        return xp.ones_like(volumes)
    present = volumes > 0
    safe = xp.where(present, volumes, scalar(xp, 1.0, volumes))
    raw = 1.0 / (safe * safe) if weighting == "square" else 1.0 / safe
    finite = xp.where(present, raw, xp.zeros_like(raw))
    if absent_class_weight == "zero":
        return finite
    largest = xp.max(finite, axis=-1, keepdims=True)
    return xp.where(present, finite, largest)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneralizedDiceTerm(RegionTerm):
    """The term of :func:`generalized_dice_loss`."""

    name: ClassVar[str] = "generalized_dice_loss"
    checks: ClassVar[dict] = {**RegionTerm.checks, "weighting": GDL_WEIGHTINGS,
                              "absent_class_weight": ABSENT_CLASS_WEIGHTS}
    weighting: str = "square"
    absent_class_weight: str = "max"

    def per_sample_loss(self, prepared: Prepared):
        """The generalized Dice loss per sample (N,), or 0-d when the batch is pooled."""
        check_class_options(prepared, include_background=self.include_background,
                            class_weights=self.class_weights)
        inputs, xp = prepared.inputs, prepared.xp
        keep = self.include_background
        s = prepared.stats(self.activation, per_sample=self.per_sample, squared=self.squared,
                           soft_labels=self.soft_labels)
        tp, fp, fn = (select_classes(v, include_background=keep) for v in s)
        volumes = select_classes(prepared.volumes(per_sample=self.per_sample),
                                 include_background=keep)
        w = generalized_dice_weights(xp, volumes, weighting=self.weighting,
                                     absent_class_weight=self.absent_class_weight)
        if self.class_weights is not None:
            cw = check_class_weights(xp, self.class_weights, inputs.num_classes, tp.dtype,
                                     None, include_background=keep)
            w = w * select_classes(cw, include_background=keep)
        numerator = 2.0 * xp.sum(w * tp, axis=-1) + self.smooth_nr
        denominator = xp.sum(w * (2.0 * tp + fp + fn), axis=-1) + self.smooth_dr
        return 1.0 - safe_divide(xp, numerator, denominator, 1.0)

    def evaluate(self, prepared: Prepared):
        return reduce_samples(prepared.xp, self.per_sample_loss(prepared), self.reduction)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PenaltyGeneralizedDiceTerm(GeneralizedDiceTerm):
    """The term of :func:`penalty_generalized_dice_loss`: ``L / (1 + k (1 − L))``."""

    name: ClassVar[str] = "penalty_generalized_dice_loss"
    checks: ClassVar[dict] = {**GeneralizedDiceTerm.checks, "k": "nonnegative"}
    k: float = 2.5

    def evaluate(self, prepared: Prepared):
        loss = super().evaluate(prepared)
        return loss / (1.0 + self.k * (1.0 - loss))


@fill_doc(REDUCTION_PER_SAMPLE)
def generalized_dice_loss(pred: Array, target: Array, /, *, weighting: str = "square",
                          absent_class_weight: str = "max", class_axis: int | None = -1,
                          activation: str | None = "softmax",
                          ignore_index: int | None = None, mask: Array | None = None,
                          include_background: bool = True,
                          class_weights: Sequence[float] | Array | None = None,
                          per_sample: bool = True, smooth_nr: float = 1e-5,
                          smooth_dr: float = 1e-5, squared: bool = False,
                          soft_labels: bool = False, reduction: str = "mean") -> Array:
    r"""Generalized Dice loss (Sudre et al. 2017), class weights from reference volumes.

    .. math::
        L = 1 - \frac{2 \sum_c w_c\,tp_c + s_{nr}}
                     {\sum_c w_c\,(2\,tp_c + fp_c + fn_c) + s_{dr}},
        \qquad w_c = 1/V_c^2,\ 1/V_c \text{ or } 1

    per sample (or once over the pooled batch with ``per_sample=False``), with
    :math:`V_c = \sum w\cdot y_c` the reference volume of class ``c`` in that sample (or
    batch) and the sums over the kept classes (after ``include_background``). The
    denominator is :math:`\sum_c w_c(\sum p_c + \sum y_c)` (:math:`\sum p^2 + \sum y^2`
    with ``squared=True``).

    A class absent from the reference (:math:`V_c = 0`) has an infinite raw weight:
    ``absent_class_weight='max'`` gives it the largest finite weight of the same sample
    (or batch), as MONAI does: its only statistic, the false positives
    :math:`fp_c = \sum w\cdot p_c`, enters the denominator with that weight, so predicting
    an absent class costs as much as an error on the rarest present class. ``'zero'``
    gives it weight 0: the class leaves both sums and its false positives cost nothing by
    themselves (with a softmax, the probability it takes is still missing from the present
    classes' true positives). Gradients stay finite either way (the weights are guarded
    constants of the target).

    Parameters
    ----------
    weighting : {'square', 'simple', 'uniform'}, default 'square'
        ``w = 1/V²``, ``1/V`` or ``1``. 'uniform' is the pooled ("micro") Dice over classes.
    absent_class_weight : {'max', 'zero'}, default 'max'
        The weight of a class absent from the reference of a sample (or batch).
    {parameters}

    Notes
    -----
    This loss is one number per sample, not per class: ``reduction='none'`` returns shape
    (N,), or a 0-d array with ``per_sample=False``; 'mean' and 'sum' average or sum the
    samples. ``class_weights`` multiply the volume weights (``w_c · cw_c``).

    See Also
    --------
    dice_loss, penalty_generalized_dice_loss

    References
    ----------
    .. [1] C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso, "Generalised
       Dice overlap as a deep learning loss function for highly unbalanced
       segmentations", DLMIA 2017.
    .. [2] MONAI ``GeneralizedDiceLoss`` (its ``w_type`` and the weight of absent classes).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> a = regionloss.generalized_dice_loss(logits, labels, weighting="uniform")
    >>> bool(0 < float(a) < 1)
    True
    """
    term = GeneralizedDiceTerm(
        weighting=weighting, absent_class_weight=absent_class_weight, class_axis=class_axis,
        activation=activation, ignore_index=ignore_index, include_background=include_background,
        class_weights=class_weights, per_sample=per_sample, smooth_nr=smooth_nr,
        smooth_dr=smooth_dr, squared=squared, soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)


@fill_doc(REDUCTION_PER_SAMPLE)
def penalty_generalized_dice_loss(pred: Array, target: Array, /, *, k: float = 2.5,
                                  weighting: str = "square",
                                  absent_class_weight: str = "max",
                                  class_axis: int | None = -1,
                                  activation: str | None = "softmax",
                                  ignore_index: int | None = None,
                                  mask: Array | None = None,
                                  include_background: bool = True,
                                  class_weights: Sequence[float] | Array | None = None,
                                  per_sample: bool = True, smooth_nr: float = 1e-5,
                                  smooth_dr: float = 1e-5, squared: bool = False,
                                  soft_labels: bool = False,
                                  reduction: str = "mean") -> Array:
    r"""Penalty generalized Dice loss (Yang et al. 2019): the GDL penalised by ``k``.

    .. math::
        L = \frac{L_{GD}}{1 + k\,(1 - L_{GD})}

    with :math:`L_{GD}` the output of :func:`generalized_dice_loss` called with the same
    options (the reduced loss, as the SegLoss collection applies it; with
    ``reduction='none'`` elementwise per sample). ``k = 0`` is the GDL; larger ``k``
    lowers the loss of good predictions relative to bad ones, so that false positives and
    false negatives of nearly right predictions are penalised less than gross errors.
    The loss lies in [0, 1], is 0 exactly where the GDL is, and increases with it.

    Parameters
    ----------
    k : float, default 2.5
        The penalty (>= 0), the SegLoss collection's default.
    weighting, absent_class_weight :
        As :func:`generalized_dice_loss`.
    {parameters}

    See Also
    --------
    generalized_dice_loss

    References
    ----------
    .. [1] S. Yang, J. Kweon, Y.-H. Kim, "Major vessel segmentation on X-ray coronary
       angiography using deep networks with a novel penalty loss function", MIDL 2019
       (extended abstract, openreview H1lTh8unKN).
    .. [2] J. Ma et al., "Loss odyssey in medical image segmentation", Medical Image
       Analysis 71, 2021, and its SegLoss collection (``PenaltyGDiceLoss``: k = 2.5,
       applied to the batch-reduced GDL).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> g = float(regionloss.generalized_dice_loss(logits, labels))
    >>> p = float(regionloss.penalty_generalized_dice_loss(logits, labels, k=2.5))
    >>> bool(abs(p - g / (1 + 2.5 * (1 - g))) < 1e-6)
    True
    """
    term = PenaltyGeneralizedDiceTerm(
        k=k, weighting=weighting, absent_class_weight=absent_class_weight,
        class_axis=class_axis, activation=activation, ignore_index=ignore_index,
        include_background=include_background, class_weights=class_weights,
        per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr, squared=squared,
        soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)
