"""The HTML report: one self-contained page a person can open, read and send around.

:func:`render_html` writes a single HTML document with everything inline: its CSS in a
``<style>`` element, its plots as inline SVG (:mod:`~regionloss.scoring.plots`, through
matplotlib when installed), and no script, no font, no image and no stylesheet fetched from
anywhere. It holds, in order:

* an overview: cases, classes, missing predictions, empty references and predictions, and
  the macro mean of every metric;
* per metric: the per-class table (mean, std, pooled, cases; a macro-mean row), a plot of
  the per-case distribution per class, and the worst cases per class with their files;
* per class: in how many cases it occurs in the reference, in the prediction, in neither;
* the run's settings and the versions of the packages involved.

Every number of a table carries its full-precision value in a ``data-value`` attribute (the
text shows 4 decimals), so that the page can be checked against the report, or scraped.
The page has no timestamp: the same run gives the same bytes.
"""

from __future__ import annotations

import html
import math
import os
import platform
from typing import Any, Iterable

from . import plots as _plots
from .options import LOWER_IS_BETTER, REGION_METRICS
from .tables import fmt_number, title

__all__ = ["render_html", "PLOTS_HINT"]

#: What the page says where a plot would be, when matplotlib is not installed.
PLOTS_HINT = "pip install 'regionloss[report]'"

_CSS = """
:root { --ink: #1d2430; --muted: #5d6778; --line: #dfe3ea; --soft: #f5f7fa;
        --accent: #2b6cb0; --bar: #d6e6f7; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
             Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px;
     border-bottom: 2px solid var(--line); }
h2 .hint { font-size: 13px; font-weight: normal; color: var(--muted); margin-left: 8px; }
h3 { font-size: 15px; margin: 18px 0 8px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; }
p.sub { margin: 0 0 18px; color: var(--muted); }
code { font: 12.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 8px; }
.card { flex: 1 1 140px; background: var(--soft); border: 1px solid var(--line);
        border-radius: 8px; padding: 10px 14px; }
.card .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .label { font-size: 12.5px; color: var(--muted); }
.card.warn .value { color: var(--bad); }
table { border-collapse: collapse; margin: 6px 0 4px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { font-size: 12.5px; color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.macro td { font-weight: 600; border-top: 2px solid var(--ink); }
tr.first td { border-top: 1px solid #b9c0cc; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 7px; vertical-align: baseline; }
.metric { display: grid; grid-template-columns: minmax(0, auto) minmax(0, 1fr); gap: 18px;
          align-items: start; }
.metric figure { margin: 0; }
.metric svg { max-width: 100%; height: auto; display: block; }
@media (max-width: 900px) { .metric { grid-template-columns: 1fr; } }
.note { background: #fff8e6; border: 1px solid #f2d58a; border-radius: 6px;
        padding: 8px 12px; font-size: 14px; }
.worstgrid { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr));
             gap: 12px; }
.worstcard { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px 4px; }
.worstcard .head { font-weight: 600; margin-bottom: 2px; }
table.worst { width: 100%; margin: 0; }
table.worst td { font-size: 13.5px; padding: 4px 2px; }
table.worst tr:last-child td { border-bottom: none; }
.files { color: var(--muted); font-size: 12px; }
.files code { font-size: 11.5px; }
footer { margin-top: 40px; font-size: 13px; color: var(--muted); }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _raw(value) -> str:
    """A number's full-precision text for ``data-value`` (``nan``, ``inf`` as words)."""
    if value is None:
        return ""
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _num(value, *, bar: tuple[float, float] | None = None) -> str:
    """A numeric cell: 4 decimals shown, full precision in ``data-value``; with ``bar``
    (the metric's range), a light bar behind the value shows where it lies."""
    if value is None:
        return '<td class="num" data-value="">-</td>'
    style = ""
    value = float(value)
    if bar is not None and math.isfinite(value):
        low, high = bar
        share = min(max((value - low) / (high - low), 0.0), 1.0) * 100
        style = (f' style="background: linear-gradient(90deg, var(--bar) {share:.1f}%, '
                 f'transparent {share:.1f}%)"')
    return f'<td class="num" data-value="{_raw(value)}"{style}>{fmt_number(value)}</td>'


def _color(class_id: int) -> str:
    """A class's colour, by class id: the same in every report, with or without class 0."""
    return _plots.PALETTE[class_id % len(_plots.PALETTE)]


def _swatch(class_id: int) -> str:
    color = _color(class_id)
    return f'<span class="swatch" style="background:{color}"></span>'


def _table(headers: Iterable[tuple[str, bool]], rows: Iterable[str], **attrs) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{_e(v)}"' for k, v in attrs.items())
    head = "".join(f'<th{" class=num" if num else ""}>{_e(h)}</th>' for h, num in headers)
    return f"<table{extra}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _overview(report, counts) -> str:
    cards = [
        (len(report.cases), "cases", False),
        (report.total_classes, "classes" + ("" if len(report.class_ids) == report.total_classes
                                            else f" ({len(report.class_ids)} reported)"), False),
        (counts["missing_predictions"], "missing predictions (scored as empty)",
         counts["missing_predictions"] > 0),
        (counts["empty_references"], "empty references (no foreground)", False),
        (counts["empty_predictions"], "empty predictions (no foreground)", False),
    ]
    if counts["ignored_files"]:
        cards.append((counts["ignored_files"], "files ignored (not masks)", False))
    card_html = "".join(
        f'<div class="card{" warn" if warn else ""}" data-count="{_e(label.split(" (")[0])}">'
        f'<div class="value">{value}</div><div class="label">{_e(label)}</div></div>'
        for value, label, warn in cards)
    rows = []
    for m in report.metrics:
        macro = report.macro[m]
        pooled = macro["pooled"] if m in REGION_METRICS else None
        rows.append(f'<tr><td><a href="#metric-{_e(m)}">{_e(m)}</a></td>'
                    f'{_num(macro["mean"], bar=_plots.value_range(m))}{_num(pooled)}</tr>')
    table = _table([("metric", False), ("macro mean", True), ("macro pooled", True)], rows,
                   class_="overview")
    return (f'<section id="overview"><div class="cards">{card_html}</div>'
            f"<h3>Macro means</h3>{table}</section>")


def _relative(path: str, root: str | None) -> str:
    """``path`` as found under the folder ``root`` (its name alone when ``root`` is the file
    itself), so that the tables show what differs between cases, not the common folder."""
    if root is None or not os.path.isdir(root):
        return os.path.basename(path)
    try:
        return os.path.relpath(path, root)
    except ValueError:  # another drive (Windows)
        return path


def _metric_section(report, m: str, plots: str, worst: int) -> str:
    pred_root = report.options.get("prediction")
    ref_root = report.options.get("reference")
    mean, std, count = report._stats(m)
    pools = m in REGION_METRICS
    bounds = _plots.value_range(m)
    rows = []
    for k, (cid, name) in enumerate(zip(report.class_ids, report.class_names)):
        rows.append(f'<tr data-class-id="{cid}"><td>{_swatch(cid)}{_e(name)}</td>'
                    f"{_num(mean[k], bar=bounds)}{_num(std[k])}"
                    f"{_num(report.pooled[m][k] if pools else None)}"
                    f'<td class="num" data-value="{int(count[k])}">{int(count[k])}</td></tr>')
    macro = report.macro[m]
    rows.append(f'<tr class="macro"><td>macro mean</td>{_num(macro["mean"], bar=bounds)}'
                f'<td class="num" data-value=""></td>{_num(macro["pooled"] if pools else None)}'
                f'<td class="num" data-value=""></td></tr>')
    summary = _table([("class", False), ("mean", True), ("std", True), ("pooled", True),
                      ("cases", True)], rows, class_="summary", data_metric=m)
    if plots == "draw":
        figure = _plots.distribution_svg(report.per_case[m], report.class_names, m,
                                         colors=[_color(c) for c in report.class_ids])
    elif plots == "missing":
        figure = (f'<p class="note">The distribution plot needs matplotlib: '
                  f"<code>{_e(PLOTS_HINT)}</code></p>")
    else:
        figure = ""
    direction = "lower is better" if m in LOWER_IS_BETTER else "higher is better"
    cards = []
    for cid, name, ranked in zip(report.class_ids, report.class_names,
                                 report.worst_cases(m, worst)):
        rows = []
        for i, value in ranked:
            case = report.cases[i]
            ref = _relative(case.reference, ref_root)
            pred = (None if case.prediction is None
                    else _relative(case.prediction, pred_root))
            if pred == ref:
                files = f"<code>{_e(ref)}</code>"
            else:
                files = ("<em>missing prediction</em>" if pred is None
                         else f"<code>{_e(pred)}</code>") + f" &middot; <code>{_e(ref)}</code>"
            rows.append(f'<tr><td><strong>{_e(case.name)}</strong><br>'
                        f'<span class="files">{files}</span></td>{_num(value)}</tr>')
        if not rows:
            rows.append('<tr><td class="files" colspan="2">not defined in any case</td></tr>')
        cards.append(f'<div class="worstcard"><div class="head">{_swatch(cid)}{_e(name)}</div>'
                     f'<table class="worst" data-metric="{_e(m)}" data-class="{_e(name)}">'
                     f"<tbody>{''.join(rows)}</tbody></table></div>")
    worst_html = f'<div class="worstgrid">{"".join(cards)}</div>'
    return (f'<section id="metric-{_e(m)}"><h2>{_e(m)}<span class="hint">{direction}; '
            f"per case, per class</span></h2>"
            f'<div class="metric">{summary}<figure>{figure}</figure></div>'
            f"<h3>Worst {worst} cases per class</h3>{worst_html}</section>")


def _presence(report, counts) -> str:
    rows = []
    for cid, (name, c) in zip(report.class_ids, counts["classes"].items()):
        rows.append(f"<tr><td>{_swatch(cid)}{_e(name)}</td>"
                    f'<td class="num" data-value="{c["in_reference"]}">{c["in_reference"]}</td>'
                    f'<td class="num" data-value="{c["in_prediction"]}">{c["in_prediction"]}</td>'
                    f'<td class="num" data-value="{c["in_neither"]}">{c["in_neither"]}</td></tr>')
    table = _table([("class", False), ("in reference", True), ("in prediction", True),
                    ("in neither (undefined)", True)], rows, class_="presence")
    return (f'<section id="classes"><h2>Classes per case<span class="hint">in how many of '
            f"the {len(report.cases)} cases each class occurs</span></h2>{table}"
            "<p class=\"sub\">Where a class is in neither mask, its region metrics are "
            "undefined (zero denominator) and take the <code>zero_division</code> value "
            "(NaN by default, left out of means); the <em>cases</em> column of each table "
            "counts the cases where the metric is defined.</p></section>")


def _versions(with_plots: bool) -> list[tuple[str, str]]:
    from importlib import metadata

    from .. import __version__

    rows = [("regionloss", __version__), ("Python", platform.python_version())]
    for dist in ("numpy", "scipy", "pillow", "tifffile", "nibabel") + (
            ("matplotlib",) if with_plots else ()):
        try:
            rows.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            pass
    rows.append(("platform", platform.platform(terse=True)))
    return rows


def _settings(report, with_plots: bool) -> str:
    rows = []
    for key, value in report.options.items():
        if key in ("std", "cases"):
            continue
        shown = "-" if value is None else value
        if isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, (list, tuple)):
            shown = ", ".join(str(v) for v in value)
        rows.append(f"<tr><td>{_e(key)}</td><td><code>{_e(shown)}</code></td></tr>")
    rows.append(f"<tr><td>metrics</td><td><code>{_e(', '.join(report.metrics))}</code></td></tr>")
    settings = _table([("setting", False), ("value", False)], rows, class_="settings")
    versions = _table([("package", False), ("version", False)],
                      [f"<tr><td>{_e(k)}</td><td><code>{_e(v)}</code></td></tr>"
                       for k, v in _versions(with_plots)], class_="versions")
    return (f'<section id="settings"><h2>Run</h2><div class="metric">{settings}'
            f"{versions}</div></section>")


def render_html(report, *, plots: bool = True, worst: int = 3) -> str:
    """The report as one self-contained HTML page (see the module's description).

    ``plots=False`` leaves the plots out; with ``plots=True`` and no matplotlib, the page
    says how to get them. ``worst`` cases are listed per class and metric.
    """
    if plots:
        mode = "draw" if _plots.have_matplotlib() else "missing"
    else:
        mode = "off"
    counts = report.case_counts()
    pred, target = report.options.get("prediction"), report.options.get("reference")
    source = ""
    if pred is not None and target is not None:
        source = f" &middot; <code>{_e(pred)}</code> against <code>{_e(target)}</code>"
    note = ""
    if mode == "missing":
        note = (f'<p class="note">Plots are left out: they need matplotlib, which is not '
                f"installed. <code>{_e(PLOTS_HINT)}</code> adds them.</p>")
    body = [
        f"<header><h1>Segmentation evaluation</h1>"
        f'<p class="sub">{_e(title(report))}{source}</p>{note}</header>',
        _overview(report, counts),
        *(_metric_section(report, m, mode, worst) for m in report.metrics),
        _presence(report, counts),
        _settings(report, mode == "draw"),
        "<footer>mean and std: over cases, per class (sample standard deviation; undefined "
        "values left out). pooled: the metric of the summed confusion matrix (the "
        "dataset-level value; boundary metrics do not pool). macro mean: the mean over the "
        "reported classes. Written by regionloss.</footer>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title(report))} - regionloss</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
