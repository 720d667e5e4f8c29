r"""Generalized Wasserstein Dice loss (Fidon et al. 2017): a Dice loss whose errors are
distances between classes.

Per pixel :math:`i` the Wasserstein distance between the predicted distribution
:math:`p_i` and the reference label :math:`y_i` under a class-distance matrix :math:`M` is
:math:`W_i = \sum_c M_{y_i c}\,p_{ic}` (for a one-hot reference the optimal transport plan
is to move every predicted mass to the reference class). The generalized true positives
weigh :math:`1 - W_i` by a class weight :math:`\alpha_{y_i}`, and the loss is one minus a
Dice ratio of them, per sample.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

from .._formulas import safe_divide
from .._kernels.arrays import device_of
from .._reduce import reduce_samples
from .._typing import Array
from ._docs import REDUCTION_PER_SAMPLE
from ._term import LossTerm, Prepared

__all__ = [
    "WEIGHTING_MODES",
    "check_distance_matrix",
    "GeneralizedWassersteinDiceTerm",
    "generalized_wasserstein_dice_loss",
]

WEIGHTING_MODES = ("default", "GDL")


def check_distance_matrix(dist_matrix):
    """``None`` or a square matrix of finite, non-negative distances with a zero diagonal
    and a positive maximum, as a tuple of tuples of floats divided by its maximum (static
    under ``jax.jit``)."""
    if dist_matrix is None:
        return None
    import numpy as np

    try:
        host = np.asarray(dist_matrix, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError("dist_matrix must be a (C, C) matrix of numbers (a nested sequence "
                        f"or a concrete array); got {type(dist_matrix).__name__}") from None
    if host.ndim != 2 or host.shape[0] != host.shape[1] or host.shape[0] < 2:
        raise ValueError(f"dist_matrix must be a square (C, C) matrix with C >= 2; got shape "
                         f"{host.shape}")
    if not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError("dist_matrix must hold finite, non-negative distances")
    if np.any(np.diag(host) != 0):
        raise ValueError(f"dist_matrix must have a zero diagonal (the distance of a class to "
                         f"itself); got diagonal {np.diag(host).tolist()}")
    top = float(host.max())
    if top == 0:
        raise ValueError("dist_matrix is all zeros: every prediction would be perfect")
    return tuple(tuple(float(v) / top for v in row) for row in host)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneralizedWassersteinDiceTerm(LossTerm):
    """The term of :func:`generalized_wasserstein_dice_loss`."""

    name: ClassVar[str] = "generalized_wasserstein_dice_loss"
    checks: ClassVar[dict] = {
        **LossTerm.checks, "activation": ("softmax", None), "weighting_mode": WEIGHTING_MODES,
        "per_sample": "flag", "smooth_nr": "nonnegative", "smooth_dr": "nonnegative"}
    dist_matrix: Any = None
    weighting_mode: str = "default"
    activation: Any = "softmax"
    per_sample: bool = True
    smooth_nr: float = 1e-5
    smooth_dr: float = 1e-5

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "dist_matrix", check_distance_matrix(self.dist_matrix))

    def _matrix(self, xp, num_classes, like):
        """``M / max(M)`` as an array (default: 0 on the diagonal, 1 elsewhere)."""
        if self.dist_matrix is None:
            eye = xp.eye(num_classes, dtype=like.dtype, device=device_of(like))
            return 1.0 - eye
        if len(self.dist_matrix) != num_classes:
            raise ValueError(
                f"dist_matrix is {len(self.dist_matrix)} x {len(self.dist_matrix)} but the "
                f"prediction has {num_classes} classes (channels): one row and one column "
                "per class, indexed by class id")
        return xp.asarray(self.dist_matrix, dtype=like.dtype, device=device_of(like))

    def per_sample_loss(self, prepared: Prepared):
        """The loss per sample (N,), or 0-d with ``per_sample=False``."""
        inputs, xp = prepared.inputs, prepared.xp
        if inputs.num_classes < 2:
            raise ValueError("generalized_wasserstein_dice_loss needs at least 2 classes "
                             "(channels): it measures distances between classes")
        p = prepared.probs(self.activation)
        y = inputs.target
        M = self._matrix(xp, inputs.num_classes, p)
        # class axis last: M is applied by one matrix product
        axis = inputs.class_axis
        order = tuple(a for a in range(p.ndim) if a != axis) + (axis,)
        p_last, y_last = xp.permute_dims(p, order), xp.permute_dims(y, order)
        error = xp.sum(p_last * xp.matmul(y_last, M), axis=-1)  # W_i = Σ_c M[y_i, c] p_ic
        if self.weighting_mode == "default":
            # alpha = 1 for every class but the background (class 0): alpha_0 = 0
            alpha_y = xp.sum(y_last, axis=-1) - y_last[..., 0]
        else:  # "GDL": alpha_c = 1 / (V_c + 1), V_c the class's reference volume
            alpha = 1.0 / (prepared.volumes(per_sample=self.per_sample) + 1.0)
            if self.per_sample:   # (N, C) -> (N, 1, ..., 1, C)
                alpha = xp.reshape(alpha, (alpha.shape[0],) + (1,) * (y_last.ndim - 2)
                                   + (alpha.shape[-1],))
            alpha_y = xp.sum(y_last * alpha, axis=-1)
        if inputs.weight is not None:
            w = xp.permute_dims(inputs.weight, order)[..., 0]
            error, alpha_y = error * w, alpha_y * w
        axes = tuple(range(1, error.ndim)) if self.per_sample else tuple(range(error.ndim))
        weighted = xp.sum(alpha_y, axis=axes)                  # Σ_i α_{y_i}
        true_pos = weighted - xp.sum(alpha_y * error, axis=axes)  # Σ_i α_{y_i} (1 − W_i)
        if self.weighting_mode == "default":
            denominator = 2.0 * true_pos + xp.sum(error, axis=axes)
        else:
            denominator = true_pos + weighted                  # Σ_i α_{y_i} (2 − W_i)
        ratio = safe_divide(xp, 2.0 * true_pos + self.smooth_nr,
                            denominator + self.smooth_dr, 1.0)
        return 1.0 - ratio

    def evaluate(self, prepared: Prepared):
        return reduce_samples(prepared.xp, self.per_sample_loss(prepared), self.reduction)


def generalized_wasserstein_dice_loss(pred: Array, target: Array, /, *,
                                      dist_matrix: Array | Sequence[Sequence[float]] | None = None,
                                      weighting_mode: str = "default",
                                      class_axis: int | None = -1,
                                      activation: str | None = "softmax",
                                      ignore_index: int | None = None,
                                      mask: Array | None = None, per_sample: bool = True,
                                      smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                                      reduction: str = "mean") -> Array:
    r"""Generalized Wasserstein Dice loss (Fidon et al. 2017), per sample.

    With :math:`M` the class-distance matrix divided by its maximum, per pixel :math:`i`
    the Wasserstein distance :math:`W_i = \sum_c M_{y_i c}\, p_{ic}` between the predicted
    distribution and the reference class, pixel weights :math:`w_i` (``ignore_index`` /
    ``mask``) and class weights :math:`\alpha`:

    .. math::
        TP = \sum_i w_i\,\alpha_{y_i} (1 - W_i), \qquad
        L = 1 - \frac{2\,TP + s_{nr}}{D + s_{dr}}

    with :math:`D = 2\,TP + \sum_i w_i W_i` (``weighting_mode='default'``:
    :math:`\alpha_c = 1` except :math:`\alpha_0 = 0`, the background earns no true
    positives, Fidon et al.'s choice) or :math:`D = \sum_i w_i\,\alpha_{y_i} (2 - W_i)`
    (``'GDL'``: :math:`\alpha_c = 1 / (V_c + 1)`, :math:`V_c` the reference volume of
    class :math:`c` in the sample, the generalized Dice weighting of Tilborghs et al.).
    A dense target :math:`y` (one-hot or soft) enters linearly: :math:`W_i =
    \sum_{l,c} y_{il} M_{lc}\,p_{ic}`, :math:`\alpha_{y_i} = \sum_l y_{il}\alpha_l` (for a
    soft target this is the transport cost of the independent coupling, an upper bound
    of the Wasserstein distance).

    Parameters
    ----------
    pred, target, class_axis, ignore_index, mask :
        As :func:`dice_loss` (at least 2 classes).
    dist_matrix : (C, C) matrix or None, default None
        Distances between classes, indexed by class id (rows: reference, columns:
        prediction): finite, non-negative, zero on the diagonal; divided by its maximum
        (as MONAI). None: 0 on the diagonal, 1 elsewhere (then :math:`W_i = 1 - p_{i y_i}`
        and the 'default' mode is a Dice loss of the foreground pooled over classes).
    weighting_mode : {'default', 'GDL'}, default 'default'
        The class weights :math:`\alpha` above (MONAI's names).
    activation : {'softmax', None}, default 'softmax'
        The loss compares distributions over classes: softmax of logits, or
        probabilities summing to 1 (None).
    per_sample : bool, default True
        False pools the batch (one TP, one denominator, 'GDL' volumes of the batch).
    smooth_nr, smooth_dr : float, default 1e-5
        Added to numerator and denominator (MONAI's 1e-5 both).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
{reduction}

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    Notes
    -----
    MONAI's ``GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode)`` takes
    channels-first logits and a label map: ``generalized_wasserstein_dice_loss(x, y,
    dist_matrix=M, weighting_mode=..., class_axis=1)`` gives its value and gradient
    (``docs/loss_catalogue.md``). MONAI has no ``ignore_index``, ``mask``, pooling or
    probabilities input.

    See Also
    --------
    generalized_dice_loss, dice_loss

    References
    ----------
    .. [1] L. Fidon, W. Li, L. C. Garcia-Peraza-Herrera, J. Ekanayake, N. Kitchen, S.
       Ourselin, T. Vercauteren, "Generalised Wasserstein Dice score for imbalanced
       multi-class segmentation using holistic convolutional networks", BrainLes 2017
       (MICCAI workshop), LNCS 10670, 64-76.
    .. [2] T. Tilborghs et al., "Comparative study of deep learning methods for the
       automatic segmentation of lung, lesion and lesion type in CT scans of COVID-19
       patients", arXiv 2007.15546, 2020 (the 'GDL' weighting).
    .. [3] MONAI ``GeneralizedWassersteinDiceLoss`` (conventions followed: M / max(M),
       both weighting modes, smoothing 1e-5).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> p = np.array([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])      # one sample, 2 pixels
    >>> y = np.array([[1, 2]])
    >>> float(regionloss.generalized_wasserstein_dice_loss(p, y, activation=None))
    0.0
    >>> M = [[0, 1, 1], [1, 0, 0.5], [1, 0.5, 0]]             # classes 1 and 2 are close
    >>> q = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])      # pixel 0: 2 for 1, W = 0.5
    >>> round(float(regionloss.generalized_wasserstein_dice_loss(
    ...     q, y, dist_matrix=M, activation=None, smooth_nr=0, smooth_dr=0)), 4)  # 1 - 3/3.5
    0.1429
    """
    term = GeneralizedWassersteinDiceTerm(
        dist_matrix=dist_matrix, weighting_mode=weighting_mode, class_axis=class_axis,
        activation=activation, ignore_index=ignore_index, per_sample=per_sample,
        smooth_nr=smooth_nr, smooth_dr=smooth_dr, reduction=reduction)
    return term(pred, target, mask=mask)


generalized_wasserstein_dice_loss.__doc__ = generalized_wasserstein_dice_loss.__doc__.replace(
    "{reduction}", REDUCTION_PER_SAMPLE)
