"""The errors of offline scoring, and what the command line makes of them.

Every failure of a run is one of these four, and its message names what is at fault (the
file, the value, the option as the caller spelled it):

* :class:`OptionError`: a bad option, found from the options alone before any file is read
  (the command line exits 2, a bad command line);
* :class:`ScoringError`: bad data (unmatched files, a shape mismatch, a label out of range,
  a boundary metric on 1-D masks; exit 1);
* :class:`MaskReadError`: a file that cannot be read as a label map (exit 1);
* :class:`MissingDependencyError`: a format, the CuPy backend, Dask or the plots need an
  optional package that is not installed; the message gives the ``pip install`` line
  (exit 1).
"""

from __future__ import annotations

__all__ = ["ScoringError", "OptionError", "MaskReadError", "MissingDependencyError"]


class ScoringError(ValueError):
    """Bad scoring input (unmatched files, shape mismatch, bad label, bad option)."""


class OptionError(ScoringError):
    """A bad option, found from the options alone before any file is read (unknown metric,
    option of a metric not asked for, bad report extension, ...). The command line exits
    with status 2 for these (a bad command line), 1 for every other :class:`ScoringError`."""


class MaskReadError(ValueError):
    """A mask file could not be read, or does not hold a label map; the message names it."""


class MissingDependencyError(ImportError):
    """A run needs an optional package that is not installed; the message says which."""
