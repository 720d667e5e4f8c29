"""Offline scoring of mask files: folders of predictions against folders of references.

:func:`score` is the Python face of the ``regionloss score`` command (:mod:`regionloss.cli`):
it matches prediction and reference files, reads them one pair at a time, reduces each pair
to its small, mergeable statistics (a ``(C, C)`` integer confusion matrix from
:func:`regionloss.confusion_matrix`, plus boundary distances from
:func:`regionloss.metrics.surface_metrics` when asked for), and turns them into numbers with
:func:`regionloss.metrics.score_confusion`, so that the command and the library cannot
disagree. Cases run serially, in ``workers`` local processes, or on an existing Dask
distributed cluster (``scheduler``); the per-case statistics are integers (or per-case
values), so every way of running gives identical results.

Modules, in the order a run goes through them:

``options``
    the options checked once (:func:`~regionloss.scoring.options.check_options`), named in
    messages as the caller spells them; the metric names.
``matching``
    prediction and reference files paired into cases.
``readers``
    mask files read by extension (NumPy, Pillow, tifffile, nibabel).
``cases``
    one case read, checked and reduced to its statistics.
``runners``
    cases run serially, in local processes, or on Dask.
``run``
    :func:`score`: from options to a :class:`ScoreReport`.
``report``
    the report and its statistics; renderings in ``tables`` (terminal table, CSV, Markdown,
    JSON) and ``html_report`` (with ``plots``, through matplotlib when installed).
``files``
    every report of a run written at once, or none.
``errors``
    the four errors a run can raise.

Nothing here is imported by ``import regionloss`` beyond NumPy (and the library's own
modules); Pillow, tifffile, nibabel, SciPy, CuPy, Dask and matplotlib are imported only when
a run needs them.
"""

from __future__ import annotations

from .errors import MaskReadError, MissingDependencyError, OptionError, ScoringError
from .files import check_writable, write_atomic
from .matching import Case, find_cases
from .options import BOUNDARY_METRICS, REGION_METRICS, output_format
from .report import ScoreReport
from .run import score

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
    "check_writable",
    "output_format",
]
