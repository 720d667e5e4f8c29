"""Region losses: Dice, Jaccard (IoU), Tversky, Focal Tversky, generalized Dice, log-cosh Dice.

Each loss is the same pipeline (see ``DESIGN.md``): :func:`regionloss._inputs.prepare`
aligns the inputs, the activation turns logits into probabilities, soft statistics
(:mod:`regionloss._stats`) are summed per (sample, class), a formula
(:mod:`regionloss._formulas`) turns them into a per-class loss, and
:mod:`regionloss._reduce` weights and averages. Only the formula differs between losses.

All of them are pure functions of arrays: they run on NumPy, CuPy, JAX (``jit``,
``grad``, ``vmap``), PyTorch and Dask, and return an array of the caller's namespace.

Every public loss of the package is also a *term* (:class:`LossTerm`): its static options
validated once, and a function of :class:`SharedInputs`, the prepared inputs plus a memo of
what several losses may read (probabilities, log-probabilities, soft statistics). A single
loss call builds its term and evaluates it; :func:`regionloss.combine` builds several terms
once and evaluates them on one :class:`SharedInputs`, so that statistics are computed once.
"""

from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

from . import _formulas
from ._backend import (
    ACTIVATIONS,
    apply_activation,
    check_activation,
    device_of,
    log_sigmoid,
    log_softmax,
    namespace,
    safe_divide,
    scalar,
)
from ._inputs import LossInputs, _check_probabilities, check_choice, check_class_weights, prepare
from ._reduce import check_reduction, reduce_classes_and_samples, select_classes
from ._stats import SoftStats, soft_statistics

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


def _check_activation_choice(activation, *, allowed=ACTIVATIONS, name="activation") -> None:
    """Build-time check of an activation option (the channel count is checked per call)."""
    if activation not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {activation!r}")


# --------------------------------------------------------------------------- terms


class SharedInputs:
    """A loss call's prepared inputs and a memo of what several losses may read.

    Each quantity is computed on first use and reused: the probabilities and
    log-probabilities per activation, the soft statistics per configuration, the
    reference volumes. Log-probabilities and probabilities of one activation are not
    computed twice: when a term of the call reads the log-probabilities (``log_first``),
    the probabilities are ``exp`` of them.
    """

    def __init__(self, inputs: LossInputs, *, log_first=frozenset(), mask_given=False):
        self.inputs = inputs
        self.xp = inputs.xp
        self.mask_given = mask_given
        self._log_first = frozenset(log_first)
        self._memo: dict = {}

    def _get(self, key, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def log_probs(self, activation):
        """``log_softmax`` over the class axis, or ``log_sigmoid`` (stable, from logits)."""
        inputs = self.inputs

        def make():
            if activation == "softmax":
                return log_softmax(self.xp, inputs.pred, inputs.class_axis)
            if activation == "sigmoid":
                return log_sigmoid(self.xp, inputs.pred)
            raise AssertionError(activation)

        return self._get(("log_probs", activation), make)

    def probs(self, activation):
        """Probabilities after ``activation`` (``exp`` of the log-probabilities if shared)."""
        if activation in self._log_first:
            return self._get(("probs", activation),
                             lambda: self.xp.exp(self.log_probs(activation)))
        return self._get(("probs", activation),
                         lambda: apply_activation(self.xp, self.inputs.pred, activation,
                                                  self.inputs.class_axis))

    def stats(self, *, activation, per_sample, squared, soft_labels) -> SoftStats:
        """Soft statistics, (N, C) per sample or (C,) pooled."""
        inputs = self.inputs

        def make():
            return soft_statistics(self.xp, self.probs(activation), inputs.target,
                                   inputs.weight, class_axis=inputs.class_axis,
                                   sum_axes=inputs.sum_axes(per_sample), squared=squared,
                                   soft_labels=soft_labels)

        return self._get(("stats", activation, per_sample, squared, soft_labels), make)

    def volumes(self, *, per_sample):
        """Reference volumes ``Σ w·y`` per (sample, class), or per class when pooled."""
        inputs = self.inputs

        def make():
            y = inputs.target if inputs.weight is None else inputs.target * inputs.weight
            return self.xp.sum(y, axis=inputs.sum_axes(per_sample))

        return self._get(("volumes", per_sample), make)


@dataclass(frozen=True)
class LossTerm:
    """One loss with its static options validated: a function of :class:`SharedInputs`.

    Attributes
    ----------
    name : str
        The public loss it stands for.
    evaluate : callable
        ``evaluate(shared) -> array``: the loss on prepared inputs.
    class_axis, ignore_index :
        How ``pred`` and ``target`` are read (terms of one compound must agree).
    activation : {'softmax', 'sigmoid', None, 'logits'}
        What the term does to ``pred``: an activation, None (``pred`` holds
        probabilities), or 'logits' (used as they are, the Lovász hinge).
    reduction : str
    log_activations : tuple
        Activations whose log-probabilities the term reads (cross-entropy, focal).
    options : dict
        Every option, resolved (for messages and ``repr``).
    """

    name: str
    evaluate: Callable[[SharedInputs], Any]
    class_axis: Any
    activation: Any
    ignore_index: Any
    reduction: str
    log_activations: tuple = ()
    options: dict = field(default_factory=dict, compare=False)

    @property
    def takes_logits(self) -> bool:
        return self.activation is not None

    def __call__(self, pred, target, mask=None):
        shared = prepare_shared((self,), pred, target, mask)
        return self.evaluate(shared)


def prepare_shared(terms, pred, target, mask) -> SharedInputs:
    """Validate and align the inputs once for ``terms`` (which agree on how to read them)."""
    first = terms[0]
    activation = "sigmoid" if first.activation == "logits" else first.activation
    inputs = prepare(pred, target, class_axis=first.class_axis, activation=activation,
                     ignore_index=first.ignore_index, mask=mask)
    channels = inputs.num_classes if inputs.had_class_axis else None
    for term in terms[1:]:
        if term.activation not in ("logits", None):
            check_activation(term.activation, channels)
        elif term.activation is None and activation is not None:  # pragma: no cover
            _check_probabilities(inputs.xp, inputs.pred)  # combine forbids this mix
    log_first = {a for term in terms for a in term.log_activations}
    return SharedInputs(inputs, log_first=log_first, mask_given=mask is not None)


def loss_term(builder: Callable[..., LossTerm]):
    """Attach ``builder`` (keyword options -> :class:`LossTerm`) to a public loss function.

    :func:`regionloss.combine` finds it there, fills the options the caller left out
    from the public function's own defaults, and builds the term once.
    """
    def attach(func):
        func._regionloss_term = builder
        return func

    return attach


def build_term(func, options: dict) -> LossTerm:
    """The term of public loss ``func`` with ``options`` (defaults from its signature)."""
    builder = getattr(func, "_regionloss_term", None)
    if builder is None:
        raise TypeError(f"{func!r} is not a regionloss loss")
    params = inspect.signature(func).parameters
    keywords = {n: p.default for n, p in params.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(keywords))
    if unknown:
        raise TypeError(f"{func.__name__} has no option {', '.join(map(repr, unknown))}; "
                        f"its options are {', '.join(sorted(keywords))}")
    if "mask" in options:
        raise ValueError(f"{func.__name__}: mask is an array of each call, not an option "
                         "of a compound; pass it when calling the compound")
    resolved = {**keywords, **options}
    resolved.pop("mask")
    return builder(**resolved)


# --------------------------------------------------------------------------- region losses


def region_inputs(pred, target, *, class_axis, activation, ignore_index, mask,
                  include_background, class_weights, reduction) -> LossInputs:
    """Validate every option of a region loss and prepare its inputs (shared by all losses)."""
    check_reduction(reduction)
    inputs = prepare(pred, target, class_axis=class_axis, activation=activation,
                     ignore_index=ignore_index, mask=mask)
    check_region_call(inputs, include_background=include_background,
                      class_weights=class_weights)
    return inputs


def check_region_call(inputs: LossInputs, *, include_background, class_weights) -> None:
    """Per-call checks that need the channel count: background and class weights."""
    if not include_background and inputs.num_classes < 2:
        raise ValueError(
            "include_background=False drops channel 0, but the prediction has a single "
            "channel (no background channel to drop)"
        )
    # validated now, so that a wrong length fails even with reduction='none'
    check_class_weights(inputs.xp, class_weights, inputs.num_classes, inputs.dtype, None,
                        include_background=include_background)


def region_statistics(inputs: LossInputs, *, activation, per_sample, squared,
                      soft_labels) -> SoftStats:
    """Activation then soft statistics, (N, C) per sample or (C,) pooled."""
    return SharedInputs(inputs).stats(activation=activation, per_sample=per_sample,
                                      squared=squared, soft_labels=soft_labels)


def region_term(name, per_class_loss, *, class_axis, activation, ignore_index,
                include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared,
                soft_labels, reduction, **extra) -> LossTerm:
    """The term of a region loss: ``per_class_loss(stats)`` is the only part a loss supplies."""
    check_reduction(reduction)
    _check_activation_choice(activation)
    _check_nonnegative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)

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


def _region_loss(pred, target, per_class_loss, *, class_axis, activation, ignore_index, mask,
                 include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared,
                 soft_labels, reduction):
    """The shared pipeline: ``per_class_loss(stats)`` is the only part a loss supplies."""
    term = region_term("region_loss", per_class_loss, class_axis=class_axis,
                       activation=activation, ignore_index=ignore_index,
                       include_background=include_background, class_weights=class_weights,
                       per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       squared=squared, soft_labels=soft_labels, reduction=reduction)
    return term(pred, target, mask)


def _run(builder, arguments: dict):
    """Call the term ``builder`` makes from a public loss's ``locals()`` (pred, target, mask
    and the options)."""
    options = dict(arguments)
    pred, target, mask = options.pop("pred"), options.pop("target"), options.pop("mask")
    return builder(**options)(pred, target, mask)


def _dice_term(*, smooth_nr, smooth_dr, **options):
    def per_class(s):
        return 1.0 - _formulas.dice(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return region_term("dice_loss", per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       **options)


@loss_term(_dice_term)
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
    return _run(_dice_term, locals())


def _jaccard_term(*, smooth_nr, smooth_dr, **options):
    def per_class(s):
        return 1.0 - _formulas.iou(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return region_term("jaccard_loss", per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       **options)


@loss_term(_jaccard_term)
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
    return _run(_jaccard_term, locals())


iou_loss = jaccard_loss


def _tversky_term(*, alpha, beta, smooth_nr, smooth_dr, **options):
    _check_nonnegative(alpha=alpha, beta=beta)

    def per_class(s):
        return 1.0 - _formulas.tversky(s.tp, s.fp, s.fn, alpha=alpha, beta=beta,
                                       smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    return region_term("tversky_loss", per_class, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                       alpha=alpha, beta=beta, **options)


@loss_term(_tversky_term)
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
    return _run(_tversky_term, locals())


def focal_power(xp, x, gamma):
    """``max(x, 0) ** gamma`` with a zero (not infinite or NaN) gradient at ``x = 0``.

    For ``gamma < 1`` the derivative of ``x**gamma`` is infinite at 0 (a perfect or an
    empty-and-empty class); the double-``where`` keeps the backward pass finite there.
    """
    positive = x > 0
    safe = xp.where(positive, x, xp.ones_like(x))
    return xp.where(positive, safe ** gamma, xp.zeros_like(x))


def _focal_tversky_term(*, alpha, beta, gamma, smooth_nr, smooth_dr, **options):
    _check_nonnegative(alpha=alpha, beta=beta)
    if not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"gamma must be a positive number; got {gamma!r}")

    def per_class(s):
        index = _formulas.tversky(s.tp, s.fp, s.fn, alpha=alpha, beta=beta,
                                  smooth_nr=smooth_nr, smooth_dr=smooth_dr)
        return focal_power(namespace(index), 1.0 - index, gamma)

    return region_term("focal_tversky_loss", per_class, smooth_nr=smooth_nr,
                       smooth_dr=smooth_dr, alpha=alpha, beta=beta, gamma=gamma, **options)


@loss_term(_focal_tversky_term)
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
    return _run(_focal_tversky_term, locals())


# --------------------------------------------------------------------------- log-cosh Dice


def log_cosh(xp, x):
    r"""``log(cosh(x))`` as ``log1p(2 sinh²(x/2))``: exact for small ``x`` (no ``log(1 + ε)``
    cancellation), derivative ``tanh(x)``; finite for ``|x|`` below ~89 (float32), and a
    loss here lies in [0, 1]."""
    half = xp.sinh(x / 2)
    return xp.log1p(2.0 * half * half)


def _log_cosh_dice_term(*, smooth_nr, smooth_dr, **options):
    def per_class(s):
        dice = 1.0 - _formulas.dice(s.tp, s.fp, s.fn, smooth_nr=smooth_nr, smooth_dr=smooth_dr)
        return log_cosh(namespace(dice), dice)

    return region_term("log_cosh_dice_loss", per_class, smooth_nr=smooth_nr,
                       smooth_dr=smooth_dr, **options)


@loss_term(_log_cosh_dice_term)
@_doc
def log_cosh_dice_loss(pred, target, /, *, class_axis=-1, activation="softmax",
                       ignore_index=None, mask=None, include_background=True,
                       class_weights=None, per_sample=True, smooth_nr=1e-5, smooth_dr=1e-5,
                       squared=False, soft_labels=False, reduction="mean"):
    r"""Log-cosh Dice loss (Jadon 2020), applied per class before the class mean.

    .. math::
        L_c = \log\cosh(D_c), \qquad
        D_c = 1 - \frac{2\,tp_c + s_{nr}}{2\,tp_c + fp_c + fn_c + s_{dr}}

    with :math:`D_c` the Dice loss of (sample, class) ``c`` (see :func:`dice_loss`). Like
    the focal exponent of :func:`focal_tversky_loss`, the log-cosh is applied to each
    (sample, class) **before** the class mean, so that ``reduction='none'`` returns it per
    class. Jadon's implementation applies it to the already averaged Dice loss; that
    variant is ``log(cosh(dice_loss(...)))`` spelled so (equal for one class and one
    sample). Since :math:`\log\cosh D \approx D^2/2` for small :math:`D`, its gradient
    fades as a class improves (:math:`\tanh D` times the Dice gradient).

    Parameters
    ----------
    {parameters}
    """
    return _run(_log_cosh_dice_term, locals())


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
    _check_activation_choice(activation)
    _check_nonnegative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)
    check_choice("weighting", weighting, GDL_WEIGHTINGS)
    check_choice("absent_class_weight", absent_class_weight, ABSENT_CLASS_WEIGHTS)

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


@loss_term(_generalized_dice_term)
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
    (or batch), as MONAI does; ``'zero'`` gives it 0, so that only its false positives'
    absence from the other classes' sums matters. Gradients stay finite either way (the
    weights are guarded constants of the target).

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
    return _run(_generalized_dice_term, locals())


generalized_dice_loss.__doc__ = generalized_dice_loss.__doc__.replace(
    "{parameters}",
    _COMMON_PARAMETERS.strip().replace(
        "    reduction : {'mean', 'sum', 'none'}, default 'mean'\n"
        "        'mean'/'sum': the (weighted) class mean, then the mean or sum over samples, a\n"
        "        0-d array. 'none': the unweighted loss per (sample, kept class), shape (N, K), or\n"
        "        (K,) with ``per_sample=False`` (K = C, or C − 1 without the background).",
        "    reduction : {'mean', 'sum', 'none'}, default 'mean'\n"
        "        'mean'/'sum': the mean or sum of the per-sample losses, a 0-d array. 'none':\n"
        "        the loss per sample, shape (N,), or 0-d with ``per_sample=False``."))
