"""Writing report files: all of a run's reports at once, or none of them.

:func:`write_atomic` writes every report to a temporary file beside its target first, and
only then renames them into place. If any step fails, or the run is interrupted, every
target is left as it was before the call, byte for byte: a report already renamed is put
back (from a hard link to the file it replaced, or removed where there was none), the
temporary files are removed, and the error is re-raised.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
from typing import Mapping

from .errors import ScoringError

__all__ = ["write_atomic", "check_writable"]


def check_writable(path: str, what: str = "output") -> None:
    """Fail early (before scoring) when ``path`` cannot be written; ``what`` names the
    option in the message (``--output``)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ScoringError(f"{what} {path}: folder {directory} does not exist")
    if os.path.isdir(path):
        raise ScoringError(f"{what} {path} is a folder")
    if not os.access(directory, os.W_OK):
        raise ScoringError(f"{what} {path}: folder {directory} is not writable")


def _current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux:
    ``/proc/self/status``); else set and restored at once (``os.umask`` can only be read
    by setting it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _report_mode(path: str) -> int:
    """The permission bits a report written to ``path`` gets: those of the file it
    replaces, else what ``open(path, "w")`` would give a new file, ``0o666 & ~umask``
    (a temporary file from ``mkstemp`` is ``0o600``)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_current_umask()


def _stage(path: str, text: str) -> str:
    """``text`` written and synced to a new temporary file beside ``path``; its name."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        os.chmod(tmp, _report_mode(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _keep_old(path: str) -> str | None:
    """A second name for the file now at ``path`` (a hard link; a copy where the file
    system has none), so that it can be put back; ``None`` when there is nothing to keep."""
    if not os.path.lexists(path) or os.path.isdir(path):
        return None
    directory = os.path.dirname(os.path.abspath(path))
    for _ in range(100):
        backup = os.path.join(directory,
                              f".{os.path.basename(path)}.{secrets.token_hex(6)}.old")
        try:
            os.link(path, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some network and FAT file systems)
            fd, backup = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                          suffix=".old")
            os.close(fd)
            shutil.copy2(path, backup)
            return backup
    raise FileExistsError(f"cannot make a temporary name beside {path}")


def write_atomic(contents: Mapping[str, str]) -> None:
    """Write every ``path -> text``, all or none.

    Every text is first written and synced to a temporary file in its target's folder;
    then each existing target gets a second name (a hard link), and the temporary files
    are renamed over the targets. If anything fails (a full disk, a target that cannot be
    replaced such as a folder, an interruption), the targets already replaced are put back,
    so every target holds what it held before the call, and nothing else is left behind.
    A report keeps the permission bits of the file it replaces; a new one gets
    ``0o666 & ~umask``, as a file opened for writing would.
    """
    staged: list[tuple[str, str]] = []
    kept: dict[str, str] = {}
    replaced: list[str] = []
    try:
        for path, text in contents.items():
            staged.append((_stage(path, text), path))
        for _, path in staged:
            backup = _keep_old(path)
            if backup is not None:
                kept[path] = backup
        for tmp, path in staged:
            os.replace(tmp, path)
            replaced.append(path)
    except BaseException:
        for path in reversed(replaced):
            try:
                if path in kept:
                    os.replace(kept.pop(path), path)
                else:
                    os.unlink(path)
            except OSError:
                pass  # best effort: the error that stopped the commit is the one to report
        raise
    finally:
        for tmp, _ in staged:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        for backup in kept.values():
            if os.path.lexists(backup):
                os.unlink(backup)
