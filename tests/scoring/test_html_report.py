"""Tests of regionloss.scoring.html_report: one self-contained page whose tables hold the
report's numbers, with plots when matplotlib is installed and a note when it is not; and,
where a headless Chromium is installed, a screenshot that shows something."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from regionloss.scoring import score
from regionloss.scoring.html_report import PLOTS_HINT

from ._data import EXAMPLES, make_dataset, write_mask

C = 4


class Page(HTMLParser):
    """Tables (with their attributes and cells), every attribute, inline styles, scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self._open: list[dict] = []
        self._cell = None
        self._in_style = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))
        attrs = dict(attrs)
        if tag == "table":
            self._open.append({"attrs": attrs, "rows": []})
        elif tag == "tr" and self._open:
            self._open[-1]["rows"].append({"attrs": attrs, "cells": []})
        elif tag in ("td", "th") and self._open:
            self._cell = {"tag": tag, "attrs": attrs, "text": ""}
            self._open[-1]["rows"][-1]["cells"].append(self._cell)
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag == "table":
            self.tables.append(self._open.pop())
        elif tag in ("td", "th"):
            self._cell = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_style:
            self.styles.append(data)

    def tables_of(self, kind, **attrs):
        return [t for t in self.tables if t["attrs"].get("class") == kind
                and all(t["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]


def parse(text):
    page = Page()
    page.feed(text)
    page.close()
    return page


def as_float(text):
    return float(text)  # "nan", "inf" read back too


def test_summary_tables_hold_the_reports_numbers(tmp_path):
    pytest.importorskip("scipy")
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=6, shape=(12, 10))
    write_mask(os.path.join(pred_dir, "case5.npy"), np.zeros((12, 10), np.uint8))
    rep = score(pred_dir, ref_dir, num_classes=C, metrics="dice,iou,hd95",
                class_names=["bg", "a", "b", "c"])
    page = parse(rep.to_html(plots=False))
    for m in rep.metrics:
        (table,) = page.tables_of("summary", data_metric=m)
        body = [r for r in table["rows"] if r["cells"][0]["tag"] == "td"]
        assert [r["cells"][0]["text"] for r in body] == ["bg", "a", "b", "c", "macro mean"]
        for k, row in enumerate(body[:-1]):
            mean, std, pooled, cases = row["cells"][1:]
            for cell, want in ((mean, rep.mean[m][k]), (std, rep.std[m][k])):
                got = as_float(cell["attrs"]["data-value"])
                assert got == want or (np.isnan(got) and np.isnan(want))
                assert cell["text"] == ("nan" if np.isnan(want) else
                                        "inf" if np.isinf(want) else f"{want:.4f}")
            if m == "hd95":
                assert pooled["text"] == "-"      # boundary metrics do not pool
            else:
                assert as_float(pooled["attrs"]["data-value"]) == rep.pooled[m][k]
            assert int(cases["text"]) == rep.count[m][k]
        macro = body[-1]["cells"]
        got = as_float(macro[1]["attrs"]["data-value"])
        assert got == rep.macro[m]["mean"] or np.isnan(got) == np.isnan(rep.macro[m]["mean"])
    (overview,) = page.tables_of("overview")
    for row in overview["rows"][1:]:
        m = row["cells"][0]["text"]
        assert as_float(row["cells"][1]["attrs"]["data-value"]) == rep.macro[m]["mean"]


def test_worst_cases_and_counts(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=5, shape=(12, 10))
    os.remove(os.path.join(pred_dir, "case2.npy"))
    rep = score(pred_dir, ref_dir, num_classes=C, missing="empty",
                class_names=["bg", "a", "b", "c"])
    page = parse(rep.to_html(plots=False))
    for m in rep.metrics:
        worst = rep.worst_cases(m, 3)
        for k, name in enumerate(rep.class_names):
            (table,) = page.tables_of("worst", data_metric=m, data_class=name)
            rows = [r["cells"] for r in table["rows"]]
            assert len(rows) == len(worst[k]) == 3
            for (i, value), cells in zip(worst[k], rows):
                case = rep.cases[i]
                assert cells[0]["text"].startswith(case.name)
                assert os.path.basename(case.reference) in cells[0]["text"]
                if case.prediction is None:
                    assert "missing prediction" in cells[0]["text"]
                assert as_float(cells[1]["attrs"]["data-value"]) == value
    # the missing prediction is the worst case of every foreground class
    assert all(rows[0] == (2, 0.0) for rows in rep.worst_cases("dice", 1)[1:])
    counts = rep.case_counts()
    cards = [v for _, name, v in page.attributes if name == "data-count"]
    assert cards == ["cases", "classes", "missing predictions", "empty references",
                     "empty predictions"]
    text = " ".join(page.text)
    assert re.search(r"\b5\s+cases\b", text)
    assert re.search(r"\b1\s+missing predictions \(scored as empty\)", text)
    (presence,) = page.tables_of("presence")
    for row, (name, c) in zip(presence["rows"][1:], counts["classes"].items()):
        cells = row["cells"]
        assert cells[0]["text"] == name
        assert [int(x["text"]) for x in cells[1:]] == [c["in_reference"], c["in_prediction"],
                                                       c["in_neither"]]


def _remote_references(page):
    """Every attribute or style that would make a browser fetch something."""
    found = []
    for tag, name, value in page.attributes:
        v = value.strip().lower()
        if name in ("src", "href", "xlink:href", "data", "poster", "action", "srcset",
                    "background", "formaction"):
            if not (v.startswith("#") or v.startswith("data:")):
                found.append((tag, name, value))
        if name == "style" and ("url(" in v and "url(#" not in v):
            found.append((tag, name, value))
    for style in page.styles:
        if "@import" in style or re.search(r"url\((?!#)", style):
            found.append(("style", "", style[:80]))
    for tag in ("link", "script", "iframe", "object", "embed", "img", "base"):
        if tag in page.tags:
            found.append((tag, "", ""))
    return found


@pytest.mark.parametrize("with_matplotlib", [False, True])
def test_self_contained_with_and_without_matplotlib(tmp_path, monkeypatch, with_matplotlib):
    if with_matplotlib:
        pytest.importorskip("matplotlib")
    else:
        monkeypatch.setitem(sys.modules, "matplotlib", None)
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=4, shape=(12, 10))
    rep = score(pred_dir, ref_dir, num_classes=C, metrics="dice,iou,mcc")
    text = rep.to_html()
    page = parse(text)
    assert _remote_references(page) == []
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, flags=re.IGNORECASE)
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    n_svg = page.tags.count("svg")
    if with_matplotlib:
        assert n_svg == 3 and PLOTS_HINT not in "".join(page.text)
    else:
        # a note at the top, and one where each plot would be
        assert n_svg == 0 and "".join(page.text).count(PLOTS_HINT) == 1 + 3
    assert len(page.tables_of("summary")) == 3
    assert rep.to_html() == text                    # no timestamp: the same bytes


def test_names_are_escaped(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=2, shape=(6, 5))
    names = ["bg", "<b>bold</b>", 'quote"d', "a & b"]
    rep = score(pred_dir, ref_dir, num_classes=C, class_names=names)
    text = rep.to_html(plots=False)
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    (table,) = parse(text).tables_of("summary", data_metric="dice")
    assert [r["cells"][0]["text"] for r in table["rows"][1:5]] == names


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None,
                    reason="no headless browser (chromium) installed to render the page")
def test_screenshot_is_not_blank(tmp_path):
    """The example report, rendered by headless Chromium, shows tables (and plots)."""
    from PIL import Image

    data = os.path.join(EXAMPLES, "data")
    rep = score(os.path.join(data, "prediction"), os.path.join(data, "reference"),
                num_classes=4, class_names=["background", "liver", "kidney", "tumour"])
    page = tmp_path / "report.html"
    rep.write(str(page))
    png = tmp_path / "shot.png"
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=1200,1600", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert png.exists(), proc.stderr[-2000:]
    image = np.asarray(Image.open(png).convert("RGB")).astype(np.int16)
    assert image.shape[:2] == (1600, 1200)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    ink = np.any(image < 235, axis=-1).mean()
    assert 0.02 < ink < 0.6, ink
    # the class colours are drawn (table swatches, and the plots' boxes and dots)
    blue = np.all(np.abs(image - [31, 119, 180]) < 12, axis=-1).sum()
    red = np.all(np.abs(image - [214, 39, 40]) < 12, axis=-1).sum()
    assert blue > 50 and red > 50
