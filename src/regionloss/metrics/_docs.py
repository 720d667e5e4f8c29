"""Docstring parts shared by the confusion-matrix metric functions (one wording for all)."""

from __future__ import annotations

from typing import Callable

__all__ = ["fill_doc"]

PARAMETERS = """\
pred, target : integer arrays of the same shape
        Predicted and reference label maps, labels in ``[0, num_classes)``; with
        ``per_sample=True`` axis 0 is the sample axis. Turn logits or probabilities into
        labels first with :func:`regionloss.to_labels`. A NumPy array next to an array of
        another library is converted to it.
    num_classes : int
        The number of classes ``C``.
    average : {"none", "macro", "micro", "weighted"}, default AVERAGE
        Class averaging: ``"none"`` gives per-class values, ``(C,)`` pooled or ``(N, C)``
        per sample; ``"macro"`` is the NaN-aware mean over classes; ``"micro"`` sums tp,
        fp, fn, tn over classes before the formula; ``"weighted"`` weights classes by
        their reference support (NaN-aware: undefined classes leave the weights too).
    per_sample : bool, default False
        ``False`` (default) pools the counts of every pixel of the batch first, as
        mmsegmentation's mIoU and scikit-learn on flattened arrays do: the score of a
        dataset then does not depend on how it was cut into samples or batches, and no
        sample with a missing class can turn it into NaN. ``True`` scores each sample
        (axis 0) and then takes the NaN-aware mean over samples (MONAI's ``DiceMetric``).
    include_background : bool, default True
        ``False`` leaves class 0 out of the output (``C - 1`` columns) and of every
        average; its pixels still count as negatives of the other classes.
    ignore_index : int or None, default None
        Pixels whose reference equals it leave every count (the prediction there is not
        looked at).
    zero_division : {nan, 0.0, 1.0}, default nan
        The value wherever the denominator is zero (NaN is left out of NaN-aware means;
        1.0 or 0.0 enter them). Any other value is a ``ValueError``.
    return_defined : bool, default False
        Also return, as a second array of the value's shape, how many (sample, class)
        values with a non-zero denominator went into each value.
    validate : bool, default True
        Labels outside ``[0, C)``: a ``ValueError`` naming them on concrete arrays; under
        ``jax.jit`` (values cannot be inspected) every element of the result is NaN.
        ``False`` drops such pixels from every count, silently.

    Returns
    -------
    value : float array in the caller's namespace, on its device
        float64 (float32 on JAX without x64); ``()`` when averaged, ``(C,)`` or
        ``(N, C)`` with ``average="none"``. ``(value, defined)`` with
        ``return_defined=True``."""


def fill_doc(average: str = "macro") -> Callable[[Callable], Callable]:
    """Fill a metric docstring's ``{parameters}`` placeholder (default ``average`` named)."""
    parameters = PARAMETERS.replace("AVERAGE", repr(average))

    def apply(func: Callable) -> Callable:
        func.__doc__ = func.__doc__.replace("{parameters}", parameters)
        return func

    return apply
