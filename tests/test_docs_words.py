"""The user-facing text speaks about the product, never about how the work was organised.

Scanned: README.md, CHANGELOG.md, every Markdown page under docs/, benchmarks/README.md,
and the docstrings, string literals and comments of the Python files under src/, docs/
and examples/. A phrase of ``FORBIDDEN`` (a reference to an issue, a ticket, a session, a
design file outside the repository, a work item left for later, a target set for a
figure) fails the test, naming the file, the line and the phrase; ``ALLOWED`` lists the
legitimate uses, by file and phrase.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: (what it is, pattern). Case-insensitive; word boundaries keep them off "tissue",
#: "targets" of a loss, "session-less", etc.
FORBIDDEN = [
    ("a numbered issue", r"\bissue[- ]?#?\d"),
    ("the issue", r"\bthe issue\b"),
    ("a work item left for later", r"\blater (issue|ticket|task|pr)\b"),
    ("a design file outside the repository", r"\bDESIGN\.md\b"),
    ("a ticket", r"\btickets?\b"),
    ("a work session", r"\bsessions?\b"),
    ("a milestone", r"\bmilestones?\b"),
    ("a sprint or backlog", r"\b(sprint|backlog)s?\b"),
    ("a target set for the work", r"\btargets? set\b"),
    ("a target for a figure", r"\btarget\s*(of\s*)?[≤≥<>]=?\s*\d"
                              r"|(?-i:\bTarget:\s)"   # a sentence that sets one
                              r"|\b\d+(\.\d+)?\s*[x×]\s+target\b"),
    ("machines lent to the work", r"\blent\b"),
    ("review rounds", r"\breview fix(es)?\b"),
    ("the brief", r"\bthe brief\b"),
]

#: (file, pattern of the legitimate phrase): a match of FORBIDDEN inside such a phrase of
#: that file is allowed. Paths relative to the repository root.
ALLOWED: list[tuple[str, str]] = [
    # a contributing guide may point at the project's issue tracker
    ("CONTRIBUTING.md", r"GitHub issues?"),
]

_EXCLUDED_DIRS = {"_build", "generated", "__pycache__", ".ipynb_checkpoints"}


def _markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md"]
    files += sorted(p for p in (ROOT / "docs").rglob("*.md")
                    if not _EXCLUDED_DIRS & set(p.relative_to(ROOT).parts))
    return [p for p in files if p.exists()]


def _python_files() -> list[Path]:
    files: list[Path] = []
    for folder in ("src", "docs", "examples"):
        files += sorted(p for p in (ROOT / folder).rglob("*.py")
                        if not _EXCLUDED_DIRS & set(p.relative_to(ROOT).parts))
    return files


def _python_text(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal (docstrings included) and comment."""
    source = path.read_text(encoding="utf-8")
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            for k, line in enumerate(tok.string.splitlines()):
                out.append((tok.start[0] + k, line))
        elif tok.type == getattr(tokenize, "FSTRING_MIDDLE", None):
            out.append((tok.start[0], tok.string))
    return out


def _lines(path: Path) -> list[tuple[int, str]]:
    if path.suffix == ".py":
        return _python_text(path)
    return list(enumerate(path.read_text(encoding="utf-8").splitlines(), start=1))


def _allowed(rel: str, line: str, start: int, end: int) -> bool:
    for name, phrase in ALLOWED:
        if rel != name:
            continue
        for m in re.finditer(phrase, line, flags=re.IGNORECASE):
            if m.start() <= start and end <= m.end():
                return True
    return False


def scan(rel: str, lines) -> list[str]:
    """Every forbidden phrase in ``(line number, text)`` pairs of the file ``rel``, as
    ``file:line: phrase (what it is): text``."""
    found = []
    for lineno, line in lines:
        for what, pattern in FORBIDDEN:
            for m in re.finditer(pattern, line, flags=re.IGNORECASE):
                if not _allowed(rel, line, m.start(), m.end()):
                    found.append(f"{rel}:{lineno}: {m.group(0)!r} ({what}): {line.strip()}")
    return found


def find_process_words(paths) -> list[str]:
    """Every forbidden phrase in the files ``paths``."""
    found = []
    for path in paths:
        found += scan(path.relative_to(ROOT).as_posix(), _lines(path))
    return found


def test_the_scanned_files_are_there():
    names = {p.relative_to(ROOT).as_posix() for p in _markdown_files() + _python_files()}
    for expected in ("README.md", "CHANGELOG.md", "benchmarks/README.md", "docs/metrics.md",
                     "docs/index.md", "src/regionloss/__init__.py", "docs/conf.py"):
        assert expected in names, expected


@pytest.mark.parametrize("kind", ["markdown", "python"])
def test_no_process_words(kind):
    paths = _markdown_files() if kind == "markdown" else _python_files()
    found = find_process_words(paths)
    assert not found, "text about the work, not the product:\n" + "\n".join(found)


@pytest.mark.parametrize("text", [
    "on the issue-3 data", "Not covered here (a later issue): MONAI", "see DESIGN.md",
    "the issue's target of 5x", "No accelerator was lent to the sessions",
    "Target: ratio ≤ 1.05.", "0.31–0.59× (target ≤ 1.2×)", "well above the 3x target",
    "as in issue #12", "the targets set for this release", "# review fixes",
])
def test_the_patterns_catch_process_words(text):
    assert scan("docs/page.md", [(1, text)]), text


@pytest.mark.parametrize("text", [
    "tp = Σ p·y over the target mask", "targets are label maps or dense targets",
    "the segmentation of tissue", "a dense target of pred's shape", "issued by the kernel",
    "Dask's distributed client and its scheduler", "per-sample or pooled",
    "target * C + pred", "the target's shape", "a ticketing system",
])
def test_the_patterns_leave_technical_words_alone(text):
    assert not scan("docs/page.md", [(1, text)]), text


def test_the_allowlist_admits_only_its_phrase_in_its_file():
    line = "Report bugs through GitHub issues; the issue tracker is public."
    assert len(scan("CONTRIBUTING.md", [(1, line)])) == 1   # "the issue" is still caught
    assert len(scan("docs/page.md", [(1, "Report bugs through GitHub issues.")])) == 0
    assert scan("docs/page.md", [(1, "see issue 4")])
