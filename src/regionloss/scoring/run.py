"""One scoring run: options checked, cases matched, run, and assembled into a report.

:func:`score` is the public entry point (``regionloss.score``); :func:`run_scoring` does the
work from checked :class:`~regionloss.scoring.options.ScoringOptions`, so that the command
line, which spells its options as flags, shares every step.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .cases import CaseSettings
from .matching import find_cases
from .options import BOUNDARY_METRICS, ScoringOptions, check_options, run_settings
from .report import ScoreReport
from .runners import run_dask, run_processes, run_serial

__all__ = ["score", "run_scoring"]


def _score_matrices(confusion: np.ndarray, metric: str, zero_division: float,
                    options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``score_confusion`` on (C, C) or (N, C, C) matrices: per class, all classes, float64,
    and where each value is defined (non-zero denominator), bool."""
    from ..metrics import score_confusion

    value, defined = score_confusion(confusion, metric=metric, average="none",
                                     include_background=True, zero_division=zero_division,
                                     return_defined=True, **options)
    return np.asarray(value, dtype=np.float64), np.asarray(defined).astype(bool)


def run_scoring(options: ScoringOptions,
                progress: Callable[[int, int], None] | None = None) -> ScoreReport:
    """Match, score and report, from checked options (see :func:`score`)."""
    cases, ignored = find_cases(options.pred, options.target, missing=options.missing,
                                spelling=options.spelling)
    settings = CaseSettings.from_options(options)

    pooled_confusion = None
    if options.scheduler is not None:
        stats, pooled_confusion = run_dask(cases, settings, options.scheduler, progress)
    elif options.workers not in (None, 1) and len(cases) > 1:
        stats = run_processes(cases, settings, options.workers, progress)
    else:
        stats = run_serial(cases, settings, progress)
    stats.sort(key=lambda s: s.index)

    confusion = np.stack([s.confusion for s in stats]).astype(np.int64, copy=False)
    if pooled_confusion is None:
        pooled_confusion = confusion.sum(axis=0)
    columns = list(options.class_ids)
    per_case: dict[str, np.ndarray] = {}
    pooled: dict[str, np.ndarray] = {}
    defined: dict[str, np.ndarray] = {}
    # A boundary metric is defined where the class is in the prediction or the reference
    # (both empty: zero_division), i.e. where its row or column of the matrix is non-zero.
    present = (confusion.sum(axis=2) + confusion.sum(axis=1)) > 0
    for name in options.metrics:
        if name in BOUNDARY_METRICS:
            values = np.stack([s.surface[name] for s in stats])
            per_case[name] = values[:, columns]
            pooled[name] = np.full(len(columns), np.nan)
            defined[name] = present[:, columns]
        else:
            metric_opts = options.metric_options.get(name, {})
            values, ok = _score_matrices(confusion, name, options.zero_division, metric_opts)
            per_case[name] = values[:, columns]
            defined[name] = ok[:, columns]
            pooled[name] = _score_matrices(pooled_confusion, name, options.zero_division,
                                           metric_opts)[0][columns]
    return ScoreReport(cases=cases, metrics=options.metrics, class_ids=options.class_ids,
                       class_names=options.class_names, confusion=confusion,
                       per_case=per_case, pooled=pooled,
                       options=run_settings(options, len(ignored)),
                       spacings=[s.spacing for s in stats], ignored_files=ignored,
                       defined=defined, num_classes=options.num_classes)


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
    ``assd``, ``nsd``) come from :func:`regionloss.metrics.surface_metrics` per case and are
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
        Any of :data:`REGION_METRICS` (the metric table, aliases such as ``jaccard`` or
        ``f1`` accepted) and :data:`BOUNDARY_METRICS` (2-D and 3-D masks only).
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
        Called as ``progress(done, total)`` (in cases) as each case, or each chunk of cases
        with ``workers`` or ``scheduler``, finishes.

    Returns
    -------
    ScoreReport
        Per-case values, per-class mean / std / pooled values and the macro mean, with
        writers for CSV, JSON, Markdown and HTML reports and the per-case CSV.

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

    Examples
    --------
    >>> import os, tempfile, numpy as np, regionloss
    >>> root = tempfile.mkdtemp()
    >>> for folder, mask in (("pred", [[0, 1], [1, 1]]), ("ref", [[0, 1], [0, 1]])):
    ...     os.mkdir(os.path.join(root, folder))
    ...     np.save(os.path.join(root, folder, "case.npy"), np.array(mask))
    >>> report = regionloss.score(os.path.join(root, "pred"), os.path.join(root, "ref"),
    ...                           num_classes=2, metrics="dice")
    >>> report.mean["dice"].round(4).tolist()
    [0.6667, 0.8]
    """
    options = check_options(
        pred, target, num_classes=num_classes, metrics=metrics, ignore_index=ignore_index,
        include_background=include_background, class_names=class_names,
        zero_division=zero_division, missing=missing, backend=backend, workers=workers,
        scheduler=scheduler, spacing=spacing, tolerance=tolerance,
        empty_distance=empty_distance, metric_options=metric_options)
    return run_scoring(options, progress)
