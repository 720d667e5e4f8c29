"""Loss terms: a loss's static options validated once, evaluated on shared prepared inputs.

Every public loss of the package is a *term* (:class:`LossTerm`): its static options
validated once (when it is built), and a function of :class:`SharedInputs`, the prepared
inputs (:func:`regionloss._inputs.prepare`) plus a memo of what several losses may read
(probabilities, log-probabilities, soft statistics, reference volumes).

* A single loss call builds its term and evaluates it (:func:`run_term`).
* :func:`regionloss.combine` builds several terms once (:func:`build_term`, defaults from
  the public function's signature) and evaluates them on one :class:`SharedInputs`
  (:func:`prepare_shared`), so that inputs are validated and aligned once and statistics
  computed once.

The option checks shared by the loss modules live here too (:func:`check_nonnegative`,
:func:`check_activation_choice`, :func:`check_region_call`).
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

from ._backend import ACTIVATIONS, apply_activation, check_activation, log_sigmoid, log_softmax
from ._inputs import LossInputs, check_class_weights, check_ignore_index, prepare
from ._stats import SoftStats, soft_statistics

__all__ = [
    "SharedInputs",
    "LossTerm",
    "prepare_shared",
    "loss_term",
    "term_options",
    "build_term",
    "run_term",
    "check_nonnegative",
    "check_activation_choice",
    "check_region_call",
]


# --------------------------------------------------------------------------- option checks


def check_nonnegative(**values) -> None:
    """Each keyword must be a finite real number >= 0 (not a bool)."""
    for name, value in values.items():
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not value >= 0 or math.isinf(value)):
            raise ValueError(f"{name} must be a finite non-negative number; got {value!r}")


def check_activation_choice(activation, *, allowed=ACTIVATIONS, name="activation") -> None:
    """Build-time check of an activation option (the channel count is checked per call)."""
    if activation not in allowed or isinstance(activation, bool):
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {activation!r}")


def check_region_call(inputs: LossInputs, *, include_background, class_weights) -> None:
    """Per-call checks that need the channel count: background and class weights."""
    if not include_background and inputs.num_classes < 2:
        raise ValueError(
            "include_background=False drops channel 0, but the prediction has a single "
            "channel (no background channel to drop)"
        )
    # validated now, so that a wrong length fails even with reduction='none'
    check_class_weights(inputs.xp, class_weights, inputs.num_classes, inputs.dtype, None,
                        include_background=include_background)


def _check_class_axis(class_axis):
    """``class_axis`` is None or an int (not a bool); its range is checked per call."""
    if class_axis is None:
        return None
    if not isinstance(class_axis, bool):
        try:
            return operator.index(class_axis)
        except TypeError:
            pass
    raise TypeError(f"class_axis must be an int or None; got {class_axis!r}")


# --------------------------------------------------------------------------- shared inputs


class SharedInputs:
    """A loss call's prepared inputs and a memo of what several losses may read.

    Each quantity is computed on first use and reused: the probabilities and
    log-probabilities per activation, the soft statistics per configuration, the
    reference volumes. Log-probabilities and probabilities of one activation are not
    computed twice: when a term of the call reads the log-probabilities (``log_first``),
    the probabilities are ``exp`` of them.
    """

    def __init__(self, inputs: LossInputs, *, log_first=frozenset(), mask_given=False):
        self.inputs = inputs
        self.xp = inputs.xp
        self.mask_given = mask_given
        self._log_first = frozenset(log_first)
        self._memo: dict = {}

    def _get(self, key, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def log_probs(self, activation):
        """``log_softmax`` over the class axis, or ``log_sigmoid`` (stable, from logits)."""
        inputs = self.inputs

        def make():
            if activation == "softmax":
                return log_softmax(self.xp, inputs.pred, inputs.class_axis)
            if activation == "sigmoid":
                return log_sigmoid(self.xp, inputs.pred)
            raise ValueError(f"log-probabilities need activation='softmax' or 'sigmoid'; "
                             f"got {activation!r}")

        return self._get(("log_probs", activation), make)

    def probs(self, activation):
        """Probabilities after ``activation`` (``exp`` of the log-probabilities if shared)."""
        if activation in self._log_first:
            return self._get(("probs", activation),
                             lambda: self.xp.exp(self.log_probs(activation)))
        return self._get(("probs", activation),
                         lambda: apply_activation(self.xp, self.inputs.pred, activation,
                                                  self.inputs.class_axis))

    def stats(self, *, activation, per_sample, squared, soft_labels) -> SoftStats:
        """Soft statistics, (N, C) per sample or (C,) pooled."""
        inputs = self.inputs

        def make():
            return soft_statistics(self.xp, self.probs(activation), inputs.target,
                                   inputs.weight, class_axis=inputs.class_axis,
                                   sum_axes=inputs.sum_axes(per_sample), squared=squared,
                                   soft_labels=soft_labels)

        return self._get(("stats", activation, per_sample, squared, soft_labels), make)

    def volumes(self, *, per_sample):
        """Reference volumes ``Σ w·y`` per (sample, class), or per class when pooled."""
        inputs = self.inputs

        def make():
            y = inputs.target if inputs.weight is None else inputs.target * inputs.weight
            return self.xp.sum(y, axis=inputs.sum_axes(per_sample))

        return self._get(("volumes", per_sample), make)


# --------------------------------------------------------------------------- terms


@dataclass(frozen=True)
class LossTerm:
    """One loss with its static options validated: a function of :class:`SharedInputs`.

    Attributes
    ----------
    name : str
        The public loss it stands for.
    evaluate : callable
        ``evaluate(shared) -> array``: the loss on prepared inputs.
    class_axis, ignore_index :
        How ``pred`` and ``target`` are read (terms of one compound must agree). Checked
        when the term is built: an int or None, never a bool.
    activation : {'softmax', 'sigmoid', None, 'logits'}
        What the term does to ``pred``: an activation, None (``pred`` holds
        probabilities), or 'logits' (used as they are, the Lovász hinge).
    reduction : str
    log_activations : tuple
        Activations whose log-probabilities the term reads (cross-entropy, focal).
    options : dict
        Every option, resolved (for messages and ``repr``).
    """

    name: str
    evaluate: Callable[[SharedInputs], Any]
    class_axis: Any
    activation: Any
    ignore_index: Any
    reduction: str
    log_activations: tuple = ()
    options: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "class_axis", _check_class_axis(self.class_axis))
        object.__setattr__(self, "ignore_index", check_ignore_index(self.ignore_index))

    def __call__(self, pred, target, mask=None):
        shared = prepare_shared((self,), pred, target, mask)
        return self.evaluate(shared)


def prepare_shared(terms, pred, target, mask) -> SharedInputs:
    """Validate and align the inputs once for ``terms`` (which agree on how to read them).

    The first term's ``class_axis``, ``ignore_index`` and activation drive
    :func:`regionloss._inputs.prepare` (a term on logits as they are, the Lovász hinge,
    reads like 'sigmoid': any channel count, no probability check); every other term's
    activation is checked against the channel count. :func:`regionloss.combine` has
    already refused terms that read ``pred`` or ``target`` differently.
    """
    first = terms[0]
    activation = "sigmoid" if first.activation == "logits" else first.activation
    inputs = prepare(pred, target, class_axis=first.class_axis, activation=activation,
                     ignore_index=first.ignore_index, mask=mask)
    channels = inputs.num_classes if inputs.had_class_axis else None
    for term in terms[1:]:
        if term.activation not in ("logits", None):
            check_activation(term.activation, channels)
    log_first = {a for term in terms for a in term.log_activations}
    return SharedInputs(inputs, log_first=log_first, mask_given=mask is not None)


def loss_term(builder: Callable[..., LossTerm]):
    """Attach ``builder`` (keyword options -> :class:`LossTerm`) to a public loss function.

    :func:`regionloss.combine` finds it there, fills the options the caller left out
    from the public function's own defaults, and builds the term once.
    """
    def attach(func):
        func._regionloss_term = builder
        return func

    return attach


def is_loss(func) -> bool:
    """True for a public regionloss loss (one with a term builder attached)."""
    return getattr(func, "_regionloss_term", None) is not None


def term_options(func) -> dict:
    """The keyword-only options of public loss ``func`` and their defaults (``mask`` too)."""
    params = inspect.signature(func).parameters
    return {n: p.default for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build_term(func, options: dict) -> LossTerm:
    """The term of public loss ``func`` with ``options`` (defaults from its signature)."""
    if not is_loss(func):
        raise TypeError(f"{func!r} is not a regionloss loss")
    keywords = term_options(func)
    unknown = sorted(set(options) - set(keywords))
    if unknown:
        raise TypeError(f"{func.__name__} has no option {', '.join(map(repr, unknown))}; "
                        f"its options are {', '.join(sorted(keywords))}")
    if "mask" in options:
        raise ValueError(f"{func.__name__}: mask is an array of each call, not an option "
                         "of a compound; pass it when calling the compound")
    resolved = {**keywords, **options}
    resolved.pop("mask")
    return func._regionloss_term(**resolved)


def run_term(builder, arguments: dict):
    """Call the term ``builder`` makes from a public loss's ``locals()`` (pred, target, mask
    and the options)."""
    options = dict(arguments)
    pred, target, mask = options.pop("pred"), options.pop("target"), options.pop("mask")
    return builder(**options)(pred, target, mask)
