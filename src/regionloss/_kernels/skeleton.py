"""Morphological skeletons of binary masks, on the host, through scikit-image.

The hard clDice score (:func:`regionloss.cldice_score`) compares the skeletons of
binary masks: ``skimage.morphology.skeletonize`` (Zhang and Suen's thinning in 2-D,
Lee, Kashyap and Chu's in 3-D, scikit-image's defaults). Thinning is a sequential,
data-dependent algorithm with no array-API (or GPU) counterpart, so the masks are copied
to the host (:func:`regionloss._kernels.arrays.to_numpy`) and thinned there, one image at
a time, each cropped to the bounding box of its mask (plus one empty pixel where the
image allows: thinning looks at 3 x 3 (x 3) neighbourhoods, and outside the image counts
as empty, so the crop changes nothing).

scikit-image is imported lazily, inside :func:`skeletonize`: ``import regionloss`` does
not need it (``pip install 'regionloss[topology]'``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["skeletonize", "require_skimage"]

_MISSING = ("cldice_score needs scikit-image for its skeletons "
            "(skimage.morphology.skeletonize), which is not installed: "
            "pip install 'regionloss[topology]'")


def require_skimage():
    """``skimage.morphology.skeletonize``; ``ImportError`` with the install line if absent."""
    try:
        from skimage.morphology import skeletonize as thin
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return thin


def skeletonize(masks: np.ndarray) -> np.ndarray:
    """Skeletons of a stack of binary masks.

    Parameters
    ----------
    masks : (M, *spatial) bool NumPy array
        2 or 3 spatial axes.

    Returns
    -------
    (M, *spatial) bool NumPy array
        ``skimage.morphology.skeletonize(masks[i])`` for every ``i`` (an empty mask has an
        empty skeleton).
    """
    thin = require_skimage()
    masks = np.asarray(masks, dtype=bool)
    out = np.zeros(masks.shape, dtype=bool)
    for i, image in enumerate(masks):
        where = np.nonzero(image)
        if where[0].size == 0:
            continue
        box = tuple(slice(max(int(w.min()) - 1, 0), int(w.max()) + 2) for w in where)
        out[(i,) + box] = thin(image[box])
    return out
