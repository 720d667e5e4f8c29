"""Tests of regionloss.scoring.tables: the terminal table, CSV, Markdown and JSON reports."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np
import pytest

from regionloss.scoring import score
from regionloss.scoring.tables import fmt_number

from ._data import C, make_dataset, write_mask


def test_fmt_number():
    assert fmt_number(0.123456) == "0.1235" and fmt_number(2, digits=1) == "2.0"
    assert [fmt_number(v) for v in (np.nan, np.inf, -np.inf)] == ["nan", "inf", "-inf"]


def test_report_formats(tmp_path):
    pred_dir, ref_dir, pairs = make_dataset(tmp_path, n=3)
    os.remove(os.path.join(ref_dir, "case0.npy"))
    os.remove(os.path.join(pred_dir, "case0.npy"))
    write_mask(os.path.join(ref_dir, "case0.npy"), np.zeros((24, 20), np.uint8))
    write_mask(os.path.join(pred_dir, "case0.npy"), np.zeros((24, 20), np.uint8))
    rep = score(pred_dir, ref_dir, num_classes=C, class_names=["bg", "a", "b", "c"])
    data = json.loads(rep.to_json())  # strict JSON: NaN becomes the string "nan"
    assert data["num_cases"] == 3 and data["metrics"] == ["dice", "iou"]
    assert data["cases"][0]["dice"][1] == "nan"  # class absent from both
    assert data["options"]["zero_division"] == "nan"
    assert data["summary"]["dice"]["classes"]["a"]["cases"] == 2
    assert data["summary"]["dice"]["classes"]["a"]["mean"] == pytest.approx(rep.mean["dice"][1])
    md = rep.to_markdown()
    assert md.splitlines()[0] == "| metric | class | mean | std | pooled | cases |"
    assert "| dice | macro mean |" in md
    rows = rep.to_csv().splitlines()
    assert rows[0] == "metric,class_id,class,mean,std,pooled,cases"
    assert len(rows) == 1 + 2 * (C + 1)
    # full precision in CSV: the values read back exactly
    summary = list(csv.DictReader(io.StringIO(rep.to_csv())))
    assert float(summary[1]["mean"]) == rep.mean["dice"][1]
    assert float(summary[1]["pooled"]) == rep.pooled["dice"][1]
    per_case = rep.per_case_csv().splitlines()
    assert len(per_case) == 1 + 3 * C
    table = rep.table()
    assert "macro mean" in table and "pooled" in table
    # each format by extension
    assert rep.render("x.csv") == rep.to_csv() and rep.render("x.md") == md
    assert rep.render("x.JSON") == rep.to_json()


def test_json_non_finite_values_are_strings(tmp_path):
    pytest.importorskip("scipy")
    write_mask(tmp_path / "p" / "a.npy", np.array([[0, 1], [1, 0]], np.uint8))
    write_mask(tmp_path / "r" / "a.npy", np.array([[0, 0], [0, 0]], np.uint8))
    rep = score(str(tmp_path / "p"), str(tmp_path / "r"), num_classes=3, metrics="dice,hd")
    text = rep.to_json()
    data = json.loads(text)
    case = data["cases"][0]
    assert case["hd"][1] == "inf" and case["hd"][2] == "nan"   # one empty / both empty
    assert case["dice"][1] == 0.0 and case["dice"][2] == "nan"
    hd = data["summary"]["hd"]
    assert hd["classes"]["1"]["mean"] == "inf" and hd["classes"]["1"]["std"] == "nan"
    assert hd["classes"]["1"]["pooled"] is None          # boundary metrics do not pool
    assert hd["macro_pooled"] is None
    assert float(hd["classes"]["1"]["mean"]) == math.inf  # float() reads them back


def test_per_case_csv_counts(tmp_path):
    t = np.array([[0, 1, 1], [2, 2, 0]], np.uint8)
    p = np.array([[0, 1, 2], [2, 0, 0]], np.uint8)
    write_mask(tmp_path / "p.npy", p)
    write_mask(tmp_path / "t.npy", t)
    rep = score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), num_classes=3)
    rows = list(csv.DictReader(io.StringIO(rep.per_case_csv())))
    # class 1: tp 1 (0,1), fn 1 (0,2), fp 0; class 2: tp 1, fp 1, fn 1
    assert [(r["tp"], r["fp"], r["fn"], r["tn"]) for r in rows] == [
        ("2", "1", "0", "3"), ("1", "0", "1", "4"), ("1", "1", "1", "3")]
    assert rows[0]["missing_prediction"] == "0" and rows[0]["case"] == "p"
