"""Docstring parts shared by the loss functions (one wording for every loss)."""

from __future__ import annotations

from typing import Callable

__all__ = ["fill_doc", "REDUCTION_PER_CLASS", "REDUCTION_PER_SAMPLE"]

COMMON_PARAMETERS = """\
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
        Weight-0 pixels are removed by selection: NaN or infinite logits there change
        neither the value nor the gradient.
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
        negative or non-finite mask. Under ``jax.jit`` labels cannot be checked by
        raising: a label outside ``[0, C)`` that is not ``ignore_index`` makes the loss
        (value and gradient) NaN."""

REDUCTION_PER_CLASS = """\
        'mean'/'sum': the (weighted) class mean, then the mean or sum over samples, a
        0-d array. 'none': the unweighted loss per (sample, kept class), shape (N, K), or
        (K,) with ``per_sample=False`` (K = C, or C − 1 without the background)."""


def fill_doc(reduction: str = REDUCTION_PER_CLASS) -> Callable[[Callable], Callable]:
    """Fill a loss docstring's ``{parameters}`` placeholder (``{reduction}``: its words)."""
    parameters = COMMON_PARAMETERS.replace("{reduction}", reduction).strip()

    def apply(func: Callable) -> Callable:
        func.__doc__ = func.__doc__.replace("{parameters}", parameters)
        return func

    return apply


REDUCTION_PER_SAMPLE = """\
        'mean'/'sum': the mean or sum of the per-sample losses, a 0-d array. 'none':
        the loss per sample, shape (N,), or 0-d with ``per_sample=False``."""
