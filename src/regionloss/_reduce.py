"""Reductions of per-(sample, class) losses: class selection, class weights, sample averaging.

A loss first produces one value per (sample, class), shape (N, C), or per class, shape
(C,), when the batch was pooled (``per_sample=False``). Then:

1. ``include_background=False`` drops class 0 (after the activation, which saw it);
2. ``reduction="none"`` returns the kept columns unweighted, (N, K) or (K,);
3. otherwise the class mean is weighted, ``Σ_c w_c·L_c / Σ_c w_c`` over the kept classes
   (``class_weights`` indexed by class id; uniform when None), and then samples are
   averaged (``"mean"``) or summed (``"sum"``). A pooled batch is a single sample here.
"""

from __future__ import annotations

from ._backend import device_of
from ._inputs import check_choice, check_class_weights

__all__ = ["REDUCTIONS", "select_classes", "reduce_classes_and_samples"]

REDUCTIONS = ("mean", "sum", "none")


def select_classes(values, *, include_background: bool):
    """Drop class 0 (last axis) when ``include_background`` is False."""
    if include_background:
        return values
    return values[..., 1:]


def reduce_classes_and_samples(xp, per_class, *, num_classes: int, include_background: bool,
                               class_weights, reduction: str):
    """Reduce per-(sample, class) losses (last axis: all C classes) as the module describes.

    Parameters
    ----------
    xp : namespace
    per_class : array, shape (N, C) or (C,)
    num_classes : int
    include_background : bool
    class_weights : sequence of C floats, array, or None
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    array
        0-d for ``'mean'``/``'sum'``; (N, K) or (K,) for ``'none'``.
    """
    kept = select_classes(per_class, include_background=include_background)
    if reduction == "none":
        return kept
    weights = check_class_weights(xp, class_weights, num_classes, per_class.dtype,
                                  device_of(per_class), include_background=include_background)
    if weights is None:
        class_mean = xp.mean(kept, axis=-1)
    else:
        w = select_classes(weights, include_background=include_background)
        class_mean = xp.sum(kept * w, axis=-1) / xp.sum(w)
    if class_mean.ndim == 0:
        return class_mean
    if reduction == "sum":
        return xp.sum(class_mean, axis=0)
    return xp.mean(class_mean, axis=0)


def check_reduction(reduction) -> None:
    """Raise a ValueError naming the choices unless ``reduction`` is known."""
    check_choice("reduction", reduction, REDUCTIONS)
