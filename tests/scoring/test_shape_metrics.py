"""Boundary IoU and clDice in a scoring run: per case equal to the library functions, the
background column, the report tables, the command line, and missing dependencies."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import regionloss as rl
from regionloss import cli
from regionloss.scoring import score
from regionloss.scoring.errors import MissingDependencyError
from regionloss.scoring.options import BOUNDARY_METRICS, SHAPE_METRICS, SURFACE_METRIC_NAMES

from ._data import write_mask

C = 3


def _vessel_pairs(tmp_path, n=3, shape=(20, 22)):
    rng = np.random.default_rng(9)
    pairs = []
    for i in range(n):
        t = np.zeros(shape, np.uint8)
        t[rng.integers(2, 18), 2:20] = 1                      # a thin vessel
        t[3:9, rng.integers(3, 12):rng.integers(14, 20)] = 2  # a bar
        p = np.where(rng.random(shape) < 0.95, t, 0).astype(np.uint8)
        if i == 2:
            p[p == 2] = 0                                     # class 2 missed in case 2
        write_mask(tmp_path / "p" / f"c{i}.npy", p)
        write_mask(tmp_path / "r" / f"c{i}.npy", t)
        pairs.append((p, t))
    return str(tmp_path / "p"), str(tmp_path / "r"), pairs


def test_names():
    assert SHAPE_METRICS == ("boundary_iou", "cldice")
    assert BOUNDARY_METRICS == SURFACE_METRIC_NAMES + SHAPE_METRICS


def test_boundary_iou_per_case_equals_the_function(tmp_path):
    pred, ref, pairs = _vessel_pairs(tmp_path)
    rep = score(pred, ref, num_classes=C, metrics="dice,boundary_iou")
    want = np.concatenate([np.asarray(rl.boundary_iou(p[None], t[None], num_classes=C,
                                                      average="none", per_sample=True))
                           for p, t in pairs])
    np.testing.assert_array_equal(rep.per_case["boundary_iou"], want)
    assert np.isnan(rep.pooled["boundary_iou"]).all()       # no pooled value, like hd
    rows = {(r["metric"], r["class"]): r for r in rep.summary_rows()}
    assert rows[("boundary_iou", "2")]["mean"] == pytest.approx(np.nanmean(want[:, 2]))
    without = score(pred, ref, num_classes=C, metrics="boundary_iou", include_background=False)
    np.testing.assert_array_equal(without.per_case["boundary_iou"], want[:, 1:])


def test_boundary_iou_needs_no_scipy(tmp_path, monkeypatch):
    pred, ref, _ = _vessel_pairs(tmp_path, n=1)
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    rep = score(pred, ref, num_classes=C, metrics="boundary_iou")
    assert rep.per_case["boundary_iou"].shape == (1, C)


def test_cldice_per_case_equals_the_function(tmp_path):
    pytest.importorskip("skimage")
    pred, ref, pairs = _vessel_pairs(tmp_path)
    rep = score(pred, ref, num_classes=C, metrics=["cldice", "boundary_iou"],
                include_background=False, zero_division=1.0)
    want = np.concatenate([np.asarray(rl.cldice_score(p[None], t[None], num_classes=C,
                                                      average="none", per_sample=True,
                                                      include_background=False,
                                                      zero_division=1.0))
                           for p, t in pairs])
    np.testing.assert_array_equal(rep.per_case["cldice"], want)
    assert rep.per_case["cldice"][2, 1] == 0.0               # the missed class scores 0


def test_cldice_without_scikit_image_says_what_to_install(tmp_path, monkeypatch):
    pred, ref, _ = _vessel_pairs(tmp_path, n=1)
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.morphology", None)
    with pytest.raises(MissingDependencyError, match=r"cldice.*regionloss\[topology\]"):
        score(pred, ref, num_classes=C, metrics="dice,cldice")


def test_command_line_json_report(tmp_path, capsys):
    pytest.importorskip("skimage")
    pred, ref, _ = _vessel_pairs(tmp_path)
    out = tmp_path / "report.json"
    code = cli.main(["score", pred, ref, "-n", str(C), "-m", "boundary_iou,cldice",
                     "-o", str(out), "-q"])
    capsys.readouterr()
    assert code == 0
    report = json.loads(out.read_text())
    assert report["metrics"] == ["boundary_iou", "cldice"]
    assert report["summary"]["cldice"]["macro_pooled"] is None
    assert 0.0 <= report["summary"]["boundary_iou"]["macro_mean"] <= 1.0
