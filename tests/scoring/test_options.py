"""Tests of regionloss.scoring.options: every option checked before any file is read, with
one message style that names the option as the caller spelled it."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import regionloss
from regionloss.scoring import score
from regionloss.scoring.errors import MissingDependencyError, OptionError, ScoringError
from regionloss.scoring.options import (
    BOUNDARY_METRICS,
    PYTHON,
    REGION_METRICS,
    Spelling,
    check_options,
    output_format,
    parse_metric_names,
)

from ._data import write_mask

FLAGS = Spelling(flags=(("num_classes", "--num-classes"), ("class_names", "--class-names"),
                        ("tolerance", "--tolerance"), ("spacing", "--spacing"),
                        ("workers", "--workers"), ("scheduler", "--scheduler"),
                        ("include_background", "--no-background"),
                        ("empty_distance", "--empty-distance"), ("metrics", "--metrics"),
                        ("tversky.alpha", "--tversky-alpha"), ("tversky.beta", "--tversky-beta"),
                        ("missing", "--missing"),
                        ("ignore_index", "--ignore-index"), ("output", "--output")))


def test_region_metrics_are_the_metric_table():
    assert REGION_METRICS is regionloss.metrics.METRIC_NAMES
    assert len(REGION_METRICS) == 19
    assert {"dice", "iou", "mcc", "npv", "prevalence_threshold"} <= set(REGION_METRICS)
    assert BOUNDARY_METRICS == ("hd", "hd95", "asd", "assd", "nsd", "boundary_iou", "cldice")


def test_metric_names_aliases_and_order():
    assert parse_metric_names("Jaccard, f1,dice") == ("iou", "dice")
    assert parse_metric_names(["sensitivity", "HD95", "tpr"]) == ("recall", "hd95")
    assert parse_metric_names(["true-positive-rate", "Matthews Correlation Coefficient"]) == (
        "recall", "mcc")
    every = parse_metric_names(",".join(REGION_METRICS + BOUNDARY_METRICS))
    assert every == REGION_METRICS + BOUNDARY_METRICS


@pytest.mark.parametrize("metrics,match", [
    ("dice,bogus", r"^metrics: unknown metric\(s\) bogus; choose from dice, iou, tversky"),
    (" , ", r"^metrics: give at least one metric"),
])
def test_metric_names_errors(metrics, match):
    with pytest.raises(OptionError, match=match):
        parse_metric_names(metrics)
    with pytest.raises(OptionError, match=match.replace("^metrics", "^--metrics")):
        parse_metric_names(metrics, FLAGS)


@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": 0}, r"^num_classes must be an integer >= 1; got 0"),
    ({"num_classes": 2.5}, r"^num_classes must be an integer; got float 2.5"),
    ({"num_classes": True}, r"^num_classes must be an integer"),
    ({"num_classes": 3, "metrics": ["dice", "nope"]}, "unknown metric"),
    ({"num_classes": 3, "backend": "torch"}, r"^backend must be one of 'numpy', 'cupy'"),
    ({"num_classes": 3, "workers": 0}, r"^workers must be an integer >= 1; got 0"),
    ({"num_classes": 3, "workers": 2, "scheduler": "tcp://x:1"},
     r"^give either workers \(local processes\) or scheduler \(Dask\), not both"),
    ({"num_classes": 3, "metrics": ["nsd"]}, "needs a tolerance: pass tolerance"),
    ({"num_classes": 3, "metrics": ["hd"], "tolerance": [1, 2]},
     r"^tolerance: give one value or one per class \(3\), got 2"),
    ({"num_classes": 3, "metrics": ["nsd"], "tolerance": -1},
     r"^tolerance must be a finite number >= 0; got -1"),
    ({"num_classes": 3, "missing": "skip"}, r"^missing must be one of 'error', 'empty'"),
    ({"num_classes": 3, "ignore_index": 2.0}, r"^ignore_index must be an int or None"),
    ({"num_classes": 3, "include_background": "no"}, r"^include_background must be True or"),
    ({"num_classes": 1, "include_background": False},
     r"^include_background=False needs num_classes >= 2"),
    ({"num_classes": 3, "zero_division": 0.5}, r"^zero_division must be nan, 0.0 or 1.0"),
    ({"num_classes": 3, "spacing": (1.0, 0.0)}, r"^spacing must be a finite number > 0; got 0"),
    ({"num_classes": 3, "empty_distance": -1}, r"^empty_distance must be a number >= 0; got -1"),
    ({"num_classes": 3, "class_names": "abc"}, r"^class_names must be a sequence of names"),
    ({"num_classes": 3, "class_names": ["a"]}, r"^class_names: expected 3 names, got 1"),
    ({"num_classes": 3, "class_names": ["a"], "include_background": False},
     r"^class_names: expected 3 names \(or 2 without background\), got 1"),
])
def test_bad_options(tmp_path, kwargs, match):
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(OptionError, match=match):
        score(path, path, **kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"num_classes": 3, "class_names": ["a", "b", "c", "d"]},
     "--class-names: expected 3 names, got 4"),
    ({"num_classes": 0}, "--num-classes must be an integer >= 1; got 0"),
    ({"num_classes": 3, "metrics": ["nsd"]},
     "metric 'nsd' (normalised surface Dice) needs a tolerance: pass --tolerance"),
    ({"num_classes": 3, "metrics": ["nsd"], "tolerance": (1, 2)},
     "--tolerance: give one value or one per class (3), got 2"),
    ({"num_classes": 3, "spacing": (-1.0,)}, "--spacing must be a finite number > 0; got -1.0"),
    ({"num_classes": 3, "workers": 2, "scheduler": "x"},
     "give either --workers (local processes) or --scheduler (Dask), not both"),
    ({"num_classes": 1, "include_background": False}, "--no-background needs --num-classes >= 2"),
    ({"num_classes": 3, "empty_distance": -2.0},
     "--empty-distance must be a number >= 0; got -2.0"),
    ({"num_classes": 3, "metrics": ["tversky"], "metric_options": {"tversky": {"alpha": -1}}},
     "--tversky-alpha must be a finite number >= 0; got -1"),
    ({"num_classes": 3, "metrics": ["tversky"],
      "metric_options": {"tversky": {"alpha": 0.0, "beta": 0.0}}},
     "--tversky-alpha, --tversky-beta: alpha and beta cannot both be 0 for tversky"),
    ({"num_classes": 3, "ignore_index": "255"}, "--ignore-index must be an int or None"),
    ({"num_classes": 3, "missing": "skip"}, "--missing must be one of 'error', 'empty'"),
])
def test_messages_name_the_flags_on_the_command_line(kwargs, message):
    """Spelled for the command line, a message names the flag, never the parameter."""
    with pytest.raises(OptionError) as info:
        check_options("p", "t", spelling=FLAGS, **kwargs)
    assert message in str(info.value)
    for param in ("num_classes", "class_names", "empty_distance", "include_background",
                  "metric_options", "ignore_index"):
        assert param not in str(info.value)


def test_spelling():
    assert PYTHON.name("num_classes") == "num_classes"
    assert PYTHON.setting("missing", "empty") == "missing='empty'"
    assert PYTHON.name("tversky.alpha") == "metric_options['tversky']['alpha']"
    assert FLAGS.name("num_classes") == "--num-classes"
    assert FLAGS.setting("missing", "empty") == "--missing empty"
    assert FLAGS.setting("include_background", False) == "--no-background"
    import pickle

    assert pickle.loads(pickle.dumps(FLAGS)) == FLAGS  # travels to worker processes


def test_checked_options():
    options = check_options("p", "t", num_classes=np.int64(4), metrics="f1,jaccard,hd",
                            include_background=np.bool_(False), class_names=["b", "x", "y", "z"],
                            zero_division=0, spacing=[1, 2], tolerance=[2.0],
                            metric_options=None, ignore_index=np.uint8(255))
    assert options.num_classes == 4 and type(options.num_classes) is int
    assert options.metrics == ("dice", "iou", "hd") and options.surface == ("hd",)
    assert options.class_ids == (1, 2, 3) and options.class_names == ("x", "y", "z")
    assert options.zero_division == 0.0 and options.spacing == (1.0, 2.0)
    assert options.tolerance == 2.0 and options.ignore_index == 255
    assert math.isnan(check_options("p", "t", num_classes=2).zero_division)


def test_metric_options_for_a_metric_not_asked_for(tmp_path):
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(OptionError, match="metric_options: 'tversky' given but"):
        score(path, path, num_classes=2, metrics="dice",
              metric_options={"tversky": {"alpha": 0.1}})
    with pytest.raises(OptionError, match=r"metric_options\['tversky'\]: .*gamma"):
        score(path, path, num_classes=2, metrics="tversky",
              metric_options={"tversky": {"gamma": 0.1}})
    with pytest.raises(OptionError, match="metric_options: 'bogus' is not a region metric"):
        score(path, path, num_classes=2, metrics="tversky", metric_options={"bogus": {}})
    # an alias names the metric too
    options = check_options(path, path, num_classes=2, metrics="f1,fbeta",
                            metric_options={"fbeta": {"beta": 2}})
    assert options.metric_options == {"fbeta": {"beta": 2.0}}


def test_bad_options_are_option_errors_and_data_errors_are_not(tmp_path):
    """Errors found from the options alone (no file read) are OptionError (the command
    line exits 2 for them); data errors stay plain ScoringError (exit 1)."""
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    for kwargs in ({"num_classes": 0}, {"num_classes": 2, "metrics": "bogus"},
                   {"num_classes": 2, "metrics": "nsd"}, {"num_classes": 2, "backend": "x"}):
        with pytest.raises(OptionError):
            score(path, path, **kwargs)
    bad = write_mask(tmp_path / "b.npy", np.full((2, 2), 5, np.uint8))
    with pytest.raises(ScoringError) as info:
        score(bad, bad, num_classes=2)
    assert not isinstance(info.value, OptionError)


def test_output_format():
    assert output_format("r.CSV") == "csv" and output_format("a/b.htm") == "html"
    assert output_format("r.markdown") == "markdown" and output_format("r.json") == "json"
    with pytest.raises(OptionError, match=r"^output r\.xlsx: unknown report format '\.xlsx'; "
                                          r"use \.csv, \.json, \.md or \.html"):
        output_format("r.xlsx")
    with pytest.raises(OptionError, match=r"^--output r: unknown report format "
                                          r"'\(no extension\)'"):
        output_format("r", FLAGS)


def test_cupy_backend_without_cupy_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(MissingDependencyError, match=r"regionloss\[cupy\]"):
        score(path, path, num_classes=2, backend="cupy")


def test_boundary_metrics_without_scipy_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    path = write_mask(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(MissingDependencyError, match=r"hd95\) need SciPy.*regionloss\[surface\]"):
        score(path, path, num_classes=2, metrics="dice,hd95")
