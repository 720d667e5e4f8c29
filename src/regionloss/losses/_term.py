"""The loss protocol: a term is a frozen, validated options object with an ``evaluate``.

Every public loss is a ``def`` that builds its term and calls it::

    def dice_loss(pred, target, /, *, class_axis=-1, ..., reduction="mean"):
        return DiceTerm(class_axis=class_axis, ..., reduction=reduction)(pred, target, mask=mask)

* A term (:class:`LossTerm` subclass) is a frozen dataclass whose fields are the loss's
  keyword options, with the public function's defaults; ``__post_init__`` checks them once
  (:mod:`regionloss._validate`), and :meth:`LossTerm.evaluate` is the loss's arithmetic:
  statistics → formula → reduction, on :class:`Prepared` inputs.
* :class:`Prepared` holds a call's validated, aligned inputs (:func:`regionloss._inputs.
  prepare`) and a memo of what several terms may read: probabilities and log-probabilities
  per activation, soft statistics per configuration, reference volumes. Per-call auxiliary
  arrays (distance maps) travel in it too, by keyword, like ``mask``.
* :func:`regionloss.combine` builds several terms once and evaluates them on one
  :class:`Prepared`, so inputs are validated once and statistics computed once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .._inputs import LossInputs, _concrete_range, prepare
from .._kernels.activations import activate, log_sigmoid, log_softmax
from .._kernels.arrays import align, namespace, to_float
from .._kernels.sums import fused_soft_statistics
from .._stats import SoftStats, soft_statistics
from .._validate import REDUCTIONS, check_activation_channels, check_options

__all__ = ["LossTerm", "Prepared", "prepare_terms", "term_fields"]


class Prepared:
    """A loss call's prepared inputs and a memo of what several terms may read.

    Each quantity is computed on first use and reused: the probabilities and
    log-probabilities per activation, the soft statistics per configuration, the reference
    volumes. When a term of the call reads the log-probabilities of an activation
    (``log_first``), its probabilities are ``exp`` of them, not a second activation.
    """

    def __init__(self, inputs: LossInputs, *, log_first=(), aux=None):
        self.inputs = inputs
        self.xp = inputs.xp
        self.aux = {} if aux is None else aux
        self._log_first = log_first
        self._memo: dict = {}

    def aux_maps(self, aux_name: str, loss_name: str, *, hint: str, nonnegative=False):
        """The auxiliary array ``aux_name``: one map per class of the prediction, in its
        layout, cast to its dtype (integer maps, e.g. a data pipeline's, are accepted).

        On concrete arrays the maps must be finite (and >= 0 with ``nonnegative``) wherever
        a pixel is scored; ``hint`` tells the user how to build them.
        """
        inputs, xp = self.inputs, self.xp
        maps = self.aux[aux_name]
        namespace(inputs.pred, maps, names=("pred", aux_name))
        if namespace(maps, names=(aux_name,)) is not xp:   # NumPy maps were converted
            kinds = [f"{type(a).__module__.split('.')[0]}.{type(a).__name__}"
                     for a in (inputs.pred, maps)]
            raise TypeError(f"{loss_name}: {aux_name} is a {kinds[1]} but the prediction "
                            f"is read as a {kinds[0]}; pass {aux_name} in the prediction's "
                            "array library (NumPy arrays are converted)")
        expected = tuple(inputs.pred.shape)
        if not inputs.had_class_axis:
            expected = expected[:-1]
        if tuple(maps.shape) != expected:
            raise ValueError(
                f"{loss_name}: {aux_name} has shape {tuple(int(s) for s in maps.shape)} but "
                f"the prediction has shape {tuple(int(s) for s in expected)}; pass one map "
                f"per class of the prediction (background included), in the prediction's "
                f"layout, e.g. {hint}")
        if not xp.isdtype(maps.dtype, ("real floating", "integral")):
            raise TypeError(f"{loss_name}: {aux_name} must be a real floating (or integer) "
                            f"array; got dtype {maps.dtype}")
        maps = to_float(xp, maps, inputs.dtype)
        if not inputs.had_class_axis:
            maps = xp.expand_dims(maps, axis=inputs.class_axis)
        scored = maps if inputs.weight is None else xp.where(inputs.weight > 0, maps,
                                                             xp.zeros_like(maps))
        found = _concrete_range(xp, scored)
        if found is not None and not found[2]:
            raise ValueError(f"{loss_name}: {aux_name} holds non-finite values (nan or inf) "
                             f"at scored pixels; {hint} gives finite maps")
        if found is not None and nonnegative and found[0] < 0:
            raise ValueError(f"{loss_name}: {aux_name} must be >= 0 at scored pixels; its "
                             f"smallest value is {found[0]:g} ({hint} gives such maps)")
        return maps

    def log_probs(self, activation):
        """``log_softmax`` over the class axis, or ``log_sigmoid`` (stable, from logits)."""
        key = ("log_probs", activation)
        if key not in self._memo:
            x, axis = self.inputs.pred, self.inputs.class_axis
            self._memo[key] = (log_softmax(self.xp, x, axis) if activation == "softmax"
                               else log_sigmoid(self.xp, x))
        return self._memo[key]

    def probs(self, activation):
        """Probabilities after ``activation`` (``exp`` of the log-probabilities if shared)."""
        key = ("probs", activation)
        if key not in self._memo:
            if activation in self._log_first:
                self._memo[key] = self.xp.exp(self.log_probs(activation))
            else:
                self._memo[key] = activate(self.xp, self.inputs.pred, activation,
                                           self.inputs.class_axis)
        return self._memo[key]

    def stats(self, activation, *, per_sample, squared=False, soft_labels=False) -> SoftStats:
        """Soft statistics, (N, C) per sample or (C,) pooled.

        With an integer label map, an activation and the plain sums, the kernel layer may
        compute them from the logits and the labels in one pass (CuPy); otherwise, and
        wherever it declines, from the probabilities and the dense target.
        """
        key = ("stats", activation, per_sample, squared, soft_labels)
        if key not in self._memo:
            inputs = self.inputs
            axes = inputs.spatial_axes if per_sample else (0,) + inputs.spatial_axes
            sums = None
            if inputs.labels is not None and activation is not None and not (
                    squared or soft_labels):
                sums = fused_soft_statistics(
                    inputs.pred, inputs.labels, inputs.weight, class_axis=inputs.class_axis,
                    activation=activation, num_classes=inputs.num_classes, sum_axes=axes)
            if sums is None:
                self._memo[key] = soft_statistics(
                    self.xp, self.probs(activation), inputs.target, inputs.weight,
                    sum_axes=axes, squared=squared, soft_labels=soft_labels)
            else:
                tp, p_total, y_total = sums
                self._memo[key] = SoftStats(tp=tp, fp=p_total - tp, fn=y_total - tp)
        return self._memo[key]

    def volumes(self, *, per_sample):
        """Reference volumes ``Σ w·y`` per (sample, class), or per class when pooled."""
        key = ("volumes", per_sample)
        if key not in self._memo:
            inputs = self.inputs
            y = inputs.target if inputs.weight is None else inputs.target * inputs.weight
            self._memo[key] = self.xp.sum(y, axis=inputs.sum_axes(per_sample))
        return self._memo[key]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LossTerm:
    """Base of every loss term: how ``pred`` and ``target`` are read, and the reduction.

    Subclasses add their options as fields (same names and defaults as the public
    function), check them in ``__post_init__`` (calling ``super().__post_init__()``), and
    implement :meth:`evaluate`.

    Class attributes
    ----------------
    name : str
        The public loss the term stands for.
    reads_logits : bool
        True for a term that uses ``pred`` as it is, with no activation (the Lovász hinge):
        the call then reads ``pred`` like 'sigmoid' (any channel count).
    log_activation : bool
        True for a term that reads log-probabilities (cross-entropy, focal): a compound
        then takes the probabilities as their ``exp``.
    aux_names : tuple of str
        Names of the per-call auxiliary arrays the term reads (passed by keyword).
    optional_aux_names : tuple of str
        Names of auxiliary arrays the term reads when they are given (and otherwise
        computes itself).
    checks : dict
        How each option is checked (:func:`regionloss._validate.check_options`); a
        subclass extends its parent's table.
    """

    name: ClassVar[str] = "loss"
    reads_logits: ClassVar[bool] = False
    log_activation: ClassVar[bool] = False
    aux_names: ClassVar[tuple] = ()
    optional_aux_names: ClassVar[tuple] = ()
    checks: ClassVar[dict] = {"class_axis": "class_axis", "ignore_index": "ignore_index",
                              "reduction": REDUCTIONS}

    class_axis: Any = -1
    ignore_index: Any = None
    reduction: str = "mean"

    def __post_init__(self):
        check_options(self, self.checks)

    @property
    def input_activation(self):
        """The activation the call's inputs are checked for ('sigmoid' for raw logits)."""
        return "sigmoid" if self.reads_logits else getattr(self, "activation", None)

    def evaluate(self, prepared: Prepared):
        """The loss on prepared inputs (0-d, or the 'none' array)."""
        raise NotImplementedError

    def __call__(self, pred, target, /, *, mask=None, **aux):
        prepared = prepare_terms((self,), pred, target, mask, aux)
        value = self.evaluate(prepared)
        if prepared.inputs.invalid is not None:  # traced labels out of range: NaN
            value = prepared.inputs.poison(value)
        return value


def term_fields(term_class) -> dict:
    """The options of a term class and their defaults (the public function's keywords)."""
    return {f.name: f.default for f in dataclasses.fields(term_class)}


def prepare_terms(terms, pred, target, mask, aux=None) -> Prepared:
    """Validate and align the inputs once for ``terms`` (which agree on how to read them).

    The first term's ``class_axis``, ``ignore_index`` and activation drive
    :func:`regionloss._inputs.prepare`; every other term's activation is checked against
    the channel count; the auxiliary arrays the terms need must be given, those they
    may read can be (nothing else), and all are aligned to the prediction's namespace and device.
    """
    first = terms[0]
    activation = "sigmoid" if first.reads_logits else getattr(first, "activation", None)
    inputs = prepare(pred, target, class_axis=first.class_axis, activation=activation,
                     ignore_index=first.ignore_index, mask=mask)
    log_first = ()
    wanted, allowed, given = set(), set(), set(aux or ())
    for term in terms:
        if term is not first and getattr(term, "activation", None) == "softmax":
            check_activation_channels("softmax",
                                      inputs.num_classes if inputs.had_class_axis else None)
        if term.log_activation:
            log_first += (term.activation,)
        wanted.update(term.aux_names)
        allowed.update(term.aux_names, term.optional_aux_names)
    if not wanted <= given <= allowed:
        missing, extra = sorted(wanted - given), sorted(given - allowed)
        what = []
        if missing:
            what.append(f"missing {', '.join(missing)}")
        if extra:
            what.append(f"unexpected keyword argument(s) {', '.join(extra)}")
        raise TypeError(f"{', '.join(t.name for t in terms)}: {'; '.join(what)}")
    if aux:
        aux = {name: align(inputs.xp, value, inputs.pred) for name, value in aux.items()}
    return Prepared(inputs, log_first=log_first, aux=aux)

