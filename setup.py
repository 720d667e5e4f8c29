"""The package's long description: README.md with its relative links made absolute.

Everything else about the package is declared in ``pyproject.toml``. README.md links to
files of the repository by relative paths (``docs/cli.md``), which work in a checkout, on
the code host and on the documentation site, but not on a package index page. So the long
description is README.md with every relative link rewritten:

* a documentation page ``docs/PATH.md`` (or ``docs/PATH.md#anchor``) becomes the page
  ``PATH.html`` of the ``Documentation`` URL of ``[project.urls]``;
* a file that the site shows as a page of its own (``SITE_PAGES``) becomes that page;
* any other file becomes its address under the ``Source`` URL (``blob/main/PATH``).

``tests/test_packaging.py`` builds the package and checks the result.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Files of the repository that the documentation site shows as pages of their own.
SITE_PAGES = {
    "benchmarks/README.md": "project/benchmarks.html",
    "CHANGELOG.md": "project/changelog.html",
}

# [text](target) and ![alt](target); the target ends at the first space or ")"
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


def absolute_target(target: str, docs_url: str, source_url: str) -> str:
    """The absolute address of one link target of README.md (absolute ones unchanged)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        return target          # a URL, mailto:, or an anchor of the README itself
    path, _, anchor = target.partition("#")
    anchor = f"#{anchor}" if anchor else ""
    docs_url, source_url = docs_url.rstrip("/"), source_url.rstrip("/")
    if path in SITE_PAGES:
        return f"{docs_url}/{SITE_PAGES[path]}{anchor}"
    page = re.fullmatch(r"docs/(.+)\.md", path)
    if page:
        return f"{docs_url}/{page.group(1)}.html{anchor}"
    return f"{source_url}/blob/main/{path}{anchor}"


def long_description(readme: str, docs_url: str, source_url: str) -> str:
    """README.md's text with every relative link target made absolute."""
    return LINK.sub(lambda m: m.group(1) + absolute_target(m.group(2), docs_url, source_url)
                    + m.group(3), readme)


def _project_urls() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the build requirements install tomli
        import tomli as tomllib
    with open(HERE / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["urls"]


if __name__ == "__main__":
    from setuptools import setup

    urls = _project_urls()
    setup(
        long_description=long_description((HERE / "README.md").read_text(encoding="utf-8"),
                                          urls["Documentation"], urls["Source"]),
        long_description_content_type="text/markdown",
    )
