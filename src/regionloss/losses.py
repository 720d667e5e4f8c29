"""Region losses: Dice, Jaccard (IoU), Tversky, Focal Tversky, generalized Dice, log-cosh Dice.

Each loss is the same pipeline (see ``DESIGN.md``): :func:`regionloss._inputs.prepare`
aligns the inputs, the activation turns logits into probabilities, soft statistics
(:mod:`regionloss._stats`) are summed per (sample, class), a formula
(:mod:`regionloss._formulas`) turns them into a per-class loss, and
:mod:`regionloss._reduce` weights and averages. Only the formula differs between losses.

All of them are pure functions of arrays: they run on NumPy, CuPy, JAX (``jit``,
``grad``, ``vmap``), PyTorch and Dask, and return an array of the caller's namespace.

Every public loss is also a *term* (:mod:`regionloss._terms`): a single call builds its
term and evaluates it; :func:`regionloss.combine` builds several terms once and evaluates
them on one set of prepared inputs, so that statistics are computed once.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

from . import _formulas
from ._backend import device_of, namespace, safe_divide, scalar
from ._inputs import check_bool, check_choice, check_class_weights
from ._reduce import check_reduction, reduce_classes_and_samples, select_classes
from ._terms import (
    LossTerm,
    SharedInputs,
    check_activation_choice,
    check_nonnegative,
    check_region_call,
    loss_term,
    run_term,
)

__all__ = [
    "dice_loss",
    "jaccard_loss",
    "iou_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "log_cosh_dice_loss",
]

_COMMON_PARAMETERS = """\
    pred : array
        Logits (or probabilities with ``activation=None``). Axis 0 is the sample axis,
        ``class_axis`` the class axis, every other axis is spatial. Half-precision inputs
        are computed and returned in float32; float64 stays float64.
    target : array
        Either an integer label map with ``pred``'s shape without the class axis, or a
        dense target of ``pred``'s shape (one-hot, soft labels, multi-label masks; values
        in [0, 1]). With ``class_axis=None`` an integer/bool target is a 0/1 label map
        (1 = foreground) and a float target is dense; a label map for a single-channel
        prediction is likewise a 0/1 foreground mask.
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
        and target alike. Any int works (255, -1, or a class id); not a bool.
    mask : array or None, default None
        Per-pixel weights ``w >= 0`` (finite) broadcastable to ``pred``'s shape without the
        class axis; works for any target. The weights are linear in every sum
        (``tp = Σ w·p·y``, ``Σ w·p``, ``Σ w·y``): 0 removes a pixel, like ``ignore_index``.
        (MONAI and segmentation_models_pytorch multiply both inputs by the mask instead;
        the same numbers for 0/1 masks.)
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
{reduction}

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device; never a Python float.

    Raises
    ------
    ValueError, TypeError
        With the argument and the shapes or values at fault: mismatched shapes, float
        labels, ``ignore_index`` with a dense target, class weights of the wrong length,
        an unknown activation or reduction, softmax over one channel, a non-bool flag,
        and (outside ``jit`` only) labels out of range, a dense target outside [0, 1], a
        negative or non-finite mask."""

_REDUCTION_PER_CLASS = """\
        'mean'/'sum': the (weighted) class mean, then the mean or sum over samples, a
        0-d array. 'none': the unweighted loss per (sample, kept class), shape (N, K), or
        (K,) with ``per_sample=False`` (K = C, or C − 1 without the background)."""


def _doc(reduction: str = _REDUCTION_PER_CLASS) -> Callable[[Callable], Callable]:
    """Fill a loss docstring's ``{parameters}`` placeholder (``{reduction}``: its words)."""
    parameters = _COMMON_PARAMETERS.replace("{reduction}", reduction).strip()

    def apply(func: Callable) -> Callable:
        func.__doc__ = func.__doc__.replace("{parameters}", parameters)
        return func

    return apply


# --------------------------------------------------------------------------- region losses


def _check_flags(**flags) -> tuple:
    """Each flag as a Python bool (``TypeError`` for 1, "yes", an array, ...), in order."""
    return tuple(check_bool(name, value) for name, value in flags.items())


def region_term(name, per_class_loss, *, class_axis, activation, ignore_index,
                include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared,
                soft_labels, reduction, **extra) -> LossTerm:
    """The term of a region loss: ``per_class_loss(stats)`` is the only part a loss supplies."""
    check_reduction(reduction)
    check_activation_choice(activation)
    check_nonnegative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)
    include_background, per_sample, squared, soft_labels = _check_flags(
        include_background=include_background, per_sample=per_sample, squared=squared,
        soft_labels=soft_labels)

    def evaluate(shared: SharedInputs):
        inputs = shared.inputs
        check_region_call(inputs, include_background=include_background,
                          class_weights=class_weights)
        stats = shared.stats(activation=activation, per_sample=per_sample, squared=squared,
                             soft_labels=soft_labels)
        per_class = per_class_loss(stats)
        return reduce_classes_and_samples(inputs.xp, per_class, num_classes=inputs.num_classes,
                                          include_background=include_background,
                                          class_weights=class_weights, reduction=reduction)

    options = dict(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                   include_background=include_background, class_weights=class_weights,
                   per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                   squared=squared, soft_labels=soft_labels, reduction=reduction, **extra)
    return LossTerm(name, evaluate, class_axis=class_axis, activation=activation,
                    ignore_index=ignore_index, reduction=reduction, options=options)


def _dice_term(*, smooth_nr, smooth_dr, **options):
    def per_class(s):
        return 1.0 - _formulas.dice(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return region_term("dice_loss", per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       **options)


@loss_term(_dice_term)
@_doc()
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
    return run_term(_dice_term, locals())


def _jaccard_term(*, smooth_nr, smooth_dr, **options):
    def per_class(s):
        return 1.0 - _formulas.iou(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return region_term("jaccard_loss", per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       **options)


@loss_term(_jaccard_term)
@_doc()
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
    return run_term(_jaccard_term, locals())


iou_loss = jaccard_loss


def _tversky_term(*, alpha, beta, smooth_nr, smooth_dr, **options):
    check_nonnegative(alpha=alpha, beta=beta)

    def per_class(s):
        return 1.0 - _formulas.tversky(s.tp, s.fp, s.fn, alpha=alpha, beta=beta,
                                       smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return region_term("tversky_loss", per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       alpha=alpha, beta=beta, **options)


@loss_term(_tversky_term)
@_doc()
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
    return run_term(_tversky_term, locals())


def focal_power(xp, x, gamma):
    """``max(x, 0) ** gamma`` with a zero (not infinite or NaN) gradient at ``x = 0``.

    For ``gamma < 1`` the derivative of ``x**gamma`` is infinite at 0 (a perfect or an
    empty-and-empty class); the double-``where`` keeps the backward pass finite there.
    """
    positive = x > 0
    safe = xp.where(positive, x, xp.ones_like(x))
    return xp.where(positive, safe ** gamma, xp.zeros_like(x))


def _focal_tversky_term(*, alpha, beta, gamma, smooth_nr, smooth_dr, **options):
    check_nonnegative(alpha=alpha, beta=beta)
    if (isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma > 0
            or math.isinf(gamma)):
        raise ValueError(f"gamma must be a finite positive number; got {gamma!r}")

    def per_class(s):
        index = _formulas.tversky(s.tp, s.fp, s.fn, alpha=alpha, beta=beta,
                                  smooth_nr=smooth_nr, smooth_dr=smooth_dr)
        return focal_power(namespace(index), 1.0 - index, gamma)

    return region_term("focal_tversky_loss", per_class, smooth_nr=smooth_nr,
                       smooth_dr=smooth_dr, alpha=alpha, beta=beta, gamma=gamma, **options)


@loss_term(_focal_tversky_term)
@_doc()
def focal_tversky_loss(pred, target, /, *, alpha=0.3, beta=0.7, gamma=0.75, class_axis=-1,
                       activation="softmax", ignore_index=None, mask=None,
                       include_background=True, class_weights=None, per_sample=True,
                       smooth_nr=1e-5, smooth_dr=1e-5, squared=False, soft_labels=False,
                       reduction="mean"):
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
    return run_term(_focal_tversky_term, locals())


# --------------------------------------------------------------------------- log-cosh Dice


def log_cosh(xp, x):
    r"""``log(cosh(x))`` as ``log1p(2 sinh²(x/2))``: exact for small ``x`` (no ``log(1 + ε)``
    cancellation), derivative ``tanh(x)``; finite for ``|x|`` below ~89 (float32), and a
    loss here lies in [0, 1]."""
    half = xp.sinh(x / 2)
    return xp.log1p(2.0 * half * half)


def _log_cosh_dice_term(**options):
    dice = _dice_term(**options)

    def evaluate(shared: SharedInputs):
        value = dice.evaluate(shared)
        return log_cosh(shared.xp, value)

    return LossTerm("log_cosh_dice_loss", evaluate, class_axis=dice.class_axis,
                    activation=dice.activation, ignore_index=dice.ignore_index,
                    reduction=dice.reduction, options=dict(dice.options))


@loss_term(_log_cosh_dice_term)
@_doc()
def log_cosh_dice_loss(pred, target, /, *, class_axis=-1, activation="softmax",
                       ignore_index=None, mask=None, include_background=True,
                       class_weights=None, per_sample=True, smooth_nr=1e-5, smooth_dr=1e-5,
                       squared=False, soft_labels=False, reduction="mean"):
    r"""Log-cosh Dice loss (Jadon 2020): ``log(cosh(dice_loss(...)))``, same options.

    .. math::
        L = \log\cosh\bigl(L_{Dice}\bigr)

    with :math:`L_{Dice}` the output of :func:`dice_loss` called with the same arguments:
    the log-cosh is applied to the **reduced** Dice loss (the class mean, then the mean or
    sum over samples), as in Jadon's paper and code. With ``reduction='none'`` it is
    applied elementwise to the per-(sample, class) Dice losses, shape (N, K) (or (K,)
    pooled). Since :math:`\log\cosh D \approx D^2/2` for small :math:`D`, its gradient
    (:math:`\tanh D` times the Dice gradient) fades as the Dice loss improves.

    It is evaluated as ``log1p(2 sinh²(D/2))``, exact for small ``D``. For a per-class
    variant before the class mean (the way :func:`focal_tversky_loss` applies its
    exponent), take ``reduction='none'`` and average it yourself.

    Parameters
    ----------
    {parameters}
    """
    return run_term(_log_cosh_dice_term, locals())


# --------------------------------------------------------------------------- generalized Dice

GDL_WEIGHTINGS = ("square", "simple", "uniform")
ABSENT_CLASS_WEIGHTS = ("max", "zero")


def generalized_dice_weights(xp, volumes, *, weighting, absent_class_weight):
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
    one = scalar(xp, 1.0, volumes)
    safe = xp.where(present, volumes, one)
    raw = 1.0 / (safe * safe) if weighting == "square" else 1.0 / safe
    finite = xp.where(present, raw, xp.zeros_like(raw))
    if absent_class_weight == "zero":
        return finite
    largest = xp.max(finite, axis=-1, keepdims=True)
    return xp.where(present, finite, largest)


def _generalized_dice_term(*, class_axis, activation, ignore_index, include_background,
                           class_weights, per_sample, smooth_nr, smooth_dr, squared,
                           soft_labels, reduction, weighting, absent_class_weight):
    check_reduction(reduction)
    check_activation_choice(activation)
    check_nonnegative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)
    check_choice("weighting", weighting, GDL_WEIGHTINGS)
    check_choice("absent_class_weight", absent_class_weight, ABSENT_CLASS_WEIGHTS)
    include_background, per_sample, squared, soft_labels = _check_flags(
        include_background=include_background, per_sample=per_sample, squared=squared,
        soft_labels=soft_labels)

    def evaluate(shared: SharedInputs):
        inputs, xp = shared.inputs, shared.xp
        check_region_call(inputs, include_background=include_background,
                          class_weights=class_weights)
        s = shared.stats(activation=activation, per_sample=per_sample, squared=squared,
                         soft_labels=soft_labels)
        tp, fp, fn = (select_classes(v, include_background=include_background) for v in s)
        volumes = select_classes(shared.volumes(per_sample=per_sample),
                                 include_background=include_background)
        w = generalized_dice_weights(xp, volumes, weighting=weighting,
                                     absent_class_weight=absent_class_weight)
        if class_weights is not None:
            cw = check_class_weights(xp, class_weights, inputs.num_classes, tp.dtype,
                                     device_of(tp), include_background=include_background)
            w = w * select_classes(cw, include_background=include_background)
        numerator = 2.0 * xp.sum(w * tp, axis=-1) + smooth_nr
        denominator = xp.sum(w * (2.0 * tp + fp + fn), axis=-1) + smooth_dr
        loss = 1.0 - safe_divide(xp, numerator, denominator, 1.0)
        if reduction == "none" or loss.ndim == 0:
            return loss
        return xp.sum(loss, axis=0) if reduction == "sum" else xp.mean(loss, axis=0)

    options = dict(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                   include_background=include_background, class_weights=class_weights,
                   per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                   squared=squared, soft_labels=soft_labels, reduction=reduction,
                   weighting=weighting, absent_class_weight=absent_class_weight)
    return LossTerm("generalized_dice_loss", evaluate, class_axis=class_axis,
                    activation=activation, ignore_index=ignore_index, reduction=reduction,
                    options=options)


_REDUCTION_PER_SAMPLE = """\
        'mean'/'sum': the mean or sum of the per-sample losses, a 0-d array. 'none':
        the loss per sample, shape (N,), or 0-d with ``per_sample=False``."""


@loss_term(_generalized_dice_term)
@_doc(_REDUCTION_PER_SAMPLE)
def generalized_dice_loss(pred, target, /, *, weighting="square", absent_class_weight="max",
                          class_axis=-1, activation="softmax", ignore_index=None, mask=None,
                          include_background=True, class_weights=None, per_sample=True,
                          smooth_nr=1e-5, smooth_dr=1e-5, squared=False, soft_labels=False,
                          reduction="mean"):
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
    """
    return run_term(_generalized_dice_term, locals())
