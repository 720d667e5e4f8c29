"""The source distribution and the wheel: what each carries, and that they agree.

The sdist is built with setuptools' own backend (``setuptools.build_meta``, what
``python -m build --sdist`` calls, without an isolated environment: no network) from a
copy of the checkout, unpacked, and the wheel is built from the unpacked sdist, as pip
does. Checked: the sdist carries the whole test suite (pytest collects it in the unpacked
tree with no error), the license and the docs; the wheel carries the package, its
``py.typed`` marker, the license and the metadata (SPDX license expression, classifiers,
extras, absolute links in the description), and no tests. About 15 s.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import regionloss

ROOT = Path(__file__).resolve().parent.parent

# build products and caches that a checkout may hold and a distribution must not
_SKIP = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", "*.egg-info", "build", "dist",
                               "_build", "generated", ".hypothesis", ".pytest_cache", ".venv",
                               "report.html", "cases.csv", ".whl", ".gl", ".device")


def _build(kind: str, source: Path, out: Path) -> Path:
    code = (f"import setuptools.build_meta as b, sys; "
            f"print(b.build_{kind}(sys.argv[1]))")
    result = subprocess.run([sys.executable, "-c", code, str(out)], cwd=source,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    pytest.importorskip("setuptools.build_meta")
    import setuptools

    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (77, 0):
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (PEP 639 license fields)")
    tmp = tmp_path_factory.mktemp("dist")
    checkout = tmp / "checkout"
    shutil.copytree(ROOT, checkout, ignore=_SKIP)
    (tmp / "out").mkdir()
    sdist = _build("sdist", checkout, tmp / "out")
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extractall(tmp / "unpacked", filter="data")
        else:
            tar.extractall(tmp / "unpacked")
    unpacked = tmp / "unpacked" / sdist.name[: -len(".tar.gz")]
    wheel = _build("wheel", unpacked, tmp / "out")
    return sdist, unpacked, wheel


def _sdist_files(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as tar:
        return {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}


def test_sdist_carries_the_test_suite_and_what_it_needs(dists):
    sdist, _, _ = dists
    files = _sdist_files(sdist)
    tracked = subprocess.run(["git", "ls-files", "tests", "examples", "docs"], cwd=ROOT,
                             capture_output=True, text=True)
    if tracked.returncode == 0 and tracked.stdout.strip():
        expected = set(tracked.stdout.split())
    else:  # not a git checkout (an unpacked sdist itself): what is on disk
        expected = {p.relative_to(ROOT).as_posix()
                    for folder in ("tests", "examples", "docs")
                    for p in (ROOT / folder).rglob("*") if p.is_file()
                    and not _SKIP(str(p.parent), [p.name]) and "__pycache__" not in p.parts
                    and "_build" not in p.parts and "generated" not in p.parts}
        expected.discard("docs/api/index.rst")
    missing = sorted(expected - files)
    assert not missing, f"files the tests need, missing from the sdist: {missing[:20]}"
    for name in ("tests/conftest.py", "LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml",
                 "setup.py", "src/regionloss/py.typed", "docs/conf.py",
                 "benchmarks/README.md"):
        assert name in files, name
    assert any(n.startswith("tests/reference/") and n.endswith(".npz") for n in files)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in files)
    assert not any(n.startswith(("docs/_build/", "docs/api/generated/")) for n in files)


def test_pytest_collects_the_unpacked_sdist(dists):
    _, unpacked, _ = dists
    env = dict(os.environ, PYTHONPATH=str(unpacked / "src"))
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "tests"], cwd=unpacked, env=env,
                            capture_output=True, text=True, timeout=300)
    tail = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, tail
    assert re.search(r"\d+ tests? collected", result.stdout), tail
    assert "error" not in result.stdout.lower().split("collected")[-1], tail


def test_wheel_has_the_package_and_py_typed_and_no_tests(dists):
    _, _, wheel = dists
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(f"{dist_info}/METADATA").decode("utf-8")
    assert "regionloss/py.typed" in names
    assert "regionloss/__init__.py" in names and "regionloss/_kernels/__init__.py" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "docs/",
                                                  "benchmarks/"))]
    assert all(n.startswith(("regionloss/", dist_info + "/")) for n in names), names

    meta = email.parser.Parser().parsestr(metadata)
    assert meta["Name"] == "regionloss"
    assert meta["Version"] == regionloss.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License-File"] == "LICENSE"
    assert meta["Requires-Python"] == ">=3.10"
    classifiers = meta.get_all("Classifier")
    for classifier in ("Programming Language :: Python :: 3.10",
                       "Programming Language :: Python :: 3.13", "Typing :: Typed",
                       "Operating System :: OS Independent",
                       "Intended Audience :: Science/Research",
                       "Topic :: Scientific/Engineering :: Artificial Intelligence",
                       "Topic :: Scientific/Engineering :: Image Recognition"):
        assert classifier in classifiers, classifier
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX field says it
    extras = set(meta.get_all("Provides-Extra"))
    assert {"jax", "cupy", "cupy-cuda12", "cupy-cuda13", "surface", "cli", "test"} <= extras
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("cupy-cuda12x") and 'extra == "cupy-cuda12"' in r for r in requires)
    assert any(r.startswith("cupy-cuda13x") and 'extra == "cupy-cuda13"' in r for r in requires)
    assert any(r.startswith("cupy-cuda12x") and 'extra == "cupy"' in r for r in requires)
    runtime = [r for r in requires if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("=")[0] for r in runtime) == ["array-api-compat",
                                                                      "numpy"]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Documentation", "Source"} <= set(urls)

    description = meta.get_payload()
    assert meta["Description-Content-Type"] == "text/markdown"
    assert description.lstrip().startswith("# regionloss")
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", description)
    relative = [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)
                and not t.startswith("#")]
    assert targets and not relative, f"relative links in the long description: {relative}"
    docs_url = urls["Documentation"].rstrip("/")
    assert f"{docs_url}/cli.html" in description


def test_sdist_and_wheel_agree_on_the_package(dists):
    sdist, _, wheel = dists
    in_sdist = {n[len("src/"):] for n in _sdist_files(sdist)
                if n.startswith("src/regionloss/")}
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = {n for n in whl.namelist() if n.startswith("regionloss/")}
    assert in_sdist == in_wheel
    on_disk = {p.relative_to(ROOT / "src").as_posix()
               for p in (ROOT / "src" / "regionloss").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert on_disk <= in_wheel, sorted(on_disk - in_wheel)


def test_version_is_one_number_everywhere():
    """The package metadata reads regionloss.__version__; the command line prints it and
    the changelog has a section for it."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \[[^\]]*"version"', pyproject, flags=re.MULTILINE)
    assert 'version = { attr = "regionloss.__version__" }' in pyproject
    result = subprocess.run([sys.executable, "-m", "regionloss", "--version"],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert result.returncode == 0 and result.stdout.strip() == \
        f"regionloss {regionloss.__version__}", result.stdout + result.stderr
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{regionloss.__version__}]" in changelog
    assert re.search(r"^## Versioning policy", changelog, flags=re.MULTILINE)
