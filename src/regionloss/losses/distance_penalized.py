r"""Distance-penalized cross-entropy (Caliva et al. 2019): cross-entropy weighted by
``1 +`` a map that is largest at the reference's boundaries.

The map is computed inside the loss from the target (or given, built once with
:func:`distance_penalty_map`), with
:func:`regionloss.distance_maps.distance_transform` (SciPy on NumPy and PyTorch, the GPU
transform on CuPy, the ``jax.numpy`` transform under ``jax.jit``); no gradient flows
through it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

from array_api_compat import array_namespace

from .._kernels.arrays import device_of
from .._kernels.distance import distance_dtype
from .._reduce import weighted_pixel_mean
from .._typing import Array
from .._validate import check_choice, check_spacing
from ..distance_maps import class_regions, distance_transform, from_channels_first
from ._term import Prepared
from .pixelwise import CrossEntropyTerm, none_layout

__all__ = [
    "boundary_penalty",
    "distance_penalty_map",
    "DistancePenalizedCETerm",
    "distance_penalized_cross_entropy",
]


def _check_spacing(spacing):
    if spacing is None:
        return None
    import numbers

    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        return float(spacing)
    try:
        if isinstance(spacing, (str, bytes)):
            raise TypeError
        return tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise TypeError(f"spacing must be a number or a sequence of numbers (one per spatial "
                        f"axis); got {spacing!r}") from None


def boundary_penalty(xp, inside, *, outside: bool, spacing=None, dtype=None):
    r"""The penalty maps :math:`\Phi` of class regions ``inside`` (bool, ``(N, C, *spatial)``).

    For every sample and class :math:`c`, with :math:`S` the region ``inside[n, c]`` and
    :math:`d(x)` the distance from :math:`x \in S` to the nearest pixel outside :math:`S`:

    .. math::
        \Phi^{in}_c(x) = \frac{\max_S d - d(x)}{\max_S d} \quad (x \in S),
        \qquad 0 \text{ elsewhere}

    (:math:`1 - 1/\max_S d` next to the boundary, where :math:`d` is one pixel, falling
    linearly to 0 at the pixels farthest inside), and with
    ``outside=True`` also :math:`\Phi^{out}_c`, the same on the complement (distances to
    :math:`S`), added. A class that is absent or fills the whole sample (no boundary) has
    :math:`\Phi_c = 0`. Returns ``(N, C, *spatial)`` maps in ``dtype``.
    """
    shape = tuple(inside.shape)
    if math.prod(shape) == 0:   # no pixels: no distances to measure
        return xp.zeros(shape, dtype=dtype or xp.float32, device=device_of(inside))
    images = xp.reshape(inside, (shape[0] * shape[1],) + shape[2:])
    masks = xp.concat([images, xp.logical_not(images)], axis=0) if outside else images
    d = distance_transform(masks, spacing=spacing)              # to the nearest zero
    if dtype is not None:
        d = xp.astype(d, dtype)
    spatial = tuple(range(1, len(shape) - 1))
    boundary = xp.logical_and(xp.any(masks, axis=spatial, keepdims=True),
                              xp.any(xp.logical_not(masks), axis=spatial, keepdims=True))
    zero = xp.zeros_like(d)
    d = xp.where(boundary, d, zero)                              # inf where no boundary
    top = xp.max(d, axis=spatial, keepdims=True)
    safe = xp.where(top > 0, top, xp.ones_like(top))
    phi = xp.where(xp.logical_and(masks, boundary), (top - d) / safe, zero)
    if outside:
        half = shape[0] * shape[1]
        phi = phi[:half, ...] + phi[half:, ...]
    return xp.reshape(phi, shape)


def _penalty_of_target(xp, target, class_axis: int, *, outside: bool, spacing, dtype):
    """:func:`boundary_penalty` of a prepared dense target (regions where it exceeds 0.5),
    in the target's layout."""
    nd = target.ndim
    order = (0, class_axis) + tuple(a for a in range(1, nd) if a != class_axis)
    inside = xp.permute_dims(target > 0.5, order)
    phi = boundary_penalty(xp, inside, outside=outside, spacing=spacing, dtype=dtype)
    return from_channels_first(xp, phi, class_axis)


def distance_penalty_map(target: Array, /, *, num_classes: int, class_axis: int = -1,
                         activation: str = "softmax", ignore_index: int | None = None,
                         spacing: float | Sequence[float] | None = None) -> Array:
    r"""The penalty maps of :func:`distance_penalized_cross_entropy`, to compute once.

    The loss builds :math:`\Phi` from the target's distance transforms on every call;
    where the targets are fixed (a training set), build the maps once with this function
    (in the data pipeline, or cached with the masks) and pass them as ``penalty_maps=``:
    the loss then costs what the cross-entropy costs. The values are the ones the loss
    computes itself: per class :math:`c` with region :math:`S` (its pixels in the sample)
    and :math:`d(x)` the distance from :math:`x \in S` to the nearest pixel outside
    :math:`S`,

    .. math::
        \Phi_c(x) = \frac{\max_S d - d(x)}{\max_S d} \quad (x \in S), \qquad
        0 \text{ elsewhere},

    plus, with ``activation='sigmoid'`` (each channel a binary problem), the same map of
    the complement of :math:`S`. A class that is absent from a sample or fills it has no
    boundary: :math:`\Phi_c = 0`. Ignored pixels belong to no class (distances are
    measured to them) and get 0. The loss treats pixels of ``mask`` weight 0 as ignored
    when it builds the maps; to get its maps here, give them ``ignore_index`` in a label
    map (an all-zero class vector in a dense target).

    Parameters
    ----------
    target : array
        An integer label map ``(N, *spatial)`` or a dense target (bool, or float read
        where it exceeds 0.5, as the loss reads it) with the class axis at
        ``class_axis``, 1 to 3 spatial axes.
    num_classes : int
        The number of classes (channels of the prediction).
    class_axis : int, default -1
        Where the output's class axis goes (and where a dense target has it): the
        prediction's layout.
    activation : {'softmax', 'sigmoid'}, default 'softmax'
        The loss's activation: 'sigmoid' adds the maps of the complements.
    ignore_index : int, optional
        Label maps only: pixels with this label belong to no class.
    spacing : float or sequence of float, optional
        Pixel size per spatial axis (default 1).

    Returns
    -------
    array
        The prediction's shape (a class axis of size ``num_classes`` at ``class_axis``),
        float64 (float32 on JAX without ``jax_enable_x64``), in ``target``'s namespace and
        device, values in :math:`[0, 1)` (``'softmax'``) or :math:`[0, 2)`.

    See Also
    --------
    distance_penalized_cross_entropy, regionloss.signed_distance_map

    References
    ----------
    .. [1] F. Caliva, C. Iriondo, A. M. Martinez, S. Majumdar, V. Pedoia, "Distance map
       loss penalty term for semantic segmentation", MIDL 2019 (arXiv 1908.03679).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> y = np.array([[0, 1, 1, 1, 1, 1, 0]])
    >>> phi = regionloss.distance_penalty_map(y, num_classes=2)
    >>> phi[0, :, 1]                                   # d = 1, 2, 3, 2, 1 inside class 1
    array([0.        , 0.66666667, 0.33333333, 0.        , 0.33333333, 0.66666667,
           0.        ])
    >>> x = np.zeros((1, 7, 2))
    >>> same = regionloss.distance_penalized_cross_entropy(x, y, penalty_maps=phi)
    >>> bool(same == regionloss.distance_penalized_cross_entropy(x, y))
    True
    """
    xp = array_namespace(target)
    check_choice("activation", activation, ("softmax", "sigmoid"))
    if xp.isdtype(target.dtype, "real floating"):   # a dense target: as the loss reads it
        target = target > 0.5
    inside, valid, class_axis, spatial_ndim = class_regions(
        xp, target, num_classes=num_classes, class_axis=class_axis, ignore_index=ignore_index)
    spacing = check_spacing(spacing, spatial_ndim)
    phi = boundary_penalty(xp, inside, outside=activation == "sigmoid", spacing=spacing,
                           dtype=distance_dtype(xp, target))
    if valid is not None:
        phi = xp.where(xp.expand_dims(valid, axis=1), phi, xp.zeros_like(phi))
    return from_channels_first(xp, phi, class_axis)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistancePenalizedCETerm(CrossEntropyTerm):
    """The term of :func:`distance_penalized_cross_entropy`."""

    name: ClassVar[str] = "distance_penalized_cross_entropy"
    optional_aux_names: ClassVar[tuple] = ("penalty_maps",)
    spacing: Any = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "spacing", _check_spacing(self.spacing))

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        if not 1 <= len(inputs.spatial_axes) <= 3:
            raise ValueError(
                f"{self.name} measures distances in 1 to 3 spatial axes; pred has "
                f"{len(inputs.spatial_axes)} besides the sample and class axes")
        loss, norm = self.pixel_losses(prepared)
        sigmoid = self.activation == "sigmoid"
        if "penalty_maps" in prepared.aux:
            phi = prepared.aux_maps(
                "penalty_maps", self.name, nonnegative=True,
                hint="distance_penalty_map(target, num_classes=C, class_axis=class_axis, "
                     "activation=activation)")
        else:
            phi = _penalty_of_target(xp, inputs.target, inputs.class_axis, outside=sigmoid,
                                     spacing=self.spacing, dtype=loss.dtype)
        if not sigmoid:  # the pixel's own class (the classes' regions are disjoint)
            phi = xp.sum(phi, axis=inputs.class_axis, keepdims=True)
        out = weighted_pixel_mean(xp, (1.0 + phi) * loss, inputs.weight,
                                  reduction=self.reduction, normaliser=norm)
        if self.reduction == "none":
            out = none_layout(prepared, out, self.activation)
        return out


def distance_penalized_cross_entropy(pred: Array, target: Array, /, *,
                                     class_axis: int | None = -1,
                                     activation: str | None = "softmax",
                                     ignore_index: int | None = None,
                                     mask: Array | None = None,
                                     class_weights: Sequence[float] | Array | None = None,
                                     label_smoothing: float = 0.0,
                                     spacing: float | Sequence[float] | None = None,
                                     penalty_maps: Array | None = None,
                                     reduction: str = "mean") -> Array:
    r"""Distance-penalized cross-entropy (Caliva et al. 2019).

    The cross-entropy of each pixel weighted by :math:`1 + \Phi_i`, with :math:`\Phi` a map
    of the reference that is largest next to its boundaries and falls linearly with the
    distance to them:

    .. math::
        L = \frac{\sum_i m_i\,(1 + \Phi_i)\,\ell_i}{\sum_i m_i}, \qquad
        \Phi_i = \frac{\max_{S} d - d_i}{\max_{S} d}

    where :math:`\ell_i` is :func:`cross_entropy_loss`'s per-pixel loss, :math:`m_i` the
    pixel weight, :math:`S` the region of the pixel's reference class in its sample,
    :math:`d_i` the Euclidean distance from pixel :math:`i` to the nearest pixel outside
    :math:`S` (the nearest label change) and :math:`\max_S d` the largest such distance in
    :math:`S`. The weight is thus :math:`2 - 1/\max_S d` next to a boundary (where
    :math:`d_i` is one pixel) and 1 at the pixels deepest inside each region. With
    ``activation='sigmoid'`` every channel is one binary problem and :math:`\Phi` is
    computed inside and outside the channel's foreground alike (the two-class case of the
    above, per channel). A class that is absent from a sample or
    fills it has no boundary: :math:`\Phi = 0` there.

    The map is computed from the target inside the call (a dense target is read as the
    classes where it exceeds 0.5), without gradient. Ignored pixels (and pixels of
    ``mask`` weight 0) belong to no class: distances are measured to them too (the
    regions end where their annotation ends). The distance transforms cost several times
    the cross-entropy itself; where the targets are fixed, compute the maps once with
    :func:`distance_penalty_map` and pass them as ``penalty_maps``.

    Parameters
    ----------
    pred, target, class_axis, activation, ignore_index, mask, class_weights, label_smoothing :
        As :func:`cross_entropy_loss` (with class weights the normaliser is
        :math:`\sum_i m_i w_{y_i}`, the penalty does not enter it). 1 to 3 spatial axes.
    spacing : float or sequence of float, optional
        Pixel size per spatial axis for the distances (default 1). The map is normalised
        per region, so only anisotropy matters. Not used with ``penalty_maps``.
    penalty_maps : array, optional
        Precomputed :math:`\Phi` per class, in the prediction's shape and layout
        (:func:`distance_penalty_map` of the target, with the same ``class_axis`` and
        ``activation``), finite and >= 0. With 'softmax' a pixel's penalty is the sum of
        its class maps (only its own class is non-zero in those maps). Default: computed
        from ``target`` in the call. In :func:`regionloss.combine` it is the keyword
        array ``penalty_maps=`` of the call.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        As :func:`cross_entropy_loss` ('none': :math:`m_i (1 + \Phi_i)\ell_i` per pixel).

    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device.

    Notes
    -----
    Caliva et al. weight the cross-entropy by one plus a distance map of the reference
    built so that the pixels near the boundaries weigh most; the map's exact normalisation
    follows the SegLoss collection's ``DisPenalizedCE`` (inverted distance transforms,
    each divided by its maximum, inside and outside a binary foreground), extended to
    several classes by each pixel's own class region. (That implementation returns the
    unweighted mean; the weighted one is meant and computed here.)

    See Also
    --------
    distance_penalty_map, cross_entropy_loss, regionloss.distance_maps.distance_transform

    References
    ----------
    .. [1] F. Caliva, C. Iriondo, A. M. Martinez, S. Majumdar, V. Pedoia, "Distance map
       loss penalty term for semantic segmentation", MIDL 2019 (extended abstract,
       arXiv 1908.03679).
    .. [2] J. Ma et al., "Loss odyssey in medical image segmentation", Medical Image
       Analysis 71, 2021, and its SegLoss collection (``DisPenalizedCE``).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> y = np.array([[0, 1, 1, 1, 1, 1, 0]])          # one sample, 1-D, a class-1 run
    >>> x = np.zeros((1, 7, 2))                          # uniform softmax: ℓ = ln 2 everywhere
    >>> # class 1: d = 1, 2, 3, 2, 1 -> Φ = (3 - d)/3 = 2/3, 1/3, 0, 1/3, 2/3
    >>> # class 0 (two single pixels): d = 1 = max -> Φ = 0
    >>> want = np.log(2) * (7 + 2) / 7
    >>> bool(abs(float(regionloss.distance_penalized_cross_entropy(x, y)) - want) < 1e-12)
    True
    """
    term = DistancePenalizedCETerm(
        class_axis=class_axis, activation=activation, ignore_index=ignore_index,
        class_weights=class_weights, label_smoothing=label_smoothing, spacing=spacing,
        reduction=reduction)
    if penalty_maps is None:
        return term(pred, target, mask=mask)
    return term(pred, target, mask=mask, penalty_maps=penalty_maps)
