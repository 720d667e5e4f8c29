"""The docstring examples of every module of ``src/regionloss`` run, and print what they say.

One test per module that has examples (``doctest.DocTestFinder`` over the module's own
objects, run with ``NORMALIZE_WHITESPACE | ELLIPSIS``), so that ``python -m pytest`` checks
the documentation along with the code.
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil

import pytest

import regionloss

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _module_names():
    names = [regionloss.__name__]
    for info in pkgutil.walk_packages(regionloss.__path__, prefix=regionloss.__name__ + "."):
        if info.name.endswith("__main__"):
            continue  # running it would start the command line
        names.append(info.name)
    return sorted(names)


def _doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module, name) if t.examples]


MODULES = _module_names()
WITH_EXAMPLES = [name for name in MODULES if _doctests(name)]


def test_the_public_modules_have_examples():
    for name in ("regionloss.losses.region", "regionloss.losses.generalized",
                 "regionloss.losses.pixelwise", "regionloss.losses.lovasz",
                 "regionloss.losses.compound", "regionloss.metrics.confusion",
                 "regionloss.metrics.overlap", "regionloss.metrics.rates",
                 "regionloss.metrics.agreement", "regionloss.metrics.labels",
                 "regionloss.metrics.accumulator"):
        assert name in WITH_EXAMPLES, name


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    tests = _doctests(name)
    failures = []
    cwd = os.getcwd()
    try:
        for test in sorted(tests, key=lambda t: t.name):
            result = runner.run(test, out=failures.append)
            assert result.attempted == len(test.examples)
    finally:
        os.chdir(cwd)
    assert runner.failures == 0, "".join(failures)
