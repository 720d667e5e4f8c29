"""Sphinx configuration of the regionloss documentation site.

Build (from the repository root)::

    pip install -e ".[test]"            # sphinx, myst-parser, numpydoc
    python -m sphinx -W --keep-going -b html docs docs/_build/html

``tests/test_docs_site.py`` runs the same build with warnings as errors.

Why Sphinx with MyST-Parser and numpydoc (and not MkDocs + mkdocstrings): the API is
documented in numpydoc docstrings with ``.. math::`` formulas, ``References`` and
``Examples`` sections and ``:func:`` cross references, which numpydoc and Sphinx render
natively (mkdocstrings' NumPy style handles neither reST math nor Sphinx roles); the
guides are Markdown, which MyST reads as they are, so the pages under ``docs/`` read the
same on a code host and on the site. One build checks both: a broken link, an unknown
reference or a malformed docstring section is a warning, and the tests treat warnings as
errors.

Layout of the site:

* ``index.md`` the landing page; ``start/`` the getting-started pages (install, one page
  per kind of user); ``guide/`` the conventions and the equivalence summary, which include
  the README's sections (one text for both); ``project/`` the benchmark tables
  (``benchmarks/README.md``) and the changelog (``CHANGELOG.md``), included as they are.
* every ``docs/*.md`` topic page is picked up by the glob of the "User guide" toctree of
  ``index.md``: adding a page needs no edit here.
* ``api/index.rst`` is written by this file at every build, one autosummary table per group
  of the names in ``regionloss.__all__`` (and of the public submodules' ``__all__``):
  a name added to ``__all__`` appears in the reference without editing the docs. The
  per-name pages go to ``api/generated/`` (both are build products, git-ignored).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# the checkout's sources first, so that a build documents the code it sits next to
sys.path.insert(0, str(ROOT / "src"))

import regionloss  # noqa: E402

# -- project --------------------------------------------------------------------------------

project = "regionloss"
author = "The regionloss authors"
copyright = "The regionloss authors"
release = regionloss.__version__
version = ".".join(release.split(".")[:2])

# -- extensions -----------------------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "README.md"]
templates_path = ["_templates"]

# MyST: GitHub-style heading anchors, so that links such as ``cli.md#policies`` resolve;
# ``$...$`` math is off (the pages use code spans for formulas, and ``$`` appears in shell
# prompts).
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist"]

# autodoc / autosummary
autosummary_generate = True
autosummary_imported_members = True
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"          # the numpydoc Parameters section says the types
autodoc_preserve_defaults = True    # show ``zero_division=nan``, not its repr

# numpydoc: sections as written in the docstrings; class members listed by the class
# template (one table, no second autosummary of every attribute).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# Every cross reference must resolve (warnings are errors in the tests). Not checked: the
# names of other libraries (the build is offline, without intersphinx) and the private
# modules a docstring may name for the curious reader (they are not on the site).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|scipy|cupy|cupyx|jax|torch|dask|optax|flax|matplotlib)(\..*)?"),
    (r"py:mod", r"regionloss(\.\w+)*\._\w+(\.\w+)*"),
]

# -- HTML -----------------------------------------------------------------------------------

html_theme = "alabaster"            # Sphinx's own theme: no extra dependency
html_title = f"regionloss {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Segmentation losses and metrics on any array-API backend",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "250px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False

# -- the API reference, generated from __all__ ----------------------------------------------

#: Groups of the API reference: (title, prefixes of the defining module). A name lands in
#: the first group whose prefix matches the module it is defined in; a name defined
#: elsewhere (or a constant) lands in "Constants" or "More". Order = order on the page.
API_GROUPS = [
    ("Region losses", ("regionloss.losses.region", "regionloss.losses.generalized")),
    ("Pixel-wise and Lovász losses", ("regionloss.losses.pixelwise",
                                      "regionloss.losses.lovasz")),
    ("Compound losses", ("regionloss.losses.compound",)),
    ("More losses", ("regionloss.losses",)),
    ("Overlap and classification metrics", ("regionloss.metrics.overlap",
                                            "regionloss.metrics.rates",
                                            "regionloss.metrics.agreement")),
    ("Counting, labels and the metric table", ("regionloss.metrics.confusion",
                                               "regionloss.metrics.labels")),
    ("Streaming evaluation", ("regionloss.metrics.accumulator",)),
    ("Boundary metrics", ("regionloss.metrics.surface",)),
    ("More metrics", ("regionloss.metrics",)),
    ("Distance maps and soft morphology", ("regionloss.distance_maps",)),
    ("Offline scoring", ("regionloss.scoring",)),
]
#: Public submodules whose ``__all__`` is documented under the module's own name, for the
#: names that ``regionloss`` itself does not export: (module, show its docstring).
API_MODULES = [("regionloss.distance_maps", True), ("regionloss.scoring", False)]


def _group_of(module_name: str | None) -> str:
    for title, prefixes in API_GROUPS:
        if module_name and any(module_name == p or module_name.startswith(p + ".")
                               for p in prefixes):
            return title
    return "Constants" if module_name is None else "More"


def _autosummary(names: list[str], current: str) -> list[str]:
    lines = [f".. currentmodule:: {current}", "", ".. autosummary::",
             "   :toctree: generated", "   :nosignatures:", ""]
    lines += [f"   {name}" for name in names]
    return lines + [""]


def api_reference_source() -> str:
    """The text of ``api/index.rst``: one autosummary table per group of ``__all__``."""
    import importlib

    groups: dict[str, list[str]] = {}
    for name in regionloss.__all__:
        obj = getattr(regionloss, name)
        module = getattr(obj, "__module__", None) if callable(obj) else None
        groups.setdefault(_group_of(module), []).append(name)
    order = [title for title, _ in API_GROUPS] + ["Constants", "More"]

    lines = [
        ".. This file is written by docs/conf.py from regionloss.__all__ at every build.",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of the package, importable as ``regionloss.<name>`` (the",
        "``regionloss.__all__`` list). Each page shows the formula, the parameters with",
        "their defaults, the conventions that apply, the literature (*References*) and",
        "runnable *Examples*. Arrays are positional-only and options keyword-only;",
        "results come back in the caller's array library and on its device.",
        "",
    ]
    for title in order:
        names = groups.get(title)
        if not names:
            continue
        lines += [title, "-" * len(title), ""]
        lines += _autosummary(sorted(names, key=str.lower), "regionloss")
    for module_name, show_docstring in API_MODULES:
        module = importlib.import_module(module_name)
        names = [n for n in getattr(module, "__all__", []) if n not in regionloss.__all__]
        if not names:
            continue
        title = f"``{module_name}``"
        lines += [title, "-" * len(title), ""]
        if show_docstring:
            lines += [f".. automodule:: {module_name}", "   :no-members:", "   :no-index:", ""]
        lines += _autosummary(names, module_name)
    return "\n".join(lines)


def _write_api_reference() -> None:
    api = HERE / "api"
    api.mkdir(exist_ok=True)
    # the per-name pages are rewritten at every build: a name that left __all__ must not
    # leave a stale page behind
    shutil.rmtree(api / "generated", ignore_errors=True)
    target = api / "index.rst"
    text = api_reference_source()
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


_write_api_reference()



def _attribute_doc(obj, short_name: str) -> list[str] | None:
    """The ``#:`` comment of the module-level name bound to ``obj`` in regionloss (one of
    that name first: two names may share one object)."""
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    names = [regionloss.__name__] + [
        info.name for info in pkgutil.walk_packages(regionloss.__path__, "regionloss.")
        if not info.name.endswith("__main__")]
    found = []
    for module_name in names:
        try:
            module = importlib.import_module(module_name)
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module that cannot be analysed has no comment
            continue
        for (scope, attr), lines in docs.items():
            if scope == "" and getattr(module, attr, None) is obj:
                found.append((attr != short_name, list(lines)))
    return min(found, key=lambda item: item[0])[1] if found else None


def _constant_docstrings(app, what, name, obj, options, lines):
    """A constant documented as ``regionloss.NAME`` gets the ``#:`` comment of the module
    that defines it, not the docstring of its type (``tuple``, ``dict``)."""
    if what not in ("data", "attribute") or not name.startswith("regionloss."):
        return
    text = " ".join(" ".join(lines).split())
    if text not in ("", " ".join((type(obj).__doc__ or "").split())):
        return  # a docstring of its own
    lines[:] = _attribute_doc(obj, name.rsplit(".", 1)[-1]) or []


def _skip_namedtuple_aliases(app, what, name, obj, skip, options):
    """Leave out the ``Alias for field number N`` properties of NamedTuple states: the
    class docstring's Fields section describes them."""
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return None


def _resolve_public_name(app, env, node, contnode):
    """Resolve a Python reference that names a public object by another path.

    ``regionloss.metrics.dice_score`` (a subpackage's re-export) is documented once, as
    ``regionloss.dice_score``; a bare ``ScoringError`` in a docstring of
    ``regionloss.score`` is ``regionloss.scoring.ScoringError``. Both resolve to the page
    of the one documented object: the same object reached by its last name, when exactly
    one documented object has that name.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    last = target.rsplit(".", 1)[-1]
    if target != last and not target.startswith("regionloss."):
        return None
    domain = env.get_domain("py")
    candidates = [name for name, entry in domain.objects.items()
                  if name.rsplit(".", 1)[-1] == last and name.startswith("regionloss.")
                  and not getattr(entry, "aliased", False)]  # not autodoc's canonical paths
    if target != last:  # a dotted path: only to the same object
        import importlib

        def load(path):
            module, _, attr = path.rpartition(".")
            try:
                return getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError, ValueError):
                return None

        wanted = load(target)
        candidates = [c for c in candidates if wanted is not None and load(c) is wanted]
    if len(candidates) != 1:
        return None
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, node.get("reftype"),
                               candidates[0], node, contnode)


#: Order of the topic pages (``docs/*.md``) in the "User guide" of the landing page. A page
#: not listed here comes after these, by name; a listed page that does not exist is skipped.
TOPIC_ORDER = [
    "loss_family", "loss_catalogue", "boundary",
    "metrics", "metrics_catalogue", "surface",
    "cli",
    "equivalence_losses", "equivalence_loss_family",
]
TOPIC_MARKER = "{every-topic-page}"


def topic_pages() -> list[str]:
    """Every ``docs/*.md`` page (but the landing page), in ``TOPIC_ORDER`` first."""
    found = {p.stem for p in HERE.glob("*.md")} - {"index", "README"}
    return [n for n in TOPIC_ORDER if n in found] + sorted(found - set(TOPIC_ORDER))


def _fill_topic_toctree(app, docname, source):
    if docname == "index":
        source[0] = source[0].replace(TOPIC_MARKER, "\n".join(topic_pages()))


def setup(app):  # noqa: D103 - Sphinx hook
    app.connect("autodoc-skip-member", _skip_namedtuple_aliases)
    # before numpydoc's own handler (priority 500), which formats what this one returns
    app.connect("autodoc-process-docstring", _constant_docstrings, priority=400)
    app.connect("missing-reference", _resolve_public_name)
    app.connect("source-read", _fill_topic_toctree)
