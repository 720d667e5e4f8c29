"""The examples the README points at still run (shortened)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # flax's dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_train_flax_runs_and_learns(capsys):
    pytest.importorskip("flax")
    pytest.importorskip("optax")
    example = _load("train_flax")
    dice = np.asarray(example.main(["--steps", "60", "--batch", "8"]))
    out = capsys.readouterr().out
    losses = [float(line.split()[3]) for line in out.splitlines() if line.startswith("step")]
    assert len(losses) >= 2 and losses[-1] < losses[0], out
    assert dice.shape == (4,) and np.all((dice >= 0) & (dice <= 1))
    assert "per-class Dice" in out


def test_cupy_evaluation_example_falls_back_without_gpu():
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "cupy_evaluation.py")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "IoU" in text or "iou" in text
