"""The results of a run: :class:`ScoreReport`, its statistics, and its files.

The report holds per-case values (host NumPy arrays) and derives everything else from them:
per-class mean, sample standard deviation and count over cases, the pooled (dataset-level)
values, the macro means, the worst cases and the empty-case counts. Its renderings live
beside it: :mod:`~regionloss.scoring.tables` (terminal table, CSV, Markdown, JSON) and
:mod:`~regionloss.scoring.html_report` (one self-contained HTML page); files are written
through :mod:`~regionloss.scoring.files`, atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _reduce as _average
from . import tables
from .files import write_atomic
from .matching import Case
from .options import LOWER_IS_BETTER, REGION_METRICS, output_format

__all__ = ["ScoreReport", "LOWER_IS_BETTER"]



def _mean_std(values: np.ndarray):
    r"""Mean and sample standard deviation (ddof=1) over axis 0, NaN values left out.

    The NaN-aware mean and the count are the library's (:func:`regionloss._reduce.nanmean`
    and :func:`~regionloss._reduce.nan_sum_count`); the standard deviation, which the
    library has no use for, is computed here: :math:`\sqrt{\sum (x - \bar x)^2 / (n - 1)}`
    over the ``n`` non-NaN values ``x``, NaN where :math:`n < 2`. An infinite value makes
    the mean infinite and the standard deviation NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.asarray(_average.nanmean(np, values, 0))
        _, count = _average.nan_sum_count(np, values, 0)
        deviation = np.where(np.isnan(values), 0.0, values - mean)
        squares = np.sum(deviation * deviation, axis=0)
        std = np.sqrt(np.where(count >= 2, squares / np.maximum(count - 1, 1), np.nan))
    return mean, std


def _nanmean(values) -> float:
    """NaN-aware mean of a 1-D array as a Python float (NaN when every value is NaN)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return float(_average.nanmean(np, np.asarray(values, dtype=np.float64), 0))


def _listing(names, limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass(repr=False)
class ScoreReport:
    """Results of :func:`regionloss.score`, as NumPy arrays (host memory), plus writers.

    ``print(report)`` shows a short summary (cases, classes, the macro means);
    :meth:`table` the per-class table; :meth:`write` a report file (``.csv``, ``.json``,
    ``.md``, ``.html``).

    Attributes
    ----------
    cases : list of Case
        The scored cases, sorted by name.
    metrics : tuple of str
        Metric names, in the order asked for.
    class_ids, class_names : tuple
        The reported classes (class 0 dropped with ``include_background=False``) and their
        names.
    confusion : ndarray, shape (N, C, C), int64
        Each case's confusion matrix (rows = reference class, columns = predicted class).
    per_case : dict of str to ndarray, shape (N, K)
        Each metric per case and reported class (``K = len(class_ids)``); where undefined
        (zero denominator), NaN or the ``zero_division`` value.
    pooled : dict of str to ndarray, shape (K,)
        Dataset-level value from the summed confusion matrix (region metrics only; NaN for
        boundary metrics, which do not pool).
    options : dict
        The settings of the run (for the JSON and HTML reports).
    spacings : list
        The voxel spacing used for each case's boundary metrics (None: not computed).
    ignored_files : list of str
        Files in the folders that have no reader (not masks), left out of the matching.
    defined : dict of str to ndarray, shape (N, K), bool
        Where each metric is defined (non-zero denominator; for boundary metrics: the class
        is in the prediction or the reference), whatever ``zero_division`` is. Missing
        metrics count their non-NaN values instead.
    num_classes : int, optional
        ``C``, the number of classes counted (``len(class_ids)`` or one more); default
        ``confusion.shape[-1]``.
    """

    cases: list[Case]
    metrics: tuple[str, ...]
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    confusion: np.ndarray
    per_case: dict[str, np.ndarray]
    pooled: dict[str, np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)
    spacings: list[Any] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    defined: dict[str, np.ndarray] = field(default_factory=dict)
    num_classes: int | None = None

    # ---- summaries

    def _stats(self, metric: str):
        mean, std = _mean_std(self.per_case[metric])
        if metric in self.defined:
            count = np.count_nonzero(self.defined[metric], axis=0)
        else:
            count = np.count_nonzero(~np.isnan(self.per_case[metric]), axis=0)
        return mean, std, count

    @property
    def mean(self) -> dict[str, np.ndarray]:
        """Per-class mean over cases (NaN values left out), metric -> (K,)."""
        return {m: self._stats(m)[0] for m in self.per_case}

    @property
    def std(self) -> dict[str, np.ndarray]:
        """Per-class sample standard deviation over cases (ddof=1, NaN values left out)."""
        return {m: self._stats(m)[1] for m in self.per_case}

    @property
    def count(self) -> dict[str, np.ndarray]:
        """Per-class number of cases where the metric is *defined* (non-zero denominator),
        whatever ``zero_division`` is: with ``zero_division`` 0 or 1 the undefined values
        enter the mean, but are not counted here."""
        return {m: self._stats(m)[2] for m in self.per_case}

    @property
    def macro(self) -> dict[str, dict[str, float]]:
        """Per metric: ``mean`` (mean over classes of the per-class means) and ``pooled``
        (mean over classes of the pooled values), both leaving NaN classes out."""
        return {
            m: {"mean": _nanmean(self._stats(m)[0]), "pooled": _nanmean(self.pooled[m])}
            for m in self.metrics
        }

    @property
    def total_classes(self) -> int:
        """``C``, the number of classes counted (reported or not)."""
        return int(self.num_classes or self.confusion.shape[-1])

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per (metric, class) and one ``macro mean`` row per metric."""
        rows = []
        for m in self.metrics:
            mean, std, count = self._stats(m)
            pools = m in REGION_METRICS
            for k, (cid, name) in enumerate(zip(self.class_ids, self.class_names)):
                rows.append({"metric": m, "class_id": cid, "class": name, "mean": mean[k],
                             "std": std[k], "pooled": self.pooled[m][k] if pools else None,
                             "cases": int(count[k])})
            macro = self.macro[m]
            rows.append({"metric": m, "class_id": None, "class": "macro mean",
                         "mean": macro["mean"], "std": None,
                         "pooled": macro["pooled"] if pools else None, "cases": None})
        return rows

    def worst_cases(self, metric: str, k: int = 5) -> list[list[tuple[int, float]]]:
        """Per reported class, up to ``k`` worst cases as ``(case index, value)``, worst
        first: lowest values first, or highest for ``LOWER_IS_BETTER`` metrics (an
        infinite distance is the worst). Cases where the metric is undefined (or NaN) are
        left out; ties keep the case order."""
        values = np.asarray(self.per_case[metric], dtype=np.float64)
        defined = self.defined.get(metric, ~np.isnan(values)) & ~np.isnan(values)
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        out = []
        for j in range(values.shape[1]):
            rows = np.flatnonzero(defined[:, j])
            order = rows[np.argsort(sign * values[rows, j], kind="stable")][:k]
            out.append([(int(i), float(values[i, j])) for i in order])
        return out

    def case_counts(self) -> dict[str, Any]:
        """How many cases are missing or empty, overall and per reported class.

        ``missing_predictions``: references without a prediction, scored as empty masks
        (``missing="empty"``). ``empty_references`` / ``empty_predictions``: cases whose
        reference / prediction holds no foreground class (nothing but class 0 where the
        reference is scored). Per class, ``in_reference``, ``in_prediction`` and
        ``in_neither`` count the cases where the class occurs; where it is in neither,
        every metric of that class is undefined (``zero_division``).
        """
        confusion = self.confusion
        in_reference = confusion.sum(axis=2) > 0   # (N, C)
        in_prediction = confusion.sum(axis=1) > 0
        ids = list(self.class_ids)
        return {
            "cases": len(self.cases),
            "missing_predictions": sum(c.prediction is None for c in self.cases),
            "empty_references": int(np.sum(~in_reference[:, 1:].any(axis=1))),
            "empty_predictions": int(np.sum(~in_prediction[:, 1:].any(axis=1))),
            "ignored_files": len(self.ignored_files),
            "classes": {
                name: {"in_reference": int(in_reference[:, c].sum()),
                       "in_prediction": int(in_prediction[:, c].sum()),
                       "in_neither": int((~in_reference[:, c] & ~in_prediction[:, c]).sum())}
                for c, name in zip(ids, self.class_names)
            },
        }

    # ---- short views

    def __repr__(self) -> str:
        macros = ", ".join(f"{m} {tables.fmt_number(self.macro[m]['mean'])}"
                           for m in self.metrics)
        return (f"<ScoreReport: {len(self.cases)} cases, {self.total_classes} classes; "
                f"macro mean {macros}>")

    def __str__(self) -> str:
        n_missing = sum(c.prediction is None for c in self.cases)
        head = (f"ScoreReport: {len(self.cases)} cases, {self.total_classes} classes "
                f"({_listing(self.class_names)}"
                + (" reported" if len(self.class_ids) != self.total_classes else "") + ")")
        if n_missing:
            head += f", {n_missing} missing prediction(s) scored as empty"
        width = max(len(m) for m in self.metrics)
        lines = [head]
        for m in self.metrics:
            macro = self.macro[m]
            pooled = (tables.fmt_number(macro["pooled"]) if m in REGION_METRICS else "-")
            lines.append(f"  {m.ljust(width)}  macro mean {tables.fmt_number(macro['mean'])}"
                         f"  pooled {pooled}")
        lines.append("(.table() for every class, .write(path) for a .csv/.json/.md/.html "
                     "report)")
        return "\n".join(lines)

    # ---- renderings

    def table(self) -> str:
        """The terminal table: per class mean, std and pooled value, plus the macro mean."""
        return tables.terminal_table(self)

    def to_csv(self) -> str:
        """Summary CSV: ``metric,class_id,class,mean,std,pooled,cases`` (NaN as ``nan``)."""
        return tables.summary_csv(self)

    def to_markdown(self) -> str:
        """Summary as a Markdown table."""
        return tables.markdown(self)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able data: numbers, non-finite values as the strings
        ``"nan"``, ``"inf"``, ``"-inf"``, and ``None`` only for "not applicable" (the pooled
        value of a boundary metric)."""
        return tables.as_dict(self)

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON text."""
        return tables.as_json(self)

    def per_case_csv(self) -> str:
        """One row per case and reported class: the metrics, and the class's tp/fp/fn/tn."""
        return tables.per_case_csv(self)

    def to_html(self, *, plots: bool = True) -> str:
        """One self-contained HTML page (no network fetch): run settings and versions, the
        per-class tables, a distribution plot per metric (with matplotlib; without it, a
        note saying how to get them), the worst cases and the missing / empty counts."""
        from .html_report import render_html

        return render_html(self, plots=plots)

    # ---- files

    def render(self, path: str) -> str:
        """The report for ``path``, in the format its extension names."""
        fmt = output_format(path)
        if fmt == "html":
            return self.to_html()
        return {"csv": self.to_csv, "json": self.to_json, "markdown": self.to_markdown}[fmt]()

    def write(self, path: str) -> None:
        """Write the summary report atomically, format by extension (.csv, .json, .md,
        .html)."""
        write_atomic({path: self.render(path)})

    def write_per_case(self, path: str) -> None:
        """Write the per-case CSV atomically."""
        write_atomic({path: self.per_case_csv()})
