"""Tests of regionloss.scoring.matching: files paired into cases, and what cannot be."""

from __future__ import annotations

import os

import numpy as np
import pytest

from regionloss.scoring.errors import OptionError, ScoringError
from regionloss.scoring.matching import Case, find_cases
from regionloss.scoring.options import Spelling

from ._data import write_mask


def test_find_cases_recursive_mixed_formats(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    write_mask(tmp_path / "p" / "b" / "x.png", z)
    write_mask(tmp_path / "p" / "a.npy", z)
    write_mask(tmp_path / "r" / "b" / "x.nii.gz", z)
    write_mask(tmp_path / "r" / "a.npz", z)
    (tmp_path / "r" / "README.txt").write_text("notes")
    (tmp_path / "p" / ".hidden.npy").write_bytes(b"")
    cases, ignored = find_cases(str(tmp_path / "p"), str(tmp_path / "r"))
    assert [c.name for c in cases] == ["a", "b/x"]
    assert cases[1].prediction.endswith(os.path.join("b", "x.png"))
    assert cases[1].reference.endswith(os.path.join("b", "x.nii.gz"))
    assert ignored == [str(tmp_path / "r" / "README.txt")]


def test_two_files_are_one_case(tmp_path):
    p = write_mask(tmp_path / "p.npy", np.zeros((2, 2), np.uint8))
    t = write_mask(tmp_path / "t.png", np.zeros((2, 2), np.uint8))
    assert find_cases(p, t) == ([Case("p", p, t)], [])
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ScoringError, match=r"x\.txt: unsupported file type; supported: .npy"):
        find_cases(p, str(tmp_path / "x.txt"))


def test_unmatched_files_are_listed(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    for name in ("a", "b"):
        write_mask(tmp_path / "p" / f"{name}.npy", z)
    for name in ("b", "c", "d"):
        write_mask(tmp_path / "r" / f"{name}.npy", z)
    with pytest.raises(ScoringError) as info:
        find_cases(str(tmp_path / "p"), str(tmp_path / "r"))
    msg = str(info.value)
    assert "1 prediction(s) without a reference" in msg and ": a" in msg
    assert "2 reference(s) without a prediction" in msg and "c, d" in msg
    assert "(missing='empty' scores them as empty predictions)" in msg
    # missing="empty" never excuses a prediction without a reference
    with pytest.raises(ScoringError, match="prediction\\(s\\) without a reference.*a"):
        find_cases(str(tmp_path / "p"), str(tmp_path / "r"), missing="empty")


def test_unmatched_message_names_the_flag_on_the_command_line(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    write_mask(tmp_path / "p" / "a.npy", z)
    for name in ("a", "b"):
        write_mask(tmp_path / "r" / f"{name}.npy", z)
    spelling = Spelling(flags=(("missing", "--missing"),))
    with pytest.raises(ScoringError, match=r"\(--missing empty scores them as empty"):
        find_cases(str(tmp_path / "p"), str(tmp_path / "r"), spelling=spelling)


def test_long_listings_are_cut(tmp_path):
    z = np.zeros((2, 2), np.uint8)
    write_mask(tmp_path / "p" / "x.npy", z)
    for i in range(13):
        write_mask(tmp_path / "r" / f"c{i:02d}.npy", z)
    write_mask(tmp_path / "r" / "x.npy", z)
    with pytest.raises(ScoringError, match=r"13 reference\(s\).*c09, \.\.\. and 3 more"):
        find_cases(str(tmp_path / "p"), str(tmp_path / "r"))


def test_duplicate_case_in_one_folder(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    write_mask(tmp_path / "p" / "a.npy", z)
    write_mask(tmp_path / "p" / "a.png", z)
    write_mask(tmp_path / "r" / "a.npy", z)
    with pytest.raises(ScoringError, match="two prediction files for case 'a'"):
        find_cases(str(tmp_path / "p"), str(tmp_path / "r"))


def test_file_versus_folder_and_nonexistent(tmp_path):
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(ScoringError, match="both be files or both be folders"):
        find_cases(path, str(tmp_path))
    with pytest.raises(ScoringError, match="does not exist"):
        find_cases(path, str(tmp_path / "missing.npy"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoringError, match="no mask files"):
        find_cases(str(tmp_path / "empty"), str(tmp_path / "empty"))
    with pytest.raises(OptionError, match="missing must be one of 'error', 'empty'; got 'x'"):
        find_cases(path, path, missing="x")
