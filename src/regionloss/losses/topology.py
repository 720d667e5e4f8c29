r"""Topology losses: soft clDice and Dice + clDice (Shit et al.), MONAI's conventions.

clDice compares centrelines: the soft skeleton of the prediction must lie inside the
reference (topology precision) and the soft skeleton of the reference inside the
prediction (topology sensitivity). The soft skeleton is
:func:`regionloss.distance_maps.soft_skeleton` (iterated soft erosions and openings, fully
differentiable); both skeletons are recomputed at every call, so the loss runs inside
``jax.jit``, ``jax.grad`` and ``jax.vmap``.

By default the classes are **pooled**, as MONAI 1.6.1 does: the sums run over the kept
classes and the pixels together, one clDice per sample. ``per_class=True`` computes one
clDice per (sample, class) and reduces like the region losses (class mean, then samples).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .._formulas import overlap_index, safe_divide
from .._reduce import reduce_losses, reduce_samples
from .._typing import Array
from .._validate import ACTIVATIONS, check_int
from ..distance_maps import soft_skeleton
from ._term import LossTerm, Prepared
from .boundary import (
    _weight_channels_first,
    channels_first,
    fill_parameters,
    kept_channels,
)
from .region import check_class_options

__all__ = ["ClDiceTerm", "DiceClDiceTerm", "cldice_loss", "dice_cldice_loss"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClDiceTerm(LossTerm):
    """The term of :func:`cldice_loss`."""

    name: ClassVar[str] = "cldice_loss"
    checks: ClassVar[dict] = {
        **LossTerm.checks, "activation": ACTIVATIONS, "include_background": "flag",
        "per_sample": "flag", "per_class": "flag", "smooth_nr": "nonnegative",
        "smooth_dr": "nonnegative", "smooth": "nonnegative"}

    iterations: int = 3
    activation: Any = "softmax"
    include_background: bool = True
    per_sample: bool = True
    per_class: bool = False
    smooth_nr: float = 1.0
    smooth_dr: float = 1.0
    smooth: float = 1e-4

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "iterations", check_int("iterations", self.iterations,
                                                         minimum=0))

    def cldice_losses(self, prepared: Prepared):
        r"""``1 − clDice``: (N,) pooled classes, (N, K) per class; without the sample
        axis for ``per_sample=False``."""
        inputs, xp = prepared.inputs, prepared.xp
        if not self.include_background:
            check_class_options(prepared, include_background=False, class_weights=None)
        spatial_ndim = len(inputs.spatial_axes)
        if not 1 <= spatial_ndim <= 3:
            raise ValueError(f"{self.name}: the prediction needs 1 to 3 spatial axes (2 or 3 "
                             f"for clDice); got {spatial_ndim}")
        axis = inputs.class_axis
        probs = channels_first(xp, kept_channels(prepared.probs(self.activation), axis,
                                                 self.include_background), axis)
        target = channels_first(xp, kept_channels(inputs.target, axis,
                                                  self.include_background), axis)
        weight = _weight_channels_first(xp, inputs)
        if weight is not None:
            # removed pixels lie outside every class (the target is already 0 there)
            weight = xp.broadcast_to(weight, (probs.shape[0], 1) + tuple(probs.shape[2:]))
            probs = xp.where(weight > 0, probs, xp.zeros_like(probs))
        spatial = tuple(range(2, probs.ndim))
        skel_pred = soft_skeleton(probs, iterations=self.iterations, spatial_axes=spatial)
        skel_true = soft_skeleton(target, iterations=self.iterations, spatial_axes=spatial)
        axes = spatial if self.per_class else (1,) + spatial
        if not self.per_sample:
            axes = (0,) + axes

        def total(v):
            if weight is not None:
                v = xp.where(weight > 0, v * weight, xp.zeros_like(v))
            return xp.sum(v, axis=axes)

        tprec = safe_divide(xp, total(skel_pred * target) + self.smooth_nr,
                            total(skel_pred) + self.smooth_dr, 1.0)
        tsens = safe_divide(xp, total(skel_true * probs) + self.smooth_nr,
                            total(skel_true) + self.smooth_dr, 1.0)
        cldice = safe_divide(xp, 2.0 * tprec * tsens, tprec + tsens + self.smooth, 0.0)
        return 1.0 - cldice

    def evaluate(self, prepared: Prepared):
        losses = self.cldice_losses(prepared)
        if self.per_class:
            return reduce_losses(prepared.xp, losses, num_classes=losses.shape[-1],
                                 include_background=True, class_weights=None,
                                 reduction=self.reduction)
        return reduce_samples(prepared.xp, losses, self.reduction)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiceClDiceTerm(ClDiceTerm):
    """The term of :func:`dice_cldice_loss`: ``(1 − α)`` Dice + ``α`` clDice."""

    name: ClassVar[str] = "dice_cldice_loss"
    checks: ClassVar[dict] = {**ClDiceTerm.checks, "alpha": "fraction"}
    alpha: float = 0.5

    def evaluate(self, prepared: Prepared):
        xp = prepared.xp
        cl = self.cldice_losses(prepared)
        stats = prepared.stats(self.activation, per_sample=self.per_sample)
        dice = 1.0 - overlap_index(stats.tp, stats.fp, stats.fn, w_tp=2.0, w_fp=1.0, w_fn=1.0,
                                   smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr)
        dice = kept_channels(dice, dice.ndim - 1, self.include_background)
        if self.per_class:
            combined = (1.0 - self.alpha) * dice + self.alpha * cl
            return reduce_losses(xp, combined, num_classes=combined.shape[-1],
                                 include_background=True, class_weights=None,
                                 reduction=self.reduction)
        combined = (1.0 - self.alpha) * xp.mean(dice, axis=-1) + self.alpha * cl
        return reduce_samples(xp, combined, self.reduction)


_ITERATIONS = """\
    iterations : int >= 0, default 3
        Soft erosions of the soft skeleton (MONAI's ``iter_``): structures up to about
        ``2 * iterations + 1`` pixels thick are thinned to a line."""

_OPTIONS = (
    "class_axis", "activation",
    """\
    include_background : bool, default True
        False drops class 0 after the activation (MONAI's default keeps it).""",
    "ignore_index", "mask",
    """\
    per_sample : bool, default True
        True: one clDice per sample, then the mean (or sum) over samples. False: the sums
        run over the whole batch (one clDice for the batch).
    per_class : bool, default False
        False (MONAI): the kept classes are pooled, their skeletons and probabilities
        summed together into one clDice per sample. True: one clDice per (sample, class),
        then the class mean.
    smooth_nr, smooth_dr : float >= 0, default 1.0
        Added to the numerators and denominators of topology precision and sensitivity
        (MONAI's defaults).
    smooth : float >= 0, default 1e-4
        Added to the denominator of the harmonic mean (MONAI's default).""",
    """\
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean'/'sum' over samples (after the class mean with ``per_class=True``), a 0-d
        array. 'none': one value per sample, (N,), or per (sample, kept class), (N, K),
        with ``per_class=True``; without the sample axis for ``per_sample=False``.""")


@fill_parameters("pred", "target", _ITERATIONS, *_OPTIONS)
def cldice_loss(pred: Array, target: Array, /, *, iterations: int = 3,
                class_axis: int | None = -1, activation: str | None = "softmax",
                include_background: bool = True, ignore_index: int | None = None,
                mask: Array | None = None, per_sample: bool = True, per_class: bool = False,
                smooth_nr: float = 1.0, smooth_dr: float = 1.0, smooth: float = 1e-4,
                reduction: str = "mean") -> Array:
    r"""Soft clDice loss (Shit et al.), MONAI's ``SoftclDiceLoss``.

    With :math:`S_P`, :math:`S_Y` the soft skeletons of the probabilities :math:`p` and of
    the reference :math:`y` (:func:`regionloss.distance_maps.soft_skeleton`, ``iterations``
    erosions) and the sums over the pixels (and, by default, over the kept classes):

    .. math::
        T_{prec} = \frac{\sum S_P\,y + s_{nr}}{\sum S_P + s_{dr}}, \qquad
        T_{sens} = \frac{\sum S_Y\,p + s_{nr}}{\sum S_Y + s_{dr}}, \qquad
        L = 1 - \frac{2\,T_{prec}\,T_{sens}}{T_{prec} + T_{sens} + s}

    per sample (or per (sample, class) with ``per_class=True``), then the mean over
    samples. Topology precision asks the predicted centreline to lie inside the reference,
    topology sensitivity the reference centreline inside the prediction. Pixel weights
    (``mask``, ``ignore_index``) multiply every sum; removed pixels count as outside every
    class when the skeletons are computed.

    **MONAI equivalence** (``monai.losses.SoftclDiceLoss`` 1.6.1, channels-first, hence
    ``class_axis=1``): ``SoftclDiceLoss(softmax=True, to_onehot_y=True)`` is
    ``cldice_loss(logits, labels, class_axis=1)``; ``sigmoid=True`` is
    ``activation='sigmoid'``; MONAI's default (no activation, probabilities in) is
    ``activation=None``. ``iter_`` is ``iterations``; ``smooth_nr``, ``smooth_dr``,
    ``smooth``, ``include_background`` and ``reduction`` ('mean', 'sum', 'none' of shape
    (N,)) are the same options with the same defaults. MONAI pools the classes
    (``per_class=False``) and has no batch pooling, ``ignore_index`` or ``mask``.

    Parameters
    ----------
    {parameters}

    {returns}

    Raises
    ------
    ValueError, TypeError
        A negative or non-integer ``iterations``, negative smoothing, a prediction without
        1 to 3 spatial axes, and every check of the shared loss inputs. Under ``jax.jit``
        a label outside ``[0, C)`` that is not ``ignore_index`` makes the loss NaN.

    See Also
    --------
    dice_cldice_loss, regionloss.cldice_score, regionloss.distance_maps.soft_skeleton

    References
    ----------
    .. [1] S. Shit, J. C. Paetzold, A. Sekuboyina, I. Ezhov, A. Unger, A. Zhylka,
       J. P. W. Pluim, U. Bauer and B. H. Menze, "clDice - a Novel Topology-Preserving
       Loss Function for Tubular Structure Segmentation", CVPR 2021, 16560-16569.
    .. [2] MONAI ``monai.losses.SoftclDiceLoss`` (1.6.1: the equivalence above).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> line = np.zeros((1, 5, 7))
    >>> line[0, 2, 1:6] = 1.0                      # a thin line is its own skeleton
    >>> float(regionloss.cldice_loss(line, line.astype(np.int64), class_axis=None,
    ...                              activation=None, smooth=0.0))
    0.0
    """
    term = ClDiceTerm(iterations=iterations, class_axis=class_axis, activation=activation,
                      include_background=include_background, ignore_index=ignore_index,
                      per_sample=per_sample, per_class=per_class, smooth_nr=smooth_nr,
                      smooth_dr=smooth_dr, smooth=smooth, reduction=reduction)
    return term(pred, target, mask=mask)


@fill_parameters(
    """\
    alpha : float in [0, 1], default 0.5
        The weight of the clDice part; the Dice part weighs ``1 − alpha``.""",
    "pred", "target", _ITERATIONS, *_OPTIONS[:-1],
    """\
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean'/'sum' over samples of the per-sample totals, a 0-d array. 'none': the
        per-sample total ``(1 − α) mean_c Dice + α clDice``, (N,); per (sample, kept
        class), (N, K), with ``per_class=True``; without the sample axis for
        ``per_sample=False``.""")
def dice_cldice_loss(pred: Array, target: Array, /, *, alpha: float = 0.5,
                     iterations: int = 3, class_axis: int | None = -1,
                     activation: str | None = "softmax", include_background: bool = True,
                     ignore_index: int | None = None, mask: Array | None = None,
                     per_sample: bool = True, per_class: bool = False,
                     smooth_nr: float = 1.0, smooth_dr: float = 1.0, smooth: float = 1e-4,
                     reduction: str = "mean") -> Array:
    r"""Dice + soft clDice (Shit et al.), MONAI's ``SoftDiceclDiceLoss``.

    .. math::
        L = (1 - \alpha)\,L_{Dice} + \alpha\,L_{clDice}

    with :math:`L_{Dice}` the soft Dice loss per (sample, kept class) with the same
    smoothing (``smooth_nr``, ``smooth_dr``, 1 by default: MONAI's, not
    :func:`dice_loss`'s 1e-5), averaged over classes, and :math:`L_{clDice}` the loss of
    :func:`cldice_loss` (pooled classes by default). Both parts share one activation and
    one set of inputs; in a compound the Dice statistics are shared with any Dice term of
    the same activation.

    **MONAI equivalence** (``monai.losses.SoftDiceclDiceLoss`` 1.6.1):
    ``SoftDiceclDiceLoss(softmax=True, to_onehot_y=True, alpha=a)`` is
    ``dice_cldice_loss(logits, labels, class_axis=1, alpha=a)`` for ``reduction='mean'``
    (the other options as in :func:`cldice_loss`). With ``reduction='none'`` MONAI
    broadcasts its Dice (N, C, 1, 1) against its clDice (N,) into an (N, C, 1, N) array
    (``out[n, c, 0, m] = (1 − α) Dice[n, c] + α clDice[m]``); regionloss returns the
    per-sample totals (N,) instead, whose mean is the 'mean' loss. MONAI's 'sum' adds the
    Dice losses of every (sample, class) and the clDice of every sample; regionloss's 'sum'
    adds the per-sample totals (the Dice part as a class mean).

    Parameters
    ----------
    {parameters}

    {returns}

    See Also
    --------
    cldice_loss, dice_loss, combine

    References
    ----------
    .. [1] S. Shit, J. C. Paetzold et al., "clDice - a Novel Topology-Preserving Loss
       Function for Tubular Structure Segmentation", CVPR 2021, 16560-16569.
    .. [2] MONAI ``monai.losses.SoftDiceclDiceLoss`` (1.6.1).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 6, 6, 2)); labels = np.zeros((1, 6, 6), np.int64)
    >>> labels[0, 3, 1:5] = 1
    >>> a = regionloss.dice_cldice_loss(logits, labels, alpha=0.3)
    >>> b = (0.7 * regionloss.dice_loss(logits, labels, smooth_nr=1.0, smooth_dr=1.0)
    ...      + 0.3 * regionloss.cldice_loss(logits, labels))
    >>> bool(abs(float(a) - float(b)) < 1e-12)
    True
    """
    term = DiceClDiceTerm(alpha=alpha, iterations=iterations, class_axis=class_axis,
                          activation=activation, include_background=include_background,
                          ignore_index=ignore_index, per_sample=per_sample,
                          per_class=per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                          smooth=smooth, reduction=reduction)
    return term(pred, target, mask=mask)
