r"""Pixel-wise losses: cross-entropy and focal loss, from logits.

Both are per-pixel losses averaged over the valid pixels of the **whole batch** (there is
no ``per_sample``): with per-pixel weights :math:`m_i` (0 at ``ignore_index``, the
``mask`` values elsewhere, 1 by default),

.. math::
    L = \frac{\sum_i m_i\,\ell_i}{\sum_i m_i\,W_i}

where :math:`W_i` is 1, or for cross-entropy with ``class_weights`` the weight of pixel
``i``'s reference class (PyTorch's weighted mean). Adding ignored pixels never changes the
loss; an all-ignored batch (or one without pixels) gives 0 with a zero gradient (guarded
division). With ``activation='sigmoid'`` every (pixel, channel) element is one binary
problem and the mean runs over elements. ``reduction='none'`` returns :math:`m_i \ell_i`
per pixel (per element with sigmoid), 0 at ignored pixels.

Log-probabilities come from stable ``log_softmax`` / ``log_sigmoid`` of the logits (the
native JAX and PyTorch functions where available): no log of a probability is ever taken,
so saturated logits give exact, finite losses. Products ``q · log p`` are *selected* where
``q = 0``, so a ``-inf`` logit on a class without target mass gives its limit, not NaN.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

from .._kernels.arrays import device_of
from .._reduce import weighted_pixel_mean
from .._typing import Array
from .._validate import check_activation, check_class_weights, check_real
from ._term import LossTerm, Prepared
from .region import focal_power

__all__ = [
    "CrossEntropyTerm",
    "FocalTerm",
    "cross_entropy_loss",
    "focal_loss",
    "bce_terms",
    "log_not_p",
    "select_product",
]

LOGIT_ACTIVATIONS = ("softmax", "sigmoid")


def check_logit_activation(activation):
    """Cross-entropy and focal take logits: 'softmax' or 'sigmoid', never None."""
    if activation is None:
        raise ValueError(
            "activation=None: cross-entropy and focal losses take logits (activation="
            "'softmax' or 'sigmoid'); for probabilities p pass log(p) as the logits, since "
            "log_softmax(log p) = log p")
    return check_activation(activation, LOGIT_ACTIVATIONS)


def class_vector(xp, values, inputs):
    """A length-C sequence or array as an array broadcasting along the class axis."""
    shape = [1] * inputs.pred.ndim
    shape[inputs.class_axis] = inputs.num_classes
    arr = xp.asarray(values, dtype=inputs.dtype, device=device_of(inputs.pred))
    return xp.reshape(arr, tuple(shape))


def select_product(xp, q, log_p):
    """``q · log p`` with ``0 · log p`` read as 0 (``log p = -inf`` is a masked class):
    ``log p`` is selected away where ``q = 0`` before the product, so no ``0 · inf`` is
    ever evaluated (no NaN, no floating-point warning) and the gradient there is 0."""
    return q * xp.where(q > 0, log_p, xp.zeros_like(log_p))


def log_not_p(xp, x, log_p):
    """``log σ(−x) = log σ(x) − x`` from the logits and ``log σ(x)`` (0 at ``x = -inf``,
    where the difference would be ``-inf + inf``; NaN stays NaN)."""
    at_minus_inf = x == -math.inf
    zero = xp.zeros_like(x)
    return xp.where(at_minus_inf, zero, log_p - xp.where(at_minus_inf, zero, x))


def bce_terms(xp, log_p, log_q, q):
    r"""Binary cross-entropy per element from ``log σ(x)``, ``log σ(−x)`` and targets ``q``.

    .. math:: \ell = -q\log\sigma(x) - (1 - q)\log\sigma(-x)

    with each product selected away where its factor ``q`` or ``1 − q`` is 0: infinite
    logits give the limits (0 for a right ``±inf``, ``+inf`` for a wrong one), NaN stays NaN.
    """
    return -(select_product(xp, q, log_p) + select_product(xp, 1.0 - q, log_q))


@dataclasses.dataclass(frozen=True, kw_only=True)
class CrossEntropyTerm(LossTerm):
    """The term of :func:`cross_entropy_loss`."""

    name: ClassVar[str] = "cross_entropy_loss"
    log_activation: ClassVar[bool] = True
    checks: ClassVar[dict] = {**LossTerm.checks, "activation": LOGIT_ACTIVATIONS,
                              "label_smoothing": "fraction"}
    activation: Any = "softmax"
    class_weights: Any = None
    label_smoothing: float = 0.0

    def __post_init__(self):
        if self.activation is None:
            check_logit_activation(self.activation)
        super().__post_init__()

    def pixel_losses(self, prepared: Prepared):
        """``(ℓ, W)``: the loss per pixel (softmax, size-1 class axis) or per element
        (sigmoid), and the normaliser per pixel (None: 1)."""
        inputs, xp = prepared.inputs, prepared.xp
        cw = None
        if self.class_weights is not None:
            cw = class_vector(xp, check_class_weights(
                xp, self.class_weights, inputs.num_classes, inputs.dtype,
                device_of(inputs.pred), include_background=True), inputs)
        log_p = prepared.log_probs(self.activation)
        y, eps = inputs.target, self.label_smoothing
        if self.activation == "softmax":
            q = y if not eps else (1.0 - eps) * y + eps / inputs.num_classes
            terms = select_product(xp, q if cw is None else cw * q, log_p)
            loss = -xp.sum(terms, axis=inputs.class_axis, keepdims=True)
            norm = None if cw is None else xp.sum(cw * y, axis=inputs.class_axis, keepdims=True)
            return loss, norm
        q = y if not eps else (1.0 - eps) * y + eps / 2.0
        loss = bce_terms(xp, log_p, log_not_p(xp, inputs.pred, log_p), q)
        if cw is None:
            return loss, None
        return cw * loss, xp.broadcast_to(cw, loss.shape)

    def evaluate(self, prepared: Prepared):
        loss, norm = self.pixel_losses(prepared)
        out = weighted_pixel_mean(prepared.xp, loss, prepared.inputs.weight,
                                  reduction=self.reduction, normaliser=norm)
        if self.reduction == "none":
            out = none_layout(prepared, out, self.activation)
        return out


def none_layout(prepared: Prepared, out, activation):
    """The 'none' output in the caller's layout: per pixel for softmax (the class axis,
    of size 1 after the class sum, dropped), per element for sigmoid (as ``pred``)."""
    inputs = prepared.inputs
    if activation == "softmax" or not inputs.had_class_axis:
        return prepared.xp.squeeze(out, axis=inputs.class_axis)
    return out


def check_focal_alpha(alpha, activation):
    """None, a float in [0, 1] (sigmoid only), or a sequence of non-negative numbers."""
    if alpha is None:
        return None
    import numbers

    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        if activation == "softmax":
            raise ValueError(
                f"alpha={alpha!r} is a single number, which is Lin et al.'s α_t for sigmoid "
                "outputs (α on positives, 1 − α on negatives); with activation='softmax' "
                "pass one α per class (a sequence), or use activation='sigmoid'")
        return check_real("alpha", alpha, minimum=0.0, maximum=1.0)
    import numpy as np

    try:
        host = np.asarray(alpha, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be None, a number or a sequence of numbers; got "
                        f"{alpha!r}") from None
    if host.ndim != 1:
        raise ValueError(f"alpha must be a 1-d sequence (one α per class); got shape "
                         f"{host.shape}")
    if not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError(f"alpha must hold finite non-negative numbers; got {host.tolist()}")
    if activation == "sigmoid" and np.any(host > 1):
        raise ValueError(f"with activation='sigmoid' each α is a fraction in [0, 1] "
                         f"(α on positives, 1 − α on negatives); got {host.tolist()}")
    return tuple(host.tolist())


def focal_factor(xp, one_minus_p, gamma):
    """``(1 − p)^γ`` with γ = 0 exactly 1 (None) and a finite gradient at ``1 − p = 0``."""
    if gamma == 0:
        return None
    if gamma == 1:
        return one_minus_p
    if gamma == 2:
        return one_minus_p * one_minus_p
    return focal_power(xp, one_minus_p, gamma)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FocalTerm(LossTerm):
    """The term of :func:`focal_loss`."""

    name: ClassVar[str] = "focal_loss"
    log_activation: ClassVar[bool] = True
    checks: ClassVar[dict] = {**LossTerm.checks, "activation": LOGIT_ACTIVATIONS,
                              "gamma": "nonnegative"}
    gamma: float = 2.0
    alpha: Any = None
    activation: Any = "softmax"

    def __post_init__(self):
        if self.activation is None:
            check_logit_activation(self.activation)
        super().__post_init__()
        object.__setattr__(self, "alpha", check_focal_alpha(self.alpha, self.activation))

    def pixel_losses(self, prepared: Prepared):
        """The focal loss per pixel (softmax, size-1 class axis) or per element (sigmoid)."""
        inputs, xp = prepared.inputs, prepared.xp
        alpha = self.alpha
        if isinstance(alpha, tuple) and len(alpha) != inputs.num_classes:
            raise ValueError(
                f"alpha has {len(alpha)} values but the prediction has {inputs.num_classes} "
                "classes (channels): give one α per class, indexed by class id")
        alpha_c = class_vector(xp, list(alpha), inputs) if isinstance(alpha, tuple) else None
        log_p = prepared.log_probs(self.activation)
        y = inputs.target
        if self.activation == "softmax":
            factor = focal_factor(xp, -xp.expm1(log_p), self.gamma)  # 1 − p, exact near 1
            q = y if factor is None else y * factor
            terms = select_product(xp, q if alpha_c is None else alpha_c * q, log_p)
            return -xp.sum(terms, axis=inputs.class_axis, keepdims=True)
        # sigmoid (Lin et al.): α_t (1 − p_t)^γ BCE, with 1 − p_t = σ(x)(1 − y) + σ(−x) y
        log_q = log_not_p(xp, inputs.pred, log_p)
        loss = bce_terms(xp, log_p, log_q, y)
        factor = focal_factor(xp, xp.exp(log_p) * (1.0 - y) + xp.exp(log_q) * y, self.gamma)
        if factor is not None:
            loss = factor * loss
        if alpha is not None:
            a = alpha if alpha_c is None else alpha_c
            loss = (a * y + (1.0 - a) * (1.0 - y)) * loss
        return loss

    def evaluate(self, prepared: Prepared):
        out = weighted_pixel_mean(prepared.xp, self.pixel_losses(prepared),
                                  prepared.inputs.weight, reduction=self.reduction)
        if self.reduction == "none":
            out = none_layout(prepared, out, self.activation)
        return out


def cross_entropy_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                       activation: str | None = "softmax", ignore_index: int | None = None,
                       mask: Array | None = None,
                       class_weights: Sequence[float] | Array | None = None,
                       label_smoothing: float = 0.0, reduction: str = "mean") -> Array:
    r"""Cross-entropy from logits: softmax (mutually exclusive classes) or binary (sigmoid).

    Softmax, per pixel ``i`` with (smoothed) target :math:`q_{ic}` and class weights
    :math:`w_c` (1 by default):

    .. math::
        \ell_i = -\sum_c w_c\,q_{ic}\,\log\mathrm{softmax}(x_i)_c, \qquad
        q_{ic} = (1 - \varepsilon)\,y_{ic} + \varepsilon / C, \qquad
        L = \frac{\sum_i m_i\,\ell_i}{\sum_i m_i \sum_c w_c\,y_{ic}}

    For an integer label map this is PyTorch's ``F.cross_entropy(weight=w,
    ignore_index=..., label_smoothing=ε)``: each pixel weighted by the weight of its
    reference class and the mean normalised by the sum of those weights (without class
    weights, the mean over valid pixels). ``mask`` weights :math:`m_i` multiply both sums,
    so a pixel's total weight is :math:`m_i w_{y_i}`.

    Sigmoid (``activation='sigmoid'``), per element ``(i, c)``, stable from the logits:

    .. math::
        \ell_{ic} = -q_{ic}\log\sigma(x_{ic}) - (1 - q_{ic})\log\sigma(-x_{ic})
                  = (1 - q_{ic})\,x_{ic} - \log\sigma(x_{ic}),
        \qquad q = (1 - \varepsilon)\,y + \varepsilon/2

    averaged over every valid (pixel, channel) element; ``class_weights`` are per-channel
    weights of a weighted mean, :math:`\sum m_i w_c \ell_{ic} / \sum m_i w_c`.

    Parameters
    ----------
    pred : array
        Logits; axis 0 is the sample axis. Half precision is computed in float32.
    target : array
        Integer label map (``pred``'s shape without the class axis), or a dense target of
        ``pred``'s shape: class probabilities (softmax; rows summing to 1) or 0/1 / soft
        binary targets (sigmoid).
    class_axis : int or None, default -1
        -1 channels-last, 1 channels-first; None (sigmoid only) for one foreground.
    activation : {'softmax', 'sigmoid'}, default 'softmax'
        The loss takes logits: for probabilities ``p`` pass ``log(p)`` (softmax of
        ``log p`` is ``p``).
    ignore_index : int or None, default None
        Label map pixels with this label leave both sums.
    mask : array or None, default None
        Per-pixel weights ``m_i >= 0`` (finite) broadcastable to the label shape, linear in
        both sums above (0 removes a pixel, like ``ignore_index``).
    class_weights : sequence of float or None, default None
        One weight per class (channel), indexed by class id.
    label_smoothing : float in [0, 1], default 0.0
        ε above (PyTorch's convention for softmax; ``y(1 − ε) + ε/2`` for sigmoid).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean' as above; 'sum' the numerator :math:`\sum_i m_i \ell_i`; 'none' the
        weighted per-pixel loss :math:`m_i \ell_i` (0 at ignored pixels) with the shape of
        the label map (softmax), or of ``pred`` (sigmoid).

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    Notes
    -----
    For a soft (probability) target with ``class_weights`` the normaliser is
    :math:`\sum_i m_i \sum_c w_c y_{ic}`, the expected weight of the pixel's class;
    PyTorch divides by the pixel count there. Without class weights both agree.

    Non-finite logits: ``-inf`` on a class the target gives no mass (the usual
    class-masking trick) contributes nothing, with a finite gradient, on every backend and
    under ``jit`` alike (``0 · log 0`` is read as 0); a NaN logit at a scored pixel gives
    NaN. Ignored and zero-mask pixels may hold anything.

    See Also
    --------
    focal_loss, dice_ce_loss

    References
    ----------
    .. [1] PyTorch ``torch.nn.functional.cross_entropy`` (weights, ``ignore_index`` and
       label smoothing follow its conventions); optax
       ``softmax_cross_entropy_with_integer_labels`` and ``sigmoid_binary_cross_entropy``.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> round(float(regionloss.cross_entropy_loss(logits, labels)), 4)   # log 3
    1.0986
    """
    term = CrossEntropyTerm(class_axis=class_axis, activation=activation,
                            ignore_index=ignore_index, class_weights=class_weights,
                            label_smoothing=label_smoothing, reduction=reduction)
    return term(pred, target, mask=mask)


def focal_loss(pred: Array, target: Array, /, *, gamma: float = 2.0,
               alpha: float | Sequence[float] | None = None, class_axis: int | None = -1,
               activation: str | None = "softmax", ignore_index: int | None = None,
               mask: Array | None = None, reduction: str = "mean") -> Array:
    r"""Focal loss (Lin et al. 2017) from logits, softmax or sigmoid.

    Softmax, per pixel ``i`` (for a label map, only the reference class ``c = y_i``
    contributes):

    .. math::
        \ell_i = -\sum_c \alpha_c\,y_{ic}\,(1 - p_{ic})^{\gamma}\,\log p_{ic},
        \qquad \log p = \mathrm{log\_softmax}(x), \quad 1 - p = -\mathrm{expm1}(\log p)

    Sigmoid, per element ``(i, c)``, Lin et al.'s form:

    .. math::
        \ell_{ic} = \alpha_t\,(1 - p_t)^{\gamma}\,\mathrm{BCE}(x_{ic}, y_{ic}),
        \quad 1 - p_t = \sigma(x)(1 - y) + \sigma(-x)\,y,
        \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    The loss is the mean of :math:`m_i \ell_i` over the valid pixels of the batch
    (elements, with sigmoid): ``alpha`` multiplies, it does not renormalise. With
    ``gamma=0`` and no ``alpha`` it is :func:`cross_entropy_loss`.

    Parameters
    ----------
    pred, target, class_axis, ignore_index, mask :
        As :func:`cross_entropy_loss`.
    gamma : float >= 0, default 2.0
        The focusing exponent.
    alpha : None, float or sequence of float, default None
        None: no weighting. A float (sigmoid only) is Lin et al.'s α_t: α on positives,
        1 − α on negatives (an error with softmax). A sequence of one α per class: with
        softmax each pixel's loss is multiplied by α of its reference class; with
        sigmoid it is a per-channel α_t.
    activation : {'softmax', 'sigmoid'}, default 'softmax'
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As :func:`cross_entropy_loss`.

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    See Also
    --------
    cross_entropy_loss, dice_focal_loss

    References
    ----------
    .. [1] T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollar, "Focal loss for dense object
       detection", ICCV 2017.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> a = regionloss.focal_loss(logits, labels, gamma=0.0)
    >>> b = regionloss.cross_entropy_loss(logits, labels)
    >>> bool(abs(float(a) - float(b)) < 1e-6)
    True
    """
    term = FocalTerm(gamma=gamma, alpha=alpha, class_axis=class_axis, activation=activation,
                     ignore_index=ignore_index, reduction=reduction)
    return term(pred, target, mask=mask)
