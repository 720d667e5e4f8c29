r"""Boundary metrics: Hausdorff distance (HD, HD95), average surface distance and surface Dice.

Every function compares two integer label maps, prediction first, with a sample axis 0 and
2 or 3 spatial axes, class by class: class ``c`` of sample ``n`` compares the masks
``pred[n] == c`` and ``target[n] == c``. Values are per (sample, class), in physical units
(``spacing``: the voxel size per spatial axis, 1 by default).

Conventions (details, measured comparisons and the reasons in ``docs/surface.md``):

* **Surface voxels** are the voxels of a mask with at least one face-neighbour outside it
  (``mask & ~binary_erosion(mask, cross)``; outside the image counts as outside the mask).
  This is medpy's (``connectivity=1``) and MONAI's convention. DeepMind's surface-distance
  places area-weighted surfels between voxels instead, and gives different numbers.
* **Distances** are exact Euclidean distances between voxel centres scaled by ``spacing``,
  from every surface voxel of one mask to the nearest surface voxel of the other
  (``scipy.ndimage.distance_transform_edt(..., sampling=spacing)``), in float64.
* **Empty masks**: both empty gives ``zero_division`` (NaN by default; 0.0 or 1.0 are the
  other choices, as for the overlap metrics). Exactly one empty
  makes every distance infinite: HD and ASD are ``inf`` (or ``empty_distance`` when given),
  surface Dice is 0. Empty masks are handled before any percentile.
* **ignore_index**: voxels where the target equals it are removed from both masks, i.e.
  treated as outside. This creates surface next to them (MONAI's convention).
* **Backends**: NumPy through SciPy, CuPy through ``cupyx.scipy.ndimage`` (the work stays on
  the GPU). JAX, PyTorch, array-api-strict, Dask and other namespaces are copied to NumPy on
  the host and the result is copied back to the caller's namespace and device (the only
  backend-aware code is in :mod:`regionloss._kernels.surface`). These
  metrics are not differentiable and cannot run under ``jax.jit``: their work depends on
  the data.
* **Cost**: per (sample, class), the work is confined to the bounding box of the union of
  both masks, and one distance transform per mask serves every metric asked for in one
  call (:func:`surface_metrics`).

SciPy (or CuPy) is imported only when one of these functions runs: install the ``surface``
extra (``pip install 'regionloss[surface]'``).
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from .._kernels import surface as _k
from .._kernels.arrays import result_like
from .._typing import Array
from .._validate import (
    check_bool,
    check_choice,
    check_real,
)
from ._surface_engine import Spec, check_num_classes, finish, run

__all__ = [
    "hausdorff_distance",
    "average_surface_distance",
    "surface_dice",
    "surface_metrics",
    "SURFACE_METRICS",
]

#: Names accepted by :func:`surface_metrics` and what each one computes.
SURFACE_METRICS = {
    "hd": "Hausdorff distance: percentile 100, max of the two directions",
    "hd95": "95th-percentile Hausdorff distance: max of the two directed 95th percentiles",
    "asd": "average surface distance, prediction -> reference",
    "assd": "average symmetric surface distance, both directions' distances pooled",
    "nsd": "normalised surface Dice at `tolerance` (needs tolerance)",
}

_AVERAGES = ("none", "macro")


# --------------------------------------------------------------------------- validation


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_tolerance(tolerance, num_classes: int) -> np.ndarray:
    if tolerance is None:
        raise ValueError(
            "surface Dice needs tolerance=<physical distance> (a number, or one per class "
            f"id: {num_classes} values)"
        )
    if isinstance(tolerance, (str, bytes)):
        raise TypeError(f"tolerance must be a number or one number per class, got {tolerance!r}")
    if _is_real(tolerance):
        values = np.full(num_classes, float(tolerance))
    else:
        try:
            values = np.asarray(tolerance, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"tolerance must be a number or one number per class, got {tolerance!r}"
            ) from exc
        if values.ndim != 1 or values.shape[0] != num_classes:
            raise ValueError(
                "tolerance must be a number or one value per class id (length num_classes="
                f"{num_classes}, background included), got {tolerance!r}"
            )
    if not np.all(np.isfinite(values) & (values >= 0)):
        raise ValueError(f"tolerance values must be finite and >= 0, got {tolerance!r}")
    return values


def _check_average(average, per_sample) -> str:
    if check_bool("per_sample", per_sample) is not True:
        raise ValueError(
            f"per_sample={per_sample!r} is not supported by boundary metrics: distances "
            "between the surfaces of different samples mean nothing, so they are always "
            "computed per sample (per_sample=True)"
        )
    if average in ("micro", "weighted"):
        raise ValueError(
            f"average={average!r} is not supported by boundary metrics: it pools or "
            "weights statistics across classes and samples, but surface distances of "
            "different (sample, class) pairs cannot be pooled; use average='none' (N, C) "
            "or 'macro' (mean over classes, then over samples)"
        )
    if average not in _AVERAGES:
        raise ValueError(f"average must be 'none' or 'macro', got {average!r}")
    return average


def _check_combine(combine, allowed, name="combine") -> str:
    return check_choice(name, combine, allowed)


# --------------------------------------------------------------------------- public API


def hausdorff_distance(pred: Array, target: Array, /, *, num_classes: int,
                       spacing: float | Sequence[float] | None = None,
                       percentile: float = 100.0, combine: str = "max",
                       directed: bool = False, ignore_index: int | None = None,
                       include_background: bool = True, zero_division: float = float("nan"),
                       empty_distance: float | None = None, average: str = "none",
                       per_sample: bool = True) -> Array:
    r"""Hausdorff distance (HD, or HD95 with ``percentile=95``) per (sample, class).

    With :math:`d(a, B) = \min_{b \in B} \lVert (a - b) \cdot s \rVert_2` the physical
    distance (spacing :math:`s`) from surface voxel :math:`a` to surface :math:`B`, and
    :math:`P_q` the ``q``-th percentile (linear interpolation between ranks):

    .. math::
        \mathrm{HD}_q^{\max} = \max\big(P_q\{d(a, \partial T)\}_{a \in \partial P},\;
                                        P_q\{d(b, \partial P)\}_{b \in \partial T}\big)

        \mathrm{HD}_q^{\mathrm{pooled}} = P_q\big(\{d(a, \partial T)\}_{a \in \partial P}
                                          \cup \{d(b, \partial P)\}_{b \in \partial T}\big)

    and ``directed=True`` gives :math:`P_q\{d(a, \partial T)\}_{a \in \partial P}` only
    (prediction to reference). With ``q = 100`` both combinations are the classic
    Hausdorff distance :math:`\max(\max_a d(a, \partial T), \max_b d(b, \partial P))`.

    Parameters
    ----------
    pred, target : (N, H, W) or (N, D, H, W) integer arrays
        Predicted and reference label maps, sample axis 0. Any array library: NumPy and
        CuPy run natively, others go through NumPy on the host.
    num_classes : int
        Labels are in ``[0, num_classes)`` (or ``ignore_index``).
    spacing : float or sequence of float, optional
        Voxel size per spatial axis (a number for every axis); 1 by default.
    percentile : float, default 100
        ``95`` gives HD95. Linear interpolation between ranks (NumPy's default).
    combine : {"max", "pooled"}, default "max"
        ``"max"``: the larger of the two directed percentiles (MONAI's
        ``HausdorffDistanceMetric``, DeepMind surface-distance). ``"pooled"``: the
        percentile of both directions' distances together (medpy's ``hd95``). The two
        agree for ``percentile=100``. Ignored when ``directed=True``.
    directed : bool, default False
        Only prediction -> reference distances (MONAI ``directed=True``).
    ignore_index : int, optional
        Voxels where ``target`` equals it are removed from both masks (treated as
        outside, which creates surface next to them).
    include_background : bool, default True
        ``False`` drops class 0 (the result then has C - 1 columns).
    zero_division : {nan, 0.0, 1.0}, default NaN
        The value where both masks are empty, under the overlap metrics' rule (anything
        else is a ``ValueError``): NaN is skipped by the macro mean, 0.0 (no distance)
        or 1.0 enter it like any other value.
    empty_distance : float, optional
        The value where exactly one mask is empty (default ``inf``: a missed or spurious
        structure never disappears from an average). NaN reproduces MONAI's percentile HD.
    average : {"none", "macro"}, default "none"
        ``"none"``: (N, C) values; ``"macro"``: mean over classes (NaN skipped, ``inf``
        kept), then over samples (NaN skipped), a 0-d array.
    per_sample : bool, default True
        Only ``True``: distances between different samples mean nothing.

    Returns
    -------
    array
        float64 (float32 on JAX without x64), (N, C), (N, C - 1) or 0-d (exactly ``()``
        for ``average="macro"``), in the caller's namespace and on its device.

    Notes
    -----
    medpy ``hd``: ``combine`` either, ``percentile=100``. medpy ``hd95``:
    ``percentile=95, combine="pooled"``. MONAI ``HausdorffDistanceMetric(percentile=95)``:
    ``percentile=95, combine="max", empty_distance=float("nan")``. See ``docs/surface.md``.

    References
    ----------
    .. [1] D. P. Huttenlocher, G. A. Klanderman, W. J. Rucklidge, "Comparing images using
       the Hausdorff distance", IEEE Trans. Pattern Anal. Mach. Intell. 15(9):850-863,
       1993.
    .. [2] A. A. Taha, A. Hanbury, "Metrics for evaluating 3D medical image segmentation:
       analysis, selection, and tool", BMC Medical Imaging 15:29, 2015.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> target = np.zeros((1, 6, 6), dtype=int); target[0, 1:4, 1:4] = 1   # a 3x3 square
    >>> pred = np.zeros((1, 6, 6), dtype=int); pred[0, 1:4, 2:5] = 1       # shifted by one
    >>> rl.hausdorff_distance(pred, target, num_classes=2, include_background=False)
    array([[1.]])
    >>> rl.hausdorff_distance(pred, target, num_classes=2, spacing=(1.0, 0.5),
    ...                       include_background=False)          # 0.5 mm columns
    array([[0.5]])
    >>> rl.hausdorff_distance(np.zeros_like(pred), target, num_classes=2,
    ...                       include_background=False)          # a missed structure
    array([[inf]])
    """
    average = _check_average(average, per_sample)
    q = check_real("percentile", percentile, minimum=0.0, maximum=100.0)
    _check_combine(combine, ("max", "pooled"))
    mode = "directed" if check_bool("directed", directed) else combine
    specs = {"hd": Spec("hd", q=q, mode=mode)}
    mod, out = run(pred, target, num_classes=num_classes, specs=specs, spacing=spacing,
                        ignore_index=ignore_index, include_background=include_background,
                        zero_division=zero_division, empty_distance=empty_distance)
    return finish(mod, out["hd"], average, result_like(pred, target))


def average_surface_distance(pred: Array, target: Array, /, *, num_classes: int,
                             spacing: float | Sequence[float] | None = None,
                             symmetric: bool = True, combine: str = "pooled",
                             ignore_index: int | None = None,
                             include_background: bool = True,
                             zero_division: float = float("nan"),
                             empty_distance: float | None = None, average: str = "none",
                             per_sample: bool = True) -> Array:
    r"""Average (symmetric) surface distance, ASD / ASSD, per (sample, class).

    With :math:`D_P = \{d(a, \partial T)\}_{a \in \partial P}` and
    :math:`D_T = \{d(b, \partial P)\}_{b \in \partial T}` (see
    :func:`hausdorff_distance`):

    .. math::
        \mathrm{ASD} = \overline{D_P}, \qquad
        \mathrm{ASSD}^{\mathrm{pooled}} = \frac{\sum D_P + \sum D_T}{|D_P| + |D_T|}, \qquad
        \mathrm{ASSD}^{\mathrm{mean}} = \tfrac12\big(\overline{D_P} + \overline{D_T}\big)

    Parameters
    ----------
    pred, target : (N, H, W) or (N, D, H, W) integer arrays
        Predicted and reference label maps, sample axis 0.
    num_classes : int
    spacing : float or sequence of float, optional
        Voxel size per spatial axis; 1 by default.
    symmetric : bool, default True
        ``False``: the mean distance from the prediction surface to the reference
        surface (medpy's ``asd``, MONAI ``SurfaceDistanceMetric(symmetric=False)``).
    combine : {"pooled", "mean"}, default "pooled"
        For ``symmetric=True``: ``"pooled"`` is the mean over both directions'
        distances together (medpy 0.5 ``assd``, MONAI
        ``SurfaceDistanceMetric(symmetric=True)``); ``"mean"`` averages the two directed
        means (medpy up to 0.4, some challenge scripts).
    ignore_index, include_background, zero_division, empty_distance, average, per_sample
        As in :func:`hausdorff_distance`.

    Returns
    -------
    array
        float64 (float32 on JAX without x64), (N, C), (N, C - 1) or 0-d (exactly ``()``
        for ``average="macro"``), in the caller's namespace and on its device.

    References
    ----------
    .. [1] T. Heimann et al., "Comparison and evaluation of methods for liver segmentation
       from CT datasets", IEEE Trans. Med. Imaging 28(8):1251-1265, 2009.
    .. [2] A. A. Taha, A. Hanbury, "Metrics for evaluating 3D medical image segmentation:
       analysis, selection, and tool", BMC Medical Imaging 15:29, 2015.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> target = np.zeros((1, 6, 6), dtype=int); target[0, 1:4, 1:4] = 1   # a 3x3 square
    >>> pred = np.zeros((1, 6, 6), dtype=int); pred[0, 1:4, 2:5] = 1       # shifted by one
    >>> rl.average_surface_distance(pred, target, num_classes=2, include_background=False)
    array([[0.5]])
    """
    average = _check_average(average, per_sample)
    _check_combine(combine, ("pooled", "mean"))
    mode = combine if check_bool("symmetric", symmetric) else "directed"
    specs = {"asd": Spec("asd", mode=mode)}
    mod, out = run(pred, target, num_classes=num_classes, specs=specs, spacing=spacing,
                        ignore_index=ignore_index, include_background=include_background,
                        zero_division=zero_division, empty_distance=empty_distance)
    return finish(mod, out["asd"], average, result_like(pred, target))


def surface_dice(pred: Array, target: Array, /, *, num_classes: int,
                 tolerance: float | Sequence[float] | None,
                 spacing: float | Sequence[float] | None = None,
                 ignore_index: int | None = None, include_background: bool = True,
                 zero_division: float = float("nan"), empty_distance: float | None = None,
                 average: str = "none", per_sample: bool = True) -> Array:
    r"""Normalised surface Dice (NSD) at a tolerance, per (sample, class).

    The fraction of both surfaces' voxels that lie within ``tolerance`` (inclusive) of the
    other surface (Nikolov et al. 2021, counted on surface voxels):

    .. math::
        \mathrm{NSD}_\tau = \frac{|\{a \in \partial P : d(a, \partial T) \le \tau\}|
                                  + |\{b \in \partial T : d(b, \partial P) \le \tau\}|}
                                 {|\partial P| + |\partial T|}

    This is MONAI's ``SurfaceDiceMetric(use_subvoxels=False)``. DeepMind's
    surface-distance weighs surfels by area instead (``docs/surface.md``).

    Parameters
    ----------
    pred, target : (N, H, W) or (N, D, H, W) integer arrays
    num_classes : int
    tolerance : float or sequence of float
        In physical units (the units of ``spacing``): one number, or one per class id
        (length ``num_classes``, background included, as ``class_weights``). A distance
        is within when ``distance <= tolerance`` in float64: a tolerance that is an exact
        multiple of the spacing sits on a rounding knife-edge (``docs/surface.md``).
    spacing : float or sequence of float, optional
    ignore_index, include_background, zero_division, average, per_sample
        As in :func:`hausdorff_distance`. Exactly one empty mask scores 0.
    empty_distance : float, optional
        Accepted for a uniform signature; surface Dice does not use it (one empty mask
        scores 0).

    Returns
    -------
    array
        float64 (float32 on JAX without x64) in [0, 1] (or ``zero_division``), (N, C),
        (N, C - 1) or 0-d (exactly ``()`` for ``average="macro"``).

    References
    ----------
    .. [1] S. Nikolov et al., "Clinically applicable segmentation of head and neck anatomy
       for radiotherapy: deep learning algorithm development and validation study",
       J. Med. Internet Res. 23(7):e26151, 2021.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> target = np.zeros((1, 6, 6), dtype=int); target[0, 1:4, 1:4] = 1   # a 3x3 square
    >>> pred = np.zeros((1, 6, 6), dtype=int); pred[0, 1:4, 2:5] = 1       # shifted by one
    >>> rl.surface_dice(pred, target, num_classes=2, tolerance=0.5, include_background=False)
    array([[0.5]])
    >>> rl.surface_dice(pred, target, num_classes=2, tolerance=1.0, include_background=False)
    array([[1.]])
    """
    average = _check_average(average, per_sample)
    num_classes_checked = check_num_classes(num_classes, include_background)
    tol = _check_tolerance(tolerance, num_classes_checked)
    specs = {"nsd": Spec("nsd", tolerance=tol)}
    mod, out = run(pred, target, num_classes=num_classes, specs=specs, spacing=spacing,
                        ignore_index=ignore_index, include_background=include_background,
                        zero_division=zero_division, empty_distance=empty_distance)
    return finish(mod, out["nsd"], average, result_like(pred, target))


def surface_metrics(pred: Array, target: Array, /, *, num_classes: int,
                    metrics: Sequence[str] | str = ("hd95", "assd", "nsd"),
                    spacing: float | Sequence[float] | None = None,
                    tolerance: float | Sequence[float] | None = None,
                    ignore_index: int | None = None, include_background: bool = True,
                    zero_division: float = float("nan"),
                    empty_distance: float | None = None) -> dict[str, Any]:
    """Several boundary metrics from one pass: one distance transform per mask for all.

    Parameters
    ----------
    pred, target : (N, H, W) or (N, D, H, W) integer arrays
    num_classes : int
    metrics : sequence of str (or one comma-separated str), default ("hd95", "assd", "nsd")
        Any of ``"hd"`` (percentile 100), ``"hd95"`` (95th percentile, max of the two
        directions, as :func:`hausdorff_distance` defaults), ``"asd"`` (prediction ->
        reference mean), ``"assd"`` (both directions pooled) and ``"nsd"`` (surface Dice,
        needs ``tolerance``).
    spacing, tolerance, ignore_index, include_background, zero_division, empty_distance
        As in the single-metric functions.

    Returns
    -------
    dict
        Each requested name -> a float64 (N, C) array ((N, C - 1) without the background)
        in the caller's namespace and on its device, equal to the matching single-metric
        function's ``average="none"`` result.

    References
    ----------
    .. [1] A. A. Taha, A. Hanbury, "Metrics for evaluating 3D medical image segmentation:
       analysis, selection, and tool", BMC Medical Imaging 15:29, 2015.
    .. [2] medpy ``medpy.metric.binary`` and MONAI ``HausdorffDistanceMetric`` /
       ``SurfaceDistanceMetric`` / ``SurfaceDiceMetric``: the conventions followed
       (``docs/surface.md``).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> target = np.zeros((1, 6, 6), dtype=int); target[0, 1:4, 1:4] = 1   # a 3x3 square
    >>> pred = np.zeros((1, 6, 6), dtype=int); pred[0, 1:4, 2:5] = 1       # shifted by one
    >>> res = rl.surface_metrics(pred, target, num_classes=2, metrics=("hd", "assd", "nsd"),
    ...                          tolerance=1.0, include_background=False)
    >>> {name: value.tolist() for name, value in res.items()}
    {'hd': [[1.0]], 'assd': [[0.5]], 'nsd': [[1.0]]}
    """
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = []
    for m in metrics:
        if m not in SURFACE_METRICS:
            raise ValueError(
                f"unknown boundary metric {m!r} in metrics; choose from {sorted(SURFACE_METRICS)}"
            )
        if m not in names:
            names.append(m)
    if not names:
        raise ValueError("metrics must name at least one boundary metric")
    specs = {}
    for name in names:
        if name == "hd":
            specs[name] = Spec("hd", q=100.0, mode="max")
        elif name == "hd95":
            specs[name] = Spec("hd", q=95.0, mode="max")
        elif name == "asd":
            specs[name] = Spec("asd", mode="directed")
        elif name == "assd":
            specs[name] = Spec("asd", mode="pooled")
        else:
            c = check_num_classes(num_classes, include_background)
            specs[name] = Spec("nsd", tolerance=_check_tolerance(tolerance, c))
    mod, out = run(pred, target, num_classes=num_classes, specs=specs, spacing=spacing,
                        ignore_index=ignore_index, include_background=include_background,
                        zero_division=zero_division, empty_distance=empty_distance)
    like = result_like(pred, target)
    return {name: _k.from_kernel(mod, out[name], like) for name in names}
