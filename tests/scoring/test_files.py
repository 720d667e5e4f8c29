"""Tests of regionloss.scoring.files: every report of a run is written, or none is."""

from __future__ import annotations

import os

import pytest

from regionloss.scoring import files
from regionloss.scoring.errors import ScoringError


def test_write_atomic_keeps_old_report_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "report.csv"
    target.write_text("old report\n")
    other = tmp_path / "cases.csv"
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic({str(target): "new\n", str(other): "x\n"})
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_text() == "old report\n"
    assert not other.exists()
    assert sorted(os.listdir(tmp_path)) == ["report.csv"]  # no temporary file left
    files.write_atomic({str(target): "new\n"})
    assert target.read_text() == "new\n"


@pytest.mark.parametrize("order", ["directory last", "directory first"])
def test_all_reports_or_none(tmp_path, order):
    """A target that cannot be replaced (a folder) fails the whole commit: the reports
    already renamed are put back, byte for byte, and nothing else is left."""
    report = tmp_path / "report.html"
    old = b"<html>previous report \xc3\xa9</html>\r\n"
    report.write_bytes(old)
    os.chmod(report, 0o640)
    fresh = tmp_path / "summary.csv"          # did not exist before
    blocker = tmp_path / "cases.csv"
    (blocker / "inside").mkdir(parents=True)  # a non-empty folder where a file should go
    contents = {str(report): "new report\n", str(fresh): "new summary\n",
                str(blocker): "new cases\n"}
    if order == "directory first":
        contents = dict(reversed(list(contents.items())))
    with pytest.raises(OSError):
        files.write_atomic(contents)
    assert report.read_bytes() == old
    assert os.stat(report).st_mode & 0o777 == 0o640
    assert not fresh.exists()
    assert sorted(os.listdir(tmp_path)) == ["cases.csv", "report.html"]
    assert os.listdir(blocker) == ["inside"]


def test_an_interruption_between_renames_restores_every_report(tmp_path, monkeypatch):
    a, b = tmp_path / "a.json", tmp_path / "b.csv"
    a.write_text("old a\n")
    b.write_text("old b\n")
    real_replace = os.replace
    renamed = []

    def interrupted_replace(src, dst):
        if renamed and str(dst).endswith("b.csv") and not str(src).endswith(".old"):
            raise KeyboardInterrupt
        real_replace(src, dst)
        renamed.append(dst)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic({str(a): "new a\n", str(b): "new b\n"})
    assert a.read_text() == "old a\n" and b.read_text() == "old b\n"
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.csv"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_write_atomic_keeps_the_mode_of_an_existing_report(tmp_path, mode):
    target = tmp_path / "report.csv"
    target.write_text("old\n")
    os.chmod(target, mode)
    files.write_atomic({str(target): "new\n"})
    assert target.read_text() == "new\n"
    assert os.stat(target).st_mode & 0o7777 == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_write_atomic_new_report_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        files.write_atomic({str(tmp_path / "a.json"): "{}\n", str(tmp_path / "b.csv"): "x\n"})
        # what open(path, "w") would have made: 0o666 & ~umask (mkstemp alone gives 0o600)
        assert files._current_umask() == umask
    finally:
        os.umask(old)
    for name in ("a.json", "b.csv"):
        assert os.stat(tmp_path / name).st_mode & 0o7777 == 0o666 & ~umask


def test_check_writable(tmp_path):
    files.check_writable(str(tmp_path / "new.csv"), "--output")
    with pytest.raises(ScoringError, match=r"^--output \S+ is a folder"):
        files.check_writable(str(tmp_path), "--output")
    with pytest.raises(ScoringError, match=r"^--per-case \S+: folder \S+ does not exist"):
        files.check_writable(str(tmp_path / "no" / "x.csv"), "--per-case")
