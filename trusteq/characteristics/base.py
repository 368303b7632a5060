"""The pairwise characteristic base class, built on per-example sufficient statistics.

A pairwise characteristic compares the cached outputs of two models on the same examples (paired
by row). Every characteristic here is written as two steps:

1. :meth:`PairwiseCharacteristic.statistics` maps the paired outputs to per-example sufficient
   statistics, shape `(N, S)`;
2. :meth:`PairwiseCharacteristic.from_totals` maps the column sums, shape `(..., S)`, to the value.

Because the value depends on the examples only through the sum of their statistics, streaming over
chunks (``update`` several times) gives the same value as one pass, and a bootstrap resample is a
matrix product ``counts (R, N) @ statistics (N, S)`` followed by one vectorised ``from_totals``
(see :mod:`trusteq.characteristics.bootstrap`). This follows torchmetrics' ``update``/``compute``
design with "sum" reduction states.

Some characteristics need whole-dataset context before their per-example statistics exist: kNN
agreement searches each example's neighbours among all N. They declare ``chunkable = False``;
their statistics must be computed from all N examples at once, and their bootstrap intervals are
conditional on the neighbour sets. They may precompute per-model context once in
:meth:`PairwiseCharacteristic.prepare`, which the matrix runner calls once per variant (cost O(V),
not O(V²)).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

Outputs = Mapping[str, np.ndarray]


class CharacteristicContractError(AssertionError):
    """A characteristic broke its declared contract (identity value, symmetry, bounds)."""


class PairwiseCharacteristic(abc.ABC):
    """Base class of the pairwise characteristics.

    Subclasses set the class attributes and implement :meth:`statistics` and :meth:`from_totals`.

    Attributes:
        name: stable identifier, used as the MLflow metric key and the matrix name.
        requires: keys of the cached outputs consumed (e.g. ``("preds", "targets")``).
        symmetric: whether ``value(a, b) == value(b, a)``.
        identity_value: the value on identical inputs ``(a, a)``, or None when it depends on the
            input (then the matrix runner does not check the diagonal).
        higher_is_better: True when a higher value means the two models are more alike.
        bounds: closed range ``(low, high)`` of the value.
        chunkable: True when ``update`` on consecutive chunks equals one ``update`` on all rows.
    """

    name: str
    requires: tuple[str, ...] = ()
    symmetric: ClassVar[bool] = True
    identity_value: ClassVar[float | None] = 1.0
    higher_is_better: ClassVar[bool] = True
    #: Column of the study summary that shows the value vs the reference (None = not shown).
    summary_column: ClassVar[str | None] = None
    #: Whether the value is read against the seed-to-seed noise floor (verdicts, `beyond_noise`).
    against_floor: ClassVar[bool] = True
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)
    chunkable: ClassVar[bool] = True

    def __init__(self) -> None:
        self._totals: np.ndarray | None = None
        self._n_updates = 0

    # -- the two pieces of math every subclass supplies ---------------------------------------

    @abc.abstractmethod
    def statistics(self, a: Outputs, b: Outputs) -> np.ndarray:
        """Per-example sufficient statistics of a pair of models.

        Args:
            a: outputs of the first model; arrays of leading size N.
            b: outputs of the second model, paired with ``a`` by row.

        Returns:
            shape `(N, S)`, float64.
        """

    @abc.abstractmethod
    def from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Value of the characteristic from summed statistics.

        Args:
            totals: shape `(..., S)`, sums of :meth:`statistics` over examples (or weighted sums,
                e.g. bootstrap counts).

        Returns:
            shape `(...)`, float64.
        """

    # -- optional per-model context -----------------------------------------------------------

    def prepare(self, outputs: Outputs) -> Outputs:
        """Precompute per-model context once per variant (default: nothing).

        Args:
            outputs: one model's cached outputs.

        Returns:
            ``outputs``, or a new mapping with extra entries that :meth:`statistics` will reuse.
        """
        return outputs

    # -- torchmetrics-like state --------------------------------------------------------------

    def check_pair(self, a: Outputs, b: Outputs) -> int:
        """Check that both models carry the required keys for the same examples.

        Args:
            a: outputs of the first model.
            b: outputs of the second model.

        Returns:
            N, the number of paired examples.

        Raises:
            KeyError: a required key is missing.
            ValueError: the two models disagree on N, or their ``targets`` differ (rows not paired).
        """
        for label, outputs in (("a", a), ("b", b)):
            missing = [key for key in self.requires if key not in outputs]
            if missing:
                raise KeyError(
                    f"{self.name}: outputs of model {label} lack {missing}; "
                    f"it requires {list(self.requires)}, got keys {sorted(outputs)}"
                )
        sizes = {len(a[key]) for key in self.requires} | {len(b[key]) for key in self.requires}
        if len(sizes) != 1:
            raise ValueError(
                f"{self.name}: outputs are not paired by row; leading sizes {sorted(sizes)} "
                f"for keys {list(self.requires)}"
            )
        if "targets" in self.requires and not np.array_equal(a["targets"], b["targets"]):
            raise ValueError(
                f"{self.name}: the two models have different targets, so their rows are not the "
                "same examples in the same order"
            )
        return sizes.pop()

    def update(self, a: Outputs, b: Outputs) -> None:
        """Add the statistics of a chunk of paired examples to the running totals.

        Raises:
            RuntimeError: a second ``update`` on a characteristic with ``chunkable = False``.
            KeyError, ValueError: see :meth:`check_pair`.
        """
        if self._n_updates and not self.chunkable:
            raise RuntimeError(
                f"{self.name} is not chunkable (its statistics need all N examples at once); "
                "call reset() before update(), or use __call__ on the full outputs"
            )
        self.check_pair(a, b)
        chunk_totals = self.statistics(a, b).sum(axis=0)
        self._totals = chunk_totals if self._totals is None else self._totals + chunk_totals
        self._n_updates += 1

    def compute(self) -> float:
        """Value from the accumulated totals.

        Raises:
            RuntimeError: no ``update`` since the last ``reset``.
        """
        if self._totals is None:
            raise RuntimeError(f"{self.name}: compute() called before any update()")
        return float(self.from_totals(self._totals))

    def reset(self) -> None:
        """Forget the accumulated totals."""
        self._totals = None
        self._n_updates = 0

    def __call__(self, a: Outputs, b: Outputs) -> float:
        """Value on one pair of full outputs: ``reset``, ``update``, ``compute``."""
        self.reset()
        self.update(self.prepare(a), self.prepare(b))
        value = self.compute()
        self.reset()
        return value

    # -- description --------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """Constructor parameters, read back from attributes of the same name (JSON-able)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        params = {}
        for param in names:
            value = getattr(self, param, None)
            params[param] = list(value) if isinstance(value, tuple) else value
        return params

    def metadata(self) -> dict[str, Any]:
        """Declared contract and parameters, JSON-able."""
        return {
            "name": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": self.params(),
            "requires": list(self.requires),
            "symmetric": self.symmetric,
            "identity_value": self.identity_value,
            "higher_is_better": self.higher_is_better,
            "summary_column": self.summary_column,
            "against_floor": self.against_floor,
            "bounds": list(self.bounds),
            "chunkable": self.chunkable,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({args})"


class CharacteristicFamily:
    """Several characteristics built from one config, e.g. kNN agreement at several K.

    Iterating yields the members; the matrix runner gives one V×V matrix per member and lets
    members share the per-model context of :meth:`PairwiseCharacteristic.prepare`.

    Args:
        name: name of the family (members carry their own names).
        members: the characteristics.
    """

    def __init__(self, name: str, members: Iterable[PairwiseCharacteristic]) -> None:
        self.name = name
        self.members = tuple(members)

    def __iter__(self) -> Iterator[PairwiseCharacteristic]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"CharacteristicFamily({self.name!r}, {list(self.members)!r})"


def as_characteristics(obj: Any) -> list[PairwiseCharacteristic]:
    """Flatten what a characteristic config instantiates to into a list of characteristics.

    Args:
        obj: a :class:`PairwiseCharacteristic`, a :class:`CharacteristicFamily`, or an iterable
            of either.

    Returns:
        The characteristics, in order.

    Raises:
        TypeError: something else.
    """
    if isinstance(obj, PairwiseCharacteristic):
        return [obj]
    if isinstance(obj, CharacteristicFamily | list | tuple):
        return [member for item in obj for member in as_characteristics(item)]
    raise TypeError(f"expected a PairwiseCharacteristic or CharacteristicFamily, got {obj!r}")
