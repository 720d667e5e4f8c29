r"""Boundary losses: the boundary loss (Kervadec et al.) and the Hausdorff distance-transform
loss (Karimi and Salcudean).

Both weigh the prediction by distances to a boundary, and both reduce like the region
losses: one value per (sample, class), the mean over the kept classes, then the mean (or
sum) over samples.

* :func:`boundary_loss` integrates the probabilities against **precomputed** signed
  distance maps of the reference, :math:`\frac{1}{|\Omega|}\sum_x \phi_c(x)\,p_c(x)`. The
  maps are data prepared once per training image
  (:func:`regionloss.signed_distance_map`); they reach the loss as its second argument,
  or, in a compound, as the auxiliary keyword array ``distance_maps=``.
* :func:`hausdorff_dt_loss` weighs the squared error :math:`(p - y)^2` by the distance
  fields of the thresholded prediction and of the reference, computed at every call
  (:func:`regionloss.distance_maps.boundary_distance_field`), without gradient, on the
  caller's backend (inside ``jax.jit`` on JAX).

Removed pixels (``ignore_index``, weight-0 ``mask``) leave every mean by selection; in the
Hausdorff loss they also count as outside every class when the distance fields are
measured.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, ClassVar, Sequence

from .._formulas import safe_divide
from .._kernels.arrays import device_of, namespace
from .._reduce import reduce_losses
from .._typing import Array
from .._validate import ACTIVATIONS, check_spacing
from ..distance_maps import boundary_distance_field
from ._docs import COMMON_PARAMETERS
from ._term import LossTerm, Prepared
from .region import check_class_options

__all__ = [
    "BoundaryTerm",
    "HausdorffDTTerm",
    "boundary_loss",
    "hausdorff_dt_loss",
    "channels_first",
    "kept_channels",
    "pixel_means",
    "parameter_docs",
]


# --------------------------------------------------------------------------- docs


def _common_entries() -> dict:
    """The shared wording of the loss parameters (``losses/_docs.py``), by name."""
    entries, name, lines = {}, None, []
    for line in COMMON_PARAMETERS.splitlines():
        found = re.match(r"^    (\w+) : ", line)
        if found:
            if name is not None:
                entries[name] = "\n".join(lines)
            name, lines = found.group(1), [line]
        elif name is not None:
            lines.append(line)
    if name is not None:
        entries[name] = "\n".join(lines)
    return entries


_COMMON = _common_entries()


def parameter_docs(*entries: str) -> str:
    """Parameter docs: a name takes the library's shared wording, any other string (an
    entry written out, 4-space indented) is used as it is."""
    return "\n".join(_COMMON[e] if e in _COMMON else e for e in entries).strip()


def fill_parameters(*entries: str):
    """Fill a docstring's ``{parameters}`` with :func:`parameter_docs` of ``entries``."""
    text = parameter_docs(*entries)

    def apply(func):
        func.__doc__ = (func.__doc__.replace("{parameters}", text)
                        .replace("{returns}", _RETURNS.strip()))
        return func

    return apply


_REDUCTION = """\
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean'/'sum': the class mean, then the mean or sum over samples, a 0-d array.
        'none': the loss per (sample, kept class), shape (N, K), or (K,) with
        ``per_sample=False`` (K = C, or C − 1 without the background)."""

_RETURNS = """\
    Returns
    -------
    array
        0-d (or the 'none' array) in ``pred``'s namespace and device; float32 for
        half-precision inputs, float64 for float64; never a Python float."""


# --------------------------------------------------------------------------- helpers


def channels_first(xp, x, class_axis: int):
    """``x`` with its class axis moved to position 1, the spatial axes in their order."""
    if class_axis == 1:
        return x
    order = (0, class_axis) + tuple(a for a in range(1, x.ndim) if a != class_axis)
    return xp.permute_dims(x, order)


def kept_channels(x, axis: int, include_background: bool):
    """``x`` without channel 0 along ``axis`` when ``include_background`` is False."""
    if include_background:
        return x
    index = [slice(None)] * x.ndim
    index[axis] = slice(1, None)
    return x[tuple(index)]


def pixel_means(xp, values, weight, *, per_sample: bool):
    r"""Weighted mean over pixels of channels-first ``values`` (N, K, *spatial).

    .. math:: \bar v_{nk} = \frac{\sum_x w_{nx}\,v_{nkx}}{\sum_x w_{nx}}

    per (sample, class), shape (N, K); with ``per_sample=False`` the sums also run over
    the samples, shape (K,). ``weight`` (broadcastable, size-1 class axis) or None (every
    pixel 1). Weight-0 pixels leave the sums by selection (a NaN there changes nothing);
    a mean over no weight (all pixels removed, or no pixels) is 0, with a zero gradient.
    """
    axes = tuple(range(2, values.ndim))
    if not per_sample:
        axes = (0,) + axes
    if weight is None:
        count = math.prod(values.shape[a] for a in axes)
        return xp.sum(values, axis=axes) / max(count, 1)
    shape = (values.shape[0], 1) + tuple(values.shape[2:])
    weight = xp.broadcast_to(weight, shape)
    total = xp.sum(xp.where(weight > 0, values * weight, xp.zeros_like(values)), axis=axes)
    norm = xp.sum(weight, axis=axes)
    return safe_divide(xp, total, xp.broadcast_to(norm, total.shape), 0.0)


def _weight_channels_first(xp, inputs):
    """The per-pixel weight (or None) in the channels-first layout of the values."""
    if inputs.weight is None:
        return None
    weight = inputs.weight
    full = tuple(inputs.pred.shape[:inputs.class_axis]) + (1,) + tuple(
        inputs.pred.shape[inputs.class_axis + 1:])
    return channels_first(xp, xp.broadcast_to(weight, full), inputs.class_axis)


# --------------------------------------------------------------------------- terms


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoundaryTerm(LossTerm):
    """The term of :func:`boundary_loss`: reads the auxiliary ``distance_maps``."""

    name: ClassVar[str] = "boundary_loss"
    aux_names: ClassVar[tuple] = ("distance_maps",)
    checks: ClassVar[dict] = {**LossTerm.checks, "activation": ACTIVATIONS,
                              "include_background": "flag", "per_sample": "flag"}

    activation: Any = "softmax"
    include_background: bool = False
    per_sample: bool = True

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        if not self.include_background:
            check_class_options(prepared, include_background=False, class_weights=None)
        maps = prepared.aux_maps(
            "distance_maps", self.name,
            hint="signed_distance_map(labels, num_classes=C, class_axis=class_axis)")
        probs = prepared.probs(self.activation)
        axis = inputs.class_axis
        products = kept_channels(probs, axis, self.include_background) * kept_channels(
            maps, axis, self.include_background)
        per_class = pixel_means(xp, channels_first(xp, products, axis),
                                _weight_channels_first(xp, inputs), per_sample=self.per_sample)
        return reduce_losses(xp, per_class, num_classes=per_class.shape[-1],
                             include_background=True, class_weights=None,
                             reduction=self.reduction)


def _spacing_option(spacing):
    """``spacing`` of a term, checked as far as it can be before the rank is known."""
    if spacing is None:
        return None
    if isinstance(spacing, (str, bytes)) or not hasattr(spacing, "__len__"):
        return check_spacing(spacing, 1)[0]
    return check_spacing(spacing, len(spacing))


@dataclasses.dataclass(frozen=True, kw_only=True)
class HausdorffDTTerm(LossTerm):
    """The term of :func:`hausdorff_dt_loss`."""

    name: ClassVar[str] = "hausdorff_dt_loss"
    checks: ClassVar[dict] = {**LossTerm.checks, "activation": ACTIVATIONS,
                              "include_background": "flag", "per_sample": "flag",
                              "alpha": "positive"}

    alpha: float = 2.0
    activation: Any = "softmax"
    include_background: bool = False
    per_sample: bool = True
    spacing: Any = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "spacing", _spacing_option(self.spacing))

    def _power(self, xp, d):
        if self.alpha == 2.0:
            return d * d
        if self.alpha == 1.0:
            return d
        return xp.pow(d, self.alpha)

    def evaluate(self, prepared: Prepared):
        inputs, xp = prepared.inputs, prepared.xp
        if not self.include_background:
            check_class_options(prepared, include_background=False, class_weights=None)
        spatial_ndim = len(inputs.spatial_axes)
        if not 1 <= spatial_ndim <= 3:
            raise ValueError(f"{self.name}: the prediction needs 1 to 3 spatial axes for the "
                             f"distance transform; got {spatial_ndim}")
        spacing = check_spacing(self.spacing, spatial_ndim)
        axis = inputs.class_axis
        probs = channels_first(xp, kept_channels(prepared.probs(self.activation), axis,
                                                 self.include_background), axis)
        target = channels_first(xp, kept_channels(inputs.target, axis,
                                                  self.include_background), axis)
        weight = _weight_channels_first(xp, inputs)
        fg_pred, fg_target = probs > 0.5, target > 0.5
        if weight is not None:   # removed pixels lie outside every class
            kept = weight > 0
            fg_pred, fg_target = fg_pred & kept, fg_target & kept
        fields = boundary_distance_field(xp.stack([fg_pred, fg_target]),
                                         spatial_ndim=spatial_ndim, spacing=spacing)
        fields = xp.astype(fields, inputs.dtype)
        distance = self._power(xp, fields[0, ...]) + self._power(xp, fields[1, ...])
        error = probs - target
        per_class = pixel_means(xp, error * error * distance, weight,
                                per_sample=self.per_sample)
        return reduce_losses(xp, per_class, num_classes=per_class.shape[-1],
                             include_background=True, class_weights=None,
                             reduction=self.reduction)


# --------------------------------------------------------------------------- public losses


def _no_target(pred):
    """The stand-in target of a boundary loss called without a label map: a dense zero
    target of ``pred``'s shape (a broadcast view, no copy). The boundary loss reads no
    target; the stand-in only lets the call take the shared input checks."""
    xp = namespace(pred, names=("pred",))
    dtype = xp.float64 if pred.dtype == xp.float64 else xp.float32
    return xp.broadcast_to(xp.zeros((), dtype=dtype, device=device_of(pred)), pred.shape)


@fill_parameters(
    "pred",
    """\
    distance_maps : array
        Signed distance maps of the reference, one per class of the prediction (background
        included), in ``pred``'s layout and shape (without a class axis for
        ``class_axis=None``): the output of :func:`regionloss.signed_distance_map` ``(labels,
        num_classes=C, class_axis=class_axis, spacing=...)``, computed once per training
        image. Real floating (integer maps are cast); no gradient flows through them.
    target : array or None, default None
        The label map (or dense target) the maps were computed from, needed only for
        ``ignore_index``: validated like every loss's target, and its ``ignore_index``
        pixels leave the mean. The loss itself reads the maps, not the target.""",
    "class_axis", "activation",
    """\
    include_background : bool, default False
        False (the authors' choice: their ``idc`` are the foreground classes) drops class
        0 after the activation.
    ignore_index : int or None, default None
        Pixels where ``target`` equals it leave the mean (needs ``target``; any int).""",
    "mask",
    """\
    per_sample : bool, default True
        True: a mean over the pixels of each sample, then over samples. False: one mean
        over every pixel of the batch (the same number when no pixel is removed).""",
    _REDUCTION)
def boundary_loss(pred: Array, distance_maps: Array, /, *, target: Array | None = None,
                  class_axis: int | None = -1, activation: str | None = "softmax",
                  include_background: bool = False, ignore_index: int | None = None,
                  mask: Array | None = None, per_sample: bool = True,
                  reduction: str = "mean") -> Array:
    r"""Boundary loss (Kervadec et al.): probabilities integrated against signed distance maps.

    .. math::
        L_{nc} = \frac{\sum_x w_x\,\phi_{nc}(x)\,p_{nc}(x)}{\sum_x w_x}

    per (sample, kept class), with :math:`\phi` the signed distance map of the reference
    (positive outside the class, 0 on its inner boundary, negative inside: see
    :func:`regionloss.signed_distance_map`), :math:`p` the probabilities after the
    activation and :math:`w` the pixel weights (``mask``, ``ignore_index``; 1 by default).
    Then the mean over the kept classes and over samples. Without weights this is the
    authors' ``SurfaceLoss``: the mean over ``(N, len(idc), *spatial)`` of
    ``probs[:, idc] * dist[:, idc]`` with ``idc`` the foreground classes.

    The loss is linear in :math:`p`; pointwise :math:`\phi (p - y) \ge 0` for a one-hot
    :math:`y`, so it is smallest at the reference, where it equals the (negative) mean of
    :math:`\phi` inside the classes: it is not 0 at its minimum.

    **Use it with a region loss.** Alone, the boundary loss can empty a prediction (an
    empty prediction scores 0, not the minimum, but the gradient does not find the
    interior of small structures). The authors train ``L_GDL + α L_B`` with
    :math:`\alpha` starting at 0.01 and raised by 0.01 after each epoch: a schedule of
    the training loop, e.g. ``combine((1.0, generalized_dice_loss), (alpha,
    boundary_loss))`` rebuilt (or its weight passed in) each epoch, called as
    ``compound(logits, labels, distance_maps=maps)``.

    In a compound the maps are the auxiliary keyword array ``distance_maps=`` and the
    compound's target (the label map) serves ``ignore_index``::

        loss = regionloss.combine((1.0, regionloss.dice_loss), (0.01, regionloss.boundary_loss))
        value = loss(logits, labels, distance_maps=maps)

    Parameters
    ----------
    {parameters}

    {returns}

    Raises
    ------
    ValueError, TypeError
        Maps of the wrong shape or dtype, non-finite maps at scored pixels (concrete
        arrays), ``ignore_index`` without ``target``, ``include_background=False`` over a
        single channel, and every check of the shared loss inputs.

    See Also
    --------
    regionloss.signed_distance_map, hausdorff_dt_loss, combine, generalized_dice_loss

    References
    ----------
    .. [1] H. Kervadec, J. Bouchtiba, C. Desrosiers, E. Granger, J. Dolz and I. Ben Ayed,
       "Boundary loss for highly unbalanced segmentation", Medical Imaging with Deep
       Learning (MIDL), PMLR 102, 285-296, 2019; extended in Medical Image Analysis 67,
       101851, 2021.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> labels = np.array([[0, 0, 1, 1, 1, 1, 0]])
    >>> maps = regionloss.signed_distance_map(labels, num_classes=2)
    >>> maps[0, :, 1]
    array([ 2.,  1.,  0., -1., -1.,  0.,  1.])
    >>> perfect = np.eye(2)[labels]               # probabilities of the reference
    >>> float(regionloss.boundary_loss(perfect, maps, activation=None))  # (-1 - 1) / 7
    -0.2857142857142857
    """
    term = BoundaryTerm(class_axis=class_axis, activation=activation,
                        include_background=include_background, ignore_index=ignore_index,
                        per_sample=per_sample, reduction=reduction)
    if target is None:
        if ignore_index is not None:
            raise ValueError(
                "boundary_loss: ignore_index needs the label map: pass target=labels (or "
                "a per-pixel mask=...)")
        target = _no_target(pred)
    return term(pred, target, mask=mask, distance_maps=distance_maps)


@fill_parameters(
    """\
    alpha : float > 0, default 2.0
        The exponent of the distances (MONAI's ``alpha``, Karimi and Salcudean's α).""",
    "pred", "target", "class_axis", "activation", "ignore_index", "mask",
    """\
    include_background : bool, default False
        False (MONAI's default) drops class 0 after the activation.
    per_sample : bool, default True
        True: a mean over the pixels of each sample (MONAI ``batch=False``). False: one
        mean over every pixel of the batch, per class (MONAI ``batch=True``).""",
    _REDUCTION,
    """\
    spacing : float or sequence of float, optional
        Pixel size per spatial axis for the distance fields (physical units); default 1.
        MONAI has no spacing.""")
def hausdorff_dt_loss(pred: Array, target: Array, /, *, alpha: float = 2.0,
                      class_axis: int | None = -1, activation: str | None = "softmax",
                      include_background: bool = False, ignore_index: int | None = None,
                      mask: Array | None = None, per_sample: bool = True,
                      reduction: str = "mean",
                      spacing: float | Sequence[float] | None = None) -> Array:
    r"""Hausdorff distance-transform loss (Karimi and Salcudean), MONAI's ``HausdorffDTLoss``.

    .. math::
        L_{nc} = \frac{\sum_x w_x\,\bigl(p_{nc}(x) - y_{nc}(x)\bigr)^2
                 \bigl(d^{\,p}_{nc}(x)^{\alpha} + d^{\,y}_{nc}(x)^{\alpha}\bigr)}{\sum_x w_x}

    per (sample, kept class), then the mean over the kept classes and over samples.
    :math:`d^{\,p}` and :math:`d^{\,y}` are the distance fields
    (:func:`regionloss.distance_maps.boundary_distance_field`) of the thresholded
    prediction :math:`p > 0.5` and of the reference :math:`y > 0.5`: every pixel's
    distance to the other side of the boundary, 0 for a class that is absent or fills the
    image. They are recomputed at every call from the current prediction and carry no
    gradient: the gradient flows through :math:`(p - y)^2` only. On JAX the transform is
    pure ``jax.numpy`` and runs inside ``jax.jit`` and ``jax.vmap``; NumPy uses SciPy,
    CuPy ``cupyx.scipy.ndimage`` (on the GPU), PyTorch SciPy on a host copy.

    Removed pixels (``ignore_index``, weight-0 ``mask``) leave the mean and count as
    outside every class when the fields are measured.

    **MONAI equivalence** (``monai.losses.HausdorffDTLoss``, channels-first, hence
    ``class_axis=1``): ``softmax=True`` / ``sigmoid=True`` are ``activation='softmax'`` /
    ``'sigmoid'`` (no activation: ``activation=None``); ``include_background`` and
    ``alpha`` are the same options with the same defaults; ``batch=False`` / ``True`` is
    ``per_sample=True`` / ``False``; ``reduction='mean'`` is ``'mean'``. MONAI's
    ``reduction='sum'`` sums over samples *and* classes: ``reduction='none'`` followed by
    a sum (regionloss's ``'sum'`` sums the class means over samples). MONAI's
    ``reduction='none'`` shape (N, C', 1, ...) is regionloss's (N, K) with trailing size-1
    axes. MONAI stores the fields in float32, so its float64 losses carry float32 rounding
    of :math:`d^\alpha` (about 1e-7 relative); regionloss keeps float64 fields for float64
    inputs. MONAI has no ``ignore_index``, ``mask`` or ``spacing``.

    Parameters
    ----------
    {parameters}

    {returns}

    Raises
    ------
    ValueError, TypeError
        A non-positive ``alpha``, a bad ``spacing``, a prediction without 1 to 3 spatial
        axes, and every check of the shared loss inputs. Under ``jax.jit`` a label outside
        ``[0, C)`` that is not ``ignore_index`` makes the loss NaN.

    See Also
    --------
    boundary_loss, regionloss.hausdorff_distance, regionloss.distance_maps.boundary_distance_field

    References
    ----------
    .. [1] D. Karimi and S. E. Salcudean, "Reducing the Hausdorff Distance in Medical
       Image Segmentation with Convolutional Neural Networks", IEEE Transactions on
       Medical Imaging 39(2), 499-513, 2020.
    .. [2] MONAI ``monai.losses.HausdorffDTLoss`` (1.6.1: the equivalence above).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> probs = np.array([[[0.9], [0.8], [0.2], [0.1]]])    # (N, W, C=1), channels-last
    >>> target = np.array([[1, 1, 0, 0]])
    >>> loss = regionloss.hausdorff_dt_loss(probs, target, activation=None,
    ...                                     include_background=True)
    >>> round(float(loss), 6)   # both fields [2, 1, 1, 2]: errors² [.01, .04, .04, .01] · 2d²
    0.08
    """
    term = HausdorffDTTerm(alpha=alpha, class_axis=class_axis, activation=activation,
                           include_background=include_background, ignore_index=ignore_index,
                           per_sample=per_sample, reduction=reduction, spacing=spacing)
    return term(pred, target, mask=mask)
