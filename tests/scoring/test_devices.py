"""Tests of regionloss._kernels.devices (where the scorer counts), and of the rule that the
scorer asks it, never a backend: no backend detection in scoring/, cli.py."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

import regionloss
from regionloss._kernels import devices


def test_numpy_backend():
    devices.require_backend("numpy")
    x = np.arange(3)
    assert devices.to_backend(x, "numpy") is x


def test_cupy_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError, match=r"pip install 'regionloss\[cupy\]'"):
        devices.require_backend("cupy")


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of 'numpy', 'cupy'; got 'tpu'"):
        devices.require_backend("tpu")


def test_threaded_runtimes(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert "tensorflow" in devices.threaded_runtimes()
    monkeypatch.delitem(sys.modules, "tensorflow")
    assert "tensorflow" not in devices.threaded_runtimes()


_PACKAGE = os.path.dirname(os.path.abspath(regionloss.__file__))
_FORBIDDEN = [
    r"\bis_\w+_(array|namespace)\b",             # array_api_compat's backend tests
    r"^\s*(import|from)\s+(jax|cupy|cupyx|torch|tensorflow)\b",
    r"sys\.modules",                             # module-name sniffing
    r"__module__",
    r"array_api_compat",
]


@pytest.mark.parametrize("path", sorted(
    [os.path.join(_PACKAGE, "scoring", name)
     for name in os.listdir(os.path.join(_PACKAGE, "scoring")) if name.endswith(".py")]
    + [os.path.join(_PACKAGE, "cli.py")]), ids=os.path.basename)
def test_no_backend_detection_outside_the_kernels(path):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    for pattern in _FORBIDDEN:
        found = re.search(pattern, source, flags=re.MULTILINE)
        assert found is None, f"{os.path.basename(path)}: {found.group(0)!r}"
