"""Tests of regionloss.scoring.run (``regionloss.score``): the numbers of a run, checked
three independent ways: hand-computed counts on tiny masks, medpy's ``binary.dc`` /
``binary.jc`` per class (a reference library), and the library's own ``confusion_matrix`` +
``score_confusion`` called directly."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from regionloss.metrics import confusion_matrix, score_confusion
from regionloss.scoring import ScoringError, score

from ._data import C, make_dataset, write_mask


def direct(pairs, metric, **kw):
    """Per-case (N, C) values from the metric functions called directly."""
    return np.stack([np.asarray(score_confusion(
        confusion_matrix(p, t, num_classes=C, ignore_index=kw.get("ignore_index")),
        metric=metric, average="none", **kw.get("options", {}))) for p, t in pairs])


def test_hand_computed_two_cases(tmp_path):
    # case a: reference [0 0 1 1], prediction [0 1 1 1]: class 1 tp=2 fp=1 fn=0
    # case b: reference [1 1 1 1], prediction [1 1 0 0]: class 1 tp=2 fp=0 fn=2
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 0, 1, 1]], np.uint8))
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1, 1, 1]], np.uint8))
    write_mask(tmp_path / "r" / "b.npy", np.array([[1, 1, 1, 1]], np.uint8))
    write_mask(tmp_path / "p" / "b.npy", np.array([[1, 1, 0, 0]], np.uint8))
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=2)
    d1 = np.array([4 / 5, 4 / 6])                      # per case, class 1
    np.testing.assert_allclose(rep.per_case["dice"][:, 1], d1)
    np.testing.assert_allclose(rep.per_case["iou"][:, 1], [2 / 3, 2 / 4])
    np.testing.assert_allclose(rep.mean["dice"][1], d1.mean())
    np.testing.assert_allclose(rep.std["dice"][1], np.std(d1, ddof=1))
    # pooled: tp=4, fp=1, fn=2
    np.testing.assert_allclose(rep.pooled["dice"][1], 8 / 11)
    np.testing.assert_allclose(rep.pooled["iou"][1], 4 / 7)
    # class 0: case a tp=1 fp=0 fn=1 -> 2/3; case b: absent from the reference, predicted
    # twice -> 0
    np.testing.assert_allclose(rep.per_case["dice"][:, 0], [2 / 3, 0.0])
    np.testing.assert_allclose(rep.macro["dice"]["mean"],
                               np.mean([np.mean([2 / 3, 0.0]), d1.mean()]))
    assert rep.confusion.dtype == np.int64
    np.testing.assert_array_equal(rep.confusion.sum(0), [[1, 1], [2, 4]])


def test_numbers_match_medpy_and_direct_calls(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=4)
    rep = score(pred_dir, ref_dir, num_classes=C,
                metrics=["dice", "iou", "precision", "recall", "mcc"])
    for metric in ("dice", "iou", "precision", "recall", "mcc"):
        np.testing.assert_allclose(rep.per_case[metric], direct(pairs, metric), rtol=0, atol=0)
    pooled = sum(confusion_matrix(p, t, num_classes=C) for p, t in pairs)
    np.testing.assert_array_equal(
        rep.pooled["dice"], np.asarray(score_confusion(pooled, metric="dice")))
    medpy_binary = pytest.importorskip("medpy.metric.binary")
    for i, (p, t) in enumerate(pairs):
        for c in range(C):
            assert rep.per_case["dice"][i, c] == pytest.approx(medpy_binary.dc(p == c, t == c),
                                                               abs=1e-12)
            assert rep.per_case["iou"][i, c] == pytest.approx(medpy_binary.jc(p == c, t == c),
                                                              abs=1e-12)


def test_every_region_metric_and_aliases(tmp_path):
    from regionloss.scoring import REGION_METRICS

    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    rep = score(pred_dir, ref_dir, num_classes=C, metrics=list(REGION_METRICS))
    assert rep.metrics == REGION_METRICS
    for metric in REGION_METRICS:
        np.testing.assert_array_equal(rep.per_case[metric], direct(pairs, metric))
    by_alias = score(pred_dir, ref_dir, num_classes=C, metrics="jaccard,f1,sensitivity")
    assert by_alias.metrics == ("iou", "dice", "recall")
    np.testing.assert_array_equal(by_alias.per_case["iou"], rep.per_case["iou"])


def test_missing_empty_scores_an_all_background_prediction(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    os.remove(os.path.join(pred_dir, "case1.npy"))
    with pytest.raises(ScoringError, match="case1"):
        score(pred_dir, ref_dir, num_classes=C)
    rep = score(pred_dir, ref_dir, num_classes=C, missing="empty")
    assert [c.prediction is None for c in rep.cases] == [False, True, False]
    empty = np.zeros_like(pairs[1][1])
    np.testing.assert_array_equal(rep.confusion[1],
                                  confusion_matrix(empty, pairs[1][1], num_classes=C))
    assert np.all(rep.per_case["dice"][1, 1:] == 0.0)  # the worst case, not skipped
    assert "missing predictions scored as empty" in rep.table()


def test_no_background_class_names_and_options(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    rep = score(pred_dir, ref_dir, num_classes=C, include_background=False,
                class_names=["bg", "a", "b", "c"], metrics="dice,tversky,fbeta",
                metric_options={"tversky": {"alpha": 0.2, "beta": 0.8}, "fbeta": {"beta": 2.0}})
    assert rep.class_ids == (1, 2, 3) and rep.class_names == ("a", "b", "c")
    np.testing.assert_array_equal(rep.per_case["dice"], direct(pairs, "dice")[:, 1:])
    np.testing.assert_array_equal(
        rep.per_case["tversky"],
        direct(pairs, "tversky", options={"alpha": 0.2, "beta": 0.8})[:, 1:])
    np.testing.assert_array_equal(
        rep.per_case["fbeta"], direct(pairs, "fbeta", options={"beta": 2.0})[:, 1:])
    assert [r["class"] for r in rep.summary_rows()[:4]] == ["a", "b", "c", "macro mean"]
    assert rep.options["metric_options"] == {"tversky": {"alpha": 0.2, "beta": 0.8},
                                             "fbeta": {"beta": 2.0}}
    with pytest.raises(ScoringError, match="class_names: expected 4 names"):
        score(pred_dir, ref_dir, num_classes=C, class_names=["x"])


def test_zero_division_policy(tmp_path):
    # class 2 absent from prediction and reference of the only case
    write_mask(tmp_path / "p.npy", np.array([[0, 1, 1]], np.uint8))
    write_mask(tmp_path / "t.npy", np.array([[0, 1, 0]], np.uint8))
    nan_rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=3)
    assert math.isnan(nan_rep.per_case["dice"][0, 2]) and nan_rep.count["dice"][2] == 0
    one_rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=3,
                    zero_division=1.0)
    # the value enters the mean, but "cases" counts the defined values only (docs/cli.md)
    assert one_rep.per_case["dice"][0, 2] == 1.0 and one_rep.count["dice"][2] == 0
    assert one_rep.mean["dice"][2] == 1.0
    assert one_rep.summary_rows()[2]["cases"] == 0


def test_cases_count_defined_values_whatever_zero_division(tmp_path):
    # class 2: absent from both in case a (undefined), present in case b
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1, 1]], np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 1, 0]], np.uint8))
    write_mask(tmp_path / "p" / "b.npy", np.array([[2, 2, 1]], np.uint8))
    write_mask(tmp_path / "r" / "b.npy", np.array([[2, 0, 1]], np.uint8))
    for zd, mean in ((float("nan"), 2 / 3), (0.0, 1 / 3), (1.0, (1 + 2 / 3) / 2)):
        rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3,
                    metrics="dice,precision", zero_division=zd)
        assert rep.count["dice"].tolist() == [2, 2, 1]
        assert rep.mean["dice"][2] == pytest.approx(mean)
        # precision is undefined where the class is never predicted (class 0 in case b)
        assert rep.count["precision"].tolist() == [1, 2, 1]
        data = json.loads(rep.to_json())
        assert data["summary"]["dice"]["classes"]["2"]["cases"] == 1
