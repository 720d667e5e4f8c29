"""Tests of regionloss.scoring.report: the statistics of a report, its short views, the
worst cases and the missing / empty counts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import regionloss
from regionloss import scoring
from regionloss.scoring import Case, ScoreReport, score

from ._data import C, make_dataset, write_mask


def small_report(per_case, metric="hd", confusion=None, cases=None, **kw):
    per_case = np.asarray(per_case, dtype=np.float64)
    n, k = per_case.shape
    return ScoreReport(
        cases=cases or [Case(str(i), f"p/{i}.npy", f"r/{i}.npy") for i in range(n)],
        metrics=(metric,), class_ids=tuple(range(k)), class_names=tuple(map(str, range(k))),
        confusion=np.zeros((n, k, k), np.int64) if confusion is None else confusion,
        per_case={metric: per_case}, pooled={metric: np.full(k, np.nan)}, **kw)


def test_mean_std_count_with_nan_and_inf():
    """Hand-computed mean / sample std (ddof=1) / count, NaN left out, inf propagating."""
    rep = small_report([[1.0, np.nan, 2.0], [3.0, np.nan, np.inf], [5.0, 4.0, 1.0]])
    np.testing.assert_allclose(rep.mean["hd"], [3.0, 4.0, np.inf])
    assert rep.std["hd"][0] == pytest.approx(2.0)
    assert np.isnan(rep.std["hd"][1])       # one value: no sample std
    assert np.isnan(rep.std["hd"][2])       # inf - inf
    assert rep.count["hd"].tolist() == [3, 1, 3]
    assert rep.macro["hd"]["mean"] == np.inf
    assert np.isnan(rep.macro["hd"]["pooled"])


def test_worst_cases():
    values = [[0.9, 0.2, np.nan], [0.5, 0.7, np.nan], [0.5, np.nan, np.nan], [1.0, 0.1, 0.3]]
    rep = small_report(values, metric="dice")
    # lowest first, ties in case order, undefined left out
    assert rep.worst_cases("dice", 2) == [[(1, 0.5), (2, 0.5)], [(3, 0.1), (0, 0.2)],
                                          [(3, 0.3)]]
    # a distance: highest first, inf the worst of all
    rep = small_report([[1.0], [np.inf], [7.0], [np.nan]], metric="hd95")
    assert rep.worst_cases("hd95", 5) == [[(1, np.inf), (2, 7.0), (0, 1.0)]]
    # a defined mask given by the run wins over the values (zero_division=1 here)
    rep = small_report([[1.0], [0.4]], metric="dice",
                       defined={"dice": np.array([[False], [True]])})
    assert rep.worst_cases("dice") == [[(1, 0.4)]]


def test_case_counts(tmp_path):
    # a: all background in both; b: class 1 in both; c: class 2 predicted, not in reference
    write_mask(tmp_path / "p" / "a.npy", np.zeros((2, 2), np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.zeros((2, 2), np.uint8))
    write_mask(tmp_path / "p" / "b.npy", np.array([[0, 1], [1, 1]], np.uint8))
    write_mask(tmp_path / "r" / "b.npy", np.array([[0, 1], [1, 0]], np.uint8))
    write_mask(tmp_path / "p" / "c.npy", np.array([[2, 0], [0, 0]], np.uint8))
    write_mask(tmp_path / "r" / "c.npy", np.array([[0, 0], [0, 0]], np.uint8))
    write_mask(tmp_path / "r" / "d.npy", np.array([[0, 1], [0, 0]], np.uint8))
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, missing="empty",
                class_names=["bg", "one", "two"])
    counts = rep.case_counts()
    assert counts["cases"] == 4 and counts["missing_predictions"] == 1
    assert counts["empty_references"] == 2          # a and c
    assert counts["empty_predictions"] == 2         # a and d (missing: all background)
    assert counts["classes"] == {
        "bg": {"in_reference": 4, "in_prediction": 4, "in_neither": 0},
        "one": {"in_reference": 2, "in_prediction": 1, "in_neither": 2},
        "two": {"in_reference": 0, "in_prediction": 1, "in_neither": 3}}
    # "in neither" is where the region metrics of that class are undefined
    assert (np.isnan(rep.per_case["dice"]).sum(axis=0) == [0, 2, 3]).all()


def test_print_and_repr_are_short(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=60, shape=(6, 5))
    rep = score(pred_dir, ref_dir, num_classes=C, metrics="dice,iou,hd95",
                class_names=["background", "liver", "kidney", "tumour"])
    text = str(rep)
    lines = text.splitlines()
    assert lines[0] == "ScoreReport: 60 cases, 4 classes (background, liver, kidney, tumour)"
    assert lines[1].split() == ["dice", "macro", "mean",
                                f"{rep.macro['dice']['mean']:.4f}", "pooled",
                                f"{rep.macro['dice']['pooled']:.4f}"]
    assert lines[3].split()[-1] == "-"              # boundary metrics do not pool
    assert len(lines) <= 6 and len(text) < 500
    short = repr(rep)
    assert short.startswith("<ScoreReport: 60 cases, 4 classes; macro mean dice ")
    assert "\n" not in short and len(short) < 200
    assert "array(" not in short and "array(" not in text


def test_print_names_missing_and_few_classes(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=3, shape=(6, 5))
    import os

    os.remove(os.path.join(pred_dir, "case0.npy"))
    rep = score(pred_dir, ref_dir, num_classes=C, include_background=False, missing="empty")
    assert str(rep).splitlines()[0] == (
        "ScoreReport: 3 cases, 4 classes (1, 2, 3 reported), 1 missing prediction(s) "
        "scored as empty")


def test_table_header_counts_classes_and_reported_ones(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=2)
    rep = score(pred_dir, ref_dir, num_classes=C, include_background=False)
    assert rep.table().splitlines()[0] == "2 cases, 4 classes, 3 reported"
    rep = score(pred_dir, ref_dir, num_classes=C)
    assert rep.table().splitlines()[0] == "2 cases, 4 classes"


def test_public_names():
    assert regionloss.score is score
    assert regionloss.ScoreReport is scoring.ScoreReport
    # one list of names each, owned by the modules that compute them
    assert scoring.REGION_METRICS is regionloss.metrics.METRIC_NAMES
    assert scoring.BOUNDARY_METRICS == (tuple(regionloss.metrics.surface.SURFACE_METRICS)
                                        + ("boundary_iou", "cldice"))
    # no second, different object under regionloss.SURFACE_METRICS's name
    assert not hasattr(scoring, "SURFACE_METRICS")
    assert "SURFACE_METRICS" not in scoring.__all__
    for name in scoring.__all__:
        assert hasattr(scoring, name)


def test_import_stays_light():
    code = ("import sys, regionloss; heavy = [m for m in ('jax', 'cupy', 'torch', 'scipy', "
            "'dask', 'distributed', 'PIL', 'nibabel', 'tifffile', 'matplotlib') "
            "if m in sys.modules]; print(heavy); "
            "assert regionloss.score is regionloss.scoring.score")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
