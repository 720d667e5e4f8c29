"""Metric reference numbers from scikit-learn, torchmetrics, MONAI and medpy, reproduced.

Every case of ``tests/reference/reference.json`` with ``kind == "metric"`` is reproduced
here with the matching regionloss options (see the README's equivalence table). Where a
library follows a convention regionloss does not have as an option, its rule is applied to
regionloss's own ``average="none"`` output (or, for torchmetrics' generalized Dice, to
regionloss's per-sample class statistics), and the test says so. Nothing here calls the
other libraries: the numbers were recorded once (see ``tests/reference/README.md``).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import regionloss as rl
from conftest import reference_dir

REF = reference_dir()
with open(os.path.join(REF, "reference.json")) as fh:
    META = json.load(fh)
DATA = np.load(os.path.join(REF, "reference.npz"))
CASES = {c["id"]: c for c in META["cases"] if c["kind"] == "metric"}

P, T, TI = DATA["seg_pred"], DATA["seg_target"], DATA["seg_target_ignore"]
P3, T3 = DATA["seg3d_pred"], DATA["seg3d_target"]
NAN = float("nan")

# float32 outputs (torchmetrics, MONAI) agree to float32 rounding; float64 ones exactly.
RTOL = {"float32": 2e-6, "float64": 1e-12}


def _per_sample(metric, pred=P, target=T, C=5, zd=NAN, **kw):
    """regionloss's per-(sample, class) values, (N, C)."""
    cm = rl.confusion_matrix(pred, target, num_classes=C, per_sample=True)
    return rl.score_confusion(cm, metric=metric, average="none", zero_division=zd, **kw)


def _reference_empty_is_nan(values, pred=P, target=T, C=5):
    """MONAI's ignore_empty=True: NaN wherever the reference is empty, even if predicted.

    The reference of class c in sample n is empty exactly where regionloss's recall is
    undefined, so the rule is applied with regionloss's own recall.
    """
    undefined = np.isnan(_per_sample("recall", pred, target, C))
    return np.where(undefined, np.nan, values)


def _pooled(fn, average, zd, *, ignore=True, **kw):
    return fn(P, TI if ignore else T, num_classes=5, ignore_index=255 if ignore else None,
              average=average, per_sample=False, zero_division=zd, **kw)


def _tm_gds(values_stats):
    """torchmetrics GeneralizedDiceScore(weight_type='square'), rule from its source.

    Weights 1 / support^2 per (sample, class); infinite weights (class absent from the
    sample's reference) are replaced as torchmetrics 1.9 does: flat position k of the
    (N, C) weights takes the per-class maximum over samples of class k // N. Score per
    sample = sum_c w (2 tp) / sum_c w (2 tp + fp + fn), then a plain mean over samples.
    """
    tp, fp, fn, _ = values_stats
    support = tp + fn
    with np.errstate(divide="ignore"):
        w = 1.0 / support**2
    n, c = w.shape
    inf = np.isinf(w)
    w = np.where(inf, 0.0, w)
    wmax = w.max(axis=0)
    flat = w.ravel().copy()
    for k in np.flatnonzero(inf.ravel()):
        flat[k] = wmax[k // n]
    w = flat.reshape(n, c)
    score = (w * 2 * tp).sum(1) / (w * (2 * tp + fp + fn)).sum(1)
    return score.mean()


def _stats_per_sample():
    cm = rl.confusion_matrix(P, T, num_classes=5, per_sample=True)
    return tuple(np.asarray(s) for s in rl.class_statistics(cm))


def _acc(metric, *, C=5, pred=P, target=T, **kw):
    state = rl.MetricAccumulator(metric, num_classes=C, **kw)
    return state, state.update(state.init(), pred, target)


def _tm_dicescore_none(include_background):
    acc, s = _acc("dice", include_background=include_background)
    return acc.compute(s, average="none", per_sample=True)


def _monai_cm(compute_sample, reduction):
    names = ["recall", "specificity", "precision", "dice", "mcc", "balanced_accuracy"]
    out = []
    for m in names:
        if reduction == "none":
            out.append(_per_sample(m))  # per (sample, class), NaN where undefined
        elif compute_sample:
            out.append(np.atleast_1d(rl.score_confusion(
                rl.confusion_matrix(P, T, num_classes=5, per_sample=True), metric=m,
                average="macro")))
        else:  # mean of tp/fp/tn/fn over samples and classes first: the pooled micro value
            out.append(np.atleast_1d(rl.score_confusion(
                rl.confusion_matrix(P, T, num_classes=5), metric=m, average="micro")))
    return out


OURS = {
    # ---- scikit-learn: pixels with reference 255 dropped, everything pooled.
    "sklearn_cm_ignore": lambda: rl.confusion_matrix(P, TI, num_classes=5, ignore_index=255),
    "sklearn_cm": lambda: rl.confusion_matrix(P, T, num_classes=5),
    "sklearn_jaccard_none": lambda: _pooled(rl.iou_score, "none", 0.0),
    "sklearn_f1_none": lambda: _pooled(rl.dice_score, "none", NAN),
    "sklearn_jaccard_macro": lambda: _pooled(rl.iou_score, "macro", 0.0),
    "sklearn_f1_macro": lambda: _pooled(rl.dice_score, "macro", NAN),
    "sklearn_jaccard_micro": lambda: _pooled(rl.iou_score, "micro", 0.0),
    "sklearn_f1_micro": lambda: _pooled(rl.dice_score, "micro", NAN),
    "sklearn_jaccard_weighted": lambda: _pooled(rl.iou_score, "weighted", 0.0),
    "sklearn_f1_weighted": lambda: _pooled(rl.dice_score, "weighted", NAN),
    "sklearn_precision_none": lambda: _pooled(rl.precision, "none", NAN),
    "sklearn_recall_none": lambda: _pooled(rl.recall, "none", NAN),
    "sklearn_jaccard_none_noignore": lambda: _pooled(rl.iou_score, "none", 0.0, ignore=False),
    "sklearn_jaccard_3d_none": lambda: rl.iou_score(P3, T3, num_classes=3, average="none",
                                                    zero_division=0.0),
    # ---- torchmetrics classification: pooled, ignore_index=255, zero_division 0 per class;
    # its macro drops classes with tp + fp + fn == 0 = our NaN-aware macro with nan.
    "tm_jaccard_none": lambda: _pooled(rl.iou_score, "none", 0.0),
    "tm_f1_none": lambda: _pooled(rl.dice_score, "none", 0.0),
    "tm_jaccard_macro": lambda: _pooled(rl.iou_score, "macro", NAN),
    "tm_f1_macro": lambda: _pooled(rl.dice_score, "macro", NAN),
    "tm_jaccard_micro": lambda: _pooled(rl.iou_score, "micro", NAN),
    "tm_f1_micro": lambda: _pooled(rl.dice_score, "micro", NAN),
    "tm_jaccard_weighted": lambda: _pooled(rl.iou_score, "weighted", NAN),
    "tm_f1_weighted": lambda: _pooled(rl.dice_score, "weighted", NAN),
    # ---- torchmetrics segmentation (samplewise): per-sample values, NaN-aware over samples.
    "tm_dicescore_none_bg1": lambda: _tm_dicescore_none(True),
    "tm_dicescore_none_bg0": lambda: _tm_dicescore_none(False),
    "tm_dicescore_macro_bg1": lambda: rl.dice_score(P, T, num_classes=5, per_sample=True),
    "tm_dicescore_macro_bg0": lambda: rl.dice_score(P, T, num_classes=5, per_sample=True,
                                                    include_background=False),
    "tm_dicescore_micro_bg1": lambda: rl.dice_score(P, T, num_classes=5, per_sample=True,
                                                    average="micro"),
    "tm_dicescore_micro_bg0": lambda: rl.dice_score(P, T, num_classes=5, per_sample=True,
                                                    average="micro",
                                                    include_background=False),
    "tm_dicescore_macro_global": lambda: rl.dice_score(P, T, num_classes=5),
    "tm_meaniou_perclass": lambda: (lambda a, s: a.compute(s, average="none",
                                                           per_sample=True))(*_acc("iou")),
    # mean over all (sample, class) pairs with a defined IoU: NaN-mean of our (N, C) output.
    "tm_meaniou": lambda: np.nanmean(_per_sample("iou")),
    # generalized Dice (square weights): the torchmetrics rule on our per-sample counts.
    "tm_gds": lambda: _tm_gds(_stats_per_sample()),
    # per_class=True: 0 (not NaN) for an empty pair, plain mean over samples.
    "tm_gds_perclass": lambda: _per_sample("dice", zd=0.0).mean(axis=0),
    "tm_dicescore_3d_none": lambda: (lambda a, s: a.compute(s, average="none",
                                                            per_sample=True))(
        *_acc("dice", C=3, pred=P3, target=T3)),
    # ---- MONAI: ignore_empty=False is our zero_division=1.0 exactly; ignore_empty=True is
    # "NaN wherever the reference is empty", applied to our output.
    "monai_dicemetric_bg1_none_ie1": lambda: _reference_empty_is_nan(_per_sample("dice")),
    "monai_dicemetric_bg1_none_ie0": lambda: rl.dice_score(
        P, T, num_classes=5, average="none", per_sample=True, zero_division=1.0),
    "monai_dicemetric_bg0_none_ie1": lambda: _reference_empty_is_nan(_per_sample("dice"))[:, 1:],
    "monai_dicemetric_bg0_none_ie0": lambda: rl.dice_score(
        P, T, num_classes=5, average="none", per_sample=True, zero_division=1.0,
        include_background=False),
    "monai_dicemetric_bg1_mean_ie1": lambda: np.atleast_1d(np.nanmean(np.nanmean(
        _reference_empty_is_nan(_per_sample("dice")), axis=1))),
    "monai_dicemetric_bg1_mean_ie0": lambda: np.atleast_1d(rl.dice_score(
        P, T, num_classes=5, average="macro", per_sample=True, zero_division=1.0)),
    "monai_dicemetric_bg1_mean_batch_ie1": lambda: np.nanmean(
        _reference_empty_is_nan(_per_sample("dice")), axis=0),
    "monai_dicemetric_bg0_mean_batch_ie0": lambda: (lambda a, s: a.compute(
        s, average="none", per_sample=True))(*_acc("dice", include_background=False,
                                                   zero_division=1.0)),
    "monai_meaniou_none": lambda: _reference_empty_is_nan(_per_sample("iou")),
    "monai_cm_cs0_none": lambda: _monai_cm(False, "none"),
    "monai_cm_cs0_mean": lambda: _monai_cm(False, "mean"),
    "monai_cm_cs1_none": lambda: _monai_cm(True, "none"),
    "monai_cm_cs1_mean": lambda: _monai_cm(True, "mean"),
    "monai_dicemetric_3d_none": lambda: _reference_empty_is_nan(
        _per_sample("dice", P3, T3, 3), P3, T3, 3),
    # ---- medpy binary metrics per (sample, class); empty cases as recorded under NumPy 2.
    "medpy_dc": lambda: _per_sample("dice"),            # both empty: NaN
    "medpy_jc": lambda: _per_sample("iou", zd=1.0),      # both empty: 1.0
    "medpy_precision": lambda: _per_sample("precision"),  # prediction empty: NaN
    "medpy_recall": lambda: _per_sample("recall"),        # reference empty: NaN
    "medpy_specificity": lambda: _per_sample("specificity"),
}


def test_every_metric_case_is_covered():
    assert sorted(CASES) == sorted(OURS), (
        "reference metric cases and reproductions differ: "
        f"missing {sorted(set(CASES) - set(OURS))}, stale {sorted(set(OURS) - set(CASES))}"
    )


def _expected(case):
    keys = case["expected"]["value"]
    if isinstance(keys, list):
        return [DATA[k] for k in keys]
    return DATA[keys]


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_reference_case(case_id):
    case = CASES[case_id]
    assert "error" not in case, case.get("error")
    expected = _expected(case)
    ours = OURS[case_id]()
    is_f32 = "float32" in case["expected"]["structure"]
    rtol = RTOL["float32" if is_f32 else "float64"]
    if not isinstance(expected, list):
        expected, ours = [expected], [ours]
    assert len(ours) == len(expected)
    for want, got in zip(expected, ours):
        got = np.asarray(got)
        assert got.shape == want.shape, (case_id, got.shape, want.shape)
        if np.issubdtype(want.dtype, np.integer):
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True,
                                       err_msg=case_id)
