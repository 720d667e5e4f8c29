r"""Region losses on rates: sensitivity-specificity (Brosch et al.) and MCC (Matthews).

Both read the soft statistics of :mod:`regionloss._stats` per (sample, class), or per class
with ``per_sample=False``, plus the number of scored pixels :math:`n = \sum w` (so that
:math:`tn = n - tp - fp - fn`), and reduce per-class values like the region losses
(:func:`regionloss._reduce.reduce_losses`: background, class weights, sample mean or sum).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

from .._formulas import safe_divide, soft_matthews
from .._reduce import reduce_losses
from .._typing import Array
from .._validate import ACTIVATIONS
from ._term import LossTerm, Prepared
from .region import check_class_options

__all__ = [
    "scored_pixels",
    "SensitivitySpecificityTerm",
    "MCCTerm",
    "sensitivity_specificity_loss",
    "mcc_loss",
]


def scored_pixels(prepared: Prepared, *, per_sample: bool):
    r"""The number of scored pixels :math:`n = \sum w` per sample, shape (N, 1), or of the
    pooled batch, shape (1,); a Python float when every pixel counts fully."""
    inputs = prepared.inputs
    axes = inputs.sum_axes(per_sample)
    shape = list(inputs.pred.shape)
    shape[inputs.class_axis] = 1
    if inputs.weight is None:
        return float(math.prod(shape[a] for a in axes))
    xp = prepared.xp
    return xp.sum(xp.broadcast_to(inputs.weight, tuple(shape)), axis=axes)


class _RateTerm(LossTerm):
    """Options shared by the rate losses: how classes and samples are read and reduced."""

    def reduce(self, prepared: Prepared, per_class):
        return reduce_losses(prepared.xp, per_class, num_classes=prepared.inputs.num_classes,
                             include_background=self.include_background,
                             class_weights=self.class_weights, reduction=self.reduction)

    def check_classes(self, prepared: Prepared):
        if not self.include_background or self.class_weights is not None:
            check_class_options(prepared, include_background=self.include_background,
                                class_weights=self.class_weights)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SensitivitySpecificityTerm(_RateTerm):
    """The term of :func:`sensitivity_specificity_loss`."""

    name: ClassVar[str] = "sensitivity_specificity_loss"
    checks: ClassVar[dict] = {
        **LossTerm.checks, "activation": ACTIVATIONS, "include_background": "flag",
        "per_sample": "flag", "r": "fraction", "smooth_dr": "nonnegative"}
    r: float = 0.1
    activation: Any = "softmax"
    include_background: bool = True
    class_weights: Any = None
    per_sample: bool = True
    smooth_dr: float = 1e-5

    def per_class_loss(self, prepared: Prepared):
        r""":math:`r\,S_c + (1 - r)\,T_c` per (sample, class), the two mean squared errors."""
        inputs, xp = prepared.inputs, prepared.xp
        p = prepared.probs(self.activation)
        y = inputs.target
        axes = inputs.sum_axes(self.per_sample)
        error = (y - p) * (y - p)
        if inputs.weight is not None:  # finite at removed pixels (selected in prepare)
            error = error * inputs.weight
        on_reference = xp.sum(error * y, axis=axes)           # Σ w (y − p)² y
        off_reference = xp.sum(error, axis=axes) - on_reference  # Σ w (y − p)² (1 − y)
        volume = prepared.volumes(per_sample=self.per_sample)   # Σ w y
        rest = scored_pixels(prepared, per_sample=self.per_sample) - volume  # Σ w (1 − y)
        sensitivity = safe_divide(xp, on_reference, volume + self.smooth_dr, 0.0)
        specificity = safe_divide(xp, off_reference, rest + self.smooth_dr, 0.0)
        return self.r * sensitivity + (1.0 - self.r) * specificity

    def evaluate(self, prepared: Prepared):
        self.check_classes(prepared)
        return self.reduce(prepared, self.per_class_loss(prepared))


@dataclasses.dataclass(frozen=True, kw_only=True)
class MCCTerm(_RateTerm):
    """The term of :func:`mcc_loss`."""

    name: ClassVar[str] = "mcc_loss"
    checks: ClassVar[dict] = {
        **LossTerm.checks, "activation": ACTIVATIONS, "include_background": "flag",
        "per_sample": "flag", "smooth": "nonnegative"}
    activation: Any = "softmax"
    include_background: bool = True
    class_weights: Any = None
    per_sample: bool = False
    smooth: float = 1e-5

    def per_class_loss(self, prepared: Prepared):
        """``1 − MCC`` per (sample, class) of the soft counts."""
        xp = prepared.xp
        s = prepared.stats(self.activation, per_sample=self.per_sample)
        n = scored_pixels(prepared, per_sample=self.per_sample)
        tn = n - s.tp - s.fp - s.fn
        mcc = soft_matthews(s.tp, s.fp, s.fn, tn, smooth=self.smooth, empty=0.0)
        # no scored pixel (every pixel ignored): loss 0, as every loss of the library
        if isinstance(n, float):
            mcc = mcc if n > 0 else xp.ones_like(mcc)
        else:
            mcc = xp.where(n > 0, mcc, xp.ones_like(mcc))
        if self.smooth == 0:
            # a zero marginal leaves MCC undefined: perfect (MCC 1) without errors, else 0
            undefined = ((s.tp + s.fp <= 0) | (s.tp + s.fn <= 0) | (tn + s.fp <= 0)
                         | (tn + s.fn <= 0))
            perfect = xp.astype((s.fp + s.fn) == 0, mcc.dtype)
            mcc = xp.where(undefined, perfect, mcc)
        return 1.0 - mcc

    def evaluate(self, prepared: Prepared):
        self.check_classes(prepared)
        return self.reduce(prepared, self.per_class_loss(prepared))


# --------------------------------------------------------------------------- public losses


def sensitivity_specificity_loss(pred: Array, target: Array, /, *, r: float = 0.1,
                                 class_axis: int | None = -1,
                                 activation: str | None = "softmax",
                                 ignore_index: int | None = None, mask: Array | None = None,
                                 include_background: bool = True,
                                 class_weights: Sequence[float] | Array | None = None,
                                 per_sample: bool = True, smooth_dr: float = 1e-5,
                                 reduction: str = "mean") -> Array:
    r"""Sensitivity-specificity loss (Brosch et al. 2015): weighted mean squared errors.

    Per (sample, class), with probabilities :math:`p`, target :math:`y` and pixel weights
    :math:`w` (``ignore_index`` / ``mask``; 1 by default):

    .. math::
        L_c = r\,\frac{\sum_i w_i (y_{ic} - p_{ic})^2\, y_{ic}}{\sum_i w_i\,y_{ic} + s}
            + (1 - r)\,\frac{\sum_i w_i (y_{ic} - p_{ic})^2 (1 - y_{ic})}
                            {\sum_i w_i (1 - y_{ic}) + s}

    The first term is Brosch et al.'s **sensitivity** term: the mean squared error over the
    reference's pixels of the class (missed pixels, false negatives), weighted by
    :math:`r`; the second is their **specificity** term: the mean squared error over the
    other pixels (false positives), weighted by :math:`1 - r`. Since the background of a
    small structure is large, its mean error is small, and a small :math:`r` keeps the
    specificity term from vanishing next to the sensitivity term. Each term is 0 where its
    set of pixels is empty (``smooth_dr = 0``: the guarded division gives 0). The
    per-class values are then reduced like :func:`dice_loss`'s.

    Parameters
    ----------
    pred, target, class_axis, activation, ignore_index, mask : see dice_loss
        As :func:`dice_loss` (``activation`` 'softmax' by default; 'sigmoid' for
        independent channels, None for probabilities).
    include_background, class_weights, per_sample : see dice_loss
        As :func:`dice_loss`.
    r : float in [0, 1], default 0.1
        The weight of the sensitivity term (the SegLoss collection's value; Brosch et al.
        tune it to their data).
    smooth_dr : float >= 0, default 1e-5
        Added to both denominators (as the region losses' ``smooth_dr``). The SegLoss
        collection adds 1.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As :func:`dice_loss`: 'none' gives the per-(sample, kept class) losses.

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    Notes
    -----
    The loss is 0 exactly where :math:`p = y`, and lies in [0, 1]. The SegLoss collection's
    ``SSLoss`` computes the same two terms (it calls the reference-pixel term
    "specificity_part" and the other "sensitivity_part", but weighs them as here: ``r`` on
    the reference's pixels).

    See Also
    --------
    tversky_loss, regionloss.recall, regionloss.specificity

    References
    ----------
    .. [1] T. Brosch, Y. Yoo, L. Y. W. Tang, D. K. B. Li, A. Traboulsee, R. Tam, "Deep
       convolutional encoder networks for multiple sclerosis lesion segmentation", MICCAI
       2015, LNCS 9351, 3-11.
    .. [2] J. Ma et al., "Loss odyssey in medical image segmentation", Medical Image
       Analysis 71, 2021, and its SegLoss collection (``SSLoss``: r = 0.1).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> p = np.array([[0.8, 0.6, 0.1, 0.3]])           # one sample, 4 pixels, probabilities
    >>> y = np.array([[1, 1, 0, 0]])
    >>> loss = regionloss.sensitivity_specificity_loss(p, y, class_axis=None, activation=None,
    ...                                                smooth_dr=0.0)
    >>> round(float(loss), 4)      # 0.1 · (0.04 + 0.16)/2 + 0.9 · (0.01 + 0.09)/2
    0.055
    """
    term = SensitivitySpecificityTerm(
        r=r, class_axis=class_axis, activation=activation, ignore_index=ignore_index,
        include_background=include_background, class_weights=class_weights,
        per_sample=per_sample, smooth_dr=smooth_dr, reduction=reduction)
    return term(pred, target, mask=mask)


def mcc_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
             activation: str | None = "softmax", ignore_index: int | None = None,
             mask: Array | None = None, include_background: bool = True,
             class_weights: Sequence[float] | Array | None = None, per_sample: bool = False,
             smooth: float = 1e-5, reduction: str = "mean") -> Array:
    r"""Matthews correlation coefficient loss (Abhishek & Hamarneh 2021): ``1 − MCC``.

    Per class (one-vs-rest), on soft counts with pixel weights :math:`w`:
    :math:`tp = \sum w\,p\,y`, :math:`fp = \sum w\,p - tp`, :math:`fn = \sum w\,y - tp`,
    :math:`tn = \sum w - tp - fp - fn` (:math:`= \sum w (1 - p)(1 - y)`), each plus
    ``smooth``:

    .. math::
        L_c = 1 - \frac{tp\,tn - fp\,fn}{\sqrt{(tp + fp)(tp + fn)(tn + fp)(tn + fn)}}

    The loss lies in [0, 2] (MCC in [−1, 1]) and is 0 for a perfect prediction of a class
    present in the reference (up to the smoothing). The per-class values are reduced like
    :func:`dice_loss`'s.

    Parameters
    ----------
    pred, target, class_axis, activation, ignore_index, mask, include_background, class_weights :
        As :func:`dice_loss`. For one foreground (``class_axis=None``) pass
        ``activation='sigmoid'``.
    per_sample : bool, default False
        False pools the whole batch into one set of counts per class (Abhishek &
        Hamarneh's and segmentation_models_pytorch's choice). Per sample, a sample whose
        reference lacks the class has :math:`tp + fn` equal to the smoothing alone, and its
        MCC stays near 0 (loss near 1) whatever the prediction until the false positives
        shrink to the size of the smoothing: such samples add a nearly constant loss.
    smooth : float >= 0, default 1e-5
        Added to each of tp, fp, fn and tn (segmentation_models_pytorch's ``eps``). With
        ``smooth > 0`` a class absent from both reference and prediction scores MCC 1/2.
        With ``smooth=0``, where a marginal is 0 (MCC undefined) the loss is 0 if the
        class has no errors (fp = fn = 0) and 1 otherwise. A sample (or batch) without
        any scored pixel has loss 0.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As :func:`dice_loss` ('none': per (sample, kept class), or per kept class pooled).

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    Notes
    -----
    segmentation_models_pytorch's ``MCCLoss`` pools the batch **and every channel** into
    one binary problem: it equals
    ``mcc_loss(p.reshape(1, -1), y.reshape(1, -1), class_axis=None, activation=None)``
    on its probabilities (or ``activation='sigmoid'`` on logits). On one channel that is
    this function with ``class_axis=None`` (or a size-1 class axis); on several channels
    regionloss scores each class and averages.

    See Also
    --------
    regionloss.matthews_corrcoef, dice_loss

    References
    ----------
    .. [1] K. Abhishek, G. Hamarneh, "Matthews correlation coefficient loss for deep
       convolutional networks: application to skin lesion segmentation", ISBI 2021.
    .. [2] segmentation_models_pytorch ``losses.MCCLoss`` (eps 1e-5 on each count).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> p = np.array([[1.0, 1.0, 0.0, 0.0]])
    >>> y = np.array([[1, 1, 0, 0]])
    >>> round(float(regionloss.mcc_loss(p, y, class_axis=None, activation=None, smooth=0.0)), 6)
    0.0
    >>> round(float(regionloss.mcc_loss(1 - p, y, class_axis=None, activation=None,
    ...                                 smooth=0.0)), 6)
    2.0
    """
    term = MCCTerm(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                   include_background=include_background, class_weights=class_weights,
                   per_sample=per_sample, smooth=smooth, reduction=reduction)
    return term(pred, target, mask=mask)
