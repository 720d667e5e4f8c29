"""The work of one case: read a pair of masks, check them, reduce them to statistics.

A case never leaves a worker as masks: it leaves as a ``(C, C)`` int64 confusion matrix from
:func:`regionloss.confusion_matrix` (rows = reference class, columns = predicted class) and,
when boundary metrics are asked for, ``C`` values per metric from
:func:`regionloss.metrics.surface_metrics` (distances), :func:`regionloss.boundary_iou` and
:func:`regionloss.cldice_score`. Both are small and exact, so serial, process-pool
and Dask runs give identical results.

Messages name the files at fault and the option to change, as the caller spells it
(``raise --num-classes to at least 4`` on the command line, ``raise num_classes ...`` in
Python).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._kernels.arrays import to_numpy
from .._kernels.devices import to_backend
from .._validate import BadLabels, find_bad_labels
from .errors import ScoringError
from .matching import Case
from .options import PYTHON, SHAPE_METRICS, ScoringOptions, Spelling
from .readers import Mask, read_mask

__all__ = ["CaseSettings", "CaseStats", "score_case", "score_chunk", "sum_confusions",
           "label_range_message"]


@dataclass(frozen=True)
class CaseSettings:
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
    spelling: Spelling = PYTHON

    @classmethod
    def from_options(cls, options: ScoringOptions) -> "CaseSettings":
        return cls(options.num_classes, options.ignore_index, options.surface,
                   options.spacing, options.tolerance, options.include_background,
                   options.zero_division, options.backend, options.empty_distance,
                   options.spelling)


@dataclass
class CaseStats:
    """What one case reduces to: never the masks."""

    index: int
    confusion: np.ndarray  # (C, C) int64, rows = reference class, columns = predicted
    surface: dict[str, np.ndarray]  # name -> (C,) float64
    spacing: tuple[float, ...] | None


def _describe(what: str, path: str, bad: BadLabels, num_classes: int) -> str:
    return (f"{what} {path} holds label {bad.value} at index {bad.position} ({bad.count} such "
            f"pixel(s)), outside [0, {num_classes})")


def label_range_message(case: Case, bad_reference: BadLabels | None,
                        bad_prediction: BadLabels | None, *, num_classes: int,
                        ignore_index: int | None, spelling: Spelling = PYTHON) -> str:
    """The message for labels outside ``[0, num_classes)``: each file at fault with its first
    bad label, its index and the count, then what to change, e.g.::

        label values out of range: reference ref/a.png holds label 3 at index (0, 1)
        (5 such pixel(s)), outside [0, 2): raise --num-classes to at least 4
    """
    parts, hints = [], []
    largest = max((b.value for b in (bad_reference, bad_prediction) if b is not None),
                  default=-1)
    if largest >= num_classes:
        hints.append(f"raise {spelling.name('num_classes')} to at least {largest + 1}")
    if bad_reference is not None:
        text = _describe("reference", case.reference, bad_reference, num_classes)
        if ignore_index is not None:
            text += f" and is not {spelling.setting('ignore_index', ignore_index)}"
        parts.append(text)
        hints.append(f"pass {spelling.setting('ignore_index', bad_reference.value)} if "
                     f"{bad_reference.value} marks reference pixels to leave out")
    if bad_prediction is not None:
        parts.append(_describe("prediction", case.prediction, bad_prediction, num_classes)
                     + " where the reference is scored")
        if bad_prediction.value < 0 and bad_reference is None:
            hints.append("a prediction must name a class wherever the reference is scored")
    return "label values out of range: " + "; ".join(parts) + ": " + ", or ".join(hints)


def _check_labels(pred_labels, target_labels, case: Case, settings: CaseSettings) -> None:
    """Raise :class:`ScoringError` if a label lies outside ``[0, num_classes)``.

    The check is the library's (:func:`regionloss._validate.find_bad_labels`, as in
    :func:`regionloss.confusion_matrix`): ``ignore_index`` is allowed in the reference, and
    any prediction where the reference is ignored (those pixels are not looked at).
    """
    bad_t = find_bad_labels(target_labels, num_classes=settings.num_classes,
                            ignore_index=settings.ignore_index)
    bad_p = None
    if case.prediction is not None:
        bad_p = find_bad_labels(pred_labels, num_classes=settings.num_classes,
                                ignore_index=settings.ignore_index, reference=target_labels)
    if bad_t is None and bad_p is None:
        return
    raise ScoringError(label_range_message(
        case, bad_t, bad_p, num_classes=settings.num_classes,
        ignore_index=settings.ignore_index, spelling=settings.spelling))


def _resolve_spacing(settings: CaseSettings, pred: Mask | None, target: Mask, ndim: int):
    """The voxel spacing of the boundary metrics: the option, else the reference's header
    (the prediction's must agree), else ``None`` (1 per axis)."""
    name = settings.spelling.name("spacing")
    if settings.spacing is not None:
        if len(settings.spacing) != ndim:
            raise ScoringError(
                f"{name} {settings.spacing} has {len(settings.spacing)} values but "
                f"{target.path} is {ndim}-D"
            )
        return settings.spacing
    if target.spacing is not None and pred is not None and pred.spacing is not None:
        if not np.allclose(pred.spacing, target.spacing, rtol=1e-5, atol=0):
            raise ScoringError(
                f"voxel spacing differs: {pred.path} has {pred.spacing}, {target.path} has "
                f"{target.spacing}; resample, or pass {name} to override"
            )
    return target.spacing


def score_case(index: int, case: Case, settings: CaseSettings) -> CaseStats:
    """Read one pair, check it, and reduce it to its statistics."""
    from ..metrics import confusion_matrix

    target = read_mask(case.reference)
    if case.prediction is None:
        pred = None
        # all zeros: in range whatever num_classes is (>= 1)
        pred_labels = np.zeros(target.array.shape, dtype=target.array.dtype)
    else:
        pred = read_mask(case.prediction)
        pred_labels = pred.array
        if pred_labels.shape != target.array.shape:
            raise ScoringError(
                f"shape mismatch: prediction {case.prediction} has shape {pred_labels.shape}, "
                f"reference {case.reference} has shape {target.array.shape}"
            )
    target_labels = target.array
    _check_labels(pred_labels, target_labels, case, settings)
    if settings.surface and target_labels.ndim not in (2, 3):
        files = (f"prediction {case.prediction} and reference {case.reference}"
                 if case.prediction is not None else f"reference {case.reference}")
        raise ScoringError(
            f"boundary metrics ({', '.join(settings.surface)}) need 2-D or 3-D masks; "
            f"{files} have shape {target_labels.shape} ({target_labels.ndim}-D). Region "
            f"metrics work on any shape; leave the boundary metrics out of "
            f"{settings.spelling.name('metrics')} for these files"
        )

    # Labels were checked above (with the file named), so the counting kernel need not
    # check them again: validate=False.
    p = to_backend(pred_labels, settings.backend)
    t = to_backend(target_labels, settings.backend)
    confusion = to_numpy(confusion_matrix(p, t, num_classes=settings.num_classes,
                                          ignore_index=settings.ignore_index, validate=False))
    confusion = confusion.astype(np.int64, copy=False)

    surface: dict[str, np.ndarray] = {}
    spacing = None
    distances = tuple(n for n in settings.surface if n not in SHAPE_METRICS)
    if settings.surface:
        spacing = _resolve_spacing(settings, pred, target, target_labels.ndim)
    if distances:
        from ..metrics.surface import surface_metrics

        values = surface_metrics(
            p[None], t[None], num_classes=settings.num_classes, metrics=distances,
            spacing=spacing, tolerance=settings.tolerance, ignore_index=settings.ignore_index,
            include_background=settings.include_background,
            zero_division=settings.zero_division, empty_distance=settings.empty_distance,
        )
    else:
        values = {}
    values.update(_shape_metrics(p, t, settings))
    if settings.surface:
        for name in settings.surface:
            row = to_numpy(values[name]).astype(np.float64).reshape(-1)
            if row.shape[0] == settings.num_classes - 1:  # background dropped by the callee
                row = np.concatenate([[np.nan], row])
            surface[name] = row
    return CaseStats(index, confusion, surface, spacing)


def _shape_metrics(p, t, settings: CaseSettings) -> dict[str, Any]:
    """Boundary IoU and clDice of one case, per class ((1, K) arrays), as asked for."""
    from ..metrics import boundary_iou, cldice_score

    functions = {"boundary_iou": boundary_iou, "cldice": cldice_score}
    return {name: functions[name](
        p[None], t[None], num_classes=settings.num_classes, average="none", per_sample=True,
        include_background=settings.include_background, ignore_index=settings.ignore_index,
        zero_division=settings.zero_division, validate=False)
        for name in settings.surface if name in SHAPE_METRICS}


def score_chunk(chunk: Sequence[tuple[int, Case]], settings: CaseSettings) -> list[CaseStats]:
    """Score a few cases (one task for a worker process or a Dask worker)."""
    return [score_case(index, case, settings) for index, case in chunk]


def sum_confusions(*chunk_results: list[CaseStats]) -> np.ndarray:
    """Pooled (dataset-level) confusion matrix: the exact integer sum of every case's."""
    total = None
    for chunk in chunk_results:
        for stats in chunk:
            total = stats.confusion.copy() if total is None else total + stats.confusion
    return total
