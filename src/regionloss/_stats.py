"""Soft statistics: where predictions meet targets, for every region loss.

Per (sample, class), or per class with ``per_sample=False``, with ``w`` the per-pixel
weight (``ignore_index`` and ``mask``; 1 when absent):

* ``tp = Σ w·p·y``, ``fp = Σ w·p − tp``, ``fn = Σ w·y − tp`` (the default);
* ``squared=True`` (V-Net): ``fp = Σ w·p² − tp``, ``fn = Σ w·y² − tp``, so that
  ``2tp + fp + fn = Σ w·p² + Σ w·y²``;
* ``soft_labels=True``: ``tp = (Σ w·p + Σ w·y − Σ w·|p − y|) / 2`` (``= Σ w·min(p, y)``),
  which equals ``Σ w·p·y`` for hard 0/1 targets and, unlike it, makes ``p = y`` the
  optimum for soft targets. With ``squared=True`` the same identity in squared norms,
  ``(Σp² + Σy² − Σ(p − y)²) / 2``, is ``Σ p·y`` again, so ``soft_labels`` changes nothing
  there (as in MONAI).

Statistics are additive over pixels and samples: sums of statistics are statistics, so
sharded and streamed losses reduce with ``+`` or ``psum``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["SoftStats", "soft_statistics"]


class SoftStats(NamedTuple):
    """Soft true positives, false positives and false negatives (a JAX pytree).

    Each field has shape (N, C) (per sample) or (C,) (pooled over the batch).
    """

    tp: Any
    fp: Any
    fn: Any


def soft_statistics(xp, probs, target, weight, *, class_axis: int, sum_axes, squared=False,
                    soft_labels=False) -> SoftStats:
    """Sum soft tp/fp/fn over ``sum_axes`` (see module docstring for the formulas).

    Parameters
    ----------
    xp : namespace
    probs, target : arrays of one shape, floating point (the accumulation dtype)
    weight : array broadcastable to ``probs`` (size-1 class axis), or None
    class_axis : int
        The class axis; it is kept, every axis in ``sum_axes`` is summed.
    sum_axes : tuple of int
    squared, soft_labels : bool

    Returns
    -------
    SoftStats
        Fields of shape (N, C) when the sample axis is kept, else (C,).
    """
    del class_axis  # documented for readers: the class axis is the one not summed
    if weight is not None:
        pw = probs * weight
        yw = target * weight
    else:
        pw, yw = probs, target
    tp = xp.sum(pw * target, axis=sum_axes)
    if squared:
        p_total = xp.sum(pw * probs, axis=sum_axes)
        y_total = xp.sum(yw * target, axis=sum_axes)
    else:
        p_total = xp.sum(pw, axis=sum_axes)
        y_total = xp.sum(yw, axis=sum_axes)
        if soft_labels:
            diff = xp.abs(probs - target)
            if weight is not None:
                diff = diff * weight
            tp = (p_total + y_total - xp.sum(diff, axis=sum_axes)) / 2
    return SoftStats(tp=tp, fp=p_total - tp, fn=y_total - tp)
