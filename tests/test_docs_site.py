"""The documentation site builds with warnings as errors, and the README agrees with it.

``test_site_builds_without_warnings`` runs ``python -m sphinx -W --keep-going -b html docs
<tmp>`` once (a module fixture, about 10 s): a broken link or reference, a malformed
docstring section, a page outside every toctree or a failing include is a failure. The
other build tests read the HTML it wrote: every name of ``regionloss.__all__`` has its API
page with the formula, the references and the examples its docstring holds; every
``docs/*.md`` page is on the site; every page the README (and the package's long
description) links to exists.

Without Sphinx, MyST-Parser and numpydoc (the ``test`` extra installs them) the build
tests skip; the README and code-sample tests run anyway.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import regionloss

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# [text](target) or ![alt](target); the target ends at the first space or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def _sphinx_missing() -> str | None:
    for module in ("sphinx", "myst_parser", "numpydoc"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test]')"
    return None


# --------------------------------------------------------------------------- the build


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    missing = _sphinx_missing()
    if missing:
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("site")
    html = out / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
           "-d", str(out / "doctrees"), str(DOCS), str(html)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    return html, result


def test_site_builds_without_warnings(site):
    html, result = site
    # numpydoc reports an unknown docstring section as a Python UserWarning, which
    # Sphinx's -W does not see: the output is checked too
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if re.search(r"WARNING|ERROR|UserWarning|Traceback", line)]
    assert result.returncode == 0 and not problems, (
        f"sphinx-build exited {result.returncode}:\n" + "\n".join(problems)
        + "\n" + result.stderr[-4000:])
    assert (html / "index.html").exists()


def _page(html: Path, rel: str) -> str:
    path = html / rel
    assert path.exists(), f"{rel} is not on the site"
    return path.read_text(encoding="utf-8")


def test_every_public_name_has_an_api_page(site):
    html, _ = site
    index = _page(html, "api/index.html")
    for name in regionloss.__all__:
        rel = f"generated/regionloss.{name}.html"
        assert rel in index, f"the API reference does not list {name}"
        page = _page(html, f"api/{rel}")
        assert f'id="regionloss.{name}"' in page, f"{name}'s page does not document it"
        # a constant shows its own comment, not the docstring of its type
        for builtin_doc in ("Built-in immutable sequence", "new empty dictionary"):
            assert builtin_doc not in page, f"{name}: the docstring of its type is shown"
        if not callable(getattr(regionloss, name)):
            body = page.split(f'id="regionloss.{name}"', 1)[1]
            assert "<p>" in body.split("</dl>", 1)[0], f"{name} has no description"


@pytest.mark.parametrize("name", [n for n in regionloss.__all__
                                  if callable(getattr(regionloss, n))])
def test_api_pages_show_the_docstring_sections(site, name):
    """The formula, the references and the examples a docstring holds reach its page."""
    html, _ = site
    doc = getattr(regionloss, name).__doc__ or ""
    page = _page(html, f"api/generated/regionloss.{name}.html")
    if ".. math::" in doc or ":math:" in doc:
        assert 'class="math' in page, f"{name}: the formula is not rendered as math"
    for section in ("References", "Examples"):
        if re.search(rf"^\s*{section}\n\s*-{{3,}}", doc, flags=re.MULTILINE):
            assert f">{section}<" in page, f"{name}: no {section} section on its page"
    if re.search(r"^\s*Examples\n\s*-{3,}", doc, flags=re.MULTILINE):
        assert "&gt;&gt;&gt;" in page or 'class="gp"' in page, f"{name}: examples missing"


def test_the_formulas_references_and_examples_of_the_main_losses_are_shown(site):
    html, _ = site
    for name in ("dice_loss", "tversky_loss", "iou_score", "dice_score"):
        page = _page(html, f"api/generated/regionloss.{name}.html")
        assert 'class="math' in page and ">References<" in page and ">Examples<" in page, name


def test_every_docs_page_is_on_the_site_and_in_the_user_guide(site):
    html, _ = site
    index = _page(html, "index.html")
    for page in sorted(DOCS.glob("*.md")):
        if page.stem in ("index", "README"):
            continue
        _page(html, f"{page.stem}.html")
        assert f'href="{page.stem}.html"' in index, f"{page.name} is not in the user guide"


def test_the_getting_started_pages_quote_the_examples(site):
    html, _ = site
    jax_page = _page(html, "start/jax_flax.html")
    for code in ("loss_fn", "train_step", "per_class_dice", "dice_loss"):
        assert code in jax_page, code
    cupy_page = _page(html, "start/cupy.html")
    for code in ("MetricAccumulator", "iou_state", "compute"):
        assert code in cupy_page, code
    for rel in ("start/install.html", "start/numpy_scoring.html", "start/pytorch.html",
                "guide/conventions.html", "guide/equivalence.html",
                "project/benchmarks.html", "project/changelog.html"):
        _page(html, rel)
    # the README's tables reach the site: one row of each
    assert "Tversky α/β" in _page(html, "guide/conventions.html")
    assert "HausdorffDistanceMetric" in _page(html, "guide/equivalence.html")
    assert "0.96–1.22" in _page(html, "project/benchmarks.html")


def test_readme_links_reach_site_pages(site):
    """Every README link into docs/ is a page of the site; so is every site address of the
    package's long description (README.md with absolute links)."""
    html, _ = site
    for target in _relative_links(README.read_text(encoding="utf-8")):
        path = target.split("#")[0]
        if path.startswith("docs/") and path.endswith(".md"):
            _page(html, path[len("docs/"):-len(".md")] + ".html")
    setup = _load("regionloss_setup", ROOT / "setup.py")
    text = setup.long_description(README.read_text(encoding="utf-8"),
                                  "https://site.example/", "https://code.example/")
    site_links = [t for t in LINK.findall(text) if t.startswith("https://site.example/")]
    assert site_links
    for link in site_links:
        _page(html, link[len("https://site.example/"):].split("#")[0])


# ----------------------------------------------------------- the README, no build needed


def test_readme_relative_links_point_at_files():
    links = _relative_links(README.read_text(encoding="utf-8"))
    assert links
    for target in links:
        path, _, anchor = target.partition("#")
        assert (ROOT / path).is_file(), f"README links to {path}, which does not exist"


def test_long_description_has_no_relative_links():
    setup = _load("regionloss_setup", ROOT / "setup.py")
    readme = README.read_text(encoding="utf-8")
    text = setup.long_description(readme, "https://site.example/", "https://code.example/")
    assert _relative_links(text) == []
    assert len(LINK.findall(text)) == len(LINK.findall(readme))
    assert "https://site.example/cli.html" in text
    assert setup.absolute_target("docs/cli.md#policies", "https://s/", "https://c") == \
        "https://s/cli.html#policies"
    assert setup.absolute_target("docs/images/report.png", "https://s/", "https://c/") == \
        "https://c/blob/main/docs/images/report.png"
    assert setup.absolute_target("benchmarks/README.md", "https://s", "https://c") == \
        "https://s/project/benchmarks.html"


def _speed_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Speed\n(.*?)(?=^## )", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no Speed section"
    return match.group(1)


def test_readme_speed_figures_are_the_benchmark_figures():
    """Every ratio or range the README's Speed section quotes appears, verbatim, in
    benchmarks/README.md (where the commands and conditions are)."""
    speed = _speed_section()
    bench = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    # ranges "0.96–1.22" (en dash) and ratios "3.1×" / "22–31×"
    figures = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:–\d+(?:\.\d+)?×?|×)", speed)
    assert {"0.96–1.22", "3.1–9.2×", "22–31×"} <= set(figures), figures
    for figure in figures:
        assert figure in bench, f"README's Speed section quotes {figure!r}, " \
                                "which benchmarks/README.md does not"


def test_topic_pages_come_in_order_and_new_pages_need_no_edit(tmp_path, monkeypatch):
    conf = _load("regionloss_docs_conf_probe", DOCS / "conf.py")
    for name in ("zeta", "metrics", "index", "cli", "boundary", "README"):
        (tmp_path / f"{name}.md").write_text(f"# {name}\n", encoding="utf-8")
    monkeypatch.setattr(conf, "HERE", tmp_path)
    assert conf.topic_pages() == ["boundary", "metrics", "cli", "zeta"]


def test_api_reference_lists_every_public_name():
    conf = _load("regionloss_docs_conf_probe", DOCS / "conf.py")
    source = conf.api_reference_source()
    listed = set(re.findall(r"^   (\w+)$", source, flags=re.MULTILINE))
    assert set(regionloss.__all__) <= listed


# --------------------------------------------------------------- code on the pages runs


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def test_the_landing_page_example_runs(capsys):
    blocks = _python_blocks(DOCS / "index.md")
    assert blocks
    exec(compile(blocks[0], "docs/index.md", "exec"), {})


def test_the_pytorch_page_runs():
    pytest.importorskip("torch")
    code = "\n".join(_python_blocks(DOCS / "start" / "pytorch.md"))
    namespace: dict = {}
    exec(compile(code, "docs/start/pytorch.md", "exec"), namespace)
    import torch

    assert isinstance(namespace["loss"], torch.Tensor)
    dice = namespace["rl"].dice_score(namespace["pred"], namespace["labels"], num_classes=3,
                                      average="none")
    assert dice.shape == (3,) and bool((dice > 0.5).all())
