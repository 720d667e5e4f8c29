"""Region losses: Dice, Jaccard (IoU), Tversky, Focal Tversky, asymmetric, log-cosh Dice.

Every loss here is one :class:`RegionTerm`: soft statistics per (sample, class)
(:mod:`regionloss._stats`), one overlap formula with three weights
(:func:`regionloss._formulas.overlap_index`: Dice ``(2, 1, 1)``, Jaccard ``(1, 1, 1)``,
Tversky ``(1, α, β)``), ``1 −`` the index per class, and the class and sample reduction
(:func:`regionloss._reduce.reduce_losses`). Only the weights, and for Focal Tversky the
per-class exponent, differ between losses.

All of them are pure functions of arrays: they run on NumPy, CuPy, JAX (``jit``, ``grad``,
``vmap``), PyTorch and Dask, and return an array of the caller's namespace.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

from array_api_compat import array_namespace

from .._formulas import overlap_index
from .._reduce import reduce_losses
from .._typing import Array
from .._validate import ACTIVATIONS, check_class_weights
from ._docs import fill_doc
from ._term import LossTerm, Prepared

__all__ = [
    "check_class_options",
    "RegionTerm",
    "DiceTerm",
    "JaccardTerm",
    "TverskyTerm",
    "FocalTverskyTerm",
    "AsymmetricTerm",
    "LogCoshDiceTerm",
    "dice_loss",
    "jaccard_loss",
    "iou_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "asymmetric_loss",
    "log_cosh_dice_loss",
    "focal_power",
    "log_cosh",
]


def check_class_options(prepared: Prepared, *, include_background: bool,
                        class_weights: Sequence[float] | Array | None) -> None:
    """Per-call checks that need the channel count: background and class weights (checked
    now, so that a wrong length fails with ``reduction='none'`` too)."""
    inputs = prepared.inputs
    if not include_background and inputs.num_classes < 2:
        raise ValueError(
            "include_background=False drops channel 0, but the prediction has a single "
            "channel (no background channel to drop)")
    if class_weights is not None:
        check_class_weights(inputs.xp, class_weights, inputs.num_classes, inputs.dtype, None,
                            include_background=include_background)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegionTerm(LossTerm):
    """A region loss: ``1 − overlap_index`` per (sample, class), then the reduction.

    Subclasses set :attr:`overlap_weights` (the weights of tp, fp and fn) and may override
    :meth:`per_class_loss`.
    """

    activation: Any = "softmax"
    include_background: bool = True
    class_weights: Any = None
    per_sample: bool = True
    smooth_nr: float = 1e-5
    smooth_dr: float = 1e-5
    squared: bool = False
    soft_labels: bool = False

    overlap_weights: ClassVar[tuple] = (2.0, 1.0, 1.0)
    checks: ClassVar[dict] = {
        **LossTerm.checks, "activation": ACTIVATIONS, "include_background": "flag",
        "per_sample": "flag", "squared": "flag", "soft_labels": "flag",
        "smooth_nr": "nonnegative", "smooth_dr": "nonnegative"}

    def per_class_loss(self, stats):
        """``1 − S`` per (sample, class), S the weighted overlap index."""
        w_tp, w_fp, w_fn = self.overlap_weights
        return 1.0 - overlap_index(stats.tp, stats.fp, stats.fn, w_tp=w_tp, w_fp=w_fp,
                                   w_fn=w_fn, smooth_nr=self.smooth_nr,
                                   smooth_dr=self.smooth_dr)

    def evaluate(self, prepared: Prepared):
        if not self.include_background or self.class_weights is not None:
            check_class_options(prepared, include_background=self.include_background,
                                class_weights=self.class_weights)
        stats = prepared.stats(self.activation, per_sample=self.per_sample,
                               squared=self.squared, soft_labels=self.soft_labels)
        return reduce_losses(prepared.xp, self.per_class_loss(stats),
                             num_classes=prepared.inputs.num_classes,
                             include_background=self.include_background,
                             class_weights=self.class_weights, reduction=self.reduction)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiceTerm(RegionTerm):
    """The term of :func:`dice_loss`: overlap weights (2, 1, 1)."""

    name: ClassVar[str] = "dice_loss"
    overlap_weights: ClassVar[tuple] = (2.0, 1.0, 1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class JaccardTerm(RegionTerm):
    """The term of :func:`jaccard_loss`: overlap weights (1, 1, 1)."""

    name: ClassVar[str] = "jaccard_loss"
    overlap_weights: ClassVar[tuple] = (1.0, 1.0, 1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TverskyTerm(RegionTerm):
    """The term of :func:`tversky_loss`: overlap weights (1, alpha, beta)."""

    name: ClassVar[str] = "tversky_loss"
    checks: ClassVar[dict] = {**RegionTerm.checks, "alpha": "nonnegative",
                              "beta": "nonnegative"}
    alpha: float = 0.3
    beta: float = 0.7

    def __post_init__(self):
        super().__post_init__()
        if self.alpha == 0 and self.beta == 0:
            raise ValueError(
                f"{self.name}: alpha and beta cannot both be 0 (the index would be 1 whatever "
                "the prediction, a constant loss); alpha weights false positives, beta "
                "false negatives")

    @property
    def overlap_weights(self):
        return (1.0, self.alpha, self.beta)


def focal_power(xp, x, gamma: float) -> Array:
    """``max(x, 0) ** gamma`` with a zero (not infinite or NaN) gradient at ``x = 0``.

    For ``gamma < 1`` the derivative of ``x**gamma`` is infinite at 0 (a perfect or an
    empty-and-empty class); the double-``where`` keeps the backward pass finite there.
    A NaN ``x`` stays NaN: a NaN prediction is never read as a perfect one.
    """
    at_most_zero = x <= 0          # False for NaN, which then flows through the power
    safe = xp.where(at_most_zero, xp.ones_like(x), x)
    return xp.where(at_most_zero, xp.zeros_like(x), safe ** gamma)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FocalTverskyTerm(TverskyTerm):
    """The term of :func:`focal_tversky_loss`: ``(1 − TI_c)^γ`` per (sample, class)."""

    name: ClassVar[str] = "focal_tversky_loss"
    checks: ClassVar[dict] = {**TverskyTerm.checks, "gamma": "positive"}
    gamma: float = 0.75

    def per_class_loss(self, stats):
        one_minus = super().per_class_loss(stats)
        return focal_power(array_namespace(one_minus), one_minus, self.gamma)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AsymmetricTerm(RegionTerm):
    """The term of :func:`asymmetric_loss`: overlap weights (1 + β², 1, β²), i.e. Tversky
    with α = 1/(1+β²) and β' = β²/(1+β²)."""

    name: ClassVar[str] = "asymmetric_loss"
    checks: ClassVar[dict] = {**RegionTerm.checks, "beta": "positive"}
    beta: float = 1.5

    @property
    def overlap_weights(self):
        b2 = self.beta * self.beta
        return (1.0 + b2, 1.0, b2)


def log_cosh(xp, x) -> Array:
    r"""``log(cosh(x))`` as ``log1p(2 sinh²(x/2))``: exact for small ``x`` (no ``log(1 + ε)``
    cancellation), derivative ``tanh(x)``; finite for ``|x|`` below ~89 (float32), and a
    loss here lies in [0, 1]."""
    half = xp.sinh(x / 2)
    return xp.log1p(2.0 * half * half)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogCoshDiceTerm(DiceTerm):
    """The term of :func:`log_cosh_dice_loss`: ``log cosh`` of the reduced Dice loss."""

    name: ClassVar[str] = "log_cosh_dice_loss"

    def evaluate(self, prepared: Prepared):
        return log_cosh(prepared.xp, super().evaluate(prepared))


# --------------------------------------------------------------------------- public losses


@fill_doc()
def dice_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
              activation: str | None = "softmax", ignore_index: int | None = None,
              mask: Array | None = None, include_background: bool = True,
              class_weights: Sequence[float] | Array | None = None, per_sample: bool = True,
              smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, squared: bool = False,
              soft_labels: bool = False, reduction: str = "mean") -> Array:
    r"""Soft Dice loss.

    .. math::
        L_c = 1 - \frac{2\,tp_c + s_{nr}}{2\,tp_c + fp_c + fn_c + s_{dr}}

    with ``tp = Σ p·y``, ``fp = Σ p − tp``, ``fn = Σ y − tp`` per (sample, class).

    Parameters
    ----------
    {parameters}

    See Also
    --------
    jaccard_loss, tversky_loss, dice_ce_loss, regionloss.dice_score

    References
    ----------
    .. [1] F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully convolutional neural networks
       for volumetric medical image segmentation", 3DV 2016 (``squared=True``).
    .. [2] C. H. Sudre et al., "Generalised Dice overlap as a deep learning loss function
       for highly unbalanced segmentations", DLMIA 2017.
    .. [3] MONAI ``DiceLoss`` (the smoothing 1e-5 and its options are followed).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)     # channels-last, 3 classes
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> round(float(regionloss.dice_loss(logits, labels)), 4)  # uniform softmax: 5/7, 5/7, 3/5
    0.6762
    """
    term = DiceTerm(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                    include_background=include_background, class_weights=class_weights,
                    per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                    squared=squared, soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)


@fill_doc()
def jaccard_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                 activation: str | None = "softmax", ignore_index: int | None = None,
                 mask: Array | None = None, include_background: bool = True,
                 class_weights: Sequence[float] | Array | None = None,
                 per_sample: bool = True, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 squared: bool = False, soft_labels: bool = False,
                 reduction: str = "mean") -> Array:
    r"""Soft Jaccard (IoU) loss; also exported as ``iou_loss``.

    .. math::
        L_c = 1 - \frac{tp_c + s_{nr}}{tp_c + fp_c + fn_c + s_{dr}}

    Parameters
    ----------
    {parameters}

    See Also
    --------
    dice_loss, lovasz_softmax_loss, regionloss.iou_score

    References
    ----------
    .. [1] M. A. Rahman, Y. Wang, "Optimizing intersection-over-union in deep neural networks
       for image segmentation", ISVC 2016.
    .. [2] MONAI ``DiceLoss(jaccard=True)`` (see the equivalence table for its smoothing).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> round(float(regionloss.jaccard_loss(logits, labels, smooth_nr=0, smooth_dr=0)), 4)
    0.8056
    """
    term = JaccardTerm(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                       include_background=include_background, class_weights=class_weights,
                       per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       squared=squared, soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)


iou_loss = jaccard_loss


@fill_doc()
def tversky_loss(pred: Array, target: Array, /, *, alpha: float = 0.3, beta: float = 0.7,
                 class_axis: int | None = -1, activation: str | None = "softmax",
                 ignore_index: int | None = None, mask: Array | None = None,
                 include_background: bool = True,
                 class_weights: Sequence[float] | Array | None = None,
                 per_sample: bool = True, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 squared: bool = False, soft_labels: bool = False,
                 reduction: str = "mean") -> Array:
    r"""Tversky loss (Salehi et al. 2017).

    .. math::
        L_c = 1 - TI_c, \qquad
        TI_c = \frac{tp_c + s_{nr}}{tp_c + \alpha\,fp_c + \beta\,fn_c + s_{dr}}

    **alpha weights false positives, beta weights false negatives** (Salehi et al.; MONAI
    and optax agree). ``alpha = beta = 0.5`` is the Dice loss and ``alpha = beta = 1`` the
    Jaccard loss (up to how the smoothing terms scale). ``beta > alpha`` favours recall.

    Parameters
    ----------
    alpha : float, default 0.3
        Weight of the false positives (>= 0).
    beta : float, default 0.7
        Weight of the false negatives (>= 0; not both 0).
    {parameters}

    See Also
    --------
    focal_tversky_loss, asymmetric_loss, regionloss.tversky_score

    References
    ----------
    .. [1] S. S. M. Salehi, D. Erdogmus, A. Gholipour, "Tversky loss function for image
       segmentation using 3D fully convolutional deep networks", MLMI 2017.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> a = regionloss.tversky_loss(logits, labels, alpha=0.5, beta=0.5, smooth_nr=0, smooth_dr=0)
    >>> b = regionloss.dice_loss(logits, labels, smooth_nr=0, smooth_dr=0)
    >>> bool(abs(float(a) - float(b)) < 1e-6)
    True
    """
    term = TverskyTerm(alpha=alpha, beta=beta, class_axis=class_axis, activation=activation,
                       ignore_index=ignore_index, include_background=include_background,
                       class_weights=class_weights, per_sample=per_sample,
                       smooth_nr=smooth_nr, smooth_dr=smooth_dr, squared=squared,
                       soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)


@fill_doc()
def focal_tversky_loss(pred: Array, target: Array, /, *, alpha: float = 0.3,
                       beta: float = 0.7, gamma: float = 0.75, class_axis: int | None = -1,
                       activation: str | None = "softmax", ignore_index: int | None = None,
                       mask: Array | None = None, include_background: bool = True,
                       class_weights: Sequence[float] | Array | None = None,
                       per_sample: bool = True, smooth_nr: float = 1e-5,
                       smooth_dr: float = 1e-5, squared: bool = False,
                       soft_labels: bool = False, reduction: str = "mean") -> Array:
    r"""Focal Tversky loss (Abraham & Khan 2019), the exponent applied per class.

    .. math::
        L_c = (1 - TI_c)^{\gamma}

    applied to each (sample, class) **before** the class mean. ``gamma`` is the exponent
    itself: the default 0.75 is Abraham & Khan's ``1/γ`` with their ``γ = 4/3``.

    ``1 − TI_c`` is clipped at 0 before the power (a negative base has no real power), so
    ``gamma=1`` gives ``max(1 − TI_c, 0)``: :func:`tversky_loss` wherever ``TI_c <= 1``,
    which always holds when ``smooth_nr <= smooth_dr`` (the default: both 1e-5). Only with
    ``smooth_nr > smooth_dr`` can ``TI_c`` exceed 1 (an empty class predicted empty scores
    ``smooth_nr / smooth_dr``), and there the Tversky loss is negative while this loss is 0.
    A NaN index (a NaN logit at a scored pixel) gives NaN, never 0.

    Some libraries (segmentation_models_pytorch) apply the exponent after the class
    mean; that variant is ``tversky_loss(pred, target, ..., reduction=...) ** gamma``.

    Where ``1 − TI_c`` is exactly 0 (a perfect class) the gradient is 0 rather than the
    infinite derivative of ``x**gamma`` at 0 for ``gamma < 1``.

    Parameters
    ----------
    alpha : float, default 0.3
        Weight of the false positives.
    beta : float, default 0.7
        Weight of the false negatives.
    gamma : float, default 0.75
        The focal exponent (> 0); < 1 strengthens the gradient of hard classes.
    {parameters}

    See Also
    --------
    tversky_loss

    References
    ----------
    .. [1] N. Abraham, N. M. Khan, "A novel focal Tversky loss function with improved
       attention U-Net for lesion segmentation", ISBI 2019.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> a = regionloss.focal_tversky_loss(logits, labels, gamma=1.0)
    >>> b = regionloss.tversky_loss(logits, labels)
    >>> bool(abs(float(a) - float(b)) < 1e-6)
    True
    """
    term = FocalTverskyTerm(alpha=alpha, beta=beta, gamma=gamma, class_axis=class_axis,
                            activation=activation, ignore_index=ignore_index,
                            include_background=include_background,
                            class_weights=class_weights, per_sample=per_sample,
                            smooth_nr=smooth_nr, smooth_dr=smooth_dr, squared=squared,
                            soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)


@fill_doc()
def asymmetric_loss(pred: Array, target: Array, /, *, beta: float = 1.5,
                    class_axis: int | None = -1, activation: str | None = "softmax",
                    ignore_index: int | None = None, mask: Array | None = None,
                    include_background: bool = True,
                    class_weights: Sequence[float] | Array | None = None,
                    per_sample: bool = True, smooth_nr: float = 1e-5,
                    smooth_dr: float = 1e-5, squared: bool = False,
                    soft_labels: bool = False, reduction: str = "mean") -> Array:
    r"""Asymmetric similarity loss (Hashemi et al. 2018): ``1 −`` the F-β index.

    .. math::
        L_c = 1 - \frac{(1 + \beta^2)\,tp_c + s_{nr}}
                       {(1 + \beta^2)\,tp_c + \beta^2 fn_c + fp_c + s_{dr}}

    Dividing numerator and denominator by :math:`1 + \beta^2` shows it is the Tversky loss
    with :math:`\alpha = 1/(1+\beta^2)` on false positives and
    :math:`\beta' = \beta^2/(1+\beta^2)` on false negatives (and the smoothing divided by
    :math:`1+\beta^2`); ``beta = 1`` is the Dice loss (same smoothing). ``beta > 1`` weighs
    recall higher.

    Parameters
    ----------
    beta : float, default 1.5
        The F-β parameter (> 0); Hashemi et al. found 1.5 best for lesions.
    {parameters}

    See Also
    --------
    tversky_loss, regionloss.fbeta_score

    References
    ----------
    .. [1] S. R. Hashemi et al., "Asymmetric loss functions and deep densely-connected
       networks for highly-imbalanced medical image segmentation: application to multiple
       sclerosis lesion detection", IEEE Access 7, 2018.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> a = regionloss.asymmetric_loss(logits, labels, beta=1.0)
    >>> b = regionloss.dice_loss(logits, labels)
    >>> bool(abs(float(a) - float(b)) < 1e-6)
    True
    """
    term = AsymmetricTerm(beta=beta, class_axis=class_axis, activation=activation,
                          ignore_index=ignore_index, include_background=include_background,
                          class_weights=class_weights, per_sample=per_sample,
                          smooth_nr=smooth_nr, smooth_dr=smooth_dr, squared=squared,
                          soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)


@fill_doc()
def log_cosh_dice_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                       activation: str | None = "softmax", ignore_index: int | None = None,
                       mask: Array | None = None, include_background: bool = True,
                       class_weights: Sequence[float] | Array | None = None,
                       per_sample: bool = True, smooth_nr: float = 1e-5,
                       smooth_dr: float = 1e-5, squared: bool = False,
                       soft_labels: bool = False, reduction: str = "mean") -> Array:
    r"""Log-cosh Dice loss (Jadon 2020): ``log(cosh(dice_loss(...)))``, same options.

    .. math::
        L = \log\cosh\bigl(L_{Dice}\bigr)

    with :math:`L_{Dice}` the output of :func:`dice_loss` called with the same arguments:
    the log-cosh is applied to the **reduced** Dice loss (the class mean, then the mean or
    sum over samples), as in Jadon's paper and code. With ``reduction='none'`` it is
    applied elementwise to the per-(sample, class) Dice losses, shape (N, K) (or (K,)
    pooled). Since :math:`\log\cosh D \approx D^2/2` for small :math:`D`, its gradient
    (:math:`\tanh D` times the Dice gradient) fades as the Dice loss improves.

    It is evaluated as ``log1p(2 sinh²(D/2))``, exact for small ``D``.

    Parameters
    ----------
    {parameters}

    See Also
    --------
    dice_loss

    References
    ----------
    .. [1] S. Jadon, "A survey of loss functions for semantic segmentation", CIBCB 2020.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> d = float(regionloss.dice_loss(logits, labels))
    >>> bool(abs(float(regionloss.log_cosh_dice_loss(logits, labels)) - np.log(np.cosh(d))) < 1e-6)
    True
    """
    term = LogCoshDiceTerm(class_axis=class_axis, activation=activation,
                           ignore_index=ignore_index, include_background=include_background,
                           class_weights=class_weights, per_sample=per_sample,
                           smooth_nr=smooth_nr, smooth_dr=smooth_dr, squared=squared,
                           soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask=mask)
