r"""Losses defined as one formula over a region part and a pixel-wise part.

* :func:`exp_log_loss` (Wong et al. 2018): exponential-logarithmic Dice and cross-entropy.
* :func:`combo_loss` (Taghanaki et al. 2019): weighted binary cross-entropy minus Dice.

Both read the soft statistics and the log-probabilities of one prepared call (the
probabilities are ``exp`` of the log-probabilities, as in a compound).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, ClassVar, Sequence

from .._formulas import overlap_index
from .._kernels.arrays import device_of
from .._reduce import reduce_losses, weighted_pixel_mean
from .._typing import Array
from ._term import LossTerm, Prepared
from .pixelwise import log_not_p, select_product
from .region import check_class_options, focal_power

__all__ = [
    "ExpLogTerm",
    "ComboTerm",
    "exp_log_loss",
    "combo_loss",
    "log_one_minus",
]


def log_one_minus(xp, log_p):
    r""":math:`\log(1 - p)` from :math:`\log p`, as ``log(-expm1(log p))``: exact down to
    the smallest :math:`1 - p` the dtype holds. Where :math:`\log p \ge 0`
    (:math:`p = 1`) it is :math:`-\infty`, with a zero (not NaN) gradient; NaN stays NaN
    (``log_p >= 0`` is False for NaN, which then flows through the ``expm1``)."""
    at_one = log_p >= 0
    value = xp.log(-xp.expm1(xp.where(at_one, -xp.ones_like(log_p), log_p)))
    return xp.where(at_one, xp.full_like(log_p, -float("inf")), value)


def _dice(stats, smooth_nr, smooth_dr):
    """Soft Dice per (sample, class)."""
    return overlap_index(stats.tp, stats.fp, stats.fn, w_tp=2.0, w_fp=1.0, w_fn=1.0,
                         smooth_nr=smooth_nr, smooth_dr=smooth_dr)


def _class_shape(inputs):
    shape = [1] * inputs.pred.ndim
    shape[inputs.class_axis] = inputs.num_classes
    return tuple(shape)


def check_ce_class_weights(value):
    """'frequency', None, or a sequence of finite non-negative numbers (a tuple)."""
    if value is None or (isinstance(value, str) and value == "frequency"):
        return value
    if isinstance(value, str) or isinstance(value, numbers.Number):
        raise ValueError(f"ce_class_weights must be 'frequency', None or one weight per "
                         f"class; got {value!r}")
    import numpy as np

    try:
        host = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"ce_class_weights must be 'frequency', None or a sequence of "
                        f"numbers; got {type(value).__name__}") from None
    if host.ndim != 1 or not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError(f"ce_class_weights must be a 1-d sequence of finite numbers >= 0; "
                         f"got {host.tolist()}")
    return tuple(host.tolist())


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExpLogTerm(LossTerm):
    """The term of :func:`exp_log_loss`."""

    name: ClassVar[str] = "exp_log_loss"
    log_activation: ClassVar[bool] = True
    checks: ClassVar[dict] = {
        **LossTerm.checks, "reduction": ("mean", "sum"), "activation": ("softmax",),
        "include_background": "flag", "per_sample": "flag", "gamma_dice": "positive",
        "gamma_ce": "positive", "dice_weight": "nonnegative", "ce_weight": "nonnegative",
        "smooth_nr": "nonnegative", "smooth_dr": "nonnegative"}
    gamma_dice: float = 0.3
    gamma_ce: float = 0.3
    dice_weight: float = 0.8
    ce_weight: float = 0.2
    ce_class_weights: Any = "frequency"
    activation: Any = "softmax"
    include_background: bool = True
    class_weights: Any = None
    per_sample: bool = True
    smooth_nr: float = 1.0
    smooth_dr: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "ce_class_weights",
                           check_ce_class_weights(self.ce_class_weights))

    def label_weights(self, prepared: Prepared):
        r"""The cross-entropy's :math:`w_l` along the class axis, or None."""
        inputs, xp = prepared.inputs, prepared.xp
        cw = self.ce_class_weights
        if cw is None:
            return None
        if cw == "frequency":   # ((Σ_k f_k) / f_l)^0.5, f the batch's reference volumes
            f = prepared.volumes(per_sample=False)
            present = f > 0
            ratio = xp.sum(f) / xp.where(present, f, xp.ones_like(f))
            w = xp.where(present, xp.sqrt(ratio), xp.zeros_like(f))
        else:
            if len(cw) != inputs.num_classes:
                raise ValueError(
                    f"ce_class_weights has {len(cw)} values but the prediction has "
                    f"{inputs.num_classes} classes (channels): one weight per class id")
            w = xp.asarray(cw, dtype=inputs.dtype, device=device_of(inputs.pred))
        return xp.reshape(w, _class_shape(inputs))

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        if not self.include_background or self.class_weights is not None:
            check_class_options(prepared, include_background=self.include_background,
                                class_weights=self.class_weights)
        dice = _dice(prepared.stats(self.activation, per_sample=self.per_sample),
                     self.smooth_nr, self.smooth_dr)
        dice_part = reduce_losses(xp, focal_power(xp, -xp.log(dice), self.gamma_dice),
                                  num_classes=inputs.num_classes,
                                  include_background=self.include_background,
                                  class_weights=self.class_weights, reduction=self.reduction)
        y, axis = inputs.target, inputs.class_axis
        log_p = prepared.log_probs(self.activation)
        w = self.label_weights(prepared)
        if inputs.labels is not None:
            # a label map (one-hot y): one power per pixel, of −ln p at its label
            neg_log = -xp.sum(select_product(xp, y, log_p), axis=axis, keepdims=True)
            ce = focal_power(xp, neg_log, self.gamma_ce)
            if w is not None:
                ce = xp.sum(y * w, axis=axis, keepdims=True) * ce
        else:
            # (−ln p)^γ read only where the target has mass: 0 (and a zero gradient) elsewhere
            neg_log = xp.where(y > 0, -log_p, xp.zeros_like(y))
            per_class = y * focal_power(xp, neg_log, self.gamma_ce)
            if w is not None:
                per_class = per_class * w
            ce = xp.sum(per_class, axis=axis, keepdims=True)
        ce_part = weighted_pixel_mean(xp, ce, inputs.weight, reduction=self.reduction)
        return self.dice_weight * dice_part + self.ce_weight * ce_part


@dataclasses.dataclass(frozen=True, kw_only=True)
class ComboTerm(LossTerm):
    """The term of :func:`combo_loss`."""

    name: ClassVar[str] = "combo_loss"
    log_activation: ClassVar[bool] = True
    checks: ClassVar[dict] = {
        **LossTerm.checks, "reduction": ("mean", "sum"), "activation": ("softmax", "sigmoid"),
        "alpha": "fraction", "beta": "fraction", "one_minus_dice": "flag",
        "include_background": "flag", "per_sample": "flag", "smooth_nr": "nonnegative",
        "smooth_dr": "nonnegative"}
    alpha: float = 0.5
    beta: float = 0.5
    one_minus_dice: bool = False
    activation: Any = "softmax"
    include_background: bool = True
    class_weights: Any = None
    per_sample: bool = True
    smooth_nr: float = 1e-5
    smooth_dr: float = 1e-5

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        if not self.include_background or self.class_weights is not None:
            check_class_options(prepared, include_background=self.include_background,
                                class_weights=self.class_weights)
        dice = _dice(prepared.stats(self.activation, per_sample=self.per_sample),
                     self.smooth_nr, self.smooth_dr)
        region = reduce_losses(xp, 1.0 - dice if self.one_minus_dice else dice,
                               num_classes=inputs.num_classes,
                               include_background=self.include_background,
                               class_weights=self.class_weights, reduction=self.reduction)
        log_p = prepared.log_probs(self.activation)
        log_q = (log_not_p(xp, inputs.pred, log_p) if self.activation == "sigmoid"
                 else log_one_minus(xp, log_p))
        y = inputs.target
        # a weight of exactly 0 removes its term (0 · −inf would be NaN, the limit is 0)
        pos = self.beta * log_p if self.beta > 0 else xp.zeros_like(log_p)
        neg = (1.0 - self.beta) * log_q if self.beta < 1 else xp.zeros_like(log_q)
        if inputs.labels is not None:   # one-hot y: one of the two terms per element
            bce = -xp.where(y > 0, pos, neg)
        else:
            bce = -(select_product(xp, y, pos) + select_product(xp, 1.0 - y, neg))
        if not self.include_background:
            index = [slice(None)] * bce.ndim
            index[inputs.class_axis] = slice(1, None)
            bce = bce[tuple(index)]
        pixelwise = weighted_pixel_mean(xp, bce, inputs.weight, reduction=self.reduction)
        if self.alpha == 0:   # the Dice alone (0 · inf would be NaN)
            pixelwise = xp.zeros_like(pixelwise)
        if self.one_minus_dice:
            return self.alpha * pixelwise + (1.0 - self.alpha) * region
        return self.alpha * pixelwise - (1.0 - self.alpha) * region


# --------------------------------------------------------------------------- public losses


def exp_log_loss(pred: Array, target: Array, /, *, gamma_dice: float = 0.3,
                 gamma_ce: float = 0.3, dice_weight: float = 0.8, ce_weight: float = 0.2,
                 ce_class_weights: str | Sequence[float] | None = "frequency",
                 class_axis: int | None = -1, activation: str | None = "softmax",
                 ignore_index: int | None = None, mask: Array | None = None,
                 include_background: bool = True,
                 class_weights: Sequence[float] | Array | None = None,
                 per_sample: bool = True, smooth_nr: float = 1.0, smooth_dr: float = 1.0,
                 reduction: str = "mean") -> Array:
    r"""Exponential logarithmic loss (Wong et al. 2018): focal-like Dice and cross-entropy.

    .. math::
        L = w_{dice}\,\mathbb{E}_c\big[(-\ln D_c)^{\gamma_{dice}}\big]
          + w_{ce}\,\mathbb{E}_i\big[w_{y_i}\,(-\ln p_{i y_i})^{\gamma_{ce}}\big],
        \qquad
        D_c = \frac{2\,tp_c + s_{nr}}{2\,tp_c + fp_c + fn_c + s_{dr}}

    The first expectation runs over the (sample, class) soft Dice values (weighted by
    ``class_weights``, then over samples, as :func:`dice_loss`), the second over the
    scored pixels (a dense target enters as :math:`\sum_c y_{ic} w_c (-\ln p_{ic})^\gamma`).
    The label weights are Wong et al.'s :math:`w_l = ((\sum_k f_k) / f_l)^{0.5}`,
    :math:`f_k` the frequency of label :math:`k`. With :math:`\gamma < 1` the power
    raises the loss of well-segmented classes and pixels relative to a plain log, as the
    focal loss does the other way round.

    Where :math:`D_c = 1` or :math:`p_{iy_i} = 1` the power :math:`0^\gamma` has an
    infinite derivative for :math:`\gamma < 1`: there the value is 0 and the gradient 0
    (as :func:`focal_tversky_loss`). A Dice of 0 (possible only with ``smooth_nr=0``) gives
    an infinite loss.

    Parameters
    ----------
    pred, target, class_axis, ignore_index, mask, include_background, class_weights, per_sample :
        As :func:`dice_loss`. ``include_background`` and ``class_weights`` act on the
        Dice part.
    gamma_dice, gamma_ce : float > 0, default 0.3
        The exponents (Wong et al.: 0.3 both).
    dice_weight, ce_weight : float >= 0, default 0.8 and 0.2
        :math:`w_{dice}`, :math:`w_{ce}` (Wong et al.'s values).
    ce_class_weights : 'frequency', None or sequence of float, default 'frequency'
        The label weights :math:`w_l` of the cross-entropy part: 'frequency' computes
        Wong et al.'s formula from the reference of the call (the whole batch, pixel
        weights included; a label absent from the batch gets weight 0, and no pixel
        uses it); a sequence gives one weight per class id (e.g. the same formula with
        the label frequencies of a training set); None weighs every label 1.
    activation : {'softmax'}, default 'softmax'
        The cross-entropy part reads mutually exclusive classes.
    smooth_nr, smooth_dr : float, default 1.0
        The Dice smoothing: Wong et al.'s pseudocount :math:`\epsilon = 1` (with the
        region losses' 1e-5, a class absent from a sample would make :math:`-\ln D_c`
        large until the prediction of that class is empty).
    reduction : {'mean', 'sum'}, default 'mean'
        'mean': both expectations as above. 'sum': the Dice part summed over samples and
        the cross-entropy part over pixels.

    Returns
    -------
    array
        0-d, in ``pred``'s namespace and device.

    See Also
    --------
    dice_ce_loss, focal_loss, focal_tversky_loss

    References
    ----------
    .. [1] K. C. L. Wong, M. Moradi, H. Tang, T. Syeda-Mahmood, "3D segmentation with
       exponential logarithmic loss for highly unbalanced object sizes", MICCAI 2018,
       LNCS 11072, 612-619 (γ = 0.3, weights 0.8 and 0.2, ε = 1, label weights).
    .. [2] J. Ma et al., "Loss odyssey in medical image segmentation", Medical Image
       Analysis 71, 2021 (the SegLoss collection's ``ExpLog_loss`` applies the power to
       the class-mean Dice; here it is applied per class, as the paper writes it).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> p = np.array([[[0.5, 0.5], [0.5, 0.5]]])       # one sample, 2 pixels, 2 classes
    >>> y = np.array([[0, 1]])
    >>> d = (2 * 0.5 + 1) / (1 + 1 + 1)                # each class: tp 0.5, Σp 1, Σy 1
    >>> want = 0.8 * (-np.log(d)) ** 0.3 + 0.2 * np.log(2) ** 0.3
    >>> got = regionloss.exp_log_loss(np.log(p), y, ce_class_weights=None)
    >>> bool(abs(float(got) - want) < 1e-6)
    True
    """
    term = ExpLogTerm(
        gamma_dice=gamma_dice, gamma_ce=gamma_ce, dice_weight=dice_weight, ce_weight=ce_weight,
        ce_class_weights=ce_class_weights, class_axis=class_axis, activation=activation,
        ignore_index=ignore_index, include_background=include_background,
        class_weights=class_weights, per_sample=per_sample, smooth_nr=smooth_nr,
        smooth_dr=smooth_dr, reduction=reduction)
    return term(pred, target, mask=mask)


def combo_loss(pred: Array, target: Array, /, *, alpha: float = 0.5, beta: float = 0.5,
               one_minus_dice: bool = False, class_axis: int | None = -1,
               activation: str | None = "softmax", ignore_index: int | None = None,
               mask: Array | None = None, include_background: bool = True,
               class_weights: Sequence[float] | Array | None = None,
               per_sample: bool = True, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
               reduction: str = "mean") -> Array:
    r"""Combo loss (Taghanaki et al. 2019): α · weighted BCE − (1 − α) · Dice.

    .. math::
        L = \alpha\,\Big(-\frac{1}{|E|}\sum_{(i,c) \in E}
              \big[\beta\,y_{ic}\ln p_{ic} + (1 - \beta)(1 - y_{ic})\ln(1 - p_{ic})\big]\Big)
            - (1 - \alpha)\,\overline{D}

    with :math:`E` the scored (pixel, class) elements (every channel, or the foreground
    channels without the background) and :math:`\overline{D}` the soft Dice averaged as
    :func:`dice_loss` averages its per-class values (class weights, then samples).
    :math:`\beta` weighs the **false negatives** (the terms on the reference's pixels):
    :math:`\beta > 0.5` penalises missed pixels more, :math:`\beta < 0.5` false positives.
    :math:`\alpha` sets the share of the cross-entropy.

    **Sign**: as in the paper the Dice is *subtracted*, so the loss is not 0 at a perfect
    prediction but :math:`-(1 - \alpha)` and can be negative; its gradient is unaffected.
    ``one_minus_dice=True`` uses :math:`(1 - \alpha)(1 - \overline{D})` instead: the same
    gradient, a loss that is :math:`\ge 0` and 0 at a perfect prediction (convenient for
    logging, early stopping and for adding to other losses).

    Parameters
    ----------
    pred, target, class_axis, ignore_index, mask, include_background, class_weights, per_sample :
        As :func:`dice_loss`.
    alpha : float in [0, 1], default 0.5
        The weight of the cross-entropy part.
    beta : float in [0, 1], default 0.5
        The weight of the false-negative (positive-target) term of the cross-entropy.
    one_minus_dice : bool, default False
        Use ``1 − Dice`` (non-negative loss) instead of ``− Dice`` (the paper's).
    activation : {'softmax', 'sigmoid'}, default 'softmax'
        Probabilities for both parts; the cross-entropy reads every channel as a binary
        problem (:math:`\ln(1 - p)` from the log-probabilities, stable).
    smooth_nr, smooth_dr : float, default 1e-5
        The Dice smoothing (the authors' code adds 1).
    reduction : {'mean', 'sum'}, default 'mean'
        'sum': the cross-entropy summed over elements and the Dice over samples.

    Returns
    -------
    array
        0-d, in ``pred``'s namespace and device.

    Notes
    -----
    The defaults :math:`\alpha = \beta = 0.5` are the authors' public code; the paper
    tunes both per data set. The authors' code pools the Dice over the whole batch and
    every channel (``per_sample=False`` on one channel here).

    **Saturation with softmax in float32.** :math:`\ln(1 - p)` is computed from the
    log-softmax; when a wrong class leads the others by more than about 17 (float32
    logits), its log-probability rounds to 0 and the loss is ``+inf`` (never a finite
    wrong value; the true loss is finite). Float64 logits move that gap to about 36, and
    ``activation='sigmoid'`` is exact at any logit. A weight of exactly 0
    (``beta`` 0 or 1, ``alpha`` 0) removes its term, so it never turns ``inf`` into NaN.

    See Also
    --------
    dice_ce_loss, cross_entropy_loss, dice_loss

    References
    ----------
    .. [1] S. A. Taghanaki, Y. Zheng, S. K. Zhou, B. Georgescu, P. Sharma, D. Xu, D.
       Comaniciu, G. Hamarneh, "Combo loss: handling input and output imbalance in
       multi-organ segmentation", Computerized Medical Imaging and Graphics 75, 24-33,
       2019, and the authors' code (github.com/asgsaeid/ComboLoss).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> p = np.array([[0.9, 0.2]])                     # one sample, 2 pixels, one foreground
    >>> y = np.array([[1, 0]])
    >>> bce = -(0.5 * np.log(0.9) + 0.5 * np.log(0.8)) / 2
    >>> dice = 2 * 0.9 / (1.1 + 1)
    >>> got = regionloss.combo_loss(np.log(p / (1 - p)), y, class_axis=None,
    ...                             activation="sigmoid", smooth_nr=0, smooth_dr=0)
    >>> bool(abs(float(got) - (0.5 * bce - 0.5 * dice)) < 1e-6)
    True
    """
    term = ComboTerm(
        alpha=alpha, beta=beta, one_minus_dice=one_minus_dice, class_axis=class_axis,
        activation=activation, ignore_index=ignore_index,
        include_background=include_background, class_weights=class_weights,
        per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr, reduction=reduction)
    return term(pred, target, mask=mask)
