r"""Distance maps and soft morphology: the inputs of the boundary and topology losses.

* :func:`distance_transform`: the exact Euclidean distance transform of every sample of a
  batch of masks (SciPy's ``distance_transform_edt``, batched, on every backend).
* :func:`signed_distance_map`: the per-class signed distance map of the boundary loss
  (Kervadec et al.), from a label map or a one-hot target.
* :func:`boundary_distance_field`: the distance field of the Hausdorff distance-transform
  loss (Karimi and Salcudean), as MONAI's ``HausdorffDTLoss`` computes it.
* :func:`soft_erode`, :func:`soft_dilate`, :func:`soft_skeleton`: the differentiable soft
  morphology of clDice (Shit et al.), with MONAI's structuring elements.

Everything here is written once against the array API standard; the distance transform
and the pooling windows come from the kernel layer (:mod:`regionloss._kernels.distance`,
:mod:`regionloss._kernels.pooling`), which holds the backend-specific fast paths. The
distance maps are data, computed from targets (or thresholded predictions): no gradient
flows through them. The soft morphology is differentiable.

Policies shared by every function here:

* An image **without a zero element** has no finite distance transform:
  :func:`distance_transform` returns ``inf`` there (SciPy returns the distance to a phantom
  element just outside the array, numbers that depend on the layout, not on the data).
* Distances are float64 wherever the array library offers it (NumPy, CuPy, PyTorch, JAX
  with ``jax_enable_x64``), float32 otherwise (JAX's default).
"""

from __future__ import annotations

from typing import Any, Sequence

from array_api_compat import array_namespace

from ._kernels.arrays import comparable_labels
from ._kernels.distance import euclidean_distance
from ._kernels.pooling import max_pool, min_pool
from ._typing import Array
from ._validate import check_ignore_index, check_int, check_spacing

__all__ = [
    "distance_transform",
    "signed_distance_map",
    "boundary_distance_field",
    "soft_erode",
    "soft_dilate",
    "soft_skeleton",
]


# --------------------------------------------------------------------------- validation


def _check_mask_dtype(xp, x, name: str) -> None:
    if not xp.isdtype(x.dtype, ("bool", "integral", "real floating")):
        raise TypeError(f"{name} must be a bool, integer or real floating array, "
                        f"got dtype {x.dtype}")


def _check_spatial_axes(spatial_axes, ndim: int, name: str = "spatial_axes"):
    """1 to 3 distinct axes of an ``ndim``-d array, as non-negative ints (each entry
    checked by the shared :func:`regionloss._validate.check_int`)."""
    if isinstance(spatial_axes, (str, bytes)) or not hasattr(spatial_axes, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, got {spatial_axes!r}")
    axes = tuple(check_int(name, a) for a in spatial_axes)
    if not 1 <= len(axes) <= 3:
        raise ValueError(f"{name} must name 1 to 3 axes, got {spatial_axes!r}")
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{name} {spatial_axes!r} out of range for an array of "
                             f"{ndim} dimensions")
    normal = tuple(a % ndim for a in axes)
    if len(set(normal)) != len(normal):
        raise ValueError(f"{name} must be distinct, got {spatial_axes!r}")
    return normal


def _batch_spatial_ndim(x, name: str) -> int:
    """Spatial axes of an (N, *spatial) array: 1 to 3."""
    if not 2 <= x.ndim <= 4:
        raise ValueError(f"{name} must have shape (N, *spatial) with 1 to 3 spatial axes, "
                         f"got shape {tuple(x.shape)}")
    return x.ndim - 1


# --------------------------------------------------------------------------- transforms


def distance_transform(mask: Any, /, *,
                       spacing: float | Sequence[float] | None = None) -> Array:
    r"""Exact Euclidean distance transform of every sample of a batch of masks.

    For every non-zero element, the Euclidean distance to the nearest zero element of the
    same sample; zero elements get 0:

    .. math::

        d_n(x) = \min_{y:\ m_n(y) = 0} \Big( \sum_k s_k^2 (x_k - y_k)^2 \Big)^{1/2}.

    This is :func:`scipy.ndimage.distance_transform_edt` (``sampling=spacing``) applied to
    ``mask[n]`` for every ``n``, on NumPy, CuPy (on the GPU), JAX (pure ``jax.numpy``:
    runs under ``jax.jit`` and ``jax.vmap``), PyTorch (through SciPy on a host copy) and
    any other array-API library (an exact standard fallback).

    Parameters
    ----------
    mask : array of shape ``(N, *spatial)``
        1 to 3 spatial axes after the sample axis 0. bool, integer or real floating:
        non-zero elements are foreground.
    spacing : float or sequence of float, optional
        Element size along each spatial axis (anisotropic voxels), positive and finite;
        one number for every axis alike. Default: 1.

    Returns
    -------
    array of ``mask``'s shape
        float64 (float32 on JAX without ``jax_enable_x64``), in ``mask``'s namespace and
        on its device. A sample without any zero element gets ``inf`` everywhere (no
        boundary to measure to); a sample of zeros gets zeros. No gradient flows through
        the result.

    Raises
    ------
    TypeError
        ``mask`` is not bool, integer or real floating; ``spacing`` is not numeric.
    ValueError
        ``mask`` has fewer than 1 or more than 3 spatial axes; ``spacing`` has the wrong
        length or a non-positive or non-finite entry.

    Notes
    -----
    SciPy itself returns finite numbers for an image without a zero element: the distance
    to a phantom element at index ``(-1, 0, ..., 0)``, just before the array along its
    first axis (a row ``[1, 1, 1]`` gives ``[1, 2, 3]``). Those numbers say nothing about
    the image, so every backend here returns ``inf`` instead.

    References
    ----------
    .. [1] P. F. Felzenszwalb and D. P. Huttenlocher, "Distance Transforms of Sampled
       Functions", Theory of Computing 8(19), 415-428, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from regionloss.distance_maps import distance_transform
    >>> mask = np.array([[0, 1, 1, 1, 0]])
    >>> distance_transform(mask)
    array([[0., 1., 2., 1., 0.]])
    >>> distance_transform(mask, spacing=0.5)
    array([[0. , 0.5, 1. , 0.5, 0. ]])
    >>> distance_transform(np.ones((1, 3)))
    array([[inf, inf, inf]])
    """
    xp = array_namespace(mask)
    _check_mask_dtype(xp, mask, "mask")
    spatial_ndim = _batch_spatial_ndim(mask, "mask")
    spacing = check_spacing(spacing, spatial_ndim)
    return euclidean_distance(mask, spatial_ndim=spatial_ndim, spacing=spacing)


def signed_distance_map(labels: Any, /, *, num_classes: int,
                        spacing: float | Sequence[float] | None = None,
                        class_axis: int = -1, ignore_index: int | None = None) -> Array:
    r"""Per-class signed distance map of the boundary loss (Kervadec et al.).

    For every sample and class :math:`c`, with :math:`S` the pixels of class :math:`c`,
    :math:`d_S(x)` the distance from :math:`x` to the nearest pixel of :math:`S` and
    :math:`d_{\bar S}(x)` the distance to the nearest pixel outside :math:`S` (both
    Euclidean, scaled by ``spacing``):

    .. math::

        \phi_c(x) = \begin{cases}
            d_S(x) & x \notin S, \\
            -\big(d_{\bar S}(x) - 1\big) & x \in S,
        \end{cases}
        \qquad \phi_c \equiv 0 \text{ where } S = \emptyset \text{ or } S = \Omega.

    This is the authors' ``one_hot2dist``: ``edt(~S) * ~S - (edt(S) - 1) * S`` with SciPy's
    ``distance_transform_edt(..., sampling=spacing)``, one sample and class at a time. The
    boundary loss is then :math:`\sum_x \phi_c(x)\, p_c(x)`. With unit spacing,
    :math:`\phi_c \ge 1` outside :math:`S`, :math:`\phi_c = 0` exactly on the inner
    boundary (pixels of :math:`S` with a face neighbour outside :math:`S`) and
    :math:`\phi_c < 0` deeper inside.

    Parameters
    ----------
    labels : array
        Either an integer label map ``(N, *spatial)`` with class ids in ``[0, num_classes)``
        (the output gets a class axis at ``class_axis``), or a dense one-hot target
        (bool or float, 0/1) that already has the class axis at ``class_axis``, of size
        ``num_classes``. 1 to 3 spatial axes; axis 0 is the sample axis. Decided by the
        dtype: integer means label map. (An integer one-hot array is read as a label map:
        cast it to bool first.) In a dense target, class :math:`c` is where the value is
        non-zero. Label values outside ``[0, num_classes)`` belong to no class.
    num_classes : int
        Number of classes ``C``.
    spacing : float or sequence of float, optional
        Pixel size per spatial axis (the authors' ``resolution``), positive and finite.
        Default: 1.
    class_axis : int, default -1
        Position of the class axis in the output (and in a dense input): ``-1`` is
        channels-last (JAX/Flax), ``1`` channels-first (PyTorch/MONAI). It cannot be the
        sample axis 0.
    ignore_index : int, optional
        Label maps only. Pixels with this label belong to no class: they count as outside
        every class when distances are measured (the class regions end where the
        annotation of the class ends), and their map value is 0 in every class, so that
        they add nothing to :math:`\sum_x \phi_c(x) p_c(x)`. A value that is also a class
        id removes that class as well. For a dense target, give a pixel an all-zero class
        vector instead.

    Returns
    -------
    array
        The label map's shape with a class axis of size ``num_classes`` inserted at
        ``class_axis`` (a dense input's own shape), float64 (float32 on JAX without
        ``jax_enable_x64``), in the input's namespace and on its device. No gradient
        flows through it.

    Raises
    ------
    TypeError
        ``labels`` is neither integer, bool nor real floating; ``num_classes``,
        ``class_axis`` or ``ignore_index`` is not an integer; ``spacing`` is not numeric.
    ValueError
        Wrong number of axes; a dense class axis whose size is not ``num_classes``;
        ``class_axis`` out of range or 0; ``ignore_index`` with a dense target; bad
        ``spacing``.

    Notes
    -----
    **The "- 1" is one unit of length, not one pixel.** The authors subtract 1 from the
    inside distance whatever the ``resolution``, and so does this function. With unit
    spacing the inner boundary is exactly 0. With other spacings the zero level set lies
    where the distance to the outside is one unit of length, not on the boundary pixels:
    an inner boundary pixel whose outside neighbour lies along an axis of spacing
    :math:`s` gets :math:`1 - s`. With spacing ``(2.5, 0.7, 0.7)`` that is -1.5 across
    slices and +0.3 within a slice, i.e. slightly *positive* inside the object, wherever
    the boundary runs across an axis of spacing below 1. To keep the inside at or below
    0, pass the spacing relative to its smallest entry (``spacing / min(spacing)``): the
    map is then in units of the finest spacing.

    **A class that covers the whole image** has no boundary: this function gives it zeros,
    as for an absent class. The authors' code returns, there, SciPy's numbers for an image
    without background (distances to a phantom element just outside the array, see
    :func:`distance_transform`), which carry no information.

    References
    ----------
    .. [1] H. Kervadec, J. Bouchtiba, C. Desrosiers, E. Granger, J. Dolz and I. Ben Ayed,
       "Boundary loss for highly unbalanced segmentation", Medical Imaging with Deep
       Learning (MIDL), PMLR 102, 285-296, 2019; extended in Medical Image Analysis 67,
       101851, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from regionloss.distance_maps import signed_distance_map
    >>> labels = np.array([[0, 0, 1, 1, 1, 1, 0]])
    >>> phi = signed_distance_map(labels, num_classes=2)
    >>> phi.shape
    (1, 7, 2)
    >>> phi[0, :, 1]
    array([ 2.,  1.,  0., -1., -1.,  0.,  1.])
    >>> signed_distance_map(labels, num_classes=2, class_axis=1)[0, 1]
    array([ 2.,  1.,  0., -1., -1.,  0.,  1.])
    """
    xp = array_namespace(labels)
    inside, valid, class_axis, spatial_ndim = class_regions(
        xp, labels, num_classes=num_classes, class_axis=class_axis,
        ignore_index=ignore_index)
    out_ndim = spatial_ndim + 2
    spacing = check_spacing(spacing, spatial_ndim)

    # one kernel call for both transforms: [edt(S), edt(~S)] over (2, N, C, *spatial)
    both = euclidean_distance(xp.stack([inside, xp.logical_not(inside)]),
                              spatial_ndim=spatial_ndim, spacing=spacing)
    to_outside, to_inside = both[0, ...], both[1, ...]
    spatial = tuple(range(2, out_ndim))
    has_boundary = xp.logical_and(xp.any(inside, axis=spatial, keepdims=True),
                                  xp.logical_not(xp.all(inside, axis=spatial, keepdims=True)))
    zero = xp.zeros_like(to_outside)
    phi = xp.where(inside, 1.0 - to_outside, to_inside)
    phi = xp.where(has_boundary, phi, zero)
    if valid is not None:
        phi = xp.where(xp.expand_dims(valid, axis=1), phi, zero)
    return from_channels_first(xp, phi, class_axis)


def from_channels_first(xp, x, class_axis: int):
    """``(N, C, *spatial)`` to the layout with the class axis at ``class_axis`` (>= 1)."""
    if class_axis == 1:
        return x
    order = [0] + list(range(2, x.ndim))
    order.insert(class_axis, 1)
    return xp.permute_dims(x, tuple(order))


def class_regions(xp, labels, *, num_classes, class_axis, ignore_index):
    """The checked class regions of a label map or one-hot target, read as
    :func:`signed_distance_map` documents: ``(inside, valid, class_axis, spatial_ndim)``,
    ``(N, C, *spatial)`` bool masks, the ``(N, *spatial)`` pixels that are not
    ``ignore_index`` (None when nothing is ignored), and the output's class axis (>= 1)."""
    num_classes = check_int("num_classes", num_classes, minimum=1)
    class_axis = check_int("class_axis", class_axis)
    ignore_index = check_ignore_index(ignore_index)
    dense = xp.isdtype(labels.dtype, ("bool", "real floating"))
    if not dense and not xp.isdtype(labels.dtype, "integral"):
        raise TypeError("labels must be an integer label map or a bool / real floating "
                        f"one-hot target, got dtype {labels.dtype}")
    out_ndim = labels.ndim if dense else labels.ndim + 1
    if not 3 <= out_ndim <= 5:
        what = ("a dense target (N, *spatial) with a class axis" if dense
                else "a label map (N, *spatial)")
        raise ValueError(f"labels must be {what} with 1 to 3 spatial axes, "
                         f"got shape {tuple(labels.shape)}")
    if not -out_ndim <= class_axis < out_ndim or class_axis % out_ndim == 0:
        raise ValueError(f"class_axis must be a non-sample axis of the {out_ndim}-d output "
                         f"(1 .. {out_ndim - 1} or -1 .. -{out_ndim - 1}), got {class_axis}")
    class_axis = class_axis % out_ndim
    if not dense:
        inside, valid = _class_masks(xp, labels, num_classes, ignore_index)
        return inside, valid, class_axis, out_ndim - 2
    if ignore_index is not None:
        raise ValueError("ignore_index applies to integer label maps; in a dense target, "
                         "give ignored pixels an all-zero class vector")
    if labels.shape[class_axis] != num_classes:
        raise ValueError(f"a dense target must have num_classes ({num_classes}) entries "
                         f"along class_axis ({class_axis}), got shape "
                         f"{tuple(labels.shape)}")
    order = [0, class_axis] + [a for a in range(1, out_ndim) if a != class_axis]
    moved = xp.permute_dims(labels, tuple(order))
    inside = moved if xp.isdtype(labels.dtype, "bool") else moved != 0
    return inside, None, class_axis, out_ndim - 2


def _class_masks(xp, labels, num_classes: int, ignore_index):
    """(N, C, *spatial) bool class masks of a label map, and the (N, *spatial) kept pixels.

    One comparison per class, with Python integers (no index array to place on a device).
    A class id or ``ignore_index`` outside the label dtype's range matches no pixel (and
    is never compared: JAX refuses such a Python integer).
    """
    labels = comparable_labels(xp, labels)   # PyTorch compares no uint16/32/64
    info = xp.iinfo(labels.dtype)
    nowhere = xp.zeros_like(labels, dtype=xp.bool)
    valid = None
    if ignore_index is not None and info.min <= ignore_index <= info.max:
        valid = labels != ignore_index
    masks = []
    for c in range(num_classes):
        if c > info.max:
            masks.append(nowhere)
            continue
        mask = labels == c
        if valid is not None and c == ignore_index:
            mask = nowhere
        masks.append(mask)
    return xp.stack(masks, axis=1), valid


def boundary_distance_field(mask: Any, /, *, spatial_ndim: int, spacing=None):
    r"""Distance field of the Hausdorff distance-transform loss (Karimi and Salcudean).

    For every image (the last ``spatial_ndim`` axes; every leading axis indexes images,
    e.g. samples and classes), with foreground :math:`F = \{x: m(x) > 0.5\}`:

    .. math::

        \delta(x) = \begin{cases}
            d_{\bar F}(x) + d_F(x) & F \ne \emptyset \text{ and } F \ne \Omega, \\
            0 & \text{otherwise},
        \end{cases}

    where :math:`d_{\bar F}` is the distance to the nearest background element (0 on the
    background) and :math:`d_F` the distance to the nearest foreground element (0 on the
    foreground): every element's distance to the other side of the boundary. The loss is
    then :math:`\operatorname{mean}\big((p - q)^2 (\delta_p^\alpha + \delta_q^\alpha)\big)`.

    This is MONAI's ``HausdorffDTLoss.distance_field`` applied per (sample, class) image,
    as its ``forward`` does: the same threshold (strictly above 0.5) and the same rule for
    images that are all background or all foreground (zeros), plus optional spacing.

    Parameters
    ----------
    mask : array
        Bool, integer (foreground: > 0) or real floating (foreground: > 0.5, e.g.
        probabilities) values; the last ``spatial_ndim`` axes form one image.
    spatial_ndim : {1, 2, 3}
        Number of trailing spatial axes.
    spacing : float or sequence of float, optional
        Element size per spatial axis, positive and finite. Default: 1 (MONAI has no
        spacing).

    Returns
    -------
    array of ``mask``'s shape
        float64 (float32 on JAX without ``jax_enable_x64``), in ``mask``'s namespace and
        on its device; no gradient flows through it.

    References
    ----------
    .. [1] D. Karimi and S. E. Salcudean, "Reducing the Hausdorff Distance in Medical
       Image Segmentation with Convolutional Neural Networks", IEEE Transactions on
       Medical Imaging 39(2), 499-513, 2020.
    .. [2] MONAI, ``monai.losses.HausdorffDTLoss``.

    Examples
    --------
    >>> import numpy as np
    >>> from regionloss.distance_maps import boundary_distance_field
    >>> boundary_distance_field(np.array([0.1, 0.9, 0.8, 0.2, 0.0]), spatial_ndim=1)
    array([1., 1., 1., 1., 2.])
    >>> boundary_distance_field(np.array([0.9, 0.8]), spatial_ndim=1)
    array([0., 0.])
    """
    xp = array_namespace(mask)
    _check_mask_dtype(xp, mask, "mask")
    if isinstance(spatial_ndim, bool) or spatial_ndim not in (1, 2, 3) \
            or spatial_ndim > mask.ndim:
        raise ValueError(f"spatial_ndim must be 1, 2 or 3 and at most mask.ndim "
                         f"({mask.ndim}), got {spatial_ndim!r}")
    spacing = check_spacing(spacing, spatial_ndim)
    if xp.isdtype(mask.dtype, "bool"):
        fg = mask
    elif xp.isdtype(mask.dtype, "integral"):
        fg = mask > 0
    else:
        fg = mask > 0.5
    bg = xp.logical_not(fg)
    both = euclidean_distance(xp.stack([fg, bg]), spatial_ndim=spatial_ndim,
                              spacing=spacing)
    field = both[0, ...] + both[1, ...]
    spatial = tuple(range(mask.ndim - spatial_ndim, mask.ndim))
    mixed = xp.logical_and(xp.any(fg, axis=spatial, keepdims=True),
                           xp.any(bg, axis=spatial, keepdims=True))
    return xp.where(mixed, field, xp.zeros_like(field))


# --------------------------------------------------------------------------- soft morphology


def soft_erode(x: Any, /, *, spatial_axes):
    r"""Soft (grey-level) erosion with the cross-shaped structuring element.

    .. math::

        \operatorname{erode}(x)_i = \min_{k} \min_{|t| \le 1} x_{i + t e_k},

    the minimum over the element and its face neighbours along ``spatial_axes`` (the 4-
    neighbourhood in 2-D, 6 in 3-D), neighbours outside the array ignored. This is MONAI's
    and the clDice authors' ``soft_erode``: the minimum of one 3-tap min-pool per axis.

    Parameters
    ----------
    x : array
        Bool, integer or real floating (probabilities for clDice).
    spatial_axes : sequence of int
        1 to 3 distinct axes forming the image (e.g. ``(1, 2)`` for (N, H, W, C)).

    Returns
    -------
    array of ``x``'s shape, dtype, namespace and device
        Differentiable (the gradient goes to the selected element).

    References
    ----------
    .. [1] S. Shit, J. C. Paetzold et al., "clDice - a Novel Topology-Preserving Loss
       Function for Tubular Structure Segmentation", CVPR 2021, 16560-16569.

    Examples
    --------
    >>> import numpy as np
    >>> from regionloss.distance_maps import soft_erode
    >>> soft_erode(np.array([[0.2, 0.9, 0.8, 0.7]]), spatial_axes=(1,))
    array([[0.2, 0.2, 0.7, 0.7]])
    """
    axes = _check_spatial_axes(spatial_axes, x.ndim)
    xp = array_namespace(x)
    out = None
    for axis in axes:
        eroded = min_pool(x, window=(3,), axes=(axis,))
        out = eroded if out is None else (
            xp.logical_and(out, eroded) if xp.isdtype(x.dtype, "bool")
            else xp.minimum(out, eroded))
    return out


def soft_dilate(x: Any, /, *, spatial_axes):
    r"""Soft (grey-level) dilation with the full 3 x ... x 3 box.

    .. math::

        \operatorname{dilate}(x)_i = \max_{\lVert t \rVert_\infty \le 1} x_{i + t},

    the maximum over the 8-neighbourhood in 2-D (26 in 3-D) along ``spatial_axes``,
    neighbours outside the array ignored: MONAI's and the clDice authors' ``soft_dilate``
    (a 3 x 3 / 3 x 3 x 3 max-pool).

    Parameters
    ----------
    x : array
        Bool, integer or real floating.
    spatial_axes : sequence of int
        1 to 3 distinct axes forming the image.

    Returns
    -------
    array of ``x``'s shape, dtype, namespace and device
        Differentiable (the gradient goes to the selected element).

    References
    ----------
    .. [1] S. Shit, J. C. Paetzold et al., "clDice - a Novel Topology-Preserving Loss
       Function for Tubular Structure Segmentation", CVPR 2021, 16560-16569.

    Examples
    --------
    >>> import numpy as np
    >>> from regionloss.distance_maps import soft_dilate
    >>> soft_dilate(np.array([[0.2, 0.9, 0.1, 0.0]]), spatial_axes=(1,))
    array([[0.9, 0.9, 0.9, 0.1]])
    """
    axes = _check_spatial_axes(spatial_axes, x.ndim)
    return max_pool(x, window=(3,) * len(axes), axes=axes)


def soft_skeleton(probs: Any, /, *, iterations: int, spatial_axes):
    r"""Soft skeleton of clDice (Shit et al., Algorithm 1), differentiable.

    With :math:`\operatorname{open}(x) = \operatorname{dilate}(\operatorname{erode}(x))`
    (:func:`soft_erode`, :func:`soft_dilate`) and :math:`[v]_+ = \max(v, 0)`:

    .. math::

        S_0 = [x - \operatorname{open}(x)]_+, \qquad
        x_{k} = \operatorname{erode}(x_{k-1}),\;
        \delta_k = [x_k - \operatorname{open}(x_k)]_+,\;
        S_k = S_{k-1} + [\delta_k - S_{k-1} \delta_k]_+

    for :math:`k = 1 .. \text{iterations}`; the result is :math:`S_{\text{iterations}}`.
    On a 0/1 mask this is the morphological skeleton of iterated erosions: what each
    erosion keeps that the following opening removes (a one-pixel line is its own
    skeleton; a filled 5 x 11 rectangle leaves its middle row without two pixels at each
    end, once ``iterations >= 2``).

    Parameters
    ----------
    probs : array
        Probabilities (or a 0/1 mask): real floating, bool or integer. Computed in the
        input's float dtype when it is float32 or float64, else in float32.
    iterations : int
        Number of erosions (MONAI's ``iter_``, 3 by default there); >= 0. Structures
        thicker than about ``2 * iterations + 1`` pixels are not thinned to a line.
    spatial_axes : sequence of int
        1 to 3 distinct axes forming the image (2 or 3 in clDice).

    Returns
    -------
    array of ``probs``'s shape
        Values in [0, 1] for inputs in [0, 1]; differentiable (``[v]_+`` has derivative 0
        at ``v = 0``, as ``relu`` in PyTorch and JAX).

    References
    ----------
    .. [1] S. Shit, J. C. Paetzold, A. Sekuboyina, I. Ezhov, A. Unger, A. Zhylka,
       J. P. W. Pluim, U. Bauer and B. H. Menze, "clDice - a Novel Topology-Preserving
       Loss Function for Tubular Structure Segmentation", CVPR 2021, 16560-16569.
    .. [2] MONAI, ``monai.losses.SoftclDiceLoss`` (``soft_erode``, ``soft_dilate``,
       ``soft_skel``).

    Examples
    --------
    >>> import numpy as np
    >>> from regionloss.distance_maps import soft_skeleton
    >>> line = np.zeros((1, 5, 6))
    >>> line[0, 2, 1:5] = 1.0
    >>> bool(np.array_equal(soft_skeleton(line, iterations=3, spatial_axes=(1, 2)), line))
    True
    """
    iterations = check_int("iterations", iterations, minimum=0)
    axes = _check_spatial_axes(spatial_axes, probs.ndim)
    xp = array_namespace(probs)
    if not (probs.dtype == xp.float64 or probs.dtype == xp.float32):
        probs = xp.astype(probs, xp.float32)
    zero = xp.zeros_like(probs)

    def relu(v):
        return xp.where(v > 0, v, zero)

    def opened_part(img):
        return relu(img - soft_dilate(soft_erode(img, spatial_axes=axes), spatial_axes=axes))

    img = probs
    skel = opened_part(img)
    for _ in range(iterations):
        img = soft_erode(img, spatial_axes=axes)
        delta = opened_part(img)
        skel = skel + relu(delta - skel * delta)
    return skel
