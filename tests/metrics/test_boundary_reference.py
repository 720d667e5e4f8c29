"""boundary_iou and cldice_score against the reference fixtures (``tests/reference/boundary.*``).

* Boundary IoU: the authors' definition (``mask_to_boundary`` with cv2 on the zero-padded
  mask, ``d`` iterations of a 3 x 3 erosion, and their IoU of the bands), per (sample,
  class), for dilation ratios 0.02, 0.05 and 0.1 (d = 1, 2, 5 on 32 x 32), and the bands
  themselves: equal, NaN where both masks are empty (both regionloss's ``zero_division``
  default and NumPy's 0/0).
* clDice: the hard score with ``skimage.morphology.skeletonize`` (scikit-image 0.26), its
  two parts and the skeletons. Equal wherever the reference is a number; where the
  reference is NaN because ONE mask is empty (NumPy's 0/0 in a part) or both parts are 0,
  regionloss follows its empty-set policy (0: a missed or spurious structure), and NaN
  only where the class is absent from both maps.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import reference_dir

import regionloss as rl
from regionloss.metrics.boundary_overlap import band_width, boundary_bands


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "boundary.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "boundary.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}


def _expected(case_id, index=None):
    value = CASES[case_id]["expected"]["value"]
    return ARRAYS[value if index is None else value[index]]


@pytest.mark.parametrize("case_id", ["boundary_iou_r002_2d", "boundary_iou_r005_2d",
                                     "boundary_iou_r01_2d"])
def test_boundary_iou_equals_the_authors_definition(case_id):
    case = CASES[case_id]
    options = case["options"]
    pred, target = (ARRAYS[k] for k in case["inputs"])
    assert band_width(pred.shape[1:], options["dilation_ratio"]) == options["dilation_pixels"]
    got = rl.boundary_iou(pred, target, num_classes=options["num_classes"],
                          dilation_ratio=options["dilation_ratio"], average="none",
                          per_sample=True)
    want = _expected(case_id)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-15, atol=0, equal_nan=True)
    # both masks empty: NaN in both (classes 2 and 3 of the all-background sample 2)
    assert [list(p) for p in np.argwhere(np.isnan(want))] == case["expected"]["nonfinite"]["nan"]


@pytest.mark.parametrize("case_id", ["boundary_band_pred_r002_2d", "boundary_band_target_r002_2d",
                                     "boundary_band_pred_r005_2d", "boundary_band_target_r005_2d"])
def test_bands_equal_the_authors_mask_to_boundary(case_id):
    case = CASES[case_id]
    labels = ARRAYS[case["inputs"][0]]
    width = case["options"]["dilation_pixels"]
    got = np.stack([np.asarray(boundary_bands(labels == c, width=width))
                    for c in range(case["options"]["num_classes"])], axis=1)
    np.testing.assert_array_equal(got, _expected(case_id).astype(bool))


@pytest.mark.parametrize("case_id", ["cldice_score_2d", "cldice_score_3d"])
def test_cldice_score_equals_skimage_skeleton_counts(case_id):
    pytest.importorskip("skimage")
    case = CASES[case_id]
    pred, target = (ARRAYS[k] for k in case["inputs"])
    num_classes = case["options"]["num_classes"]
    present_p = np.stack([[np.any(pred[n] == c) for c in range(num_classes)]
                          for n in range(len(pred))])
    present_t = np.stack([[np.any(target[n] == c) for c in range(num_classes)]
                          for n in range(len(pred))])
    for index, part in enumerate(("tprec", "tsens", "cldice")):
        want = _expected(case_id, index)
        got = np.asarray(rl.cldice_score(pred, target, num_classes=num_classes, part=part,
                                         average="none", per_sample=True))
        number = ~np.isnan(want)
        np.testing.assert_allclose(got[number], want[number], rtol=1e-15, atol=0)
        # where the reference has NaN, regionloss's policy: NaN only for a part whose own
        # mask is empty (tprec: prediction, tsens: reference), and for clDice only where
        # the class is in neither map; otherwise 0
        undefined = {"tprec": ~present_p, "tsens": ~present_t,
                     "cldice": ~present_p & ~present_t}[part]
        assert (np.isnan(got) == undefined).all(), part
        assert (got[np.isnan(want) & ~undefined] == 0).all(), part
    # the fixtures exercise the departure: a class in one map only (2-D sample 1 class 3,
    # 3-D sample 1 class 2: predicted, absent from the reference) is NaN there, 0 here
    cl = _expected(case_id, 2)
    assert (np.isnan(cl) & (present_p != present_t)).any()


@pytest.mark.parametrize("case_id, labels_key", [
    ("skeleton_pred_2d", "b2d_pred"), ("skeleton_target_2d", "b2d_target"),
    ("skeleton_pred_3d", "b3d_pred"), ("skeleton_target_3d", "b3d_target")])
def test_skeletons_are_scikit_image_s(case_id, labels_key):
    pytest.importorskip("skimage")
    from regionloss._kernels.skeleton import skeletonize

    labels = ARRAYS[labels_key]
    num_classes = CASES[case_id]["options"]["num_classes"]
    masks = np.stack([labels == c for c in range(num_classes)], axis=1)
    flat = masks.reshape((-1,) + labels.shape[1:])
    got = skeletonize(flat).reshape(masks.shape)
    np.testing.assert_array_equal(got, _expected(case_id).astype(bool))
