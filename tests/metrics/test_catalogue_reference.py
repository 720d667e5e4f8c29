"""The 19 confusion-matrix metrics of the table against MONAI 1.6.1's ConfusionMatrixMetric.

``tests/reference/catalogue.{json,npz}`` hold MONAI's confusion counts
(``get_confusion_matrix``), its 17 metrics per (sample, class)
(``compute_confusion_matrix_metric``) and ``ConfusionMatrixMetric(...).aggregate()`` for
``compute_sample`` True and False, every reduction, with and without background, and with
``ignore_index=255``. Each MONAI setting maps to one regionloss call, or to a regionloss
call plus a stated rule (``SETTINGS``); ``docs/metrics_catalogue.md`` is the readable form.

The two table metrics MONAI does not name (``tversky``, ``fbeta``) are checked through
their identities with MONAI's ``f1 score`` and ``threat score``.

MONAI casts the counts to float32 (``.float()``) before every formula: values agree to
float32 rounding (5e-7 absolute; the prevalence threshold's square roots reach 2.5e-7).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import regionloss as rl
from conftest import reference_dir
from regionloss.metrics._table import METRIC_NAMES, METRICS, resolve_metric

ATOL, RTOL = 5e-7, 1e-6
C = 4


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "catalogue.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "catalogue.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}
MONAI_NAMES = META["meta"]["confusion_metric_names"]
PRED = ARRAYS["cm_pred"]

#: MONAI's metric name -> regionloss's table name (MONAI's names are aliases of the table)
MONAI_TO_REGIONLOSS = {
    "sensitivity": "recall", "specificity": "specificity", "precision": "precision",
    "negative predictive value": "npv", "miss rate": "fnr", "fall out": "fpr",
    "false discovery rate": "fdr", "false omission rate": "for",
    "prevalence threshold": "prevalence_threshold", "threat score": "iou",
    "accuracy": "accuracy", "balanced accuracy": "balanced_accuracy", "f1 score": "dice",
    "matthews correlation coefficient": "mcc", "fowlkes mallows index": "fowlkes_mallows",
    "informedness": "informedness", "markedness": "markedness",
}


def _function(name):
    """The public regionloss function of MONAI's metric ``name``."""
    return getattr(rl, METRICS[MONAI_TO_REGIONLOSS[name]].function)


def _nan_to_zero(v):
    """MONAI's reductions write 0 where every value they average is NaN."""
    return np.where(np.isnan(v), 0.0, v)


def _nanmean(v, axis):
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(v), axis=axis)
        total = np.nansum(v, axis=axis)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _per_sample_micro(fn, target, kw, average):
    return np.stack([np.asarray(fn(PRED[n:n + 1], target[n:n + 1], average=average, **kw))
                     for n in range(len(PRED))])


def _micro(name):
    """MONAI pools one-vs-rest counts over classes; for accuracy that is the class mean of
    the one-vs-rest accuracies (each over every pixel), not regionloss's micro accuracy
    (pixel accuracy): 'macro' there. Every other metric: 'micro'."""
    return "macro" if name == "accuracy" else "micro"


#: (compute_sample, reduction) -> how regionloss gives MONAI's number:
#: f(name, target, kw) with kw = num_classes, include_background, ignore_index
SETTINGS = {
    (True, "none"): lambda name, t, kw: _function(name)(
        PRED, t, average="none", per_sample=True, **kw),
    (True, "mean"): lambda name, t, kw: _nan_to_zero(np.asarray(_function(name)(
        PRED, t, average="macro", per_sample=True, **kw))),
    (True, "mean_batch"): lambda name, t, kw: _nan_to_zero(_nanmean(np.asarray(
        _function(name)(PRED, t, average="none", per_sample=True, **kw)), 0)),
    (True, "mean_channel"): lambda name, t, kw: _nan_to_zero(_nanmean(np.asarray(
        _function(name)(PRED, t, average="none", per_sample=True, **kw)), 1)),
    (False, "none"): lambda name, t, kw: _function(name)(
        PRED, t, average="none", per_sample=True, **kw),
    (False, "mean"): lambda name, t, kw: _function(name)(
        PRED, t, average=_micro(name), per_sample=False, **kw),
    (False, "mean_batch"): lambda name, t, kw: _function(name)(
        PRED, t, average="none", per_sample=False, **kw),
    (False, "mean_channel"): lambda name, t, kw: _per_sample_micro(
        _function(name), t, dict(per_sample=False, **kw), _micro(name)),
}

AGGREGATE_CASES = sorted(cid for cid in CASES if re.match(r"monai_cm_(pooled|sample)_", cid))
RAW_CASES = sorted(cid for cid in CASES if cid.startswith("monai_cm_raw_"))
MATRIX_CASES = sorted(cid for cid in CASES if cid.startswith("monai_cm_matrix_"))


def _target_and_kw(case):
    options = case["options"]
    target = ARRAYS[case["inputs"][1]]
    kw = dict(num_classes=C, include_background=options.get("include_background", True),
              ignore_index=options.get("ignore_index"))
    return target, kw


def _compare(got, want, label):
    got = np.asarray(got, dtype=np.float64)
    assert got.size == want.size, f"{label}: {got.shape} vs {want.shape}"
    got = got.reshape(want.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=label)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=label)


def test_every_monai_name_is_a_table_name_or_alias():
    for name in MONAI_NAMES:
        assert resolve_metric(name).name == MONAI_TO_REGIONLOSS[name]
    # the table has the 17 and two more: tversky and fbeta (identities below)
    assert set(METRIC_NAMES) - set(MONAI_TO_REGIONLOSS.values()) == {"tversky", "fbeta"}


@pytest.mark.parametrize("case_id", MATRIX_CASES)
def test_confusion_counts(case_id):
    target, kw = _target_and_kw(CASES[case_id])
    cm = rl.confusion_matrix(PRED, target, num_classes=C, per_sample=True,
                             ignore_index=kw["ignore_index"])
    tp, fp, fn, tn = rl.class_statistics(cm)
    monai = np.stack([tp, fp, tn, fn], axis=-1)       # MONAI's order: tp, fp, tn, fn
    if not kw["include_background"]:
        monai = monai[:, 1:]
    _compare(monai, ARRAYS[CASES[case_id]["expected"]["value"]], case_id)


@pytest.mark.parametrize("case_id", RAW_CASES)
def test_per_sample_per_class_values(case_id):
    case = CASES[case_id]
    target, kw = _target_and_kw(case)
    name = case["options"]["metric_name"]
    got = _function(name)(PRED, target, average="none", per_sample=True, **kw)
    _compare(got, ARRAYS[case["expected"]["value"]], case_id)
    # the same through score_confusion on MONAI's name (an alias)
    cm = rl.confusion_matrix(PRED, target, num_classes=C, per_sample=True)
    again = rl.score_confusion(cm, metric=name, include_background=kw["include_background"])
    _compare(again, ARRAYS[case["expected"]["value"]], case_id)


@pytest.mark.parametrize("case_id", AGGREGATE_CASES)
def test_aggregate(case_id):
    case = CASES[case_id]
    options = case["options"]
    target, kw = _target_and_kw(case)
    rule = SETTINGS[(options["compute_sample"], options["reduction"])]
    for index, name in enumerate(options["metric_name"]):
        want = ARRAYS[case["expected"]["value"][index]]
        _compare(rule(name, target, kw), want, f"{case_id} {name}")


def test_tversky_and_fbeta_through_their_identities():
    """The two table metrics MONAI lacks: Tversky(½, ½) and F1 are MONAI's f1 score,
    Tversky(1, 1) its threat score, per (sample, class) and aggregated."""
    names = list(MONAI_NAMES)
    for suffix in ("bg", "nobg"):
        for setting in ("sample_none", "pooled_mean", "pooled_mean_batch"):
            case = CASES[f"monai_cm_{setting}_{suffix}"]
            target, kw = _target_and_kw(case)
            f1 = ARRAYS[case["expected"]["value"][names.index("f1 score")]]
            threat = ARRAYS[case["expected"]["value"][names.index("threat score")]]
            per_sample = setting == "sample_none"
            average = {"sample_none": "none", "pooled_mean": "micro",
                       "pooled_mean_batch": "none"}[setting]
            common = dict(average=average, per_sample=per_sample, **kw)
            _compare(rl.tversky_score(PRED, target, alpha=0.5, beta=0.5, **common), f1,
                     f"tversky(.5,.5) {setting}")
            _compare(rl.fbeta_score(PRED, target, beta=1.0, **common), f1, f"fbeta {setting}")
            _compare(rl.tversky_score(PRED, target, alpha=1.0, beta=1.0, **common), threat,
                     f"tversky(1,1) {setting}")


def test_the_rules_matter():
    """Without the stated rules the numbers differ: MONAI's pooled accuracy is not the
    pixel accuracy, and its means write 0 where regionloss leaves NaN."""
    case = CASES["monai_cm_pooled_mean_bg"]
    target, kw = _target_and_kw(case)
    want = ARRAYS[case["expected"]["value"][MONAI_NAMES.index("accuracy")]]
    pixel = float(rl.accuracy(PRED, target, average="micro", **kw))
    assert abs(pixel - float(want[0])) > 1e-2
    case = CASES["monai_cm_sample_mean_channel_nobg"]
    target, kw = _target_and_kw(case)
    raw = _nanmean(np.asarray(rl.recall(PRED, target, average="none", per_sample=True,
                                        **kw)), 1)
    want = ARRAYS[case["expected"]["value"][MONAI_NAMES.index("sensitivity")]]
    assert np.isnan(raw).any() and not np.isnan(want).any()


def test_docs_table_names_every_monai_name_and_setting():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "metrics_catalogue.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for name in MONAI_NAMES:
        assert f"`{name}`" in text, name
    for name in METRIC_NAMES:
        assert f"`{name}`" in text and f"`{METRICS[name].function}`" in text, name
    for compute_sample, reduction in SETTINGS:
        assert f"compute_sample={compute_sample}, reduction='{reduction}'" in text


@pytest.mark.parametrize("suffix", ["bg", "nobg"])
def test_streaming_accumulator_gives_monai_aggregates(suffix):
    """The streamed counts give the same numbers: MONAI's per-class mean over samples
    (compute_sample=True, 'mean_batch') and its pooled settings."""
    names = list(MONAI_NAMES)
    by_batch = CASES[f"monai_cm_sample_mean_batch_{suffix}"]
    pooled_batch = CASES[f"monai_cm_pooled_mean_batch_{suffix}"]
    pooled_mean = CASES[f"monai_cm_pooled_mean_{suffix}"]
    target, kw = _target_and_kw(by_batch)
    for name in names:
        acc = rl.MetricAccumulator(name, num_classes=C,
                                   include_background=kw["include_background"])
        state = acc.init()
        for n in range(len(PRED)):          # one sample per batch
            state = acc.update(state, PRED[n:n + 1], target[n:n + 1])
        i = names.index(name)
        _compare(_nan_to_zero(np.asarray(acc.compute(state, average="none", per_sample=True))),
                 ARRAYS[by_batch["expected"]["value"][i]], f"stream mean_batch {name}")
        _compare(acc.compute(state, average="none"),
                 ARRAYS[pooled_batch["expected"]["value"][i]], f"stream pooled {name}")
        _compare(acc.compute(state, average=_micro(name)),
                 ARRAYS[pooled_mean["expected"]["value"][i]], f"stream pooled mean {name}")
