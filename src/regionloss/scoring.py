"""Offline scoring of mask files: folders of predictions against folders of references.

:func:`score` is the Python face of the ``regionloss score`` command (:mod:`regionloss.cli`):
it matches prediction and reference files, reads them one pair at a time, reduces each pair
to its small, mergeable statistics (a ``(C, C)`` integer confusion matrix from
:func:`regionloss.confusion_matrix`, plus boundary distances from
:func:`regionloss.surface.surface_metrics` when asked for), and turns them into numbers with
:func:`regionloss.metrics.score_confusion`, so that the command and the library cannot
disagree. Cases run serially, in ``workers`` local processes, or on an existing Dask
distributed cluster (``scheduler``); the per-case statistics are integers (or per-case
values), so every way of running gives identical results.

Nothing here is imported by ``import regionloss`` beyond NumPy (and the library's own
modules); Pillow, tifffile, nibabel, SciPy, CuPy and Dask are imported only when a run needs
them.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import _reduce as _average
from ._kernels.arrays import to_numpy
from ._validate import check_zero_division
from .metrics import surface as _surface  # NumPy only at import; SciPy when it runs
from ._io import MaskReadError, MissingDependencyError, is_supported, read_mask, split_extension
from ._validate import bad_labels_message, describe_bad_labels, find_bad_labels
from .metrics import METRIC_NAMES

__all__ = [
    "score",
    "find_cases",
    "Case",
    "ScoreReport",
    "ScoringError",
    "OptionError",
    "MaskReadError",
    "MissingDependencyError",
    "REGION_METRICS",
    "BOUNDARY_METRICS",
    "write_atomic",
]

#: Metrics computed from confusion matrices: :data:`regionloss.metrics.METRIC_NAMES` itself.
REGION_METRICS = METRIC_NAMES
#: Boundary metrics, the names of :data:`regionloss.surface.SURFACE_METRICS` (a dict of
#: descriptions) as a tuple; computed by :func:`regionloss.surface.surface_metrics` (SciPy).
BOUNDARY_METRICS = tuple(_surface.SURFACE_METRICS)

_OUTPUT_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown"}
_MAX_LISTED = 10


class ScoringError(ValueError):
    """Bad scoring input (unmatched files, shape mismatch, bad label, bad option)."""


class OptionError(ScoringError):
    """A bad option, found from the options alone before any file is read (unknown metric,
    option of a metric not asked for, bad report extension, ...). The command line exits
    with status 2 for these (a bad command line), 1 for every other :class:`ScoringError`."""


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Case:
    """One scored pair: ``name`` (relative path without extension), the prediction file
    (``None`` when missing and scored as an empty mask) and the reference file."""

    name: str
    prediction: str | None
    reference: str


def _collect(root: str, what: str) -> tuple[dict[str, str], list[str]]:
    """Files under ``root`` by matching key (relative directory + stem), and ignored files."""
    found: dict[str, str] = {}
    ignored: list[str] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(directory, name)
            if not is_supported(name):
                ignored.append(path)
                continue
            stem, _ = split_extension(name)
            rel_dir = os.path.relpath(directory, root)
            key = stem if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{stem}"
            if key in found:
                raise ScoringError(
                    f"two {what} files for case {key!r}: {found[key]} and {path}; "
                    "keep one file per case"
                )
            found[key] = path
    return found, ignored


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... and {len(names) - _MAX_LISTED} more"
    return shown


def find_cases(pred: str, target: str, /, *, missing: str = "error") -> tuple[list[Case], list[str]]:
    """Match prediction and reference files; returns ``(cases, ignored_files)``.

    ``pred`` and ``target`` are both folders (searched recursively; files matched by
    relative directory and file stem, whatever their formats; hidden files skipped) or both
    single files. Cases come sorted by name, so every run scores them in the same order.

    Raises
    ------
    ScoringError
        A path does not exist; one is a file and the other a folder; a folder holds no mask
        file; a prediction has no reference (always an error); a reference has no prediction
        (unless ``missing="empty"``, which scores it as an all-background prediction); two
        files in one folder map to the same case.
    """
    if missing not in ("error", "empty"):
        raise OptionError(f"missing must be 'error' or 'empty', got {missing!r}")
    for path, what in ((pred, "prediction"), (target, "reference")):
        if not os.path.exists(path):
            raise ScoringError(f"{what} path {path} does not exist")
    if os.path.isfile(pred) != os.path.isfile(target):
        raise ScoringError(
            f"prediction {pred} and reference {target} must both be files or both be folders"
        )
    if os.path.isfile(pred):
        for path in (pred, target):
            if not is_supported(path):
                raise ScoringError(f"{path}: unsupported file type")
        return [Case(split_extension(pred)[0], pred, target)], []

    predictions, ignored_p = _collect(pred, "prediction")
    references, ignored_t = _collect(target, "reference")
    if not references:
        raise ScoringError(f"no mask files (.npy, .npz, .png, .tif, .nii, .nii.gz) in reference folder {target}")
    if not predictions and missing == "error":
        raise ScoringError(f"no mask files (.npy, .npz, .png, .tif, .nii, .nii.gz) in prediction folder {pred}")
    no_reference = sorted(set(predictions) - set(references))
    no_prediction = sorted(set(references) - set(predictions))
    problems = []
    if no_reference:
        problems.append(
            f"{len(no_reference)} prediction(s) without a reference in {target}: {_listing(no_reference)}"
        )
    if no_prediction and missing == "error":
        problems.append(
            f"{len(no_prediction)} reference(s) without a prediction in {pred}: "
            f"{_listing(no_prediction)} (--missing empty / missing='empty' scores them as empty predictions)"
        )
    if problems:
        raise ScoringError("; ".join(problems))
    cases = [Case(key, predictions.get(key), references[key]) for key in sorted(references)]
    return cases, ignored_p + ignored_t


# --------------------------------------------------------------------------- per-case work


@dataclass(frozen=True)
class _Config:
    """Everything a worker needs to score a case (picklable, small)."""

    num_classes: int
    ignore_index: int | None
    surface: tuple[str, ...]
    spacing: tuple[float, ...] | None
    tolerance: Any
    include_background: bool
    zero_division: float
    backend: str
    empty_distance: float | None = None


@dataclass
class _CaseStats:
    """What one case reduces to: never the masks."""

    index: int
    confusion: np.ndarray  # (C, C) int64, rows = reference class, columns = predicted
    surface: dict[str, np.ndarray]  # name -> (C,) float64
    spacing: tuple[float, ...] | None


def _check_labels(pred_labels, target_labels, case: Case, num_classes, ignore_index):
    """Raise :class:`ScoringError` if a label lies outside ``[0, num_classes)``.

    The check and the wording are the library's (:mod:`regionloss._labels`, as in
    :func:`regionloss.confusion_matrix`): ``ignore_index`` is allowed in the reference, and
    any prediction where the reference is ignored (those pixels are not looked at). The
    message names the file(s) at fault, the first bad value, its index and the count.
    """
    bad_t = find_bad_labels(target_labels, num_classes=num_classes, ignore_index=ignore_index)
    bad_p = None
    if case.prediction is not None:
        bad_p = find_bad_labels(pred_labels, num_classes=num_classes,
                                ignore_index=ignore_index, reference=target_labels)
    if bad_t is None and bad_p is None:
        return
    raise ScoringError(bad_labels_message(
        None if bad_t is None else describe_bad_labels(
            f"reference {case.reference}", bad_t, num_classes=num_classes,
            ignore_index=ignore_index),
        None if bad_p is None else describe_bad_labels(
            f"prediction {case.prediction}", bad_p, num_classes=num_classes, prediction=True),
    ))


def _resolve_spacing(config: _Config, pred, target, ndim: int):
    if config.spacing is not None:
        if len(config.spacing) != ndim:
            raise ScoringError(
                f"spacing {config.spacing} has {len(config.spacing)} values but "
                f"{target.path} is {ndim}-D"
            )
        return config.spacing
    if target.spacing is not None and pred is not None and pred.spacing is not None:
        if not np.allclose(pred.spacing, target.spacing, rtol=1e-5, atol=0):
            raise ScoringError(
                f"voxel spacing differs: {pred.path} has {pred.spacing}, {target.path} has "
                f"{target.spacing}; resample, or pass --spacing / spacing= to override"
            )
    return target.spacing


def _cupy():
    try:
        import cupy
    except ImportError as exc:
        raise MissingDependencyError(
            "backend 'cupy' needs CuPy, which is not installed: pip install 'regionloss[cupy]'"
        ) from exc
    return cupy


def _to_host(x) -> np.ndarray:
    return to_numpy(x)


def _score_case(index: int, case: Case, config: _Config) -> _CaseStats:
    """Read one pair, check it, and reduce it to its statistics."""
    from .metrics import confusion_matrix

    target = read_mask(case.reference)
    if case.prediction is None:
        pred = None
        pred_labels = np.zeros(target.array.shape, dtype=target.array.dtype)
        # all zeros: in range whatever num_classes is (>= 1)
    else:
        pred = read_mask(case.prediction)
        pred_labels = pred.array
        if pred_labels.shape != target.array.shape:
            raise ScoringError(
                f"shape mismatch: prediction {case.prediction} has shape {pred_labels.shape}, "
                f"reference {case.reference} has shape {target.array.shape}"
            )
    target_labels = target.array
    _check_labels(pred_labels, target_labels, case, config.num_classes, config.ignore_index)
    if config.surface and target_labels.ndim not in (2, 3):
        files = (f"prediction {case.prediction} and reference {case.reference}"
                 if case.prediction is not None else f"reference {case.reference}")
        raise ScoringError(
            f"boundary metrics ({', '.join(config.surface)}) need 2-D or 3-D masks; "
            f"{files} have shape {target_labels.shape} ({target_labels.ndim}-D). Region "
            "metrics work on any shape; leave the boundary metrics out for these files"
        )

    # Labels were checked above (with the file named), so the counting kernel need not
    # check them again: validate=False. On NumPy, confusion_matrix picks its fastest
    # kernel (regionloss._counting; mostly-agreeing masks: the disagreement-only one).
    if config.backend == "cupy":
        cupy = _cupy()
        p, t = cupy.asarray(pred_labels), cupy.asarray(target_labels)
    else:
        p, t = pred_labels, target_labels
    confusion = _to_host(confusion_matrix(p, t, num_classes=config.num_classes,
                                          ignore_index=config.ignore_index, validate=False))
    confusion = confusion.astype(np.int64, copy=False)

    surface: dict[str, np.ndarray] = {}
    spacing = None
    if config.surface:
        from .metrics.surface import surface_metrics

        spacing = _resolve_spacing(config, pred, target, target_labels.ndim)
        values = surface_metrics(
            p[None], t[None], num_classes=config.num_classes, metrics=config.surface,
            spacing=spacing, tolerance=config.tolerance, ignore_index=config.ignore_index,
            include_background=config.include_background, zero_division=config.zero_division,
            empty_distance=config.empty_distance,
        )
        for name in config.surface:
            row = _to_host(values[name]).astype(np.float64).reshape(-1)
            if row.shape[0] == config.num_classes - 1:  # background dropped by the callee
                row = np.concatenate([[np.nan], row])
            surface[name] = row
    return _CaseStats(index, confusion, surface, spacing)


def _score_chunk(chunk: Sequence[tuple[int, Case]], config: _Config) -> list[_CaseStats]:
    """Score a few cases (one task for a worker process or a Dask worker)."""
    return [_score_case(index, case, config) for index, case in chunk]


def _sum_confusions(*chunk_results: list[_CaseStats]) -> np.ndarray:
    """Pooled (dataset-level) confusion matrix: the exact integer sum of every case's."""
    total = None
    for chunk in chunk_results:
        for stats in chunk:
            total = stats.confusion.copy() if total is None else total + stats.confusion
    return total


# --------------------------------------------------------------------------- runners


def _chunks(cases: Sequence[Case], size: int) -> list[list[tuple[int, Case]]]:
    indexed = list(enumerate(cases))
    return [indexed[i:i + size] for i in range(0, len(indexed), size)]


def _chunk_size(n_cases: int, n_workers: int) -> int:
    # A few tasks per worker (load balance) but several cases per task (less overhead).
    return max(1, min(32, n_cases // (4 * n_workers)))


def _run_serial(cases, config, progress):
    results = []
    for index, case in enumerate(cases):
        results.append(_score_case(index, case, config))
        if progress is not None:
            progress(index + 1, len(cases))
    return results


def _mp_context():
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    # Runtimes that start native threads Python's threading module cannot see.
    threaded = any(name in sys.modules for name in ("jax", "torch", "cupy", "tensorflow"))
    if ("fork" in methods and threading.active_count() == 1 and not threaded
            and sys.platform != "darwin"):
        # A single-threaded parent (the command line) forks safely, and forking is what
        # makes a pool pay off on a few hundred cases (no interpreter start-up per worker).
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        # Safe with threads in the parent (unlike fork); the server imports NumPy and
        # regionloss once, so each worker starts by a cheap fork.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "regionloss.scoring", "regionloss.metrics"])
        return ctx
    return multiprocessing.get_context("spawn")


def _run_processes(cases, config, workers, progress):
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    chunks = _chunks(cases, _chunk_size(len(cases), workers))
    results: list[_CaseStats] = []
    done_cases = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
        pending = {pool.submit(_score_chunk, chunk, config) for chunk in chunks}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    chunk_result = future.result()  # re-raises a worker's error
                    results.extend(chunk_result)
                    done_cases += len(chunk_result)
                    if progress is not None:
                        progress(done_cases, len(cases))
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results


def _run_dask(cases, config, scheduler, progress):
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            "scheduler= / --scheduler needs Dask distributed, which is not installed: "
            "pip install 'regionloss[dask]'"
        ) from exc
    own_client = not isinstance(scheduler, distributed.Client)
    client = distributed.Client(scheduler, set_as_default=False) if own_client else scheduler
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        chunks = _chunks(cases, _chunk_size(len(cases), n_workers))
        futures = client.map(_score_chunk, chunks, config=config, pure=False)
        # The mergeable statistics are reduced on the cluster: one integer sum.
        pooled_future = client.submit(_sum_confusions, *futures, pure=False)
        results: list[_CaseStats] = []
        for future in distributed.as_completed(futures, loop=client.loop):
            chunk_result = future.result()  # re-raises a worker's error
            results.extend(chunk_result)
            if progress is not None:
                progress(len(results), len(cases))
        pooled = pooled_future.result()
    except BaseException:
        if own_client:
            client.close()
        raise
    if own_client:
        client.close()
    return results, pooled


# --------------------------------------------------------------------------- results


def _mean_std(values: np.ndarray):
    r"""Mean and sample standard deviation (ddof=1) over axis 0, NaN values left out.

    The NaN-aware mean and the count are the library's (:func:`regionloss._average.nanmean`
    and :func:`~regionloss._average.nan_sum_count`); the standard deviation, which the
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


def _nonfinite(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _fmt_csv(value) -> str:
    value = float(value)
    return repr(value) if math.isfinite(value) else _nonfinite(value)


def _json_value(value):
    """A JSON number, or the string ``"nan"``, ``"inf"`` or ``"-inf"`` (``float()`` reads all
    three back); ``None`` (JSON ``null``) is kept for "not applicable"."""
    value = float(value)
    return value if math.isfinite(value) else _nonfinite(value)


def _fmt_table(value, digits=4) -> str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


@dataclass
class ScoreReport:
    """Results of :func:`score`, as NumPy arrays (host memory), plus writers.

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
        The settings of the run (for the JSON report).
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

    # ---- text renderings

    def table(self) -> str:
        """The terminal table: per class mean, std and pooled value, plus the macro mean."""
        header = ["metric", "class", "mean", "std", "pooled", "cases"]
        body = []
        for row in self.summary_rows():
            body.append([
                row["metric"], row["class"], _fmt_table(row["mean"]),
                "" if row["std"] is None else _fmt_table(row["std"]),
                "-" if row["pooled"] is None else _fmt_table(row["pooled"]),
                "" if row["cases"] is None else str(row["cases"]),
            ])
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        left = {0, 1}

        def line(cells):
            return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        n_missing = sum(c.prediction is None for c in self.cases)
        num_classes = self.num_classes or int(self.confusion.shape[-1])
        title = f"{len(self.cases)} cases, {num_classes} classes"
        if len(self.class_ids) != num_classes:
            title += f", {len(self.class_ids)} reported"
        if n_missing:
            title += f" ({n_missing} missing predictions scored as empty)"
        lines = [title, line(header), line(["-" * w for w in widths])]
        previous = None
        for cells in body:
            if previous is not None and cells[0] != previous:
                lines.append("")
            lines.append(line(cells))
            previous = cells[0]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """Summary CSV: ``metric,class_id,class,mean,std,pooled,cases`` (NaN as ``nan``)."""
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", "class_id", "class", "mean", "std", "pooled", "cases"])
        for row in self.summary_rows():
            writer.writerow([
                row["metric"], "" if row["class_id"] is None else row["class_id"], row["class"],
                _fmt_csv(row["mean"]), "" if row["std"] is None else _fmt_csv(row["std"]),
                "" if row["pooled"] is None else _fmt_csv(row["pooled"]),
                "" if row["cases"] is None else row["cases"],
            ])
        return out.getvalue()

    def to_markdown(self) -> str:
        """Summary as a Markdown table."""
        lines = ["| metric | class | mean | std | pooled | cases |",
                 "|---|---|---:|---:|---:|---:|"]
        for row in self.summary_rows():
            lines.append("| {} | {} | {} | {} | {} | {} |".format(
                row["metric"], row["class"], _fmt_table(row["mean"]),
                "" if row["std"] is None else _fmt_table(row["std"]),
                "-" if row["pooled"] is None else _fmt_table(row["pooled"]),
                "" if row["cases"] is None else row["cases"]))
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able data: numbers, non-finite values as the strings
        ``"nan"``, ``"inf"``, ``"-inf"``, and ``None`` only for "not applicable" (the pooled
        value of a boundary metric)."""
        summary: dict[str, Any] = {}
        for m in self.metrics:
            mean, std, count = self._stats(m)
            pools = m in REGION_METRICS
            summary[m] = {
                "classes": {
                    name: {"class_id": cid, "mean": _json_value(mean[k]),
                           "std": _json_value(std[k]),
                           "pooled": _json_value(self.pooled[m][k]) if pools else None,
                           "cases": int(count[k])}
                    for k, (cid, name) in enumerate(zip(self.class_ids, self.class_names))
                },
                "macro_mean": _json_value(self.macro[m]["mean"]),
                "macro_pooled": _json_value(self.macro[m]["pooled"]) if pools else None,
            }
        from . import __version__

        return {
            "regionloss_version": __version__,
            "options": self.options,
            "classes": dict(zip(self.class_names, self.class_ids)),
            "metrics": list(self.metrics),
            "num_cases": len(self.cases),
            "summary": summary,
            "cases": [
                {"case": c.name, "prediction": c.prediction, "reference": c.reference,
                 **{m: [_json_value(v) for v in self.per_case[m][i]] for m in self.metrics}}
                for i, c in enumerate(self.cases)
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def per_case_csv(self) -> str:
        """One row per case and reported class: the metrics, and the class's tp/fp/fn/tn."""
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["case", "class_id", "class", *self.metrics, "tp", "fp", "fn", "tn",
                         "prediction", "reference", "missing_prediction"])
        total = self.confusion.sum(axis=(1, 2))
        for i, case in enumerate(self.cases):
            matrix = self.confusion[i]
            for k, (cid, name) in enumerate(zip(self.class_ids, self.class_names)):
                tp = int(matrix[cid, cid])
                fp = int(matrix[:, cid].sum()) - tp
                fn = int(matrix[cid, :].sum()) - tp
                tn = int(total[i]) - tp - fp - fn
                writer.writerow([case.name, cid, name,
                                 *(_fmt_csv(self.per_case[m][i, k]) for m in self.metrics),
                                 tp, fp, fn, tn, case.prediction or "", case.reference,
                                 int(case.prediction is None)])
        return out.getvalue()

    # ---- files

    def render(self, path: str) -> str:
        """The report for ``path``, in the format its extension names."""
        fmt = output_format(path)
        return {"csv": self.to_csv, "json": self.to_json, "markdown": self.to_markdown}[fmt]()

    def write(self, path: str) -> None:
        """Write the summary report atomically, format by extension (.csv, .json, .md)."""
        write_atomic({path: self.render(path)})

    def write_per_case(self, path: str) -> None:
        """Write the per-case CSV atomically."""
        write_atomic({path: self.per_case_csv()})


def output_format(path: str) -> str:
    """'csv', 'json' or 'markdown' from ``path``'s extension; ScoringError otherwise."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in _OUTPUT_FORMATS:
        raise OptionError(
            f"output {path}: unknown report format {ext or '(no extension)'!r}; "
            "use .csv, .json or .md"
        )
    return _OUTPUT_FORMATS[ext]


def check_writable(path: str, what: str = "output") -> None:
    """Fail early (before scoring) when ``path`` cannot be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ScoringError(f"{what} {path}: folder {directory} does not exist")
    if os.path.isdir(path):
        raise ScoringError(f"{what} {path} is a folder")
    if not os.access(directory, os.W_OK):
        raise ScoringError(f"{what} {path}: folder {directory} is not writable")


def _current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux:
    ``/proc/self/status``); else set and restored at once (``os.umask`` can only be read
    by setting it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _report_mode(path: str) -> int:
    """The permission bits a report written to ``path`` gets: those of the file it
    replaces, else what ``open(path, "w")`` would give a new file, ``0o666 & ~umask``
    (a temporary file from ``mkstemp`` is ``0o600``)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_current_umask()


def write_atomic(contents: Mapping[str, str]) -> None:
    """Write every ``path -> text`` through a temporary file in the same folder, then rename.

    All files are written and synced first, then renamed one by one: a run interrupted or
    failing while writing leaves every previous report untouched and no partial file. A
    report keeps the permission bits of the file it replaces; a new one gets
    ``0o666 & ~umask``, as a file opened for writing would.
    """
    temporaries: list[tuple[str, str]] = []
    try:
        for path, text in contents.items():
            directory = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                       suffix=".tmp")
            temporaries.append((tmp, path))
            os.chmod(tmp, _report_mode(path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in temporaries:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temporaries:
            if os.path.exists(tmp):
                os.unlink(tmp)


# --------------------------------------------------------------------------- the API


def _parse_names(metrics) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = [metrics]
    names: list[str] = []
    for item in metrics:
        for name in str(item).split(","):
            name = name.strip().lower()
            if name and name not in names:
                names.append(name)
    if not names:
        raise OptionError("metrics: give at least one metric")
    known = REGION_METRICS + BOUNDARY_METRICS
    unknown = [n for n in names if n not in known]
    if unknown:
        raise OptionError(
            f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return tuple(names)



def _per_class(value, num_classes: int, name: str):
    """A float or a sequence of ``num_classes`` floats (as a tuple)."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    values = tuple(float(v) for v in value)
    if len(values) == 1:
        return values[0]
    if len(values) != num_classes:
        raise OptionError(
            f"{name}: give one value or one per class ({num_classes}), got {len(values)}"
        )
    return values


def score(
    pred: str,
    target: str,
    /,
    *,
    num_classes: int,
    metrics: Sequence[str] | str = ("dice", "iou"),
    ignore_index: int | None = None,
    include_background: bool = True,
    class_names: Sequence[str] | None = None,
    zero_division: float = float("nan"),
    missing: str = "error",
    backend: str = "numpy",
    workers: int | None = None,
    scheduler: Any = None,
    spacing: Sequence[float] | None = None,
    tolerance: float | Sequence[float] | None = None,
    empty_distance: float | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreReport:
    r"""Score prediction masks against reference masks, file by file.

    Every number comes from the library's own functions: each case is reduced to its
    confusion matrix :math:`M_{ij}` (reference class ``i``, predicted class ``j``) by
    :func:`regionloss.confusion_matrix`; per-case values are
    :func:`regionloss.metrics.score_confusion` on that matrix (e.g. Dice
    :math:`2tp / (2tp + fp + fn)` with :math:`tp = M_{cc}`, :math:`fp = \sum_i M_{ic} - tp`,
    :math:`fn = \sum_j M_{cj} - tp`), and the dataset-level *pooled* value is the same
    function on :math:`\sum_n M^{(n)}`. Boundary metrics (``hd``, ``hd95``, ``asd``,
    ``assd``, ``nsd``) come from :func:`regionloss.surface.surface_metrics` per case and are
    not pooled.

    Parameters
    ----------
    pred, target : str
        Two folders (files matched recursively by relative path and stem) or two files.
        Formats by extension: ``.npy``, ``.npz`` (NumPy), ``.png`` (Pillow), ``.tif``/
        ``.tiff`` (tifffile), ``.nii``/``.nii.gz`` (nibabel; its voxel spacing is used by
        the boundary metrics).
    num_classes : int
        Labels must lie in ``[0, num_classes)`` (or equal ``ignore_index``).
    metrics : sequence of str, default ("dice", "iou")
        Any of :data:`REGION_METRICS` and :data:`BOUNDARY_METRICS` (2-D and 3-D masks
        only).
    ignore_index : int, optional
        Reference pixels with this label are left out of every count.
    include_background : bool, default True
        False drops class 0 from the report (it is still counted in the matrices).
    class_names : sequence of str, optional
        ``num_classes`` names (or ``num_classes - 1`` without background).
    zero_division : {nan, 0.0, 1.0}, default nan
        Value of a metric whose denominator is zero (class absent from prediction and
        reference). NaN values are left out of means and standard deviations; 0 and 1
        enter them. Either way the per-class ``cases`` count (:attr:`ScoreReport.count`)
        counts only the cases where the metric is defined.
    missing : {"error", "empty"}
        A reference without a prediction is an error, or (``"empty"``) scored against an
        all-zero (all-background) prediction of the reference's shape: the worst case.
    backend : {"numpy", "cupy"}
        Where the counting runs (files are always read on the host).
    workers : int, optional
        Score in this many local processes (``None`` or 1: in this process).
    scheduler : str or distributed.Client, optional
        Score on an existing Dask distributed cluster (address or client).
    spacing : sequence of float, optional
        Voxel spacing for boundary metrics (overrides NIfTI headers; default: the
        reference's NIfTI header, else 1 per axis).
    tolerance : float or sequence of float, optional
        Surface-Dice (``nsd``) tolerance in physical units, one value or one per class.
    empty_distance : float, optional
        Distance metrics (``hd``, ``hd95``, ``asd``, ``assd``) where exactly one of the
        prediction and the reference is empty: ``inf`` by default, or this value (e.g. the
        image diagonal) so that means stay finite. Surface Dice is 0 there.
    metric_options : mapping, optional
        Extra keyword options per metric, passed to ``score_confusion``, e.g.
        ``{"tversky": {"alpha": 0.3, "beta": 0.7}, "fbeta": {"beta": 2.0}}``; each key
        must be a metric asked for in ``metrics``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each finished case (or chunk of cases).

    Returns
    -------
    ScoreReport
        Per-case values, per-class mean / std / pooled values and the macro mean, with
        writers for CSV, JSON and Markdown reports and the per-case CSV.

    Raises
    ------
    OptionError
        A bad option, found before any file is read (a :class:`ScoringError`).
    ScoringError
        Unmatched files, shape mismatch (both files and shapes named), label out of range
        or non-integer (file and value named), masks that are not 2-D or 3-D with a
        boundary metric (both files named).
    MaskReadError
        An unreadable, truncated or empty (zero-size) file (named).
    MissingDependencyError
        A format, the CuPy backend or Dask needs a package that is not installed.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise OptionError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    if not include_background and num_classes < 2:
        raise OptionError("include_background=False needs num_classes >= 2")
    if ignore_index is not None:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise OptionError(f"ignore_index must be an integer, got {ignore_index!r}")
        ignore_index = int(ignore_index)
    names = _parse_names(metrics)
    try:
        zero_division = check_zero_division(zero_division)
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc)) from None
    if backend not in ("numpy", "cupy"):
        raise OptionError(f"backend must be 'numpy' or 'cupy', got {backend!r}")
    if backend == "cupy":
        _cupy()
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise OptionError(f"workers must be a positive integer, got {workers!r}")
    if workers not in (None, 1) and scheduler is not None:
        raise OptionError("give either workers (local processes) or scheduler (Dask), not both")

    class_ids = tuple(range(0 if include_background else 1, num_classes))
    if class_names is None:
        shown_names = tuple(str(c) for c in class_ids)
    else:
        class_names = tuple(str(n) for n in class_names)
        if len(class_names) == num_classes:
            shown_names = class_names[len(class_names) - len(class_ids):]
        elif len(class_names) == len(class_ids):
            shown_names = class_names
        else:
            raise OptionError(
                f"class_names: expected {num_classes} names"
                + ("" if include_background else f" (or {len(class_ids)} without background)")
                + f", got {len(class_names)}"
            )
    surface = tuple(n for n in names if n in BOUNDARY_METRICS)
    spacing_t = None if spacing is None else tuple(float(s) for s in spacing)
    if spacing_t is not None and any(not s > 0 for s in spacing_t):
        raise OptionError(f"spacing must be positive, got {spacing_t}")
    tol = _per_class(tolerance, num_classes, "tolerance")
    if "nsd" in surface and tol is None:
        raise OptionError("metric 'nsd' (normalised surface Dice) needs a tolerance")
    if surface:
        try:
            import scipy  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                f"boundary metrics ({', '.join(surface)}) need SciPy, which is not installed: "
                "pip install 'regionloss[surface]'"
            ) from exc
    options = _check_metric_options(metric_options, names)
    if empty_distance is not None:
        empty_distance = float(empty_distance)
        if not empty_distance >= 0:
            raise OptionError(f"empty_distance must be >= 0, got {empty_distance}")

    cases, ignored = find_cases(pred, target, missing=missing)
    config = _Config(num_classes, ignore_index, surface, spacing_t, tol, include_background,
                     zero_division, backend, empty_distance)

    pooled_confusion = None
    if scheduler is not None:
        stats, pooled_confusion = _run_dask(cases, config, scheduler, progress)
    elif workers not in (None, 1) and len(cases) > 1:
        stats = _run_processes(cases, config, workers, progress)
    else:
        stats = _run_serial(cases, config, progress)
    stats.sort(key=lambda s: s.index)

    confusion = np.stack([s.confusion for s in stats]).astype(np.int64, copy=False)
    if pooled_confusion is None:
        pooled_confusion = confusion.sum(axis=0)
    report_columns = list(class_ids)
    per_case: dict[str, np.ndarray] = {}
    pooled: dict[str, np.ndarray] = {}
    defined: dict[str, np.ndarray] = {}
    # A boundary metric is defined where the class is in the prediction or the reference
    # (both empty: zero_division), i.e. where its row or column of the matrix is non-zero.
    present = (confusion.sum(axis=2) + confusion.sum(axis=1)) > 0
    for name in names:
        if name in BOUNDARY_METRICS:
            values = np.stack([s.surface[name] for s in stats])
            per_case[name] = values[:, report_columns]
            pooled[name] = np.full(len(class_ids), np.nan)
            defined[name] = present[:, report_columns]
        else:
            values, ok = _score_matrices(confusion, name, zero_division, options.get(name, {}))
            per_case[name] = values[:, report_columns]
            defined[name] = ok[:, report_columns]
            pooled[name] = _score_matrices(pooled_confusion, name, zero_division,
                                           options.get(name, {}))[0][report_columns]

    run_options = _json_safe({
        "prediction": str(pred), "reference": str(target), "num_classes": num_classes,
        "ignore_index": ignore_index, "include_background": include_background,
        "zero_division": zero_division,
        "missing": missing, "backend": backend, "spacing": spacing_t,
        "tolerance": tol, "empty_distance": empty_distance,
        "metric_options": {k: dict(v) for k, v in options.items()},
        "std": "sample standard deviation over cases (ddof=1), NaN values left out",
        "cases": "number of cases where the metric is defined (non-zero denominator)",
        "ignored_files": len(ignored),
    })
    return ScoreReport(cases=cases, metrics=names, class_ids=class_ids,
                       class_names=shown_names, confusion=confusion, per_case=per_case,
                       pooled=pooled, options=run_options,
                       spacings=[s.spacing for s in stats], ignored_files=ignored,
                       defined=defined, num_classes=num_classes)


def _check_metric_options(metric_options, names) -> dict[str, dict[str, Any]]:
    """``metric_options`` checked before any file is read: each key a metric asked for,
    each option one that metric takes, with a valid value (:class:`OptionError`)."""
    from .metrics import score_confusion

    options = {str(k).lower(): dict(v) for k, v in dict(metric_options or {}).items()}
    probe = np.zeros((2, 2), np.int64)
    for key, opts in options.items():
        if key not in REGION_METRICS:
            raise OptionError(f"metric_options: {key!r} is not a region metric")
        if key not in names:
            raise OptionError(
                f"metric_options: {key!r} given but metric {key!r} is not asked for "
                f"(metrics: {', '.join(names)})"
            )
        try:
            score_confusion(probe, metric=key, **opts)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"metric_options[{key!r}]: {exc}") from None
    return options


def _json_safe(value):
    """``value`` with every non-finite float as the string ``"nan"``, ``"inf"``, ``"-inf"``
    (strict JSON, the rule of the reports)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_json_safe(v) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return _nonfinite(value)
    return value


def _score_matrices(confusion: np.ndarray, metric: str, zero_division: float,
                    options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``score_confusion`` on (C, C) or (N, C, C) matrices: per class, all classes, float64,
    and where each value is defined (non-zero denominator), bool."""
    from .metrics import score_confusion

    value, defined = score_confusion(confusion, metric=metric, average="none",
                                     include_background=True, zero_division=zero_division,
                                     return_defined=True, **options)
    return np.asarray(value, dtype=np.float64), np.asarray(defined).astype(bool)
