r"""Lovász losses (Berman, Rannen Triki & Blaschko 2018): convex surrogates of the Jaccard loss.

For one class (one binary problem) with per-pixel errors :math:`e_i \ge 0` and reference
:math:`y_i \in \{0, 1\}`, sort the errors in decreasing order, :math:`e_{\pi(1)} \ge
e_{\pi(2)} \ge \dots`, and let :math:`M_k = \{\pi(1), \dots, \pi(k)\}` be the first ``k``.
The loss is the Lovász extension of the Jaccard loss :math:`\Delta_J`:

.. math::
    L = \sum_k e_{\pi(k)}\,\bigl(\Delta_J(M_k) - \Delta_J(M_{k-1})\bigr), \qquad
    \Delta_J(M) = 1 - \frac{|y \setminus M|}{|y \cup M|}

with :math:`|y \setminus M_k| = Σy − \mathrm{cumsum}(y)_k` and
:math:`|y \cup M_k| = Σy + \mathrm{cumsum}(1 - y)_k` (Berman et al.'s ``lovasz_grad``).
At hard 0/1 errors it *is* the Jaccard loss ``1 − IoU``.

Everything here has static shapes and runs under ``jax.jit``: one ``argsort`` per
(sample, class) row, gathers, cumulative sums. Pixel weights (``ignore_index``, ``mask``)
enter the cardinalities, :math:`|A| = Σ_{i \in A} w_i`, of the reference as well as of
the complement (:math:`y_i` counts as :math:`w_i y_i`): a pixel of weight 0 leaves both
cumulative sums unchanged, so its increment of :math:`\Delta_J` is exactly 0 wherever it
sorts, and the others' increments are those of the data without it. Its own error is set
to 0 as well, so its gradient is 0. The loss therefore equals the loss on the kept pixels
(up to the order of floating-point summation: tested to 1e-12 relative), whatever label
is ignored (255, -1, or a class id). "present" classes are a masked mean, not a
compaction.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

from .._formulas import safe_divide
from .._kernels.arrays import count_dtype, device_of, has_take_along_axis
from .._reduce import reduce_losses
from .._typing import Array
from .._validate import ACTIVATIONS
from ._term import LossTerm, Prepared
from .region import check_class_options

__all__ = [
    "LovaszSoftmaxTerm",
    "LovaszHingeTerm",
    "lovasz_softmax_loss",
    "lovasz_hinge_loss",
    "CLASS_SELECTIONS",
]

CLASS_SELECTIONS = ("present", "all")


# --------------------------------------------------------------------------- kernel


def take_along_last(xp, values, indices) -> Array:
    """``take_along_axis(values, indices, axis=-1)`` for 3-d arrays.

    The standard function where the namespace implements it (array API 2024.12 and
    later); otherwise (Dask, or a namespace pinned to 2023.12) one ``take`` on the
    flattened array with row offsets added to the indices. Both give the same array
    (``tests/losses/test_lovasz.py``).
    """
    if has_take_along_axis(xp):
        return xp.take_along_axis(values, indices, axis=-1)
    return take_along_last_flat(xp, values, indices)


def take_along_last_flat(xp, values, indices) -> Array:
    """The fallback of :func:`take_along_last`: a flat ``take`` (any namespace)."""
    rows = values.shape[0] * values.shape[1]
    length = values.shape[2]
    offsets = xp.reshape(xp.arange(rows, dtype=indices.dtype, device=device_of(indices))
                         * length, (values.shape[0], values.shape[1], 1))
    flat = xp.take(xp.reshape(values, (-1,)), xp.reshape(indices + offsets, (-1,)))
    return xp.reshape(flat, values.shape)


def lovasz_rows(xp, key, errors, truth, weight, *, exact_counts, dtype) -> Array:
    """Lovász extension of the Jaccard loss for each row of (G, C, P) arrays.

    Parameters
    ----------
    key : array (G, C, P)
        Sort key: rows are sorted by it in decreasing order (the errors, before any
        clipping).
    errors : array (G, C, P)
        The values dotted with the Jaccard increments (errors, hinge-clipped for the
        hinge loss, 0 at weight-0 pixels).
    truth : array (G, C, P)
        Reference membership ``y`` (0/1; fractional values count fractionally).
    weight : array (G, 1 or C, P) or None
        Pixel weights (0 = ignored): the reference counts ``w·y``, its complement
        ``w·(1 − y)``, so a weight-0 pixel is in neither, whatever ``truth`` says there.
    exact_counts : bool
        ``truth`` and ``weight`` hold 0/1 values (integer label maps, no mask): the
        cumulative sums are taken in an integer dtype, exact at any size.
    dtype : floating dtype of the result

    Returns
    -------
    loss : array (G, C)
    reference_volume : array (G, C)
        ``Σ w·y`` per row (> 0: the class is present).
    """
    order = xp.argsort(key, axis=-1, descending=True, stable=True)
    sorted_errors = take_along_last(xp, errors, order)
    if weight is None:
        y, outside = truth, 1.0 - truth
    else:
        weight = xp.broadcast_to(weight, truth.shape)
        y, outside = truth * weight, (1.0 - truth) * weight
    if exact_counts:  # 0/1 values: the same numbers, counted in integers
        count = count_dtype(xp)
        y, outside = xp.astype(y, count), xp.astype(outside, count)
    y_sorted = take_along_last(xp, y, order)
    outside_sorted = take_along_last(xp, outside, order)
    total = xp.sum(y, axis=-1, keepdims=True)
    intersection = xp.astype(total - xp.cumulative_sum(y_sorted, axis=-1), dtype)
    union = xp.astype(total + xp.cumulative_sum(outside_sorted, axis=-1), dtype)
    # union is 0 only before the first pixel of weight > 0 with an empty reference: a
    # row of weight-0 pixels. There Δ_J = 0 (fill 1), so every increment is 0.
    jaccard = 1.0 - safe_divide(xp, intersection, union, 1.0)
    previous = xp.concat([xp.zeros_like(jaccard[..., :1]), jaccard[..., :-1]], axis=-1)
    loss = xp.sum(sorted_errors * (jaccard - previous), axis=-1)
    return loss, xp.astype(total[..., 0], dtype)


def _rows(xp, a, class_axis, per_sample):
    """``a`` (sample axis 0, class axis ``class_axis``) as (G, C, P) rows.

    G = N (one row per sample and class) or 1 (the batch pooled, ``per_sample=False``).
    """
    spatial = [ax for ax in range(1, a.ndim) if ax != class_axis]
    a = xp.permute_dims(a, (0, class_axis, *spatial))
    n, c, pixels = a.shape[0], a.shape[1], math.prod(a.shape[2:])
    a = xp.reshape(a, (n, c, pixels))  # (explicit sizes: -1 is ambiguous with no pixels)
    if not per_sample:
        a = xp.reshape(xp.permute_dims(a, (1, 0, 2)), (1, c, n * pixels))
    return a


def _lovasz_inputs(xp, inputs, per_sample, errors, key=None):
    """The (G, C, P) rows :func:`lovasz_rows` takes: ``(key, errors, truth, weight)``.

    ``errors`` (of ``inputs.pred``'s shape) are zeroed at weight-0 pixels, so that an
    ignored pixel has no error and no gradient; ``key`` (default: those errors) keeps its
    values, since a weight-0 pixel adds nothing to the cardinalities wherever it sorts.
    ``weight`` is (G, 1, P), or None without ``ignore_index`` and ``mask``.
    """
    axis, weight = inputs.class_axis, inputs.weight
    if weight is not None:
        errors = xp.where(weight > 0, errors, xp.zeros_like(errors))
        full = inputs.target.shape[:axis] + (1,) + inputs.target.shape[axis + 1:]
        weight = _rows(xp, xp.broadcast_to(weight, full), axis, per_sample)
    error_rows = _rows(xp, errors, axis, per_sample)
    key_rows = error_rows if key is None else _rows(xp, key, axis, per_sample)
    return key_rows, error_rows, _rows(xp, inputs.target, axis, per_sample), weight


@dataclasses.dataclass(frozen=True, kw_only=True)
class LovaszTerm(LossTerm):
    """Options shared by the two Lovász losses, and their reduction."""

    checks: ClassVar[dict] = {**LossTerm.checks, "include_background": "flag",
                              "per_sample": "flag", "classes": CLASS_SELECTIONS}
    include_background: bool = True
    class_weights: Any = None
    per_sample: bool = True
    classes: str = "present"

    def errors(self, prepared: Prepared):
        """``(key, errors)`` of the prediction's shape: sort key and the dotted errors."""
        raise NotImplementedError

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        check_class_options(prepared, include_background=self.include_background,
                            class_weights=self.class_weights)
        key, errors = self.errors(prepared)
        key, errors, truth, weight = _lovasz_inputs(xp, inputs, self.per_sample, errors, key)
        # 0/1 truth and weights (a label map, ignore_index but no mask): integer counts
        exact = inputs.labels is not None and not inputs.mask_given
        loss, volumes = lovasz_rows(xp, key, errors, truth, weight, exact_counts=exact,
                                    dtype=inputs.dtype)
        selected = None
        if self.classes == "present":
            selected = xp.astype(volumes > 0, loss.dtype)
        if not self.per_sample:  # one pooled row
            loss, selected = loss[0, ...], (None if selected is None else selected[0, ...])
        return reduce_losses(xp, loss, num_classes=inputs.num_classes,
                             include_background=self.include_background,
                             class_weights=self.class_weights, reduction=self.reduction,
                             selected=selected)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LovaszSoftmaxTerm(LovaszTerm):
    """The term of :func:`lovasz_softmax_loss`: errors ``|y − p|``, their own sort key."""

    name: ClassVar[str] = "lovasz_softmax_loss"
    checks: ClassVar[dict] = {**LovaszTerm.checks, "activation": ACTIVATIONS}
    activation: Any = "softmax"

    def errors(self, prepared: Prepared):
        # the softmax errors are their own sort key (zeroed ones sort last, adding 0)
        return None, prepared.xp.abs(prepared.inputs.target - prepared.probs(self.activation))


@dataclasses.dataclass(frozen=True, kw_only=True)
class LovaszHingeTerm(LovaszTerm):
    """The term of :func:`lovasz_hinge_loss`: hinge errors of the logits as they are."""

    name: ClassVar[str] = "lovasz_hinge_loss"
    reads_logits: ClassVar[bool] = True
    classes: str = "all"

    def errors(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        margins = 1.0 - inputs.pred * (2.0 * inputs.target - 1.0)
        zero = xp.zeros_like(margins)
        # clipped at 0, but a NaN margin stays NaN (never read as "no error")
        hinge = xp.where(margins > 0, margins, xp.where(xp.isnan(margins), margins, zero))
        # sorted by the margins, dotted with the hinge-clipped errors
        return margins, hinge


def lovasz_softmax_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                        activation: str | None = "softmax", ignore_index: int | None = None,
                        mask: Array | None = None, include_background: bool = True,
                        class_weights: Sequence[float] | Array | None = None,
                        per_sample: bool = True, classes: str = "present",
                        reduction: str = "mean") -> Array:
    r"""Lovász-softmax loss (Berman et al. 2018): a convex surrogate of the Jaccard loss.

    For each (sample, class) — or each class of the pooled batch with
    ``per_sample=False`` — with errors :math:`e_i = |y_{ic} - p_{ic}|`:

    .. math::
        L_c = \sum_k e_{\pi(k)}\,\bigl(\Delta_J(M_k) - \Delta_J(M_{k-1})\bigr)

    (see ``regionloss.losses.lovasz``), then the mean over classes: over the classes present in
    the reference of that sample (or batch) with ``classes='present'`` (Berman et al.'s
    default, a masked mean: 0 when no class is present), over every kept class with
    ``classes='all'``. On hard predictions (0/1 probabilities) :math:`L_c = 1 - IoU_c`.

    Parameters
    ----------
    pred : array
        Logits (probabilities with ``activation=None``). Axis 0 is the sample axis,
        ``class_axis`` the class axis.
    target : array
        Integer label map (``pred``'s shape without the class axis) or a dense 0/1 target
        of ``pred``'s shape (fractional values count fractionally).
    class_axis : int or None, default -1
        -1 channels-last, 1 channels-first, None for a single foreground.
    activation : {'softmax', 'sigmoid', None}, default 'softmax'
    ignore_index : int or None, default None
        Label map pixels with this label leave the loss: equal to dropping them, whatever
        the label (255, -1, or a class id).
    mask : array or None, default None
        Per-pixel weights ``w >= 0`` (finite) broadcastable to the label shape: a pixel of
        weight ``w`` counts ``w`` times in the Jaccard cardinalities (linear; 0 drops it,
        equal to dropping the pixel).
    include_background : bool, default True
        False leaves class 0 out of the class mean (after the softmax, which saw it).
    class_weights : sequence of float or None, default None
        One weight per class (indexed by class id): a weighted class mean over the
        selected classes.
    per_sample : bool, default True
        True: one sort per (sample, class), the loss averaged over samples. False: the
        batch is pooled (Berman et al.'s and segmentation_models_pytorch's default,
        ``per_image=False``).
    classes : {'present', 'all'}, default 'present'
        Which classes the mean runs over.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean'/'sum' over samples of the class mean, a 0-d array. 'none': the loss per
        (sample, kept class), shape (N, K), or (K,) with ``per_sample=False``; with
        ``classes='present'`` an absent class is 0 there.

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    Notes
    -----
    Runs under ``jax.jit`` with static shapes: an ``argsort`` per row, gathers and
    cumulative sums; ignored pixels weigh 0 (no compaction), "present" is a masked mean.
    The smoothing, ``squared`` and ``soft_labels`` options of the Dice family do not apply.

    See Also
    --------
    lovasz_hinge_loss, jaccard_loss

    References
    ----------
    .. [1] M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovász-Softmax loss: a tractable
       surrogate for the optimization of the intersection-over-union measure in neural
       networks", CVPR 2018.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> probs = np.array([[[[1., 0.], [0., 1.]]]])          # hard, perfect prediction
    >>> labels = np.array([[[0, 1]]])
    >>> float(regionloss.lovasz_softmax_loss(probs, labels, activation=None))
    0.0
    """
    term = LovaszSoftmaxTerm(class_axis=class_axis, activation=activation,
                             ignore_index=ignore_index, include_background=include_background,
                             class_weights=class_weights, per_sample=per_sample,
                             classes=classes, reduction=reduction)
    return term(pred, target, mask=mask)


def lovasz_hinge_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                      ignore_index: int | None = None, mask: Array | None = None,
                      include_background: bool = True,
                      class_weights: Sequence[float] | Array | None = None,
                      per_sample: bool = True, classes: str = "all",
                      reduction: str = "mean") -> Array:
    r"""Binary Lovász hinge loss (Berman et al. 2018) on logits.

    For each binary problem with logits :math:`x_i`, signs :math:`s_i = 2y_i - 1` and
    hinge errors :math:`e_i = 1 - x_i s_i`, sorted in decreasing order:

    .. math::
        L = \sum_k \max(e_{\pi(k)}, 0)\,\bigl(\Delta_J(M_k) - \Delta_J(M_{k-1})\bigr)

    With a class axis each channel is its own binary problem (its reference: channel
    ``c`` of a dense target, or ``label == c`` of a label map; a single channel reads a
    0/1 label map) and the loss is the mean over channels; with ``class_axis=None`` each
    sample is flattened into one problem (the batch, with ``per_sample=False``).

    Parameters
    ----------
    pred : array
        Logits (no activation is applied: the hinge acts on margins).
    target : array
        0/1 mask of ``pred``'s shape (int, bool or float), or an integer label map of
        ``pred``'s shape without the class axis.
    class_axis : int or None, default -1
    ignore_index : int or None, default None
    mask : array or None, default None
        Per-pixel weights (0 drops a pixel; see :func:`lovasz_softmax_loss`).
    include_background : bool, default True
        False leaves channel 0 out of the channel mean.
    class_weights : sequence of float or None, default None
        One weight per channel: a weighted channel mean.
    per_sample : bool, default True
        False: one problem per channel over the whole batch (Berman et al.'s and
        segmentation_models_pytorch's ``per_image=False``).
    classes : {'all', 'present'}, default 'all'
        'all' follows Berman et al. (a problem with an empty reference still costs its
        largest hinge error); 'present' averages only over channels whose reference is
        non-empty in that sample (or batch).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As :func:`lovasz_softmax_loss`; 'none' has shape (N, K), (K,) pooled.

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device. A NaN logit at a
        scored pixel gives NaN.

    See Also
    --------
    lovasz_softmax_loss

    References
    ----------
    .. [1] M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovász-Softmax loss: a tractable
       surrogate for the optimization of the intersection-over-union measure in neural
       networks", CVPR 2018.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.array([[[3.0, -2.0, 4.0]]])             # right, with margins > 1
    >>> float(regionloss.lovasz_hinge_loss(logits, np.array([[[1, 0, 1]]]), class_axis=None))
    0.0
    """
    term = LovaszHingeTerm(class_axis=class_axis, ignore_index=ignore_index,
                           include_background=include_background, class_weights=class_weights,
                           per_sample=per_sample, classes=classes, reduction=reduction)
    return term(pred, target, mask=mask)
