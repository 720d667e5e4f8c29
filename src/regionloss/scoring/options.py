"""The options of a scoring run, checked once, before any file is read.

:func:`check_options` turns the keyword arguments of :func:`regionloss.score` (or the
command line's flags) into one frozen, picklable :class:`ScoringOptions`. Every check goes
through :mod:`regionloss._validate`, so messages have the library's one style, naming the
argument, what it must be and what it got; and every message names the argument *as the
caller spelled it*: a :class:`Spelling` says ``num_classes`` to a Python caller and
``--num-classes`` on the command line (``"--class-names: expected 3 names, got 4"``). The
same spelling travels with the per-case work, so data errors found later name the flag to
change too (``"... outside [0, 2): raise --num-classes to at least 4"``).

Metric names come from the metric table (:data:`regionloss.metrics.METRIC_NAMES`, with its
aliases: ``jaccard`` is ``iou``, ``f1`` is ``dice``) and from the boundary metrics
(:data:`regionloss.metrics.SURFACE_METRICS`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .._kernels.devices import BACKENDS, require_backend
from .._validate import (
    check_bool,
    check_choice,
    check_ignore_index,
    check_int,
    check_real,
    check_zero_division,
)
from ..metrics import METRIC_NAMES
from ..metrics import surface as _surface  # NumPy only at import; SciPy when it runs
from ..metrics._table import metric_options, resolve_metric
from .errors import MissingDependencyError, OptionError, ScoringError

__all__ = [
    "REGION_METRICS",
    "BOUNDARY_METRICS",
    "SURFACE_METRIC_NAMES",
    "SHAPE_METRICS",
    "REPORT_FORMATS",
    "Spelling",
    "PYTHON",
    "ScoringOptions",
    "check_options",
    "parse_metric_names",
    "output_format",
    "LOWER_IS_BETTER",
]

#: Metrics where a lower value is the better one (error rates and distances); every other
#: metric is better higher. Decides which cases are the worst.
LOWER_IS_BETTER = frozenset({"fpr", "fnr", "fdr", "for", "prevalence_threshold",
                             "hd", "hd95", "asd", "assd"})

#: Metrics computed from confusion matrices: :data:`regionloss.metrics.METRIC_NAMES` itself
#: (every row of the metric table; their aliases are accepted too).
REGION_METRICS = METRIC_NAMES
#: Surface-distance metrics, the names of :data:`regionloss.metrics.SURFACE_METRICS` (a
#: dict of descriptions) as a tuple; computed by :func:`regionloss.metrics.surface_metrics`
#: (SciPy).
SURFACE_METRIC_NAMES = tuple(_surface.SURFACE_METRICS)
#: Boundary-band and centreline metrics: :func:`regionloss.boundary_iou` (the authors'
#: band, ``dilation_ratio=0.02``) and :func:`regionloss.cldice_score` (scikit-image).
SHAPE_METRICS = ("boundary_iou", "cldice")
#: Every metric computed per case from the masks (2-D and 3-D): surface distances, then
#: the boundary-band and centreline metrics.
BOUNDARY_METRICS = SURFACE_METRIC_NAMES + SHAPE_METRICS

#: Report formats by file extension.
REPORT_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown",
                  ".html": "html", ".htm": "html"}


@dataclass(frozen=True)
class Spelling:
    """How the caller spells the options, so that messages name them as written.

    ``flags`` maps a parameter (``"num_classes"``, or ``"tversky.alpha"`` for a metric's
    option) to a command-line flag (``"--num-classes"``); without flags, parameters are
    spelled as Python keywords. Picklable: it travels with the per-case work.
    """

    flags: tuple[tuple[str, str], ...] = ()

    @property
    def command_line(self) -> bool:
        return bool(self.flags)

    def name(self, param: str) -> str:
        """``param`` as the caller wrote it: ``--num-classes`` or ``num_classes``."""
        for key, flag in self.flags:
            if key == param:
                return flag
        if "." in param:  # a metric's own option, e.g. "tversky.alpha"
            metric, option = param.split(".", 1)
            return f"metric_options[{metric!r}][{option!r}]"
        return param

    def setting(self, param: str, value: Any) -> str:
        """``param`` set to ``value``: ``--missing empty`` or ``missing='empty'``; a flag
        that takes no value (``include_background=False``: ``--no-background``) alone."""
        if self.command_line:
            if param == "include_background":
                return self.name(param)
            return f"{self.name(param)} {value}"
        return f"{param}={value!r}"


#: The spelling of Python keyword arguments.
PYTHON = Spelling()


def _rename(exc: Exception, param: str, spelled: str) -> OptionError:
    """An :class:`OptionError` from a :mod:`regionloss._validate` error, whose message
    starts with the parameter's name, renamed to the caller's spelling."""
    message = str(exc)
    if spelled != param and message.startswith(param):
        message = spelled + message[len(param):]
    return OptionError(message)


def _checked(spelling: Spelling, param: str, check: Callable, *args, **kwargs):
    """``check(param, *args, **kwargs)`` with its errors as :class:`OptionError` naming the
    parameter as the caller spells it."""
    spelled = spelling.name(param)
    try:
        return check(spelled, *args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise _rename(exc, param, spelled) from None


@dataclass(frozen=True)
class ScoringOptions:
    """Every setting of a run, checked (see :func:`check_options` for each field's rule).

    ``metric_options`` maps each region metric asked for that has options to its complete,
    checked options (defaults filled in only for those given). ``scheduler`` is what the
    caller passed (an address or a ``distributed.Client``); it stays in the parent process.
    """

    pred: str
    target: str
    num_classes: int
    metrics: tuple[str, ...]
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    ignore_index: int | None = None
    include_background: bool = True
    zero_division: float = float("nan")
    missing: str = "error"
    backend: str = "numpy"
    workers: int | None = None
    scheduler: Any = None
    spacing: tuple[float, ...] | None = None
    tolerance: float | tuple[float, ...] | None = None
    empty_distance: float | None = None
    metric_options: dict[str, dict[str, float]] = field(default_factory=dict)
    spelling: Spelling = PYTHON

    @property
    def surface(self) -> tuple[str, ...]:
        """The boundary metrics asked for, in order."""
        return tuple(m for m in self.metrics if m in BOUNDARY_METRICS)


def parse_metric_names(metrics: Sequence[str] | str, spelling: Spelling = PYTHON
                       ) -> tuple[str, ...]:
    """Metric names from a string or a sequence of comma-separated strings, resolved to
    their table names (aliases such as ``jaccard`` or ``f1`` accepted), in order, once each.

    Raises
    ------
    OptionError
        No name, or an unknown one (the message lists every name).
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    names: list[str] = []
    unknown: list[str] = []
    for item in metrics:
        for raw in str(item).split(","):
            raw = raw.strip()
            if not raw:
                continue
            key = raw.lower()
            if key not in BOUNDARY_METRICS:
                try:
                    key = resolve_metric(raw).name
                except ValueError:
                    unknown.append(raw)
                    continue
            if key not in names:
                names.append(key)
    option = spelling.name("metrics")
    if unknown:
        raise OptionError(
            f"{option}: unknown metric(s) {', '.join(unknown)}; choose from "
            f"{', '.join(REGION_METRICS + BOUNDARY_METRICS)} (aliases such as jaccard, f1, "
            "sensitivity are accepted)"
        )
    if not names:
        raise OptionError(f"{option}: give at least one metric")
    return tuple(names)


def output_format(path: str, spelling: Spelling = PYTHON, param: str = "output") -> str:
    """``'csv'``, ``'json'``, ``'markdown'`` or ``'html'`` from ``path``'s extension."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in REPORT_FORMATS:
        raise OptionError(
            f"{spelling.name(param)} {path}: unknown report format {ext or '(no extension)'!r}; "
            "use .csv, .json, .md or .html"
        )
    return REPORT_FORMATS[ext]


def _class_names(class_names, num_classes: int, class_ids: tuple[int, ...],
                 spelling: Spelling) -> tuple[str, ...]:
    if class_names is None:
        return tuple(str(c) for c in class_ids)
    if isinstance(class_names, str):
        raise OptionError(f"{spelling.name('class_names')} must be a sequence of names; "
                          f"got the string {class_names!r}")
    names = tuple(str(n) for n in class_names)
    if len(names) == num_classes:
        return names[num_classes - len(class_ids):]
    if len(names) == len(class_ids):
        return names
    without = ("" if len(class_ids) == num_classes
               else f" (or {len(class_ids)} without background)")
    raise OptionError(f"{spelling.name('class_names')}: expected {num_classes} names{without}, "
                      f"got {len(names)}")


def _tolerance(value, num_classes: int, spelling: Spelling):
    """A number, or one per class (a tuple); ``None`` stays ``None``."""
    if value is None:
        return None
    name = spelling.name("tolerance")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return _checked(spelling, "tolerance", check_real, value, minimum=0.0)
    values = tuple(_checked(spelling, "tolerance", check_real, v, minimum=0.0) for v in value)
    if len(values) == 1:
        return values[0]
    if len(values) != num_classes:
        raise OptionError(f"{name}: give one value or one per class ({num_classes}), got "
                          f"{len(values)}")
    return values


def _metric_options(given: Mapping[str, Mapping[str, Any]] | None, names: tuple[str, ...],
                    spelling: Spelling) -> dict[str, dict[str, float]]:
    """Each key a region metric asked for, each option one it takes, each value valid."""
    checked: dict[str, dict[str, float]] = {}
    for key, opts in dict(given or {}).items():
        try:
            metric = resolve_metric(key).name
        except ValueError:
            raise OptionError(f"metric_options: {key!r} is not a region metric") from None
        if metric not in names:
            raise OptionError(
                f"metric_options: {key!r} given but metric {metric!r} is not asked for "
                f"(metrics: {', '.join(names)})"
            )
        opts = dict(opts)
        values = {}
        for option, value in opts.items():
            param = f"{metric}.{option}"
            if option in resolve_metric(metric).options:
                value = _checked(spelling, param, check_real, value, minimum=0.0)
            values[option] = value
        try:
            metric_options(resolve_metric(metric), values)  # unknown options, combinations
        except (TypeError, ValueError) as exc:
            where = (", ".join(spelling.name(f"{metric}.{o}") for o in values)
                     if spelling.command_line else f"metric_options[{metric!r}]")
            raise OptionError(f"{where}: {exc}") from None
        checked[metric] = values
    return checked


def check_options(pred, target, /, *, num_classes, metrics=("dice", "iou"),
                  ignore_index=None, include_background=True, class_names=None,
                  zero_division=float("nan"), missing="error", backend="numpy",
                  workers=None, scheduler=None, spacing=None, tolerance=None,
                  empty_distance=None, metric_options=None,
                  spelling: Spelling = PYTHON) -> ScoringOptions:
    """Check the options of :func:`regionloss.score` (same names, same meaning) before any
    file is read; raises :class:`OptionError` (or :class:`MissingDependencyError` when a
    metric or the backend needs a package that is not installed)."""
    num_classes = _checked(spelling, "num_classes", check_int, num_classes, minimum=1)
    include_background = _checked(spelling, "include_background", check_bool,
                                  include_background)
    if not include_background and num_classes < 2:
        raise OptionError(f"{spelling.setting('include_background', False)} needs "
                          f"{spelling.name('num_classes')} >= 2")
    try:
        ignore_index = check_ignore_index(ignore_index)
    except TypeError as exc:
        raise _rename(exc, "ignore_index", spelling.name("ignore_index")) from None
    names = parse_metric_names(metrics, spelling)
    try:
        zero_division = check_zero_division(zero_division)
    except (TypeError, ValueError) as exc:
        raise _rename(exc, "zero_division", spelling.name("zero_division")) from None
    missing = _checked(spelling, "missing", check_choice, missing, ("error", "empty"))
    backend = _checked(spelling, "backend", check_choice, backend, BACKENDS)
    if workers is not None:
        workers = _checked(spelling, "workers", check_int, workers, minimum=1)
    if workers not in (None, 1) and scheduler is not None:
        raise OptionError(f"give either {spelling.name('workers')} (local processes) or "
                          f"{spelling.name('scheduler')} (Dask), not both")

    class_ids = tuple(range(0 if include_background else 1, num_classes))
    shown_names = _class_names(class_names, num_classes, class_ids, spelling)
    surface = tuple(n for n in names if n in BOUNDARY_METRICS)
    if spacing is not None:
        if isinstance(spacing, (str, bytes)) or not hasattr(spacing, "__len__"):
            spacing = (spacing,)
        spacing = tuple(_checked(spelling, "spacing", check_real, s, minimum=0.0,
                                 open_minimum=True) for s in spacing)
    tol = _tolerance(tolerance, num_classes, spelling)
    if "nsd" in surface and tol is None:
        raise OptionError("metric 'nsd' (normalised surface Dice) needs a tolerance: pass "
                          f"{spelling.name('tolerance')}")
    if empty_distance is not None:
        empty_distance = _checked(spelling, "empty_distance", check_real, empty_distance,
                                  minimum=0.0, allow_inf=True)
    options = _metric_options(metric_options, names, spelling)
    distances = tuple(n for n in surface if n in SURFACE_METRIC_NAMES)
    if distances:
        try:
            import scipy  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                f"boundary metrics ({', '.join(distances)}) need SciPy, which is not "
                "installed: pip install 'regionloss[surface]'"
            ) from exc
    if "cldice" in surface:
        from .._kernels.skeleton import require_skimage

        try:
            require_skimage()
        except ImportError as exc:
            raise MissingDependencyError(
                "metric cldice needs scikit-image (its skeletons), which is not installed: "
                "pip install 'regionloss[topology]'") from exc
    try:
        require_backend(backend)
    except ImportError as exc:
        raise MissingDependencyError(str(exc)) from exc
    except RuntimeError as exc:
        raise ScoringError(f"{spelling.setting('backend', backend)}: {exc}") from exc
    return ScoringOptions(
        pred=str(pred), target=str(target), num_classes=num_classes, metrics=names,
        class_ids=class_ids, class_names=shown_names, ignore_index=ignore_index,
        include_background=include_background, zero_division=zero_division, missing=missing,
        backend=backend, workers=workers, scheduler=scheduler, spacing=spacing,
        tolerance=tol, empty_distance=empty_distance, metric_options=options,
        spelling=spelling)


def json_safe(value):
    """``value`` with every non-finite float as the string ``"nan"``, ``"inf"``, ``"-inf"``
    (strict JSON, the rule of the reports)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(json_safe(v) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def run_settings(options: ScoringOptions, ignored_files: int) -> dict[str, Any]:
    """The settings of a run as the reports show them (strict-JSON-safe)."""
    return json_safe({
        "prediction": options.pred, "reference": options.target,
        "num_classes": options.num_classes, "ignore_index": options.ignore_index,
        "include_background": options.include_background,
        "zero_division": options.zero_division, "missing": options.missing,
        "backend": options.backend, "spacing": options.spacing,
        "tolerance": options.tolerance, "empty_distance": options.empty_distance,
        "metric_options": {k: dict(v) for k, v in options.metric_options.items()},
        "std": "sample standard deviation over cases (ddof=1), NaN values left out",
        "cases": "number of cases where the metric is defined (non-zero denominator)",
        "ignored_files": ignored_files,
    })
