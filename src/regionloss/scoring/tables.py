"""Text renderings of a :class:`~regionloss.scoring.report.ScoreReport`: the terminal table,
the summary CSV, Markdown, JSON, and the per-case CSV.

One rule for non-finite values everywhere: NaN, +inf and -inf are written ``nan``, ``inf``
and ``-inf`` (in JSON as those strings, so that the file is strict JSON and ``float()``
reads each back); tables show 4 decimals, CSV and JSON full precision.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from .options import REGION_METRICS

__all__ = ["fmt_number", "terminal_table", "summary_csv", "markdown", "as_dict", "as_json",
           "per_case_csv"]


def _nonfinite(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def fmt_number(value, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; ``nan``, ``inf``, ``-inf`` as words."""
    value = float(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else _nonfinite(value)


def _fmt_csv(value) -> str:
    value = float(value)
    return repr(value) if math.isfinite(value) else _nonfinite(value)


def json_value(value):
    """A JSON number, or the string ``"nan"``, ``"inf"`` or ``"-inf"``."""
    value = float(value)
    return value if math.isfinite(value) else _nonfinite(value)


def title(report) -> str:
    """``N cases, C classes`` (``, K reported`` without background; the missing ones)."""
    n_missing = sum(c.prediction is None for c in report.cases)
    text = f"{len(report.cases)} cases, {report.total_classes} classes"
    if len(report.class_ids) != report.total_classes:
        text += f", {len(report.class_ids)} reported"
    if n_missing:
        text += f" ({n_missing} missing predictions scored as empty)"
    return text


def terminal_table(report) -> str:
    """Per metric and class: mean, std, pooled value and cases; a macro-mean row per metric."""
    header = ["metric", "class", "mean", "std", "pooled", "cases"]
    body = []
    for row in report.summary_rows():
        body.append([
            row["metric"], row["class"], fmt_number(row["mean"]),
            "" if row["std"] is None else fmt_number(row["std"]),
            "-" if row["pooled"] is None else fmt_number(row["pooled"]),
            "" if row["cases"] is None else str(row["cases"]),
        ])
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    left = {0, 1}

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [title(report), line(header), line(["-" * w for w in widths])]
    previous = None
    for cells in body:
        if previous is not None and cells[0] != previous:
            lines.append("")
        lines.append(line(cells))
        previous = cells[0]
    return "\n".join(lines) + "\n"


def summary_csv(report) -> str:
    """``metric,class_id,class,mean,std,pooled,cases``, full precision."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "class_id", "class", "mean", "std", "pooled", "cases"])
    for row in report.summary_rows():
        writer.writerow([
            row["metric"], "" if row["class_id"] is None else row["class_id"], row["class"],
            _fmt_csv(row["mean"]), "" if row["std"] is None else _fmt_csv(row["std"]),
            "" if row["pooled"] is None else _fmt_csv(row["pooled"]),
            "" if row["cases"] is None else row["cases"],
        ])
    return out.getvalue()


def markdown(report) -> str:
    """The summary as a Markdown table."""
    lines = ["| metric | class | mean | std | pooled | cases |",
             "|---|---|---:|---:|---:|---:|"]
    for row in report.summary_rows():
        lines.append("| {} | {} | {} | {} | {} | {} |".format(
            row["metric"], row["class"], fmt_number(row["mean"]),
            "" if row["std"] is None else fmt_number(row["std"]),
            "-" if row["pooled"] is None else fmt_number(row["pooled"]),
            "" if row["cases"] is None else row["cases"]))
    return "\n".join(lines) + "\n"


def as_dict(report) -> dict[str, Any]:
    """Everything as plain JSON-able data (see :meth:`ScoreReport.to_dict`)."""
    summary: dict[str, Any] = {}
    for m in report.metrics:
        mean, std, count = report._stats(m)
        pools = m in REGION_METRICS
        macro = report.macro[m]
        summary[m] = {
            "classes": {
                name: {"class_id": cid, "mean": json_value(mean[k]),
                       "std": json_value(std[k]),
                       "pooled": json_value(report.pooled[m][k]) if pools else None,
                       "cases": int(count[k])}
                for k, (cid, name) in enumerate(zip(report.class_ids, report.class_names))
            },
            "macro_mean": json_value(macro["mean"]),
            "macro_pooled": json_value(macro["pooled"]) if pools else None,
        }
    from .. import __version__

    return {
        "regionloss_version": __version__,
        "options": report.options,
        "classes": dict(zip(report.class_names, report.class_ids)),
        "metrics": list(report.metrics),
        "num_cases": len(report.cases),
        "summary": summary,
        "cases": [
            {"case": c.name, "prediction": c.prediction, "reference": c.reference,
             **{m: [json_value(v) for v in report.per_case[m][i]] for m in report.metrics}}
            for i, c in enumerate(report.cases)
        ],
    }


def as_json(report) -> str:
    return json.dumps(as_dict(report), indent=2, allow_nan=False) + "\n"


def per_case_csv(report) -> str:
    """One row per case and reported class: the metrics, and the class's tp/fp/fn/tn."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case", "class_id", "class", *report.metrics, "tp", "fp", "fn", "tn",
                     "prediction", "reference", "missing_prediction"])
    total = report.confusion.sum(axis=(1, 2))
    for i, case in enumerate(report.cases):
        matrix = report.confusion[i]
        for k, (cid, name) in enumerate(zip(report.class_ids, report.class_names)):
            tp = int(matrix[cid, cid])
            fp = int(matrix[:, cid].sum()) - tp
            fn = int(matrix[cid, :].sum()) - tp
            tn = int(total[i]) - tp - fp - fn
            writer.writerow([case.name, cid, name,
                             *(_fmt_csv(report.per_case[m][i, k]) for m in report.metrics),
                             tp, fp, fn, tn, case.prediction or "", case.reference,
                             int(case.prediction is None)])
    return out.getvalue()
