"""Conventions of peer libraries that differ from regionloss's, with their exact numbers.

torchmetrics 1.9.0 ``segmentation.MeanIoU(num_classes=3, per_class=True,
input_format="index")`` on ``preds = target = [[0, 1], [1, 0]]`` returns ``[1., 1., -1.]``:
a class absent from every sample (prediction and reference) is reported as -1. regionloss
gives ``zero_division`` there (NaN by default): the rule ``where(isnan(v), -1, v)`` maps one
onto the other.
"""

from __future__ import annotations

import numpy as np

import regionloss as rl

TORCHMETRICS_MEAN_IOU_PER_CLASS = [1.0, 1.0, -1.0]


def test_torchmetrics_mean_iou_per_class_reports_minus_one_for_absent_classes():
    pred = target = np.array([[0, 1], [1, 0]])
    acc = rl.MetricAccumulator("iou", num_classes=3)
    state = acc.update(acc.init(), pred, target)
    ours = np.asarray(acc.compute(state, average="none", per_sample=True))
    np.testing.assert_array_equal(np.isnan(ours), [False, False, True])
    np.testing.assert_array_equal(np.where(np.isnan(ours), -1.0, ours),
                                  TORCHMETRICS_MEAN_IOU_PER_CLASS)
    # the same with the per-sample function, averaged over samples NaN-aware
    per = rl.iou_score(pred, target, num_classes=3, average="none", per_sample=True)
    np.testing.assert_array_equal(np.isnan(per).all(0), [False, False, True])
