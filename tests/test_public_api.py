"""The public API: what ``regionloss`` exports, how every public function is spelled
(positional-only arrays, keyword-only options, a real ``def``), its docstring sections, and
the loss terms' options against the public functions' keywords."""

from __future__ import annotations

import importlib
import inspect
import math
import os
import re

import pytest

import regionloss as rl
from regionloss.losses._term import LossTerm, term_fields
from regionloss.losses.compound import TERM_CLASSES

SRC = os.path.dirname(os.path.abspath(rl.__file__))
P = inspect.Parameter

# The modules whose public functions and classes make up the API.
PUBLIC_MODULES = [
    "regionloss.losses.region", "regionloss.losses.generalized", "regionloss.losses.pixelwise",
    "regionloss.losses.lovasz", "regionloss.losses.compound", "regionloss.losses.rates",
    "regionloss.losses.wasserstein", "regionloss.losses.mixed", "regionloss.losses.topk",
    "regionloss.losses.distance_penalized", "regionloss.losses.boundary",
    "regionloss.losses.topology",
    "regionloss.metrics.confusion", "regionloss.metrics.overlap", "regionloss.metrics.rates",
    "regionloss.metrics.agreement", "regionloss.metrics.labels",
    "regionloss.metrics.accumulator", "regionloss.metrics.surface",
    "regionloss.metrics.generalized", "regionloss.metrics.boundary_overlap",
    "regionloss.metrics.topology", "regionloss.distance_maps",
]
# Defined in a public module, not exported, on purpose: name -> why.
INTERNAL = {
    "check_class_options": "per-call check shared by the region terms",
    "focal_power": "the focal exponent with a finite gradient at 0 (a helper of the terms)",
    "log_cosh": "log(cosh(x)) evaluated stably (a helper of LogCoshDiceTerm)",
    "generalized_dice_weights": "the class weights of the generalized Dice term",
    "check_logit_activation": "option check of the pixel-wise terms",
    "class_vector": "per-class option as an array (pixel-wise terms)",
    "select_product": "a product that selects away weight-0 pixels (pixel-wise terms)",
    "log_not_p": "log(1 - p) from logits (pixel-wise terms)",
    "bce_terms": "binary cross-entropy pieces (pixel-wise terms)",
    "none_layout": "the reduction='none' layout of the pixel-wise terms",
    "check_focal_alpha": "option check of the focal term",
    "focal_factor": "the focal modulating factor",
    "take_along_last": "take_along_axis with a fallback for array API 2023.12 (Lovász sort)",
    "take_along_last_flat": "the fallback of take_along_last",
    "lovasz_rows": "the Lovász extension on sorted errors",
    "build_term": "builds a term from a public loss and options (combine)",
    "count_labels": "confusion_matrix with the counting kernel chosen (tests, benchmarks)",
    "score_labels": "the shared body of the metric functions",
    "check_label_maps": "input checks shared by the metric functions",
    "scored_pixels": "pixel counts of the rate losses",
    "check_distance_matrix": "option check of the Wasserstein Dice term",
    "log_one_minus": "log(1 - p) evaluated stably (mixed losses)",
    "check_ce_class_weights": "option check of the exp-log term",
    "topk_count": "the static number of pixels the top-k loss keeps",
    "boundary_penalty": "the distance weight map of the distance-penalized loss",
    "class_regions": "the checked class masks of a label map or one-hot target (maps)",
    "from_channels_first": "layout helper of the distance maps",
    "parameter_docs": "docstring parts of the boundary losses",
    "fill_parameters": "docstring filler of the boundary losses",
    "channels_first": "layout helper of the boundary losses",
    "kept_channels": "class selection of the boundary losses",
    "pixel_means": "the pixel reduction of the boundary losses",
    "volume_weights": "the class weights of generalized_dice_score",
    "band_width": "the band width of boundary IoU",
    "boundary_bands": "the boundary bands of boundary IoU",
    "traced_label_check": "the jit-time label flag of boundary IoU",
    "check_labels": "input checks of boundary IoU",
    "class_mask": "one class's mask (boundary IoU)",
    "skeleton_counts": "the skeleton counts of clDice (host kernel)",
    "boundary_distance_field": "public in regionloss.distance_maps (the HD loss's fields)",
    "soft_erode": "public in regionloss.distance_maps (soft morphology of clDice)",
    "soft_dilate": "public in regionloss.distance_maps (soft morphology of clDice)",
    "soft_skeleton": "public in regionloss.distance_maps (soft morphology of clDice)",
}
# Exported under a second name: exported name -> the def's name.
ALIASES = {"iou_loss": "jaccard_loss"}
# Arrays a public function takes (positional-only); default ("pred", "target").
ARRAY_PARAMETERS = {
    "boundary_loss": ("pred", "distance_maps"),
    "distance_transform": ("mask",),
    "signed_distance_map": ("labels",),
    "distance_penalty_map": ("target",),
    "class_statistics": ("confusion",),
    "score_confusion": ("confusion",),
    "to_labels": ("scores",),
    "combine": (),
}
# Public functions whose signature has a * or ** parameter, and why.
VARIADIC = {
    "combine": ("terms", "shared"),       # combine(*(weight, loss[, options]), **shared)
    "score_confusion": ("metric_options_",),  # the named metric's own options
}
# Public functions that need no References section: they implement no published method and
# follow no other library's convention of their own.
NO_REFERENCES = {
    "to_labels": "an argmax or a threshold",
    "class_statistics": "reads tp, fp, fn, tn off a confusion matrix",
    "score_confusion": "dispatches to the metric table; each metric's function cites its sources",
    "combine": "a weighted sum of losses",
    "score": "the offline scorer; its metrics cite their sources",
}


def _exported():
    return {name: getattr(rl, name) for name in rl.__all__}


def _public_functions():
    return {name: obj for name, obj in _exported().items() if inspect.isfunction(obj)}


LOSSES = {name: f for name, f in _public_functions().items() if name in rl.losses.__all__}
METRICS = {name: f for name, f in _public_functions().items() if name in rl.metrics.__all__}


# --------------------------------------------------------------------------- __all__


def test_everything_exported_exists_once():
    assert len(rl.__all__) == len(set(rl.__all__))
    for name in rl.__all__:
        assert hasattr(rl, name), name
    public = {n for n in dir(rl) if not n.startswith("_")}
    # the subpackages and the version aside, the package namespace is __all__
    assert public - set(rl.__all__) <= {"cli", "losses", "metrics", "scoring",
                                        "distance_maps"}, (
        public - set(rl.__all__))


def test_the_layers_agree():
    """``regionloss`` exports what ``regionloss.losses`` and ``regionloss.metrics`` export,
    and the offline scorer."""
    assert set(rl.__all__) == (set(rl.losses.__all__) | set(rl.metrics.__all__)
                               | {"score", "ScoreReport", "distance_transform",
                                  "signed_distance_map", "distance_penalty_map"})
    for sub in (rl.losses, rl.metrics):
        for name in sub.__all__:
            assert getattr(sub, name) is getattr(rl, name), name


def test_every_public_definition_is_exported():
    """A function or class defined in a public module is exported, is a loss term (the
    loss protocol, reached through ``combine``), or is an internal helper listed above."""
    exported = set(rl.__all__)
    missing, seen = [], set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            seen.add(name)
            if name in exported or name in INTERNAL:
                continue
            if inspect.isclass(obj) and issubclass(obj, LossTerm):
                continue
            missing.append(f"{module_name}.{name}")
    assert not missing, f"defined in a public module but not exported: {missing}"
    stale = sorted(set(INTERNAL) - seen)
    assert not stale, f"INTERNAL lists names that no public module defines: {stale}"


# --------------------------------------------------------------------------- real defs


@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_every_exported_function_is_a_def(name):
    """No generated functions: a module-level ``def`` that grep, an IDE and the docs find."""
    func = getattr(rl, name)
    def_name = ALIASES.get(name, name)
    assert func.__name__ == def_name, f"{name} is {func.__name__} (not a listed alias)"
    assert func.__qualname__ == def_name, f"{name} is defined inside {func.__qualname__}"
    path = os.path.abspath(inspect.getsourcefile(func))
    assert path.startswith(SRC + os.sep), path
    source = inspect.getsource(func)
    assert re.search(rf"^def {def_name}\(", source, re.M), source[:200]
    with open(path, encoding="utf-8") as fh:
        assert f"def {def_name}(" in fh.read()


@pytest.mark.parametrize("name", sorted(n for n, o in _exported().items() if inspect.isclass(o)))
def test_every_exported_class_is_a_class_statement(name):
    cls = getattr(rl, name)
    assert cls.__name__ == name and cls.__qualname__ == name
    path = os.path.abspath(inspect.getsourcefile(cls))
    assert path.startswith(SRC + os.sep), path
    assert re.search(rf"^class {name}\b", inspect.getsource(cls), re.M)
    assert inspect.getdoc(cls), f"{name} has no docstring"


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_arrays_positional_only_options_keyword_only(name):
    func = getattr(rl, name)
    params = list(inspect.signature(func).parameters.values())
    arrays = ARRAY_PARAMETERS.get(name, ("pred", "target"))
    head = [p.name for p in params if p.kind is P.POSITIONAL_ONLY]
    assert tuple(head) == arrays, f"{name}: positional-only {head}, expected {arrays}"
    assert [p.name for p in params[:len(arrays)]] == list(arrays)
    rest = params[len(arrays):]
    variadic = tuple(p.name for p in rest if p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD))
    assert variadic == VARIADIC.get(name, ()), f"{name}: variadic {variadic}"
    for p in rest:
        assert p.kind in (P.KEYWORD_ONLY, P.VAR_POSITIONAL, P.VAR_KEYWORD), (
            f"{name}: option {p.name} is {p.kind.name}, not keyword-only")


def test_losses_and_metrics_take_prediction_then_reference():
    assert len(LOSSES) >= 16 and len(METRICS) >= 25
    for name, func in {**LOSSES, **METRICS}.items():
        params = list(inspect.signature(func).parameters.values())
        if name in ARRAY_PARAMETERS:
            continue
        assert [p.kind for p in params[:2]] == [P.POSITIONAL_ONLY] * 2, name
        assert all(p.kind is P.KEYWORD_ONLY for p in params[2:]), name


# --------------------------------------------------------------------------- docstrings


def _sections(doc: str) -> list[str]:
    return re.findall(r"^([A-Z][\w ]*)\n-{3,}[ \t]*$", doc, re.M)


@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_docstring_sections(name):
    doc = inspect.getdoc(getattr(rl, name)) or ""
    sections = _sections(doc)
    missing = [s for s in ("Parameters", "Examples") if s not in sections]
    if "Returns" not in sections and "Yields" not in sections:
        missing.append("Returns")
    if name not in NO_REFERENCES and "References" not in sections:
        missing.append("References")
    assert not missing, f"{name}: no {', '.join(missing)} section (has {sections})"
    assert "{parameters}" not in doc, f"{name}: the shared parameters were not filled in"


def test_no_references_exceptions_are_public_functions():
    assert set(NO_REFERENCES) <= set(_public_functions())


def test_docstrings_parse_with_numpydoc():
    """numpydoc reads every public docstring without a warning, and every parameter of the
    signature is documented (and nothing else)."""
    docscrape = pytest.importorskip("numpydoc.docscrape")
    import warnings

    problems = {}
    for name, func in sorted(_public_functions().items()):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an unknown or malformed section is an error
            try:
                doc = docscrape.FunctionDoc(func)
            except Exception as exc:  # noqa: BLE001 - reported below, per function
                problems[name] = f"{type(exc).__name__}: {exc}"
                continue
        documented = set()
        for param in doc["Parameters"]:
            documented.update(part.strip().lstrip("*") for part in param.name.split(","))
        params = list(inspect.signature(func).parameters)
        undocumented = [p for p in params if p not in documented]
        unknown = sorted(documented - set(params))
        if undocumented or unknown or not (doc["Returns"] or doc["Yields"]):
            problems[name] = (f"undocumented {undocumented}, documented but not taken "
                              f"{unknown}, Returns {bool(doc['Returns'] or doc['Yields'])}")
    assert not problems, problems


# --------------------------------------------------------------------------- loss terms


def _same_default(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_every_single_loss_has_a_term_class():
    compounds = {"dice_ce_loss", "dice_focal_loss", "dice_topk_loss", "combine"}
    singles = {f for name, f in LOSSES.items() if name not in compounds}
    assert singles == set(TERM_CLASSES), (
        {f.__name__ for f in singles} ^ {f.__name__ for f in TERM_CLASSES})


@pytest.mark.parametrize("func", list(TERM_CLASSES), ids=lambda f: f.__name__)
def test_term_fields_equal_the_function_options(func):
    term_class = TERM_CLASSES[func]
    # (arrays passed by keyword are not options: mask, boundary_loss's label map and the
    # distance-penalized loss's precomputed maps)
    arrays = {"mask"} | {"boundary_loss": {"target"},
                         "distance_penalized_cross_entropy": {"penalty_maps"}}.get(
                             func.__name__, set())
    options = {p.name: p.default for p in inspect.signature(func).parameters.values()
               if p.kind is P.KEYWORD_ONLY and p.name not in arrays}
    fields = term_fields(term_class)
    assert set(fields) == set(options), (
        f"{func.__name__}: only in the term {set(fields) - set(options)}, only in the "
        f"function {set(options) - set(fields)}")
    different = {k: (options[k], fields[k]) for k in options
                 if not _same_default(options[k], fields[k])}
    assert not different, f"{func.__name__}: defaults (function, term) differ: {different}"
    assert term_class.name == func.__name__


# --------------------------------------------------------------------------- moved here


def test_docstrings_have_returns_sections():
    for obj in (rl.class_statistics, rl.MetricAccumulator.compute, rl.to_labels,
                rl.score_confusion, rl.dice_score, rl.confusion_matrix):
        assert "Returns\n" in obj.__doc__ and "-------" in obj.__doc__, obj.__name__


# --------------------------------------------------------------------------- type hints


@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_every_exported_function_is_annotated(name):
    """Every parameter and the return value carry a type hint (the package ships
    ``py.typed``); arrays are ``regionloss._typing.Array``."""
    func = getattr(rl, name)
    sig = inspect.signature(func)
    bare = [p.name for p in sig.parameters.values() if p.annotation is P.empty]
    assert not bare, f"{name}: no type hint for {bare}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return hint"


def test_the_package_is_typed():
    assert os.path.isfile(os.path.join(SRC, "py.typed"))
