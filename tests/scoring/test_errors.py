"""Tests of regionloss.scoring.errors: the four errors and what callers can catch."""

from __future__ import annotations

import regionloss
from regionloss import scoring
from regionloss.scoring import errors


def test_hierarchy():
    assert issubclass(errors.OptionError, errors.ScoringError)
    assert issubclass(errors.ScoringError, ValueError)
    assert issubclass(errors.MaskReadError, ValueError)
    assert not issubclass(errors.MaskReadError, errors.ScoringError)
    assert issubclass(errors.MissingDependencyError, ImportError)


def test_public_names():
    for name in ("ScoringError", "OptionError", "MaskReadError", "MissingDependencyError"):
        assert getattr(scoring, name) is getattr(errors, name)
    assert regionloss.score is scoring.score
    assert regionloss.ScoreReport is scoring.ScoreReport
