"""The ``regionloss`` command line: ``regionloss score PRED TARGET [options]``.

A thin argparse front end over :mod:`regionloss.scoring`. It prints the per-class table on
stdout, a progress bar on stderr (only when stderr is a terminal and ``--quiet`` is not
given), writes every report of the run at once or none of them, and turns every failure
into one line on stderr, naming the flag to change, and an exit code:

* 0: success;
* 1: the data or the environment failed (unmatched files, shape mismatch, bad label,
  unreadable file, missing optional package, unwritable output);
* 2: bad command line (argparse's convention), found before any file is read: argparse's
  own errors, and those of :class:`regionloss.scoring.OptionError` (unknown metric, an
  option of a metric not asked for, ``nsd`` without ``--tolerance``, unknown report
  extension, two reports naming one file, ...);
* 130: interrupted (Ctrl-C); no report is written, and worker processes stop with the run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Sequence

__all__ = ["main", "build_parser"]

PROG = "regionloss"

#: How the command line spells the options of :func:`regionloss.score` (and of the metrics'
#: own options), so that messages name the flag to change rather than a Python parameter.
_FLAGS = (
    ("num_classes", "--num-classes"),
    ("metrics", "--metrics"),
    ("ignore_index", "--ignore-index"),
    ("include_background", "--no-background"),
    ("class_names", "--class-names"),
    ("zero_division", "--zero-division"),
    ("missing", "--missing"),
    ("backend", "--backend"),
    ("workers", "--workers"),
    ("scheduler", "--scheduler"),
    ("spacing", "--spacing"),
    ("tolerance", "--tolerance"),
    ("empty_distance", "--empty-distance"),
    ("output", "--output"),
    ("per_case", "--per-case"),
    ("tversky.alpha", "--tversky-alpha"),
    ("tversky.beta", "--tversky-beta"),
    ("fbeta.beta", "--fbeta-beta"),
)

#: Metric options of the command line: flag -> (metric, option name).
_METRIC_FLAGS = {flag: tuple(param.split(".")) for param, flag in _FLAGS if "." in param}


def _command_line_spelling():
    from .scoring.options import Spelling

    return Spelling(flags=_FLAGS)


class _Progress:
    """A one-line progress bar on ``stream`` (redrawn at most ~10 times a second)."""

    def __init__(self, stream, width: int = 30):
        self.stream = stream
        self.width = width
        self.start = time.perf_counter()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        fraction = done / total if total else 1.0
        filled = int(round(self.width * fraction))
        rate = done / max(now - self.start, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\rscoring [{bar}] {done}/{total} ({rate:.1f} cases/s)")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name} must be a number or comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{name} must not be empty")
    return values


def _zero_division(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--zero-division must be nan, 0 or 1 (a number), got {text!r}") from None
    if not (math.isnan(value) or value in (0.0, 1.0)):
        raise argparse.ArgumentTypeError(f"--zero-division must be nan, 0 or 1, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``regionloss score --help`` documents every option)."""
    from . import __version__
    from .scoring import BOUNDARY_METRICS, REGION_METRICS

    parser = argparse.ArgumentParser(
        prog=PROG, description="Region-based segmentation metrics: offline scoring of mask files.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser(
        "score",
        help="score predicted masks against reference masks",
        description=(
            "Score predicted segmentation masks (PRED) against reference masks (TARGET): two "
            "folders, matched recursively by relative path and file stem, or two files. "
            "Formats: .npy, .npz (NumPy); .png (Pillow); .tif/.tiff (tifffile); .nii/.nii.gz "
            "(nibabel). Prints per-class mean, standard deviation over cases and pooled "
            "(dataset-level) values, and the macro mean."),
        epilog=("Reports are written together after every case is scored, or not at all. "
                "Exit status: 0 success, 1 bad data / unreadable file / missing package / "
                "unwritable output, 2 bad command line (found before any file is read), "
                "130 interrupted."),
    )
    p.add_argument("pred", metavar="PRED", help="predicted masks: a folder or a file")
    p.add_argument("target", metavar="TARGET", help="reference masks: a folder or a file")
    p.add_argument("-n", "--num-classes", type=_positive_int,
                   help="number of classes C; labels lie in [0, C) (default: the number of "
                        "--class-names)")
    p.add_argument("--ignore-index", type=int, default=None,
                   help="reference label to leave out of every count (e.g. 255)")
    p.add_argument("-m", "--metrics", action="append", default=None,
                   help="comma-separated metrics (repeatable); default dice,iou. Region: "
                        f"{', '.join(REGION_METRICS)} (aliases such as jaccard, f1, "
                        f"sensitivity also work). Boundary (SciPy): "
                        f"{', '.join(BOUNDARY_METRICS)} (2-D and 3-D masks)")
    p.add_argument("--no-background", action="store_true",
                   help="leave class 0 out of the report and the macro mean")
    p.add_argument("--class-names",
                   help="comma-separated class names, one per class from 0 (with "
                        "--num-classes and --no-background, C-1 names from class 1 also do)")
    p.add_argument("--zero-division", type=_zero_division, default=float("nan"),
                   help="value where a metric is undefined (class absent from prediction and "
                        "reference): nan (default; left out of means), 0 or 1")
    p.add_argument("--missing", choices=("error", "empty"), default="error",
                   help="a reference without a prediction: error (default) or score it "
                        "against an empty (all-zero) prediction")
    p.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                   help="where counting runs (default numpy; cupy needs a CUDA GPU)")
    p.add_argument("-o", "--output", action="append", default=None, metavar="FILE",
                   help="summary report, format by extension: .csv, .json, .md, or .html (one "
                        "self-contained page with tables and plots); repeatable")
    p.add_argument("--per-case", metavar="CSV",
                   help="CSV with one row per case and class")
    p.add_argument("-j", "--workers", type=_positive_int, default=None,
                   help="score in N local processes")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="score on an existing Dask distributed cluster (e.g. tcp://host:8786)")
    p.add_argument("--spacing", type=lambda s: _floats(s, "--spacing"),
                   help="voxel spacing for boundary metrics, comma-separated, one per axis "
                        "(default: the reference's NIfTI header, else 1)")
    p.add_argument("--tolerance", type=lambda s: _floats(s, "--tolerance"),
                   help="surface-Dice (nsd) tolerance in physical units: one value or one "
                        "per class (background included)")
    p.add_argument("--empty-distance", type=float, default=None,
                   help="hd/hd95/asd/assd value where exactly one of prediction and reference "
                        "is empty (default inf)")
    p.add_argument("--tversky-alpha", type=float, default=None,
                   help="Tversky weight of false positives (default 0.3; needs -m tversky)")
    p.add_argument("--tversky-beta", type=float, default=None,
                   help="Tversky weight of false negatives (default 0.7; needs -m tversky)")
    p.add_argument("--fbeta-beta", type=float, default=None,
                   help="beta of the F-beta score (default 1; needs -m fbeta)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no notes on stderr (errors are still printed)")
    return parser


def _error(message) -> None:
    line = " ".join(str(message).split())  # one line, whatever the exception held
    sys.stderr.write(f"{PROG} score: error: {line}\n")
    sys.stderr.flush()


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, case-insensitive file systems
    except OSError:
        return False


def _reports(args) -> list[tuple[str, str]]:
    """Every report the run writes, as (flag, path), in command-line order."""
    reports = [("--output", path) for path in (args.output or [])]
    if args.per_case is not None:
        reports.append(("--per-case", args.per_case))
    return reports


def _check_command_line(args, spelling) -> dict[str, dict[str, float]]:
    """What argparse cannot check alone; raises OptionError (exit 2). Returns the options
    of the metrics asked for, from ``--tversky-alpha`` and the like."""
    from .scoring.errors import OptionError
    from .scoring.options import output_format, parse_metric_names

    names = parse_metric_names(args.metrics or ["dice", "iou"], spelling)
    metric_options: dict[str, dict[str, float]] = {}
    for flag, (metric, option) in _METRIC_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        if metric not in names:
            raise OptionError(
                f"{flag} needs the {metric} metric (add -m {metric}); metrics asked for: "
                f"{', '.join(names)}"
            )
        metric_options.setdefault(metric, {})[option] = value
    for path in args.output or []:
        output_format(path, spelling)
    reports = _reports(args)
    for i, (flag_a, a) in enumerate(reports):
        for flag_b, b in reports[i + 1:]:
            if _same_file(a, b):
                raise OptionError(f"{flag_a} and {flag_b} are the same file ({a}, {b}); "
                                  "give two paths")
    return metric_options


def _notes(report, written: Sequence[str]) -> None:
    missing = [c.name for c in report.cases if c.prediction is None]
    if missing:
        shown = ", ".join(missing[:10]) + (f", ... and {len(missing) - 10} more"
                                           if len(missing) > 10 else "")
        sys.stderr.write(f"note: {len(missing)} missing prediction(s) scored as empty "
                         f"masks: {shown}\n")
    if report.ignored_files:
        sys.stderr.write(f"note: ignored {len(report.ignored_files)} file(s) without a "
                         f"mask extension, e.g. {report.ignored_files[0]}\n")
    for path in written:
        sys.stderr.write(f"wrote {path}\n")


def _run_score(args) -> int:
    from .scoring.errors import (
        MaskReadError,
        MissingDependencyError,
        OptionError,
        ScoringError,
    )
    from .scoring.files import check_writable, write_atomic
    from .scoring.options import check_options
    from .scoring.run import run_scoring

    spelling = _command_line_spelling()
    class_names = None
    if args.class_names is not None:
        class_names = [n.strip() for n in args.class_names.split(",")]
    num_classes = args.num_classes
    if num_classes is None:
        if class_names is None:
            _error("give --num-classes (or --class-names, one per class)")
            return 2
        num_classes = len(class_names)  # without -n, the names cover every class
    tolerance = args.tolerance
    if tolerance is not None and len(tolerance) == 1:
        tolerance = tolerance[0]
    try:
        metric_options = _check_command_line(args, spelling)
        options = check_options(
            args.pred, args.target, num_classes=num_classes,
            metrics=args.metrics or ["dice", "iou"], ignore_index=args.ignore_index,
            include_background=not args.no_background, class_names=class_names,
            zero_division=args.zero_division, missing=args.missing, backend=args.backend,
            workers=args.workers, scheduler=args.scheduler, spacing=args.spacing,
            tolerance=tolerance, empty_distance=args.empty_distance,
            metric_options=metric_options, spelling=spelling)
    except OptionError as exc:
        _error(exc)
        return 2
    except (MissingDependencyError, ScoringError) as exc:
        _error(exc)
        return 1

    progress = _Progress(sys.stderr) if not args.quiet and sys.stderr.isatty() else None
    try:
        # Fail before any work when a report could not be written.
        for flag, path in _reports(args):
            check_writable(path, flag)
        report = run_scoring(options, progress)
        if progress is not None:
            progress.close()
        # Every report is rendered first, then all are committed together.
        outputs = {path: report.render(path) for path in args.output or []}
        if args.per_case is not None:
            outputs[args.per_case] = report.per_case_csv()
        write_atomic(outputs)
    except OptionError as exc:  # pragma: no cover - every option is checked above
        _error(exc)
        return 2
    except (ScoringError, MaskReadError, MissingDependencyError, ValueError, TypeError,
            OSError, ImportError) as exc:
        _error(exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - a worker crash, a cluster error, ...
        _error(f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        if progress is not None:
            progress.close()
    sys.stdout.write(report.table())
    sys.stdout.flush()
    if not args.quiet:
        _notes(report, list(outputs))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``regionloss`` console script; returns the exit code."""
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2)
            return int(exc.code) if isinstance(exc.code, int) else 2
        if args.command == "score":
            return _run_score(args)
        parser.print_usage(sys.stderr)  # pragma: no cover - subcommand is required
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: the runners have stopped their workers; nothing was written.
        _error("interrupted; no report written")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
