"""The ``regionloss`` command line: ``regionloss score PRED TARGET [options]``.

A thin argparse front end over :func:`regionloss.scoring.score`. It prints the per-class
table on stdout, a progress bar on stderr (only when stderr is a terminal and ``--quiet`` is
not given), writes the reports atomically, and turns every failure into one line on stderr
and a non-zero exit code:

* 0: success;
* 1: the data or the environment failed (unmatched files, shape mismatch, bad label,
  unreadable file, missing optional package, unwritable output);
* 2: bad command line (argparse's convention), found before any file is read: argparse's
  own errors, and those of :class:`regionloss.scoring.OptionError` (unknown metric, an
  option of a metric not asked for, ``nsd`` without ``--tolerance``, unknown report
  extension, ``--output`` and ``--per-case`` naming one file, ...);
* 130: interrupted (Ctrl-C); no report is written.
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
    from .scoring import BOUNDARY_METRICS, REGION_METRICS

    parser = argparse.ArgumentParser(
        prog=PROG, description="Region-based segmentation metrics: offline scoring of mask files.")
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
        epilog=("Exit status: 0 success, 1 bad data / unreadable file / missing package / "
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
                        f"{', '.join(REGION_METRICS)}. Boundary (SciPy): "
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
    p.add_argument("-o", "--output",
                   help="summary report; format by extension: .csv, .json or .md")
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


def _error(message: str) -> None:
    line = " ".join(str(message).split())  # one line, whatever the exception held
    sys.stderr.write(f"{PROG} score: error: {line}\n")
    sys.stderr.flush()


#: Metric options of the command line: flag -> (metric, option name).
_METRIC_FLAGS = {
    "--tversky-alpha": ("tversky", "alpha"),
    "--tversky-beta": ("tversky", "beta"),
    "--fbeta-beta": ("fbeta", "beta"),
}


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, case-insensitive file systems
    except OSError:
        return False


def _check_command_line(args, metrics) -> dict[str, dict[str, float]]:
    """What argparse cannot check alone; raises OptionError (exit 2). Returns the options
    of the metrics asked for, from ``--tversky-alpha`` and the like."""
    from .scoring import OptionError, _parse_names, output_format

    names = _parse_names(metrics)
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
    if args.output is not None:
        output_format(args.output)
    if args.output is not None and args.per_case is not None \
            and _same_file(args.output, args.per_case):
        raise OptionError(
            f"--output and --per-case are the same file ({args.output}, {args.per_case}); "
            "give two paths"
        )
    return metric_options


def _run_score(args) -> int:
    from .scoring import (
        MaskReadError,
        MissingDependencyError,
        OptionError,
        ScoringError,
        check_writable,
        score,
        write_atomic,
    )

    class_names = None
    if args.class_names is not None:
        class_names = [n.strip() for n in args.class_names.split(",")]
    num_classes = args.num_classes
    if num_classes is None:
        if class_names is None:
            _error("give --num-classes (or --class-names, one per class)")
            return 2
        num_classes = len(class_names)  # without -n, the names cover every class
    metrics = args.metrics if args.metrics else ["dice", "iou"]
    try:
        metric_options = _check_command_line(args, metrics)
    except OptionError as exc:
        _error(exc)
        return 2

    show_progress = not args.quiet and sys.stderr.isatty()
    progress = _Progress(sys.stderr) if show_progress else None
    try:
        # Fail before any work when a report could not be written.
        if args.output is not None:
            check_writable(args.output, "--output")
        if args.per_case is not None:
            check_writable(args.per_case, "--per-case")
        tolerance = args.tolerance
        if tolerance is not None and len(tolerance) == 1:
            tolerance = tolerance[0]
        report = score(
            args.pred, args.target, num_classes=num_classes, metrics=metrics,
            ignore_index=args.ignore_index, include_background=not args.no_background,
            class_names=class_names, zero_division=args.zero_division, missing=args.missing,
            backend=args.backend, workers=args.workers, scheduler=args.scheduler,
            spacing=args.spacing, tolerance=tolerance, empty_distance=args.empty_distance,
            metric_options=metric_options, progress=progress,
        )
        if progress is not None:
            progress.close()
            progress = None
        outputs = {}
        if args.output is not None:
            outputs[args.output] = report.render(args.output)
        if args.per_case is not None:
            outputs[args.per_case] = report.per_case_csv()
        write_atomic(outputs)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        _error("interrupted; no report written")
        return 130
    except OptionError as exc:  # found by score() before any file was read
        if progress is not None:
            progress.close()
        _error(exc)
        return 2
    except (ScoringError, MaskReadError, MissingDependencyError, ValueError, TypeError,
            OSError, ImportError) as exc:
        if progress is not None:
            progress.close()
        _error(exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - a worker crash, a cluster error, ...
        if progress is not None:
            progress.close()
        _error(f"{type(exc).__name__}: {exc}")
        return 1
    sys.stdout.write(report.table())
    sys.stdout.flush()
    if not args.quiet:
        missing = [c.name for c in report.cases if c.prediction is None]
        if missing:
            shown = ", ".join(missing[:10]) + (f", ... and {len(missing) - 10} more"
                                               if len(missing) > 10 else "")
            sys.stderr.write(f"note: {len(missing)} missing prediction(s) scored as empty "
                             f"masks: {shown}\n")
        if report.ignored_files:
            sys.stderr.write(f"note: ignored {len(report.ignored_files)} file(s) without a "
                             f"mask extension, e.g. {report.ignored_files[0]}\n")
        for path in outputs:
            sys.stderr.write(f"wrote {path}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``regionloss`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.command == "score":
        return _run_score(args)
    parser.print_usage(sys.stderr)  # pragma: no cover - subcommand is required
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
