r"""The hard clDice score (Shit et al.): centreline agreement of two label maps.

For class :math:`c` of a sample, with :math:`P`, :math:`T` the masks ``pred == c``,
``target == c`` and :math:`S_P`, :math:`S_T` their skeletons
(``skimage.morphology.skeletonize``):

.. math::
    T_{prec} = \frac{|S_P \cap T|}{|S_P|}, \qquad
    T_{sens} = \frac{|S_T \cap P|}{|S_T|}, \qquad
    \mathrm{clDice} = \frac{2\,T_{prec}\,T_{sens}}{T_{prec} + T_{sens}}.

The four counts are additive over samples (and classes), so ``per_sample=False`` and
``average="micro"`` pool them before the formula, as the overlap metrics pool tp, fp, fn.
Skeletons are computed on the host (:mod:`regionloss._kernels.skeleton`); the result comes
back in the caller's namespace and on its device.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from .._formulas import safe_divide
from .._kernels.arrays import count_dtype, namespace, result_like, to_numpy
from .._kernels.skeleton import skeletonize
from .._kernels.surface import from_kernel
from .._reduce import average_classes, average_samples
from .._typing import Array
from .._validate import (
    check_average,
    check_choice,
    check_flags,
    check_zero_division,
    equal_label,
)
from ._docs import fill_doc
from .boundary_overlap import check_labels
from .confusion import check_label_maps

__all__ = ["cldice_score", "CLDICE_PARTS", "skeleton_counts"]

CLDICE_PARTS = ("cldice", "tprec", "tsens")


def skeleton_counts(pred, target, *, num_classes, classes, valid):
    r"""Per (sample, class) counts :math:`|S_P \cap T|, |S_P|, |S_T \cap P|, |S_T|`.

    ``pred``, ``target``: (N, *spatial) integer NumPy arrays; ``valid`` (N, *spatial) bool
    or None (False: removed from both masks). Returns four (N, K) int64 arrays.

    Where thinning removes a whole non-empty mask (a 2 x 2 x 2 cube in 3-D has an empty
    Lee skeleton), the mask stands for its own skeleton: a non-empty mask always has a
    centreline, so only a class absent from both maps is undefined.
    """
    n = pred.shape[0]
    spatial = tuple(range(1, pred.ndim))
    out = [np.zeros((n, len(classes)), dtype=np.int64) for _ in range(4)]
    for j, c in enumerate(classes):
        p = pred == c
        t = target == c
        if valid is not None:
            p &= valid
            t &= valid
        both = skeletonize(np.concatenate([p, t]))
        for mask, k in ((p, 0), (t, 1)):
            skel = both[k * n:(k + 1) * n]
            lost = mask.any(axis=spatial) & ~skel.any(axis=spatial)
            both[k * n:(k + 1) * n] = np.where(
                lost.reshape((n,) + (1,) * len(spatial)), mask, skel)
        s_p, s_t = both[:n], both[n:]
        out[0][:, j] = np.sum(s_p & t, axis=spatial)
        out[1][:, j] = np.sum(s_p, axis=spatial)
        out[2][:, j] = np.sum(s_t & p, axis=spatial)
        out[3][:, j] = np.sum(s_t, axis=spatial)
    return out


def _formula(part: str):
    """The per-class formula on the four counts, in the slots of the shared averaging.

    :func:`regionloss._reduce.average_classes` reduces four additive statistics named
    ``(tp, fp, fn, tn)`` and weighs ``average="weighted"`` by ``tp + fn``. Here they carry
    ``tp = |S_T ∩ P|``, ``fn = |S_T| − tp`` (so the weight is the reference skeleton's
    length), ``fp = |S_P ∩ T|`` and ``tn = |S_P|``.
    """

    def formula(tp, fp, fn, tn, *, empty):
        xp = array_namespace(tp)
        reference = tp + fn
        if part == "tprec":
            return safe_divide(xp, fp, tn, empty)
        if part == "tsens":
            return safe_divide(xp, tp, reference, empty)
        tprec = safe_divide(xp, fp, tn, 0.0)      # an undefined part is 0 next to a
        tsens = safe_divide(xp, tp, reference, 0.0)  # defined one: the score is then 0
        cl = safe_divide(xp, 2.0 * tprec * tsens, tprec + tsens, 0.0)
        return xp.where((tn == 0) & (reference == 0), xp.asarray(empty, dtype=cl.dtype), cl)

    return formula


@fill_doc("macro")
def cldice_score(pred: Array, target: Array, /, *, num_classes: int,
                 average: str | None = "macro", per_sample: bool = False,
                 include_background: bool = True, ignore_index: int | None = None,
                 zero_division: float = float("nan"), return_defined: bool = False,
                 validate: bool = True,
                 part: str = "cldice") -> Array | tuple[Array, Array]:
    r"""Hard clDice (Shit et al.): the centreline Dice of integer label maps, per class.

    .. math::
        T_{prec} = \frac{|S_P \cap T|}{|S_P|}, \quad
        T_{sens} = \frac{|S_T \cap P|}{|S_T|}, \quad
        \mathrm{clDice} = \frac{2\,T_{prec}\,T_{sens}}{T_{prec} + T_{sens}}

    with :math:`P`, :math:`T` the masks of a class in ``pred`` and ``target`` of one
    sample (axis 0 is always the sample axis: skeletons are taken image by image) and
    :math:`S_P`, :math:`S_T` their skeletons by ``skimage.morphology.skeletonize``
    (Zhang and Suen's thinning in 2-D, Lee et al.'s in 3-D). Topology precision asks the
    predicted centreline to lie inside the reference, topology sensitivity the reference
    centreline inside the prediction. The counts are pooled or averaged like
    :func:`dice_score`'s tp, fp, fn: ``per_sample=False`` (default) adds them over the
    batch before the formula, ``average="micro"`` over the classes too,
    ``average="weighted"`` weighs classes by the length of their reference skeleton.

    **Empty sets**: a class absent from both maps is ``zero_division``; absent from one
    of them it scores 0 (the undefined ratio of the empty one counts as 0 in the harmonic
    mean), and so do :math:`T_{prec} = T_{sens} = 0`. ``part="tprec"`` is undefined where
    the prediction is empty, ``part="tsens"`` where the reference is (``zero_division``
    there). A non-empty mask that thinning removes entirely (a 2 x 2 x 2 cube in 3-D)
    stands for its own skeleton. ``ignore_index`` pixels are removed from both masks.

    **Backends**: the skeletons are computed on the host with scikit-image (``pip install
    'regionloss[topology]'``): CuPy, JAX and PyTorch label maps are copied to the host and
    the result is copied back to the caller's namespace and device. Not jit-able (thinning
    is sequential and data-dependent).

    Parameters
    ----------
    part : {"cldice", "tprec", "tsens"}, default "cldice"
        The harmonic mean, or one of its two parts.
    {parameters}

    See Also
    --------
    cldice_loss, dice_score, boundary_iou

    References
    ----------
    .. [1] S. Shit, J. C. Paetzold, A. Sekuboyina, I. Ezhov, A. Unger, A. Zhylka,
       J. P. W. Pluim, U. Bauer and B. H. Menze, "clDice - a Novel Topology-Preserving
       Loss Function for Tubular Structure Segmentation", CVPR 2021, 16560-16569.
    .. [2] T. Y. Zhang and C. Y. Suen, "A fast parallel algorithm for thinning digital
       patterns", Communications of the ACM 27(3), 1984; T.-C. Lee, R. L. Kashyap and
       C.-N. Chu, "Building skeleton models via 3-D medial surface/axis thinning
       algorithms", CVGIP 56(6), 1994 (scikit-image's skeletonize).

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> target = np.zeros((1, 7, 9), np.int64); target[0, 3, 1:8] = 1     # a thin line
    >>> pred = target.copy(); pred[0, 3, 4] = 0                          # broken once
    >>> rl.cldice_score(pred, target, num_classes=2, include_background=False).round(4).tolist()
    0.9231
    """
    average = check_average(average)
    zero_division = check_zero_division(zero_division)
    per_sample, include_background, return_defined, validate = check_flags(
        per_sample=per_sample, include_background=include_background,
        return_defined=return_defined, validate=validate)
    part = check_choice("part", part, CLDICE_PARTS)
    xp, pred, target, num_classes, ignore_index = check_label_maps(
        pred, target, num_classes=num_classes, ignore_index=ignore_index, per_sample=True)
    if pred.ndim not in (3, 4):
        raise ValueError(
            "pred and target must be label maps with a sample axis 0 and 2 or 3 spatial "
            f"axes, (N, H, W) or (N, D, H, W); got shape {tuple(pred.shape)} (add a sample "
            "axis for a single image: x[None])")
    if not include_background and num_classes < 2:
        raise ValueError(f"include_background=False needs at least 2 classes, got "
                         f"num_classes={num_classes}")
    like = result_like(pred, target)
    host_pred, host_target = to_numpy(pred), to_numpy(target)
    hxp = namespace(host_pred)          # NumPy through array-api-compat
    host_pred, host_target, _ = check_labels(hxp, host_pred, host_target,
                                             num_classes=num_classes,
                                             ignore_index=ignore_index, validate=validate)
    valid = (None if ignore_index is None
             else ~np.asarray(equal_label(hxp, host_target, ignore_index)))
    classes = list(range(0 if include_background else 1, num_classes))
    s_p_t, s_p, s_t_p, s_t = skeleton_counts(host_pred, host_target, num_classes=num_classes,
                                             classes=classes, valid=valid)
    if not per_sample:
        s_p_t, s_p, s_t_p, s_t = (np.sum(a, axis=0) for a in (s_p_t, s_p, s_t_p, s_t))
    stats = tuple(a.astype(np.float64) for a in (s_t_p, s_p_t, s_t - s_t_p, s_p))
    value, defined = average_classes(hxp, stats, _formula(part), average=average,
                                     zero_division=zero_division, count_dtype=np.int64)
    if per_sample and average != "none":
        value, defined = average_samples(hxp, value, defined)
    value = from_kernel(np, np.asarray(value, dtype=np.float64), like)
    if not return_defined:
        return value
    out_xp = namespace(value)
    defined = out_xp.astype(from_kernel(np, np.asarray(defined), like), count_dtype(out_xp))
    return value, defined

