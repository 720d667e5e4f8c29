r"""Top-k cross-entropy (bootstrapped cross-entropy, Wu et al. 2016): the mean of the
largest per-pixel cross-entropies.

The number of pixels kept is derived from the **static** shape: :math:`k_n =
\lfloor n\,k / 100 \rfloor` with :math:`n` every pixel of the batch (or of a sample),
ignored ones included, so the shapes stay static under ``jax.jit``. Ignored and
zero-mask pixels get the key :math:`-\infty` before the sort, so they are never among the
largest while a scored pixel is left, and only the scored pixels among the selected ones
enter the mean.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Sequence

from .._formulas import safe_divide
from .._reduce import reduce_samples, weighted_pixel_mean
from .._typing import Array
from .._validate import check_real
from ._term import Prepared
from .pixelwise import CrossEntropyTerm

__all__ = ["TopKCrossEntropyTerm", "topk_cross_entropy", "topk_count"]


def topk_count(n: int, k: float) -> int:
    """How many of ``n`` losses are kept: ``int(n * k / 100)`` (nnU-Net's count), at least
    1 when ``n > 0``."""
    if n == 0:
        return 0
    return min(n, max(int(n * k / 100), 1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TopKCrossEntropyTerm(CrossEntropyTerm):
    """The term of :func:`topk_cross_entropy`."""

    name: ClassVar[str] = "topk_cross_entropy"
    checks: ClassVar[dict] = {**CrossEntropyTerm.checks, "per_sample": "flag"}
    k: float = 10.0
    per_sample: bool = False

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "k", check_real("k", self.k, minimum=0.0, maximum=100.0,
                                                 open_minimum=True))

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        loss, _ = self.pixel_losses(prepared)
        # m·ℓ at scored pixels (0 elsewhere), the 'none' output of cross_entropy_loss
        weighted = weighted_pixel_mean(xp, loss, inputs.weight, reduction="none")
        rows = loss.shape[0] if self.per_sample else 1
        if math.prod(weighted.shape) == 0:  # no pixels: 0, like an all-ignored batch
            total = xp.sum(weighted, axis=tuple(range(1, weighted.ndim)))
            return reduce_samples(xp, total, self.reduction) if self.per_sample else xp.sum(total)
        if inputs.weight is not None:
            kept = xp.broadcast_to(inputs.weight, loss.shape) > 0
            weighted = xp.where(kept, weighted, xp.full_like(weighted, -float("inf")))
        keys = xp.reshape(weighted, (rows, -1))
        n = keys.shape[1]
        count = topk_count(n, self.k)
        top = xp.sort(keys, axis=-1)[:, n - count:]          # the largest `count` per row
        scored = top != -float("inf")                         # NaN stays (a NaN loss)
        total = xp.sum(xp.where(scored, top, xp.zeros_like(top)), axis=-1)
        if self.reduction == "sum":
            per_row = total
        else:
            per_row = safe_divide(xp, total, xp.sum(xp.astype(scored, top.dtype), axis=-1),
                                  0.0)
        if not self.per_sample:
            return per_row[0]
        return reduce_samples(xp, per_row, self.reduction)


def topk_cross_entropy(pred: Array, target: Array, /, *, k: float = 10.0,
                       class_axis: int | None = -1, activation: str | None = "softmax",
                       ignore_index: int | None = None, mask: Array | None = None,
                       class_weights: Sequence[float] | Array | None = None,
                       label_smoothing: float = 0.0, per_sample: bool = False,
                       reduction: str = "mean") -> Array:
    r"""Top-k cross-entropy: the mean of the largest k % of the per-pixel cross-entropies.

    .. math::
        L = \frac{1}{|S|}\sum_{i \in S} m_i\,\ell_i, \qquad
        S = \text{the } \lfloor n k / 100 \rfloor \text{ pixels of largest } m_i \ell_i
        \text{ that are scored}

    with :math:`\ell_i` the cross-entropy of pixel :math:`i` (as
    :func:`cross_entropy_loss`: softmax, or per element with sigmoid), :math:`m_i` its
    weight (``mask``; 0 at ``ignore_index``), and :math:`n` the number of pixels of the
    batch (``per_sample=False``, nnU-Net's pooling) or of each sample — **every** pixel of
    the array, ignored ones included, so that the count is static under ``jax.jit``. Only
    the easy pixels are left out, so training concentrates on the hard ones (the
    "bootstrapped" cross-entropy).

    Ignored and zero-mask pixels are never selected while a scored pixel is left: their
    key is :math:`-\infty`. **When fewer than** :math:`\lfloor nk/100 \rfloor` **pixels are
    scored**, every scored pixel is selected and the loss is their mean (the plain
    cross-entropy of the scored pixels). nnU-Net's ``TopKLoss`` counts the same
    :math:`\lfloor nk/100 \rfloor` over all voxels but gives ignored voxels the loss 0:
    the two agree whenever at least that many scored pixels have a positive loss (always
    in practice), and there nnU-Net's value is smaller, by the fraction of the selected
    voxels that are ignored.

    ``k = 100`` is :func:`cross_entropy_loss` (without class weights; with class weights
    the selected :math:`w_{y_i}\ell_i` are averaged over the pixels, as nnU-Net does, not
    over the weights).

    Parameters
    ----------
    pred, target, class_axis, activation, ignore_index, mask, class_weights, label_smoothing :
        As :func:`cross_entropy_loss`.
    k : float in (0, 100], default 10
        The percentage of pixels kept (nnU-Net's ``k``, default 10). At least one pixel is
        kept when there is any.
    per_sample : bool, default False
        False: one top-k over the whole batch (nnU-Net). True: a top-k per sample, then
        the mean (or sum) over samples.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean' as above; 'sum': the sum of the selected losses; 'none': the per-sample
        means, shape (N,), with ``per_sample=True`` (0-d otherwise).

    Returns
    -------
    array
        0-d (or (N,)) in ``pred``'s namespace and device.

    Notes
    -----
    The selection sorts the per-pixel losses (:math:`O(n \log n)`); the gradient flows
    to the selected pixels only. A NaN loss at a scored pixel sorts above every number, is
    selected and makes the loss NaN.

    See Also
    --------
    cross_entropy_loss, dice_topk_loss, focal_loss

    References
    ----------
    .. [1] Z. Wu, C. Shen, A. van den Hengel, "Bridging category-level and instance-level
       semantic image segmentation", arXiv 1605.06885, 2016 (bootstrapped cross-entropy).
    .. [2] F. Isensee et al., nnU-Net (``TopKLoss``, k = 10 %: the count and the pooling
       followed here); J. Ma et al., "Loss odyssey in medical image segmentation", Medical
       Image Analysis 71, 2021.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> p = np.array([[[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5]]])   # 4 pixels
    >>> y = np.array([[0, 0, 0, 0]])                  # losses -ln(0.9, 0.6, 0.2, 0.5)
    >>> got = regionloss.topk_cross_entropy(np.log(p), y, k=50)   # the 2 largest
    >>> bool(abs(float(got) - (-np.log(0.2) - np.log(0.5)) / 2) < 1e-12)
    True
    """
    term = TopKCrossEntropyTerm(k=k, class_axis=class_axis, activation=activation,
                                ignore_index=ignore_index, class_weights=class_weights,
                                label_smoothing=label_smoothing, per_sample=per_sample,
                                reduction=reduction)
    return term(pred, target, mask=mask)
