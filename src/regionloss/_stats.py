"""Statistics: where predictions meet targets, soft (losses) and hard (metrics).

Soft statistics (:func:`soft_statistics`), per (sample, class), or per class with
``per_sample=False``, with ``w`` the per-pixel weight (``ignore_index`` and ``mask``; 1 when
absent):

* ``tp = Σ w·p·y``, ``fp = Σ w·p − tp``, ``fn = Σ w·y − tp`` (the default);
* ``squared=True`` (V-Net): ``fp = Σ w·p² − tp``, ``fn = Σ w·y² − tp``, so that
  ``2tp + fp + fn = Σ w·p² + Σ w·y²``;
* ``soft_labels=True``: ``tp = (Σ w·p + Σ w·y − Σ w·|p − y|) / 2`` (``= Σ w·min(p, y)``),
  which equals ``Σ w·p·y`` for hard 0/1 targets and, unlike it, makes ``p = y`` the
  optimum for soft targets. With ``squared=True`` the same identity in squared norms,
  ``(Σp² + Σy² − Σ(p − y)²) / 2``, is ``Σ p·y`` again, so ``soft_labels`` changes nothing
  there (as in MONAI).

Weight-0 pixels hold finite values by the time they get here (:func:`regionloss._inputs.
prepare` selects them away with ``where``), so a NaN or infinite logit at an ignored pixel
cannot reach a sum through ``0 * nan``.

Hard statistics (:func:`class_statistics`) read per-class ``(tp, fp, fn, tn)`` off a
confusion matrix of integer label maps (rows = reference class, columns = predicted class).

Statistics are additive over pixels and samples: sums of statistics are statistics, so
sharded and streamed losses and metrics reduce with ``+`` or ``psum``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from array_api_compat import array_namespace, device

from ._kernels.sums import soft_sums

__all__ = ["SoftStats", "soft_statistics", "class_statistics", "count_statistics"]


class SoftStats(NamedTuple):
    """Soft true positives, false positives and false negatives (a JAX pytree).

    Each field has shape (N, C) (per sample) or (C,) (pooled over the batch).
    """

    tp: Any
    fp: Any
    fn: Any


def soft_statistics(xp, probs, target, weight, *, sum_axes, squared=False,
                    soft_labels=False) -> SoftStats:
    """Sum soft tp/fp/fn over ``sum_axes`` (see module docstring for the formulas).

    Parameters
    ----------
    xp : namespace
    probs, target : arrays of one shape, floating point (the accumulation dtype)
        0 at weight-0 pixels (selected by the caller).
    weight : array broadcastable to ``probs`` (size-1 class axis), or None
    sum_axes : tuple of int
        The axes summed (the class axis is kept).
    squared, soft_labels : bool

    Returns
    -------
    SoftStats
        Fields of shape (N, C) when the sample axis is kept, else (C,).

    Notes
    -----
    The three sums come from the kernel layer's :func:`~regionloss._kernels.sums.soft_sums`:
    one pass over the data on CuPy (whose reductions over non-trailing axes are slow) and
    a fused autograd function on PyTorch; the standard expression elsewhere.
    """
    if soft_labels and not squared:
        pw = probs if weight is None else probs * weight
        yw = target if weight is None else target * weight
        p_total = xp.sum(pw, axis=sum_axes)
        y_total = xp.sum(yw, axis=sum_axes)
        diff = xp.abs(probs - target)
        if weight is not None:
            diff = diff * weight
        tp = (p_total + y_total - xp.sum(diff, axis=sum_axes)) / 2
    else:
        tp, p_total, y_total = soft_sums(probs, target, weight, sum_axes=sum_axes,
                                         squared=squared, selected=True)
    return SoftStats(tp=tp, fp=p_total - tp, fn=y_total - tp)


def class_statistics(confusion, /, *, float_dtype):
    r"""Per-class ``(tp, fp, fn, tn)`` of a ``(..., C, C)`` confusion matrix, as floats.

    With :math:`M` the matrix (rows = reference class, columns = predicted class):

    .. math::
        tp_c = M_{cc}, \quad fp_c = \sum_r M_{rc} - tp_c, \quad
        fn_c = \sum_k M_{ck} - tp_c, \quad tn_c = \sum M - tp_c - fp_c - fn_c

    ``float_dtype`` is the dtype counts become before any formula (float64 wherever the
    namespace has it, so counts up to 2**53 stay exact).
    """
    xp = array_namespace(confusion)
    cm = xp.astype(confusion, float_dtype)
    C = cm.shape[-1]
    eye = xp.eye(C, dtype=cm.dtype, device=device(cm))
    tp = xp.sum(cm * eye, axis=-1)
    support = xp.sum(cm, axis=-1)      # reference pixels per class (row sums)
    predicted = xp.sum(cm, axis=-2)    # predicted pixels per class (column sums)
    total = xp.sum(support, axis=-1, keepdims=True)
    fp = predicted - tp
    fn = support - tp
    tn = total - tp - fp - fn
    return tp, fp, fn, tn


def count_statistics(tp, predicted, reference, /, *, float_dtype):
    r"""Per-class ``(tp, fp, fn, tn)`` from one-vs-rest counts, as floats.

    .. math::
        fp_c = P_c - tp_c, \quad fn_c = R_c - tp_c, \quad
        tn_c = \sum_k R_k - tp_c - fp_c - fn_c

    with :math:`P_c` the predicted and :math:`R_c` the reference pixels of class ``c``
    (the column and row sums of the confusion matrix; :math:`\sum_k R_k` is every scored
    pixel). Same values as :func:`class_statistics` of the matrix.
    """
    xp = array_namespace(tp, predicted, reference)
    tp = xp.astype(tp, float_dtype)
    fp = xp.astype(predicted, float_dtype) - tp
    reference = xp.astype(reference, float_dtype)
    fn = reference - tp
    tn = xp.sum(reference, axis=-1, keepdims=True) - tp - fp - fn
    return tp, fp, fn, tn
