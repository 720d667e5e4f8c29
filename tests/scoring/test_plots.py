"""Tests of regionloss.scoring.plots: inline SVG distribution plots (matplotlib optional)."""

from __future__ import annotations

import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from regionloss.scoring import plots


class _Dots(HTMLParser):
    """Counts the markers drawn by scatter plots (``<use>`` inside a PathCollection)."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.dots = 0
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "use" and any("PathCollection" in g for g in self.stack):
            self.dots += 1
        if tag == "g":
            self.stack.append(attrs.get("id", ""))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "g":
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "g":
            self.stack.pop()


def test_value_range_and_availability(monkeypatch):
    assert plots.value_range("dice") == (0.0, 1.0) and plots.value_range("mcc") == (-1.0, 1.0)
    assert plots.value_range("hd95") is None and plots.value_range("nsd") == (0.0, 1.0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert plots.have_matplotlib() is False


def test_distribution_svg():
    pytest.importorskip("matplotlib")
    values = np.array([[0.9, np.nan, 0.1, np.inf],
                       [0.8, np.nan, 0.2, 3.0],
                       [0.7, np.nan, np.nan, 4.0]])
    svg = plots.distribution_svg(values, ["a", "b$c", "<d>", "e"], "hd95")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "http" not in svg and "<?xml" not in svg and "DOCTYPE" not in svg
    parsed = _Dots()
    parsed.feed(svg)
    assert parsed.dots == 3 + 0 + 2 + 3        # every defined value, infinite ones included
    assert all(i.startswith("hd95-") for i in parsed.ids)
    assert len(set(parsed.ids)) == len(parsed.ids)
    assert "n=3 (1 inf)" in svg and "b$c" in svg and "&lt;d&gt;" in svg
    # the same data give the same bytes
    assert plots.distribution_svg(values, ["a", "b$c", "<d>", "e"], "hd95") == svg


@pytest.mark.parametrize("shape", [(1, 1), (5, 20), (4, 3)])
def test_distribution_svg_shapes(shape):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    values = rng.random(shape)
    values[:, -1] = np.nan                     # a class defined in no case
    svg = plots.distribution_svg(values, [f"class {k}" for k in range(shape[1])], "dice")
    parsed = _Dots()
    parsed.feed(svg)
    assert parsed.dots == int(np.isfinite(values).sum())


def test_many_cases_are_one_embedded_image():
    """Beyond VECTOR_DOTS cases the dots are one PNG inside the SVG (a data: URI): the plot
    stays small, and still fetches nothing."""
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    small = plots.distribution_svg(rng.random((plots.VECTOR_DOTS, 3)), "abc", "iou")
    big = plots.distribution_svg(rng.random((20 * plots.VECTOR_DOTS, 3)), "abc", "iou")
    assert "<image" not in small
    assert big.count("<image") >= 1 and 'href="data:image/png;base64,' in big
    parsed = _Dots()
    parsed.feed(big)
    assert parsed.dots == 0
    assert len(big) < len(small) * 2      # 20 times the cases, not 20 times the bytes
    assert "http" not in big
