"""The reference fixture files are self-consistent.

``tests/reference/*.json`` describe cases whose inputs and expected outputs live in the
``.npz`` beside them (see ``tests/reference/README.md``). The comparison tests read them
by key; this module checks the bookkeeping those tests rely on, without any reference
library: every key a case names exists, recorded shapes / dtypes match the arrays, every
case has the fields the README promises, recorded NaN positions and scalar reprs agree with
the stored numbers, and (for the newer files) every array in the ``.npz`` is accounted for.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from conftest import reference_dir

ALL_FILES = ("reference", "surface", "boundary", "catalogue")
# Files written with the full field set (binding, compute_dtype, function, options, dtype).
STRICT_FILES = ("boundary", "catalogue")

CASE_FIELDS = ("id", "library", "version", "kind", "call", "inputs", "layout", "notes")
STRICT_CASE_FIELDS = CASE_FIELDS + ("binding", "compute_dtype", "function", "options")
EXPECTED_FIELDS = ("value", "structure", "shape")


def _load(name):
    base = reference_dir()
    jpath, npath = os.path.join(base, f"{name}.json"), os.path.join(base, f"{name}.npz")
    if not (os.path.exists(jpath) and os.path.exists(npath)):
        pytest.skip(f"{name}.json / {name}.npz not in {base}")
    with open(jpath) as fh:
        doc = json.load(fh)
    with np.load(npath) as z:
        arrays = {k: z[k] for k in z.files}
    return doc, arrays


@pytest.fixture(scope="module", params=ALL_FILES)
def fixture(request):
    doc, arrays = _load(request.param)
    return request.param, doc, arrays


def _value_keys(expected):
    v = expected["value"]
    return [v] if isinstance(v, str) else list(v)


def _shapes(expected):
    return [expected["shape"]] if isinstance(expected["value"], str) else list(expected["shape"])


def test_top_level_layout(fixture):
    name, doc, _ = fixture
    assert set(doc) >= {"meta", "inputs", "cases"}, name
    meta = doc["meta"]
    assert meta["seed"] == 0
    assert meta["versions"], "library versions are recorded"
    assert meta["n_cases"] == len(doc["cases"])
    assert meta["n_errors"] == sum("error" in c for c in doc["cases"])


def test_inputs_exist_with_recorded_shape_and_dtype(fixture):
    name, doc, arrays = fixture
    assert doc["inputs"], name
    for key, info in doc["inputs"].items():
        assert key in arrays, f"{name}: input {key} missing from the npz"
        assert list(arrays[key].shape) == info["shape"], f"{name}: {key} shape"
        assert str(arrays[key].dtype) == info["dtype"], f"{name}: {key} dtype"
        assert info.get("layout") and info.get("text"), f"{name}: {key} needs layout and text"


def test_case_ids_unique(fixture):
    name, doc, _ = fixture
    ids = [c["id"] for c in doc["cases"]]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"{name}: duplicate ids {sorted(dupes)}"


def test_every_case_has_required_fields(fixture):
    name, doc, _ = fixture
    fields = STRICT_CASE_FIELDS if name in STRICT_FILES else CASE_FIELDS
    for case in doc["cases"]:
        missing = [f for f in fields if f not in case]
        assert not missing, f"{name}: {case.get('id')} lacks {missing}"
        assert case["kind"] in ("loss", "metric", "transform"), case["id"]
        assert ("expected" in case) != ("error" in case), f"{case['id']}: exactly one of expected / error"
        assert case["call"].strip(), case["id"]
        if "expected" in case:
            missing = [f for f in EXPECTED_FIELDS if f not in case["expected"]]
            assert not missing, f"{name}: {case['id']} expected lacks {missing}"
        if case["kind"] == "loss" and "expected" in case:
            assert case.get("grad_wrt"), f"{case['id']}: a loss records grad_wrt"
            assert case["expected"].get("grad"), f"{case['id']}: a loss records its gradient"


def test_case_inputs_are_declared_and_stored(fixture):
    name, doc, arrays = fixture
    for case in doc["cases"]:
        for key in case["inputs"]:
            assert key in doc["inputs"], f"{name}: {case['id']} uses undeclared input {key}"
            assert key in arrays, f"{name}: {case['id']} input {key} not in the npz"
        if case.get("grad_wrt"):
            assert case["grad_wrt"] in case["inputs"], case["id"]


def test_expected_keys_exist_with_recorded_shapes(fixture):
    name, doc, arrays = fixture
    for case in doc["cases"]:
        exp = case.get("expected")
        if exp is None:
            continue
        keys, shapes = _value_keys(exp), _shapes(exp)
        assert len(keys) == len(shapes), case["id"]
        for key, shape in zip(keys, shapes):
            assert key in arrays, f"{name}: {case['id']} output {key} missing"
            assert list(arrays[key].shape) == list(shape), f"{name}: {case['id']} {key} shape"
        if exp.get("grad"):
            g = arrays.get(exp["grad"])
            assert g is not None, f"{name}: {case['id']} gradient {exp['grad']} missing"
            assert g.shape == arrays[case["grad_wrt"]].shape, f"{case['id']}: gradient shape = input shape"
            assert g.dtype == np.float64 and np.all(np.isfinite(g)), case["id"]
        if "atol" in exp:
            assert exp["atol"] in arrays, case["id"]


def test_recorded_scalars_and_nonfinite_positions_match(fixture):
    name, doc, arrays = fixture
    for case in doc["cases"]:
        exp = case.get("expected")
        if exp is None:
            continue
        keys = _value_keys(exp)
        if "value_repr" in exp:
            reprs = [exp["value_repr"]] if isinstance(exp["value"], str) else exp["value_repr"]
            for key, rep in zip(keys, reprs):
                a = arrays[key]
                assert a.size == 1, (case["id"], key)
                assert np.array_equal(a.reshape(()), np.float64(float(rep)), equal_nan=True), (case["id"], key)
        if "nonfinite" in exp and name in STRICT_FILES:
            recs = [exp["nonfinite"]] if isinstance(exp["value"], str) else exp["nonfinite"]
            for key, rec in zip(keys, recs):
                a = arrays[key]
                for kind, test in (("nan", np.isnan), ("posinf", np.isposinf), ("neginf", np.isneginf)):
                    want = sorted(map(tuple, rec.get(kind, [])))
                    got = sorted(map(tuple, np.argwhere(test(a)).tolist())) if a.ndim else (
                        [()] if test(a) else [])
                    assert got == want, f"{case['id']} {key}: {kind} positions"
        elif name in STRICT_FILES:
            for key in keys:
                a = arrays[key]
                if a.dtype.kind == "f":
                    assert np.all(np.isfinite(a)), f"{case['id']}: non-finite values not recorded"


def test_strict_files_dtypes_and_gradient_counts(fixture):
    name, doc, arrays = fixture
    if name not in STRICT_FILES:
        pytest.skip("older fixture file without per-case dtype records")
    for case in doc["cases"]:
        exp = case.get("expected")
        if exp is None:
            continue
        keys = _value_keys(exp)
        dtypes = [exp["dtype"]] if isinstance(exp["value"], str) else exp["dtype"]
        for key, dt in zip(keys, dtypes):
            assert str(arrays[key].dtype) == dt, (case["id"], key)
        if exp.get("grad"):
            assert np.count_nonzero(arrays[exp["grad"]]) == exp["grad_nonzero"], case["id"]
        assert case["binding"] in ("torch", "numpy"), case["id"]


def test_strict_files_account_for_every_array(fixture):
    name, doc, arrays = fixture
    if name not in STRICT_FILES:
        pytest.skip("older fixture file")
    used = set(doc["inputs"])
    for case in doc["cases"]:
        exp = case.get("expected", {})
        if exp:
            used.update(_value_keys(exp))
        if exp.get("grad"):
            used.add(exp["grad"])
    assert set(arrays) == used, f"{name}: orphan {sorted(set(arrays) - used)}, missing {sorted(used - set(arrays))}"


BARE_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
ASSIGNED = re.compile(r"(?:^|; )([A-Za-z_]\w*) = ")
BUILTINS = {"float", "int", "range", "list", "tuple", "len", "sum", "max", "min", "abs", "dict"}


def test_helpers_named_in_calls_are_recorded(fixture):
    """A bare function a call uses (not a module attribute, not a name the call assigns) is a
    helper whose source is in meta.helpers, so the snippet can be re-run as written."""
    name, doc, _ = fixture
    helpers = doc["meta"].get("helpers", {})
    for hname, src in helpers.items():
        assert f"def {hname}(" in src, hname
    for case in doc["cases"]:
        called = set(BARE_CALL.findall(case["call"]))
        local = set(ASSIGNED.findall(case["call"]))
        unknown = called - local - BUILTINS - set(helpers)
        assert not unknown, f"{name}: {case['id']} calls {sorted(unknown)} without a recorded source"


def test_strict_files_hand_checks_agree(fixture):
    """The generator re-derived many cases independently (NumPy formulas, brute-force distances,
    finite differences); the recorded agreement is what the README quotes."""
    name, doc, _ = fixture
    if name not in STRICT_FILES:
        pytest.skip("older fixture file")
    ids = {c["id"] for c in doc["cases"]}
    checks = doc["meta"]["hand_checks"]
    assert checks, name
    for hc in checks:
        if "max_abs_diff" in hc:
            assert hc["case"] in ids, hc["case"]
            assert hc["nan_pattern_equal"], hc["case"]
            # MONAI confusion metrics and torchmetrics compute in float32
            assert hc["max_abs_diff"] < 1e-6, hc
        elif "max_rel_diff" in hc:
            assert hc["case"] in ids, hc["case"]
            assert hc["max_rel_diff"] < 1e-6, hc
    losses = {c["id"] for c in doc["cases"] if c["kind"] == "loss" and "expected" in c}
    fd_checked = {hc["case"] for hc in checks if "max_rel_diff" in hc}
    assert losses <= fd_checked, f"losses without a finite-difference check: {sorted(losses - fd_checked)}"
