r"""Distribution losses for compound use: cross-entropy and focal loss, from logits.

Both are per-pixel losses averaged over the valid pixels of the **whole batch** (there is
no ``per_sample``): with per-pixel weights :math:`m_i` (0 at ``ignore_index``, the
``mask`` values elsewhere, 1 by default),

.. math::
    L = \frac{\sum_i m_i\,\ell_i}{\sum_i m_i\,W_i}

where :math:`W_i` is 1, or for cross-entropy with ``class_weights`` the weight of pixel
``i``'s reference class (PyTorch's weighted mean). Adding ignored pixels never changes the
loss; an all-ignored batch gives 0 with a zero gradient (guarded division). With
``activation='sigmoid'`` every (pixel, channel) element is one binary problem and the
mean runs over elements. ``reduction='none'`` returns :math:`m_i \ell_i` per pixel (per
element with sigmoid), 0 at ignored pixels.

Log-probabilities come from stable ``log_softmax`` / ``log_sigmoid`` of the logits (the
native JAX and PyTorch functions where available): no log of a probability is ever taken,
so saturated logits give exact, finite losses.
"""

from __future__ import annotations

import math
import numbers

from ._backend import device_of, safe_divide
from ._inputs import check_class_weights
from ._reduce import check_reduction
from ._terms import LossTerm, SharedInputs, check_activation_choice, loss_term, run_term
from .losses import focal_power

__all__ = ["cross_entropy_loss", "focal_loss"]

LOGIT_ACTIVATIONS = ("softmax", "sigmoid")


# --------------------------------------------------------------------------- helpers


def _check_logit_activation(activation):
    if activation is None:
        raise ValueError(
            "activation=None: cross-entropy and focal losses take logits (activation="
            "'softmax' or 'sigmoid'); for probabilities p pass log(p) as the logits, since "
            "log_softmax(log p) = log p"
        )
    check_activation_choice(activation, allowed=LOGIT_ACTIVATIONS)


def _class_shape(inputs):
    """Shape that puts a length-C vector on the class axis of ``inputs.pred``."""
    shape = [1] * inputs.pred.ndim
    shape[inputs.class_axis] = inputs.num_classes
    return tuple(shape)


def _per_class(xp, values, inputs, dtype):
    """A length-C sequence or array as an array broadcasting along the class axis."""
    arr = xp.asarray(values, dtype=dtype, device=device_of(inputs.pred))
    return xp.reshape(arr, _class_shape(inputs))


def _squeeze_class(xp, x, inputs):
    """Drop the class axis of a per-pixel array (size 1 after a sum over classes)."""
    return xp.squeeze(x, axis=inputs.class_axis)


def _weighted_mean(xp, loss, normaliser_terms, weight, *, reduction, static_count):
    """Σ m·ℓ / Σ m·W (guarded), Σ m·ℓ, or m·ℓ itself, as ``reduction`` says.

    ``loss`` holds ℓ per element; ``normaliser_terms`` holds W per element (None: 1);
    ``weight`` the pixel weights m broadcastable to ``loss`` (None: 1); ``static_count``
    the element count, used when neither weights nor W are given (a plain mean).
    """
    weighted = loss if weight is None else loss * weight
    if reduction == "none":
        return weighted
    total = xp.sum(weighted)
    if reduction == "sum":
        return total
    if weight is None and normaliser_terms is None:
        return total / static_count
    if normaliser_terms is None:
        normaliser_terms = xp.ones_like(loss)
    norm = normaliser_terms if weight is None else normaliser_terms * weight
    return safe_divide(xp, total, xp.sum(norm), 0.0)


def _pixel_weight(inputs, like_shape):
    """The per-pixel weight broadcast to ``like_shape`` (or None)."""
    if inputs.weight is None:
        return None
    return inputs.xp.broadcast_to(inputs.weight, like_shape)


def _check_fraction(name, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0.0 <= value <= 1.0 or math.isnan(value)):
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}")


def _output_shape_none(xp, out, inputs):
    """'none' output: per pixel (softmax) or per element (sigmoid) in the caller's layout."""
    if not inputs.had_class_axis:
        return _squeeze_class(xp, out, inputs)
    return out


# --------------------------------------------------------------------------- cross-entropy


def _cross_entropy_term(*, class_axis, activation, ignore_index, class_weights,
                        label_smoothing, reduction):
    check_reduction(reduction)
    _check_logit_activation(activation)
    _check_fraction("label_smoothing", label_smoothing)

    def evaluate(shared: SharedInputs):
        inputs, xp = shared.inputs, shared.xp
        dtype = inputs.dtype
        cw = check_class_weights(xp, class_weights, inputs.num_classes, dtype,
                                 device_of(inputs.pred), include_background=True)
        cw = None if cw is None else xp.reshape(cw, _class_shape(inputs))
        logp = shared.log_probs(activation)
        y = inputs.target
        if activation == "softmax":
            q = y
            if label_smoothing:
                q = (1.0 - label_smoothing) * y + label_smoothing / inputs.num_classes
            terms = q * logp if cw is None else (cw * q) * logp
            loss = -xp.sum(terms, axis=inputs.class_axis, keepdims=True)
            norm = None if cw is None else xp.sum(cw * y, axis=inputs.class_axis,
                                                  keepdims=True)
            weight = _pixel_weight(inputs, loss.shape)
            out = _weighted_mean(xp, loss, norm, weight, reduction=reduction,
                                 static_count=math.prod(loss.shape))
            return _squeeze_class(xp, out, inputs) if reduction == "none" else out
        # sigmoid: binary cross-entropy per element, (1 - y) x - log σ(x)
        q = y
        if label_smoothing:
            q = (1.0 - label_smoothing) * y + label_smoothing / 2.0
        loss = (1.0 - q) * inputs.pred - logp
        norm = None
        if cw is not None:
            loss = cw * loss
            norm = xp.broadcast_to(cw, loss.shape)
        weight = _pixel_weight(inputs, loss.shape)
        out = _weighted_mean(xp, loss, norm, weight, reduction=reduction,
                             static_count=math.prod(loss.shape))
        return _output_shape_none(xp, out, inputs) if reduction == "none" else out

    options = dict(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                   class_weights=class_weights, label_smoothing=label_smoothing,
                   reduction=reduction)
    return LossTerm("cross_entropy_loss", evaluate, class_axis=class_axis,
                    activation=activation, ignore_index=ignore_index, reduction=reduction,
                    log_activations=(activation,), options=options)


@loss_term(_cross_entropy_term)
def cross_entropy_loss(pred, target, /, *, class_axis=-1, activation="softmax",
                       ignore_index=None, mask=None, class_weights=None, label_smoothing=0.0,
                       reduction="mean"):
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
    """
    return run_term(_cross_entropy_term, locals())


# --------------------------------------------------------------------------- focal


def _check_gamma(gamma):
    if (isinstance(gamma, bool) or not isinstance(gamma, numbers.Real)
            or not gamma >= 0 or math.isinf(gamma)):
        raise ValueError(f"gamma must be a finite number >= 0; got {gamma!r}")


def _check_alpha(alpha, activation):
    """None, a float in [0, 1] (sigmoid only), or a sequence of non-negative numbers."""
    if alpha is None:
        return None
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        if activation == "softmax":
            raise ValueError(
                f"alpha={alpha!r} is a single number, which is Lin et al.'s α_t for sigmoid "
                "outputs (α on positives, 1 − α on negatives); with activation='softmax' "
                "pass one α per class (a sequence), or use activation='sigmoid'"
            )
        _check_fraction("alpha", alpha)
        return float(alpha)
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


def _focal_factor(xp, one_minus_p, gamma):
    """``(1 − p)^γ`` with γ = 0 exactly 1 and a finite gradient at ``1 − p = 0``."""
    if gamma == 0:
        return None
    if gamma == 1:
        return one_minus_p
    if gamma == 2:
        return one_minus_p * one_minus_p
    return focal_power(xp, one_minus_p, gamma)


def _focal_term(*, gamma, alpha, class_axis, activation, ignore_index, reduction):
    check_reduction(reduction)
    _check_logit_activation(activation)
    _check_gamma(gamma)
    alpha = _check_alpha(alpha, activation)

    def evaluate(shared: SharedInputs):
        inputs, xp = shared.inputs, shared.xp
        dtype = inputs.dtype
        if isinstance(alpha, tuple) and len(alpha) != inputs.num_classes:
            raise ValueError(
                f"alpha has {len(alpha)} values but the prediction has {inputs.num_classes} "
                "classes (channels): give one α per class, indexed by class id"
            )
        alpha_c = _per_class(xp, list(alpha), inputs, dtype) if isinstance(alpha, tuple) else None
        logp = shared.log_probs(activation)
        y = inputs.target
        if activation == "softmax":
            one_minus_p = -xp.expm1(logp)  # 1 − p, exact near p = 1
            factor = _focal_factor(xp, one_minus_p, gamma)
            terms = y * logp if factor is None else (y * factor) * logp
            if alpha_c is not None:
                terms = alpha_c * terms
            loss = -xp.sum(terms, axis=inputs.class_axis, keepdims=True)
            weight = _pixel_weight(inputs, loss.shape)
            out = _weighted_mean(xp, loss, None, weight, reduction=reduction,
                                 static_count=math.prod(loss.shape))
            return _squeeze_class(xp, out, inputs) if reduction == "none" else out
        # sigmoid (Lin et al.): α_t (1 − p_t)^γ BCE, with 1 − p_t = σ(x)(1 − y) + σ(−x) y
        x = inputs.pred
        bce = (1.0 - y) * x - logp
        p = xp.exp(logp)
        q = xp.exp(logp - x)  # σ(−x), from the logits
        loss = bce
        factor = _focal_factor(xp, p * (1.0 - y) + q * y, gamma)
        if factor is not None:
            loss = factor * loss
        if alpha is not None:
            a = alpha if alpha_c is None else alpha_c
            loss = (a * y + (1.0 - a) * (1.0 - y)) * loss
        weight = _pixel_weight(inputs, loss.shape)
        out = _weighted_mean(xp, loss, None, weight, reduction=reduction,
                             static_count=math.prod(loss.shape))
        return _output_shape_none(xp, out, inputs) if reduction == "none" else out

    options = dict(gamma=gamma, alpha=alpha, class_axis=class_axis, activation=activation,
                   ignore_index=ignore_index, reduction=reduction)
    return LossTerm("focal_loss", evaluate, class_axis=class_axis, activation=activation,
                    ignore_index=ignore_index, reduction=reduction,
                    log_activations=(activation,), options=options)


@loss_term(_focal_term)
def focal_loss(pred, target, /, *, gamma=2.0, alpha=None, class_axis=-1, activation="softmax",
               ignore_index=None, mask=None, reduction="mean"):
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
    """
    return run_term(_focal_term, locals())
