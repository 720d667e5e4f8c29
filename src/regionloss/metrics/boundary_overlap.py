r"""Boundary IoU (Cheng et al.): the IoU of the boundary bands of two label maps.

The band of a binary mask :math:`M` is the part of it within :math:`d` of its outside:

.. math::
    B_d(M) = M \setminus \operatorname{erode}_d(M),

and the Boundary IoU of class :math:`c` compares the bands of ``pred == c`` and
``target == c``: :math:`|B_d(P) \cap B_d(T)| / |B_d(P) \cup B_d(T)|`. The three counts are
additive, so they enter the overlap metrics' machinery as ``tp = |B(P) ∩ B(T)|``,
``fp = |B(P)| − tp``, ``fn = |B(T)| − tp`` (:func:`regionloss._formulas.iou`), with the same
``average``, ``per_sample``, ``include_background``, ``ignore_index`` and
``zero_division`` rules as :func:`regionloss.iou_score`.

Everything runs in the caller's array library, on its device (NumPy, CuPy on the GPU,
JAX also under ``jax.jit``, PyTorch, ...): the erosion is a min-pool of the kernel layer
(:mod:`regionloss._kernels.pooling`), the Euclidean variant uses its distance transform
(:mod:`regionloss._kernels.distance`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._kernels.arrays import (
    comparable_labels,
    count_dtype,
    count_float_dtype,
    device_of,
    is_concrete,
)
from .._kernels.distance import euclidean_distance
from .._kernels.pooling import min_pool
from .._typing import Array
from .._validate import (
    check_average,
    check_choice,
    check_flags,
    check_label_range,
    check_real,
    check_spacing,
    check_zero_division,
    equal_label,
)
from ._docs import fill_doc
from ._table import resolve_metric
from .confusion import _finish, _score, check_label_maps

__all__ = ["boundary_iou", "band_width", "boundary_bands", "BAND_METHODS"]

BAND_METHODS = ("grid", "euclidean")


# --------------------------------------------------------------------------- bands


def band_width(shape, dilation_ratio: float, *, method: str = "grid", spacing=None):
    r"""The band width :math:`d` of images of spatial ``shape``.

    ``"grid"`` (the authors' rule, in pixels):
    :math:`d = \max(1, \operatorname{round}(r \sqrt{\sum_k n_k^2}))` with Python's
    ``round`` (half to even). ``"euclidean"`` (physical units):
    :math:`d = \max(\max_k s_k,\ r \sqrt{\sum_k (n_k s_k)^2})`, at least the largest
    spacing so that every pixel with a face neighbour outside the mask is in the band.
    """
    if method == "grid":
        return max(1, int(round(dilation_ratio * math.sqrt(sum(n * n for n in shape)))))
    spacing = spacing or (1.0,) * len(shape)
    diagonal = math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing)))
    return max(max(spacing), dilation_ratio * diagonal)


def _interior(xp, shape, width: int, device):
    """(1, *spatial) bool: pixels at least ``width`` pixels from every image border."""
    inside = None
    for k, n in enumerate(shape):
        idx = xp.arange(n, device=device)
        ok = (idx >= width) & (idx < n - width)
        view = [1] * (len(shape) + 1)
        view[k + 1] = n
        ok = xp.reshape(ok, tuple(view))
        inside = ok if inside is None else inside & ok
    return inside


def _pad_outside(xp, mask):
    """``mask`` (N, *spatial) with one False layer on both sides of every spatial axis."""
    for axis in range(1, mask.ndim):
        shape = list(mask.shape)
        shape[axis] = 1
        empty = xp.zeros(tuple(shape), dtype=xp.bool, device=device_of(mask))
        mask = xp.concat([empty, mask, empty], axis=axis)
    return mask


def boundary_bands(mask, /, *, width, method: str = "grid", spacing=None):
    r"""Boundary bands :math:`B_d(M) = M \setminus \operatorname{erode}_d(M)` of a batch.

    Parameters
    ----------
    mask : (N, *spatial) bool array
        One binary mask per sample (1 to 3 spatial axes).
    width : int (grid) or float (euclidean)
        :func:`band_width`.
    method : {"grid", "euclidean"}
        ``"grid"``: the erosion is ``width`` iterations of a 3 x 3 (x 3) erosion, outside
        the image counting as outside the mask: a pixel of :math:`M` is in the band when
        some pixel within Chebyshev distance ``width`` (in pixels) lies outside :math:`M`
        or outside the image. ``"euclidean"``: a pixel of :math:`M` is in the band when
        its Euclidean distance (scaled by ``spacing``) to the nearest pixel outside
        :math:`M` (outside the image included) is at most ``width``.
    spacing : tuple of float or None
        Pixel size per spatial axis (``"euclidean"`` only).

    Returns
    -------
    (N, *spatial) bool array, in ``mask``'s namespace and on its device.
    """
    from array_api_compat import array_namespace

    xp = array_namespace(mask)
    spatial = tuple(range(1, mask.ndim))
    if method == "grid":
        # d iterations of a 3 x 3 erosion = one (2d + 1)-box erosion (a box is separable)
        eroded = min_pool(xp.astype(mask, xp.uint8), window=(2 * width + 1,) * len(spatial),
                          axes=spatial) > 0
        eroded = eroded & _interior(xp, tuple(mask.shape[1:]), width, device_of(mask))
        return mask & ~eroded
    padded = _pad_outside(xp, mask)
    distance = euclidean_distance(padded, spatial_ndim=len(spatial), spacing=spacing)
    crop = (slice(None),) + (slice(1, -1),) * len(spatial)
    return mask & (distance[crop] <= width)


# --------------------------------------------------------------------------- labels


def _out_of_range(xp, labels, num_classes: int):
    """``labels < 0 | labels >= C``, without comparing with a value the dtype cannot hold."""
    info = xp.iinfo(labels.dtype)
    bad = labels < 0 if info.min < 0 else xp.zeros(labels.shape, dtype=xp.bool,
                                                   device=device_of(labels))
    if num_classes <= info.max:
        bad = bad | (labels >= num_classes)
    return bad


def traced_label_check(xp, pred, target, num_classes: int, ignore_index):
    """0-d bool: a scored label outside ``[0, C)`` (the ``jax.jit`` rule: the metric is NaN)."""
    scored = None if ignore_index is None else ~equal_label(xp, target, ignore_index)
    bad_t = _out_of_range(xp, target, num_classes)
    bad_p = _out_of_range(xp, pred, num_classes)
    bad = bad_t | bad_p if scored is None else (bad_t | bad_p) & scored
    return xp.any(bad)


def check_labels(xp, pred, target, *, num_classes, ignore_index, validate):
    """Labels as comparable integers, and the jit-time invalid flag (or None).

    Concrete maps with ``validate=True`` raise the shared label-range message; traced maps
    give a 0-d flag. ``validate=False``: labels outside ``[0, C)`` belong to no class.
    """
    pred, target = (comparable_labels(xp, x if x.dtype != xp.bool else xp.astype(x, xp.int8))
                    for x in (pred, target))
    if not validate:
        return pred, target, None
    if is_concrete(pred) and is_concrete(target):
        check_label_range(pred, target, num_classes=num_classes, ignore_index=ignore_index)
        return pred, target, None
    return pred, target, traced_label_check(xp, pred, target, num_classes, ignore_index)


def class_mask(xp, labels, c: int, valid):
    """``labels == c`` (False where ``valid`` is False; no match for an unrepresentable c)."""
    mask = equal_label(xp, labels, c)
    return mask if valid is None else mask & valid


# --------------------------------------------------------------------------- the metric


@fill_doc("macro")
def boundary_iou(pred: Array, target: Array, /, *, num_classes: int,
                 dilation_ratio: float = 0.02, average: str | None = "macro",
                 per_sample: bool = False, include_background: bool = True,
                 ignore_index: int | None = None, zero_division: float = float("nan"),
                 return_defined: bool = False, validate: bool = True,
                 spacing: float | Sequence[float] | None = None,
                 method: str = "grid") -> Array | tuple[Array, Array]:
    r"""Boundary IoU (Cheng et al.) of integer label maps, per class.

    .. math::
        \mathrm{BIoU}_c = \frac{|B_d(P_c) \cap B_d(T_c)|}{|B_d(P_c) \cup B_d(T_c)|},
        \qquad B_d(M) = M \setminus \operatorname{erode}_d(M)

    with :math:`P_c`, :math:`T_c` the masks of class :math:`c` in ``pred`` and ``target``
    of each sample (axis 0 is always the sample axis: bands are computed image by image)
    and :math:`B_d` the inner boundary band of width :math:`d`. Intersections and unions
    are counted per (sample, class) and pooled or averaged like :func:`iou_score`'s tp,
    fp, fn: ``per_sample=False`` (default) adds them over the batch first.

    **Band** (``method="grid"``, the authors' definition): :math:`d = \max(1,
    \operatorname{round}(r \cdot \text{diagonal}))` pixels with ``r = dilation_ratio`` and
    the diagonal :math:`\sqrt{\sum_k n_k^2}` of the image, and :math:`\operatorname{erode}_d`
    is :math:`d` iterations of a 3 x 3 (3 x 3 x 3 in 3-D) erosion of the zero-padded mask:
    the image border counts as outside, so an object touching it has band there. The band
    is already inside the mask (the authors' :math:`G \cap G_d`), and so is the union.
    ``method="euclidean"``: the band holds the mask pixels whose Euclidean distance to the
    nearest pixel outside the mask (or outside the image), scaled by ``spacing``, is at
    most :math:`d = \max(\max_k s_k, r \cdot \text{physical diagonal})` (for anisotropic
    3-D volumes; ``spacing`` applies to this method only; distances equal to :math:`d` up
    to rounding sit on a knife-edge, as for :func:`surface_dice`).

    **Empty sets**: both bands empty (the class absent from both maps) is
    ``zero_division``; exactly one empty is 0. ``ignore_index`` pixels are removed from
    both masks before the bands are taken (they count as outside, which creates band next
    to them, the convention of the surface metrics) and so leave every count.

    **Backends**: the caller's array library, on its device: NumPy, CuPy (on the GPU: the
    erosion is ``cupyx.scipy.ndimage.minimum_filter``, the Euclidean transform CuPy's),
    JAX (jit-able: every shape is static), PyTorch, array-api-strict, Dask (the Euclidean
    variant is slow on lazy arrays: their distance transform tries every shift, so compute
    them first). Two and three spatial axes are the intended use (1 also works).

    Parameters
    ----------
    dilation_ratio : float >= 0, default 0.02
        The band width as a fraction of the image diagonal (the authors' default).
    spacing : float or sequence of float, optional
        Pixel size per spatial axis, ``method="euclidean"`` only.
    method : {"grid", "euclidean"}, default "grid"
        The band rule above.
    {parameters}

    See Also
    --------
    iou_score, surface_dice, hausdorff_distance

    References
    ----------
    .. [1] B. Cheng, R. Girshick, P. Dollár, A. C. Berg and A. Kirillov, "Boundary IoU:
       Improving Object-Centric Image Segmentation Evaluation", CVPR 2021, 15334-15342.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> target = np.zeros((1, 8, 8), np.int64); target[0, 1:7, 1:7] = 1   # a 6 x 6 square
    >>> pred = np.zeros((1, 8, 8), np.int64); pred[0, 1:7, 2:8] = 1       # shifted right
    >>> rl.boundary_iou(pred, target, num_classes=2, average="none").round(4).tolist()
    [0.6471, 0.3333]
    """
    average = check_average(average)
    zero_division = check_zero_division(zero_division)
    per_sample, include_background, return_defined, validate = check_flags(
        per_sample=per_sample, include_background=include_background,
        return_defined=return_defined, validate=validate)
    method = check_choice("method", method, BAND_METHODS)
    dilation_ratio = check_real("dilation_ratio", dilation_ratio, minimum=0.0)
    xp, pred, target, num_classes, ignore_index = check_label_maps(
        pred, target, num_classes=num_classes, ignore_index=ignore_index, per_sample=True)
    spatial_ndim = pred.ndim - 1
    if not 1 <= spatial_ndim <= 3:
        raise ValueError(
            "pred and target must be label maps with a sample axis 0 and 1 to 3 spatial "
            f"axes, (N, H, W) or (N, D, H, W); got shape {tuple(pred.shape)} (add a sample "
            "axis for a single image: x[None])")
    if method == "grid" and spacing is not None:
        raise ValueError("spacing applies to method='euclidean' (distances in physical "
                         "units); method='grid' counts pixels")
    spacing = check_spacing(spacing, spatial_ndim)
    if not include_background and num_classes < 2:
        raise ValueError(f"include_background=False needs at least 2 classes, got "
                         f"num_classes={num_classes}")
    pred, target, invalid = check_labels(xp, pred, target, num_classes=num_classes,
                                         ignore_index=ignore_index, validate=validate)
    valid = None if ignore_index is None else ~equal_label(xp, target, ignore_index)
    width = band_width(tuple(pred.shape[1:]), dilation_ratio, method=method, spacing=spacing)
    spatial = tuple(range(1, pred.ndim))
    ints = count_dtype(xp)

    def count(band):
        n = xp.sum(xp.astype(band, ints), axis=spatial)
        return n if per_sample else xp.sum(n)

    both, in_pred, in_target = [], [], []
    for c in range(0 if include_background else 1, num_classes):
        band_p = boundary_bands(class_mask(xp, pred, c, valid), width=width, method=method,
                                spacing=spacing)
        band_t = boundary_bands(class_mask(xp, target, c, valid), width=width, method=method,
                                spacing=spacing)
        both.append(count(band_p & band_t))
        in_pred.append(count(band_p))
        in_target.append(count(band_t))
    floats = count_float_dtype(xp)
    tp, predicted, reference = (xp.astype(xp.stack(v, axis=-1), floats)
                                for v in (both, in_pred, in_target))
    stats = (tp, predicted - tp, reference - tp, xp.zeros_like(tp))
    value, defined = _score(xp, stats, resolve_metric("iou"), {}, average=average,
                            include_background=True, zero_division=zero_division)
    return _finish(xp, value, defined, per_sample_counts=per_sample, average=average,
                   invalid=invalid, return_defined=return_defined)
