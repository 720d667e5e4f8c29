"""Matching prediction files to reference files: the cases of a run.

Two folders are searched recursively; a prediction and a reference form a case when they
share their relative folder and file stem, whatever their formats (``pred/site1/case7.png``
matches ``ref/site1/case7.nii.gz``). Hidden files are skipped, files without a reader are
set aside (and counted in a note), and cases come sorted by name, so every run scores them
in the same order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from .errors import OptionError, ScoringError
from .options import PYTHON, Spelling
from .readers import EXTENSIONS, is_supported, split_extension

__all__ = ["Case", "find_cases"]

_MAX_LISTED = 10
_FORMATS = ", ".join(EXTENSIONS[1:] + EXTENSIONS[:1])  # .nii.gz last, next to .nii


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


def find_cases(pred: str, target: str, /, *, missing: str = "error",
               spelling: Spelling = PYTHON) -> tuple[list[Case], list[str]]:
    """Match prediction and reference files; returns ``(cases, ignored_files)``.

    ``pred`` and ``target`` are both folders (searched recursively; files matched by
    relative directory and file stem, whatever their formats; hidden files skipped) or both
    single files. Cases come sorted by name. ``spelling`` names the options in messages as
    the caller wrote them (``--missing empty`` on the command line).

    Raises
    ------
    ScoringError
        A path does not exist; one is a file and the other a folder; a folder holds no mask
        file; a prediction has no reference (always an error); a reference has no prediction
        (unless ``missing="empty"``, which scores it as an all-background prediction); two
        files in one folder map to the same case.
    """
    if missing not in ("error", "empty"):
        raise OptionError(f"{spelling.name('missing')} must be one of 'error', 'empty'; "
                          f"got {missing!r}")
    pred, target = str(pred), str(target)
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
                raise ScoringError(f"{path}: unsupported file type; supported: {_FORMATS}")
        return [Case(split_extension(pred)[0], pred, target)], []

    predictions, ignored_p = _collect(pred, "prediction")
    references, ignored_t = _collect(target, "reference")
    if not references:
        raise ScoringError(f"no mask files ({_FORMATS}) in reference folder {target}")
    if not predictions and missing == "error":
        raise ScoringError(f"no mask files ({_FORMATS}) in prediction folder {pred}")
    no_reference = sorted(set(predictions) - set(references))
    no_prediction = sorted(set(references) - set(predictions))
    problems = []
    if no_reference:
        problems.append(f"{len(no_reference)} prediction(s) without a reference in {target}: "
                        f"{_listing(no_reference)}")
    if no_prediction and missing == "error":
        problems.append(
            f"{len(no_prediction)} reference(s) without a prediction in {pred}: "
            f"{_listing(no_prediction)} ({spelling.setting('missing', 'empty')} scores them "
            "as empty predictions)"
        )
    if problems:
        raise ScoringError("; ".join(problems))
    cases = [Case(key, predictions.get(key), references[key]) for key in sorted(references)]
    return cases, ignored_p + ignored_t
