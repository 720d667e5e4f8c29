"""Plots of the HTML report: the per-case distribution of a metric, per class, as inline SVG.

matplotlib is optional (``pip install 'regionloss[report]'``) and imported only here, only
when a plot is drawn; :func:`have_matplotlib` tells the report whether to draw or to say how
to get the plots. Figures are drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot,
no GUI backend, no global state) and written as SVG text that the page embeds: no file, no
font and no script is fetched, and the same data give the same bytes.

Each plot shows, per class, a box (quartiles, whiskers at 1.5 IQR) over the finite per-case
values and every case as a dot (spread sideways by a fixed-seed jitter); infinite values
(a distance where one mask is empty) are drawn as triangles on the top edge and counted in
the label, and undefined (NaN) values are left out: the label's ``n`` counts the dots.
Up to :data:`VECTOR_DOTS` cases the dots are SVG shapes; beyond, they are drawn as one
embedded PNG image (a ``data:`` URI inside the SVG), so that a page of many thousand cases
stays small.
"""

from __future__ import annotations

import io
import re
from typing import Sequence

import numpy as np

__all__ = ["PALETTE", "have_matplotlib", "distribution_svg", "BOUNDED", "VECTOR_DOTS"]

#: Up to this many cases, every dot of a plot is an SVG shape (about 115 bytes each); beyond,
#: the dots are rasterised into one embedded PNG.
VECTOR_DOTS = 300

#: One colour per class, in class order (matplotlib's "tab10" colours), shared by the plots
#: and the swatches of the tables (which need no matplotlib).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")

#: Value ranges of the bounded metrics (for the plots' axes and the tables' bars).
BOUNDED = {"mcc": (-1.0, 1.0), "informedness": (-1.0, 1.0), "markedness": (-1.0, 1.0)}
_UNBOUNDED = frozenset({"hd", "hd95", "asd", "assd"})


def value_range(metric: str) -> tuple[float, float] | None:
    """``(low, high)`` of a bounded metric (most are in [0, 1]); ``None`` for distances."""
    if metric in _UNBOUNDED:
        return None
    return BOUNDED.get(metric, (0.0, 1.0))


def have_matplotlib() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _scoped_svg(svg: str, prefix: str) -> str:
    """The ``<svg>`` element alone, ready to sit inline in an HTML page: no XML prolog or
    DOCTYPE, no namespace declarations (HTML parses inline SVG without them), and every id
    prefixed, so that several plots on one page never share an id."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', svg)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", svg)


def distribution_svg(values: np.ndarray, class_names: Sequence[str], metric: str, *,
                     colors: Sequence[str] = PALETTE, seed: int = 0) -> str:
    """An inline ``<svg>`` of the per-case values of one metric, one box and strip per class.

    Parameters
    ----------
    values : ndarray, shape (N, K)
        Per-case values, one column per reported class (NaN: undefined, left out).
    class_names : sequence of str
        The K class names (the x-axis labels).
    metric : str
        The metric's name (the y-axis label and the axis range).
    """
    import matplotlib
    from matplotlib.figure import Figure

    values = np.asarray(values, dtype=np.float64)
    n_classes = values.shape[1]
    raster = values.shape[0] > VECTOR_DOTS
    rng = np.random.default_rng(seed)
    width = min(11.0, max(4.8, 1.6 + 0.95 * n_classes))
    fig = Figure(figsize=(width, 3.1), dpi=100)
    ax = fig.add_subplot()
    bounds = value_range(metric)
    finite_max = np.nanmax(np.where(np.isfinite(values), values, np.nan)) \
        if np.isfinite(values).any() else 1.0
    top = bounds[1] if bounds is not None else max(float(finite_max) * 1.08, 1e-9)
    labels = []
    for k in range(n_classes):
        column = values[:, k]
        finite = column[np.isfinite(column)]
        infinite = int(np.sum(np.isinf(column)))
        color = colors[k % len(colors)]
        if finite.size:
            ax.boxplot([finite], positions=[k], widths=0.55, showfliers=False,
                       patch_artist=True, manage_ticks=False,
                       boxprops={"facecolor": color + "33", "edgecolor": color},
                       whiskerprops={"color": color}, capprops={"color": color},
                       medianprops={"color": "#222222", "linewidth": 1.6})
            jitter = rng.uniform(-0.17, 0.17, size=finite.size)
            ax.scatter(k + jitter, finite, s=14 if not raster else 6, color=color,
                       alpha=0.75 if not raster else 0.4, linewidths=0, zorder=3,
                       rasterized=raster)
        if infinite:
            ax.scatter(k + rng.uniform(-0.12, 0.12, size=infinite), np.full(infinite, top),
                       marker="^", s=30, color=color, clip_on=False, zorder=3)
        name = str(class_names[k]).replace("$", r"\$")  # literal text, not mathtext
        label = f"{name}\nn={finite.size + infinite}"
        if infinite:
            label += f" ({infinite} inf)"
        labels.append(label)
    ax.set_xticks(range(n_classes))
    ax.set_xticklabels(labels, fontsize=8.5, rotation=0 if n_classes <= 8 else 30)
    ax.set_xlim(-0.6, n_classes - 0.4)
    if bounds is not None:
        pad = 0.03 * (bounds[1] - bounds[0])
        ax.set_ylim(bounds[0] - pad, bounds[1] + pad)
    else:
        ax.set_ylim(0.0, top * 1.03)
    ax.set_ylabel(metric, fontsize=9.5)
    ax.tick_params(axis="y", labelsize=8.5)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    out = io.StringIO()
    salt = f"regionloss-{metric}"
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt,
                                "font.family": "sans-serif"}):
        fig.savefig(out, format="svg", dpi=150,  # (the resolution of rasterised dots)
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _scoped_svg(out.getvalue(), prefix=f"{re.sub(r'[^A-Za-z0-9]', '', metric)}-")
