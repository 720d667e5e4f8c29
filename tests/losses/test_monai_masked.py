"""MONAI ``MaskedDiceLoss`` against regionloss's ``mask``: what each means, with MONAI's numbers.

MONAI 1.6.1 multiplies the probabilities and the *label map* by the mask before its Dice
loss: a masked pixel keeps a zero prediction and becomes a background target, so it still
counts as a false negative of class 0. regionloss's ``mask`` removes the pixel from every
sum instead (``tp = Σ w·p·y`` ...). The two agree only where no masked pixel would be
background after masking; here they differ, and MONAI's number is reproduced exactly by
giving regionloss MONAI's masked probabilities and one-hot target.

MONAI's values were produced with ``monai.losses.MaskedDiceLoss(softmax=True,
to_onehot_y=True)`` and ``(sigmoid=True, to_onehot_y=True)`` on these float64 inputs
(channels-first, ``target`` of shape (2, 1, 4, 4), ``mask`` of shape (2, 1, 4, 4)).
"""

from __future__ import annotations

import numpy as np
import pytest

import regionloss as rl

MONAI = {"softmax": 0.6878087611316347, "sigmoid": 0.6276822260788569}


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 4))
    y = rng.integers(0, 3, (2, 1, 4, 4))[:, 0]
    m = (rng.random((2, 1, 4, 4)) > 0.3).astype(np.float64)[:, 0]
    return x, y, m


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_monai_masked_dice_is_masked_probabilities_and_masked_label_map(activation):
    x, y, m = _inputs()
    probs = (np.exp(x - x.max(1, keepdims=True)) / np.exp(x - x.max(1, keepdims=True)).sum(
        1, keepdims=True) if activation == "softmax" else 1 / (1 + np.exp(-x)))
    masked_labels = (y * m).astype(np.int64)                 # masked pixels -> class 0
    onehot = np.stack([masked_labels == c for c in range(3)], 1).astype(np.float64)
    got = rl.dice_loss(probs * m[:, None], onehot, class_axis=1, activation=None)
    assert float(got) == pytest.approx(MONAI[activation], rel=1e-12)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_regionloss_mask_removes_pixels_and_differs_from_monai(activation):
    x, y, m = _inputs()
    got = float(rl.dice_loss(x, y, class_axis=1, activation=activation, mask=m))
    assert abs(got - MONAI[activation]) > 1e-2
    # removing a pixel by mask == dropping it: the same as ignore_index on those pixels
    ignored = np.where(m > 0, y, 255)
    want = float(rl.dice_loss(x, ignored, class_axis=1, activation=activation,
                              ignore_index=255))
    assert got == pytest.approx(want, rel=1e-12)
