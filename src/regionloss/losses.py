"""Region losses: Dice, Jaccard (IoU), Tversky and Focal Tversky.

Each loss is the same pipeline (see ``DESIGN.md``): :func:`regionloss._inputs.prepare`
aligns the inputs, the activation turns logits into probabilities, soft statistics
(:mod:`regionloss._stats`) are summed per (sample, class), a formula
(:mod:`regionloss._formulas`) turns them into a per-class loss, and
:mod:`regionloss._reduce` weights and averages. Only the formula differs between losses.

All of them are pure functions of arrays: they run on NumPy, CuPy, JAX (``jit``,
``grad``, ``vmap``), PyTorch and Dask, and return an array of the caller's namespace.
"""

from __future__ import annotations

import numbers
from typing import Callable

from . import _formulas
from ._backend import apply_activation, namespace
from ._inputs import LossInputs, check_class_weights, prepare
from ._reduce import check_reduction, reduce_classes_and_samples
from ._stats import SoftStats, soft_statistics

__all__ = ["dice_loss", "jaccard_loss", "iou_loss", "tversky_loss", "focal_tversky_loss"]

_COMMON_PARAMETERS = """\
    pred : array
        Logits (or probabilities with ``activation=None``). Axis 0 is the sample axis,
        ``class_axis`` the class axis, every other axis is spatial. Half-precision inputs
        are computed and returned in float32; float64 stays float64.
    target : array
        Either an integer label map with ``pred``'s shape without the class axis, or a
        dense target of ``pred``'s shape (one-hot, soft labels, multi-label masks). With
        ``class_axis=None`` an integer/bool target is a 0/1 label map (1 = foreground)
        and a float target is dense; a label map for a single-channel prediction is
        likewise a 0/1 foreground mask.
    class_axis : int or None, default -1
        The class axis of ``pred``: -1 channels-last (JAX/Flax/optax layout), 1
        channels-first (PyTorch/MONAI layout), None for a single foreground with no
        class axis (it then counts as one class).
    activation : {'softmax', 'sigmoid', None}, default 'softmax'
        Applied first, before classes are dropped or pixels masked. 'softmax' for
        mutually exclusive classes (an error over a single channel), 'sigmoid' for
        independent channels (binary, multi-label), None when ``pred`` holds probabilities.
    ignore_index : int or None, default None
        Integer targets only: pixels whose label equals it leave every sum, prediction
        and target alike. Any value works (255, -1, or a class id).
    mask : array or None, default None
        Per-pixel weights broadcastable to ``pred``'s shape without the class axis;
        0 removes a pixel, like ``ignore_index``. Works for any target.
    include_background : bool, default True
        False drops class 0 after the activation.
    class_weights : sequence of float or None, default None
        One weight per class of the prediction, indexed by class id (background included
        even when it is dropped). The class mean becomes ``Σ_c w_c·L_c / Σ_c w_c`` over the
        kept classes.
    per_sample : bool, default True
        True: statistics summed over the spatial axes of each sample, losses averaged
        over samples. False: the whole batch is pooled first ("batch Dice", nnU-Net's
        ``batch_dice``, MONAI's ``batch=True``).
    smooth_nr, smooth_dr : float, default 1e-5
        Added to numerator and denominator (as MONAI and nnU-Net). With both 0, an empty
        prediction of an empty reference still scores 1 (loss 0).
    squared : bool, default False
        V-Net denominator: ``fp = Σp² − tp`` and ``fn = Σy² − tp``.
    soft_labels : bool, default False
        ``tp = (Σp + Σy − Σ|p − y|) / 2``: equal to ``Σp·y`` for hard targets, and correct
        (minimal at ``p = y``) for soft targets.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean'/'sum': the (weighted) class mean, then the mean or sum over samples, a
        0-d array. 'none': the unweighted loss per (sample, kept class), shape (N, K), or
        (K,) with ``per_sample=False`` (K = C, or C − 1 without the background).

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device; never a Python float.

    Raises
    ------
    ValueError, TypeError
        With the argument and the shapes or values at fault: mismatched shapes, float
        labels, ``ignore_index`` with a dense target, class weights of the wrong length,
        an unknown activation or reduction, softmax over one channel, and (outside
        ``jit`` only) labels out of range."""


def _doc(func: Callable) -> Callable:
    func.__doc__ = func.__doc__.replace("{parameters}", _COMMON_PARAMETERS.strip())
    return func


def _check_nonnegative(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, numbers.Real) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number; got {value!r}")


def region_inputs(pred, target, *, class_axis, activation, ignore_index, mask,
                  include_background, class_weights, reduction) -> LossInputs:
    """Validate every option of a region loss and prepare its inputs (shared by all losses)."""
    check_reduction(reduction)
    inputs = prepare(pred, target, class_axis=class_axis, activation=activation,
                     ignore_index=ignore_index, mask=mask)
    if not include_background and inputs.num_classes < 2:
        raise ValueError(
            "include_background=False drops channel 0, but the prediction has a single "
            "channel (no background channel to drop)"
        )
    # validated now, so that a wrong length fails even with reduction='none'
    check_class_weights(inputs.xp, class_weights, inputs.num_classes, inputs.dtype, None,
                        include_background=include_background)
    return inputs


def region_statistics(inputs: LossInputs, *, activation, per_sample, squared,
                      soft_labels) -> SoftStats:
    """Activation then soft statistics, (N, C) per sample or (C,) pooled."""
    xp = inputs.xp
    probs = apply_activation(xp, inputs.pred, activation, inputs.class_axis)
    return soft_statistics(xp, probs, inputs.target, inputs.weight, class_axis=inputs.class_axis,
                           sum_axes=inputs.sum_axes(per_sample), squared=squared,
                           soft_labels=soft_labels)


def _region_loss(pred, target, per_class_loss, *, class_axis, activation, ignore_index, mask,
                 include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared,
                 soft_labels, reduction):
    """The shared pipeline: ``per_class_loss(stats)`` is the only part a loss supplies."""
    _check_nonnegative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)
    inputs = region_inputs(pred, target, class_axis=class_axis, activation=activation,
                           ignore_index=ignore_index, mask=mask,
                           include_background=include_background, class_weights=class_weights,
                           reduction=reduction)
    stats = region_statistics(inputs, activation=activation, per_sample=per_sample,
                              squared=squared, soft_labels=soft_labels)
    per_class = per_class_loss(stats)
    return reduce_classes_and_samples(inputs.xp, per_class, num_classes=inputs.num_classes,
                                      include_background=include_background,
                                      class_weights=class_weights, reduction=reduction)


@_doc
def dice_loss(pred, target, /, *, class_axis=-1, activation="softmax", ignore_index=None,
              mask=None, include_background=True, class_weights=None, per_sample=True,
              smooth_nr=1e-5, smooth_dr=1e-5, squared=False, soft_labels=False,
              reduction="mean"):
    r"""Soft Dice loss.

    .. math::
        L_c = 1 - \frac{2\,tp_c + s_{nr}}{2\,tp_c + fp_c + fn_c + s_{dr}}

    with ``tp = Σ p·y``, ``fp = Σ p − tp``, ``fn = Σ y − tp`` per (sample, class).

    Parameters
    ----------
    {parameters}

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)     # channels-last, 3 classes
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> round(float(regionloss.dice_loss(logits, labels)), 4)  # uniform softmax: 5/7, 5/7, 3/5
    0.6762
    """
    def per_class(s):
        return 1.0 - _formulas.dice(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return _region_loss(pred, target, per_class, class_axis=class_axis, activation=activation,
                        ignore_index=ignore_index, mask=mask,
                        include_background=include_background, class_weights=class_weights,
                        per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                        squared=squared, soft_labels=soft_labels, reduction=reduction)


@_doc
def jaccard_loss(pred, target, /, *, class_axis=-1, activation="softmax", ignore_index=None,
                 mask=None, include_background=True, class_weights=None, per_sample=True,
                 smooth_nr=1e-5, smooth_dr=1e-5, squared=False, soft_labels=False,
                 reduction="mean"):
    r"""Soft Jaccard (IoU) loss; also exported as ``iou_loss``.

    .. math::
        L_c = 1 - \frac{tp_c + s_{nr}}{tp_c + fp_c + fn_c + s_{dr}}

    Parameters
    ----------
    {parameters}
    """
    def per_class(s):
        return 1.0 - _formulas.iou(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return _region_loss(pred, target, per_class, class_axis=class_axis, activation=activation,
                        ignore_index=ignore_index, mask=mask,
                        include_background=include_background, class_weights=class_weights,
                        per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                        squared=squared, soft_labels=soft_labels, reduction=reduction)


iou_loss = jaccard_loss


@_doc
def tversky_loss(pred, target, /, *, alpha=0.3, beta=0.7, class_axis=-1, activation="softmax",
                 ignore_index=None, mask=None, include_background=True, class_weights=None,
                 per_sample=True, smooth_nr=1e-5, smooth_dr=1e-5, squared=False,
                 soft_labels=False, reduction="mean"):
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
        Weight of the false positives.
    beta : float, default 0.7
        Weight of the false negatives.
    {parameters}
    """
    _check_nonnegative(alpha=alpha, beta=beta)

    def per_class(s):
        return 1.0 - _formulas.tversky(s.tp, s.fp, s.fn, alpha=alpha, beta=beta,
                                       smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return _region_loss(pred, target, per_class, class_axis=class_axis, activation=activation,
                        ignore_index=ignore_index, mask=mask,
                        include_background=include_background, class_weights=class_weights,
                        per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                        squared=squared, soft_labels=soft_labels, reduction=reduction)


def focal_power(xp, x, gamma):
    """``max(x, 0) ** gamma`` with a zero (not infinite or NaN) gradient at ``x = 0``.

    For ``gamma < 1`` the derivative of ``x**gamma`` is infinite at 0 (a perfect or an
    empty-and-empty class); the double-``where`` keeps the backward pass finite there.
    """
    positive = x > 0
    safe = xp.where(positive, x, xp.ones_like(x))
    return xp.where(positive, safe ** gamma, xp.zeros_like(x))


@_doc
def focal_tversky_loss(pred, target, /, *, alpha=0.3, beta=0.7, gamma=0.75, class_axis=-1,
                       activation="softmax", ignore_index=None, mask=None,
                       include_background=True, class_weights=None, per_sample=True,
                       smooth_nr=1e-5, smooth_dr=1e-5, squared=False, soft_labels=False,
                       reduction="mean"):
    r"""Focal Tversky loss (Abraham & Khan 2019), the exponent applied per class.

    .. math::
        L_c = (1 - TI_c)^{\gamma}

    applied to each (sample, class) **before** the class mean. ``gamma`` is the exponent
    itself: the default 0.75 is Abraham & Khan's ``1/γ`` with their ``γ = 4/3``. With
    ``gamma=1`` this is :func:`tversky_loss`.

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
    """
    _check_nonnegative(alpha=alpha, beta=beta)
    if not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"gamma must be a positive number; got {gamma!r}")

    def per_class(s):
        index = _formulas.tversky(s.tp, s.fp, s.fn, alpha=alpha, beta=beta,
                                  smooth_nr=smooth_nr, smooth_dr=smooth_dr)
        return focal_power(namespace(index), 1.0 - index, gamma)

    return _region_loss(pred, target, per_class, class_axis=class_axis, activation=activation,
                        ignore_index=ignore_index, mask=mask,
                        include_background=include_background, class_weights=class_weights,
                        per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                        squared=squared, soft_labels=soft_labels, reduction=reduction)
