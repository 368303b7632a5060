r"""The verdict rule: is a variant as alike to the reference as the reference's own seeds are?

**The seed population.** A study declares S ≥ 2 seeds of the reference: the reference itself and
S − 1 replicates trained the same way under other seeds. For a characteristic ``c`` the *floor*
is the distribution of ``c`` over the seed pairs (all S(S − 1)/2 unordered pairs; both orders for
an asymmetric ``c``), reported as mean, min, max and the pairs themselves.

**The gap.** For a variant ``v``:

.. math:: g_v = s\,\big(c(v, \mathrm{ref}) - \overline{c}_\mathrm{floor}\big), \qquad
    s = +1 \text{ if higher is more alike, else } -1

so ``g < 0`` means "less alike to the reference than seeds are to each other". For a seed
replicate the floor leaves out every pair that contains it (otherwise its own value would pull
the floor towards it): that is the null check, a variant that *is* a seed.

**The bootstrap.** Examples are resampled with replacement, R times (default 2,000), with the
same draw counts for every pair of every characteristic (the pair of models is the unit, as in
:mod:`trusteq.characteristics.bootstrap`). With per-example sufficient statistics `(N, S)` the R
values of one pair cost one ``counts (R, N) @ statistics (N, S)`` product, so the gap's bootstrap
distribution ``g*_r = s (c*_r(v, ref) − mean_p c*_r(p))`` carries the floor's own sampling
uncertainty (see Klein et al. 2025, "Quantifying Uncertainty in Error Consistency", NeurIPS,
arXiv 2507.06645, on bootstrap tests of error consistency). The bootstrap is over examples,
conditional on the trained models: the training noise between seeds enters through the floor's
spread, i.e. the margin below, not through the standard error.

**The margin.** ``δ_c = (max_p c(p) − min_p c(p)) + k · se_pair``: the range of the seed-pair
values, widened by ``k`` bootstrap standard errors of one seed-pair value (``se_pair`` is the
median over the seed pairs; ``k`` defaults to ``z_{0.975} √2 ≈ 2.77``, the half-width of a 95%
interval of the difference of two independent estimates of that size: what the data cannot
resolve; with S = 2 the range is 0). With few seeds the observed range underestimates the
seed-to-seed spread, and a seed replicate's own pair is one end of it, hence the sum. Settable
per characteristic (``margins={"error_consistency": 0.05}``), always in the characteristic's own
units.

**Outcomes** (each from its own test, Holm-corrected over the family of all tested
(variant × characteristic) pairs at level α, default 0.05):

* ``within_noise``: TOST equivalence, ``−δ < g < δ`` (``equivalence="tost"``, the default), or
  non-inferiority ``g > −δ`` (``equivalence="non_inferiority"``);
* ``more_alike`` (TOST only): ``g > δ`` — closer to the reference than any two seeds are (e.g.
  an int8 copy of the reference's own checkpoint). Not a divergence;
* ``diverges``: ``g < −δ`` (the gap's interval excludes the whole noise band on the less-alike
  side: less alike than the seeds are by more than their own spread) and equivalence was not
  shown. A gap below 0 but inside the band is what separates two seeds, not a divergence;
* ``inconclusive``: none of these. ``n_needed`` says how many examples would decide the test
  closest to deciding, if the gap estimate stayed where it is and the bootstrap variance scaled
  as ``1 / N`` (critical value ``z_{1 − α/M}``, the strictest Holm step, so it is an upper bound).
  A margin that came from the standard-error term (``margin_source == "se"``) shrinks with N as
  fast as the standard error, so no N shows equivalence to it: then only the diverges and more
  alike tests count for ``n_needed`` (``inf`` when neither can decide; set ``margins`` to a
  practical tolerance to make equivalence reachable).

The overall verdict of a variant is ``trust-equivalent`` when every characteristic is
``within_noise`` (or ``more_alike``), ``diverges: <characteristics>`` when any diverges, else
``inconclusive``.

Entry points: :func:`seed_verdicts` (bootstrap from cached outputs, the normal path),
:func:`matrix_gap_tests` (fallback for analyses that give only V×V matrices with intervals: OOD
flags, attributions), :func:`gap_tests` + :func:`decide` to pool both into one Holm family.

One module by design: the floor, the gap bootstrap, the margin rule, the tests and the decision
share the paired resample counts and the row schema of the verdict table; split, each part would
need the others' private shapes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from trusteq.characteristics.base import Outputs, PairwiseCharacteristic, as_characteristics
from trusteq.characteristics.bootstrap import bootstrap_values, percentile_interval, resample_counts
from trusteq.characteristics.matrix import PairwiseResult
from trusteq.stats.inference import PMethod, examples_needed, holm, p_greater, p_less, tost

Equivalence = Literal["tost", "non_inferiority"]

WITHIN_NOISE = "within_noise"
MORE_ALIKE = "more_alike"
DIVERGES = "diverges"
INCONCLUSIVE = "inconclusive"
#: The outcomes, from worst to best.
OUTCOMES: tuple[str, ...] = (DIVERGES, INCONCLUSIVE, WITHIN_NOISE, MORE_ALIKE)
#: Outcomes that count towards "trust-equivalent".
TRUSTED_OUTCOMES: frozenset[str] = frozenset({WITHIN_NOISE, MORE_ALIKE})
TRUST_EQUIVALENT = "trust-equivalent"

#: ``k`` of the margin rule: ``z_{0.975} · √2``.
DEFAULT_MARGIN_SE_MULTIPLIER = float(norm.ppf(0.975) * math.sqrt(2.0))
DEFAULT_N_RESAMPLES = 2000
DEFAULT_ALPHA = 0.05

SOURCE_BOOTSTRAP = "paired_bootstrap"
SOURCE_MATRIX = "matrix_intervals (approximate: normal SEs read off percentile intervals)"

#: Columns of the per-test table, in order.
TEST_COLUMNS: tuple[str, ...] = (
    "variant",
    "characteristic",
    "is_seed",
    "higher_is_better",
    "source",
    "p_method",
    "n_examples",
    "n_resamples",
    "value",
    "ci_low",
    "ci_high",
    "floor_mean",
    "floor_min",
    "floor_max",
    "n_floor_pairs",
    "floor_pairs",
    "margin",
    "margin_source",
    "gap",
    "gap_se",
    "gap_ci_low",
    "gap_ci_high",
    "p_diverge",
    "p_equiv",
    "p_more_alike",
)
DECISION_COLUMNS: tuple[str, ...] = (
    "p_diverge_adj",
    "p_equiv_adj",
    "p_more_alike_adj",
    "outcome",
    "n_needed",
)


@dataclasses.dataclass
class VerdictResult:
    """Verdicts of a study.

    Attributes:
        table: one row per (variant, characteristic): :data:`TEST_COLUMNS` then
            :data:`DECISION_COLUMNS`.
        overall: one row per variant: ``variant, verdict, diverges, inconclusive, n_*``.
        floor: one row per (characteristic, seed pair): ``characteristic, a, b, value,
            ci_low, ci_high``.
        settings: alpha, family size, resamples, confidence, margin rule, equivalence test,
            seeds and reference (JSON-able).
    """

    table: pd.DataFrame
    overall: pd.DataFrame
    floor: pd.DataFrame
    settings: dict[str, Any]

    def outcome(self, variant: str, characteristic: str) -> str:
        """The outcome word of one test.

        Raises:
            KeyError: no such test.
        """
        rows = self.table[
            (self.table["variant"] == variant) & (self.table["characteristic"] == characteristic)
        ]
        if rows.empty:
            raise KeyError(f"no verdict for variant {variant!r} and {characteristic!r}")
        return str(rows["outcome"].iloc[0])

    def verdict(self, variant: str) -> str:
        """The overall verdict of one variant (e.g. ``"diverges: cka_linear"``)."""
        rows = self.overall[self.overall["variant"] == variant]
        if rows.empty:
            raise KeyError(f"no verdict for variant {variant!r}")
        return str(rows["verdict"].iloc[0])


# -- the population ----------------------------------------------------------------------------


def seed_pairs(seeds: Sequence[str], symmetric: bool = True) -> list[tuple[str, str]]:
    """Pairs of the seed population: unordered for symmetric characteristics, else both orders.

    Examples:
        >>> seed_pairs(["ref", "s1", "s2"])
        [('ref', 's1'), ('ref', 's2'), ('s1', 's2')]
    """
    if symmetric:
        return list(itertools.combinations(seeds, 2))
    return list(itertools.permutations(seeds, 2))


def _population(reference: str, seeds: Sequence[str], available: Iterable[str]) -> list[str]:
    population = [reference] + [name for name in seeds if name != reference]
    if len(set(population)) != len(population):
        raise ValueError(f"seeds list a variant twice: {list(seeds)}")
    if len(population) < 2:
        raise ValueError(
            f"the seed population needs S >= 2 models (the reference {reference!r} and at least "
            f"one replicate trained under another seed), got seeds={list(seeds)}"
        )
    missing = [name for name in population if name not in set(available)]
    if missing:
        raise ValueError(f"seed variants {missing} have no outputs; have {sorted(available)}")
    return population


def _tested_variants(
    reference: str, population: Sequence[str], available: Sequence[str], variants: Sequence[str]
) -> list[str]:
    names = [name for name in (variants or available) if name != reference]
    missing = [name for name in names if name not in set(available)]
    if missing:
        raise ValueError(f"variants {missing} have no outputs; have {list(available)}")
    return names


def _floor_pairs_for(
    variant: str, pairs: Sequence[tuple[str, str]], population: Sequence[str]
) -> list[tuple[str, str]]:
    if variant not in population:
        return list(pairs)
    return [pair for pair in pairs if variant not in pair]


def _margin(
    name: str,
    pair_values: np.ndarray,
    pair_ses: np.ndarray,
    margins: Mapping[str, float] | None,
    multiplier: float,
) -> tuple[float, str]:
    """The margin and where it came from: ``"set"``, ``"range"`` or ``"se"``."""
    if margins and name in margins:
        margin = float(margins[name])
        if not margin > 0.0:
            raise ValueError(f"margins[{name!r}] must be > 0, got {margin}")
        return margin, "set"
    spread = float(np.nanmax(pair_values) - np.nanmin(pair_values)) if pair_values.size else 0.0
    se_pair = float(np.nanmedian(pair_ses)) if np.isfinite(pair_ses).any() else 0.0
    # The seed range, widened by what the data cannot resolve: with S = 3 seeds a replicate's
    # own pair sits at an end of the range, so `max(range, k se)` would call it divergent about
    # half the time (quick-start, kNN agreement: seed 43 at 0.170 against a range 0.170-0.212).
    source = "range" if spread > 0.0 else "se"
    margin = spread + multiplier * se_pair
    # A zero margin (identical seeds, zero variance) would make TOST undefined; a tiny one lets
    # an exactly identical variant still be called within noise.
    return (margin if margin > 0.0 else 1e-12), source


# -- tests from cached outputs -----------------------------------------------------------------


class _PairBootstrap:
    """Value and R bootstrap values of one characteristic for pairs of variants, memoised."""

    def __init__(
        self, char: PairwiseCharacteristic, prepared: Mapping[str, Outputs], counts: np.ndarray
    ) -> None:
        self.char, self.prepared, self.counts = char, prepared, counts
        self.cache: dict[tuple[str, str], tuple[float, np.ndarray]] = {}

    def __call__(self, a: str, b: str) -> tuple[float, np.ndarray]:
        if self.char.symmetric and (b, a) in self.cache:
            return self.cache[(b, a)]
        if (a, b) not in self.cache:
            first, second = self.prepared[a], self.prepared[b]
            self.char.check_pair(first, second)
            # statistics() then from_totals() at once: some characteristics (CKA) keep the
            # pair's Gram matrices between the two calls.
            statistics = self.char.statistics(first, second)
            value = float(self.char.from_totals(statistics.sum(axis=0)))
            self.cache[(a, b)] = (value, bootstrap_values(self.char, statistics, self.counts))
        return self.cache[(a, b)]


def gap_tests(
    chars: PairwiseCharacteristic | Iterable[Any],
    outputs_by_variant: Mapping[str, Outputs],
    reference: str,
    seeds: Sequence[str],
    *,
    variants: Sequence[str] = (),
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    margins: Mapping[str, float] | None = None,
    margin_se_multiplier: float = DEFAULT_MARGIN_SE_MULTIPLIER,
    p_method: PMethod = "normal",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw (uncorrected) gap tests of every variant and characteristic, by paired bootstrap.

    Args:
        chars: characteristics, families of them, or a list (flattened with
            :func:`~trusteq.characteristics.base.as_characteristics`); those with
            ``against_floor = False`` are skipped.
        outputs_by_variant: ``{variant: outputs}``, all on the same N examples in the same order.
        reference: name of the reference.
        seeds: the seed population (the reference may be listed or not; S >= 2 in all).
        variants: variants to test (default: every variant but the reference, in mapping
            order, seed replicates included as null checks).
        n_resamples: R >= 1 bootstrap resamples, shared by every pair and characteristic.
        confidence: coverage in (0, 1) of the reported ``ci_*`` and ``gap_ci_*`` intervals.
        seed: seed of the resampling.
        margins: ``{characteristic name: δ}`` overriding the default margin.
        margin_se_multiplier: ``k`` of the default margin rule (module docstring).
        p_method: ``"normal"`` (bootstrap SE, z) or ``"percentile"``; see
            :mod:`trusteq.stats.inference`.

    Returns:
        ``(tests, floor)``: ``tests`` with :data:`TEST_COLUMNS`, ``floor`` with one row per
        (characteristic, seed pair).

    Raises:
        ValueError: fewer than 2 seeds, unknown variants, variants with different N.
    """
    available = list(outputs_by_variant)
    population = _population(reference, seeds, available)
    tested = _tested_variants(reference, population, available, variants)
    needed = list(dict.fromkeys([*population, *tested]))
    members = [char for char in as_characteristics(chars) if char.against_floor]
    prepared: dict[str, Outputs] = {name: outputs_by_variant[name] for name in needed}
    counts: np.ndarray | None = None
    rows, floor_rows = [], []
    z_interval = float(norm.ppf(0.5 + confidence / 2.0))
    for char in members:
        prepared = {name: char.prepare(outputs) for name, outputs in prepared.items()}
        n_examples = char.check_pair(prepared[reference], prepared[reference])
        if counts is None:
            counts = resample_counts(n_examples, n_resamples, seed)
        elif counts.shape[1] != n_examples:
            raise ValueError(
                f"{char.name}: {n_examples} examples, but earlier characteristics had "
                f"{counts.shape[1]}; every characteristic must see the same examples"
            )
        pairs = seed_pairs(population, char.symmetric)
        pair_value = _PairBootstrap(char, prepared, counts)

        pair_points = np.array([pair_value(a, b)[0] for a, b in pairs])
        pair_ses = np.array([np.nanstd(pair_value(a, b)[1], ddof=1) for a, b in pairs])
        margin, margin_source = _margin(
            char.name, pair_points, pair_ses, margins, margin_se_multiplier
        )
        for a, b in pairs:
            value, boot = pair_value(a, b)
            low, high = percentile_interval(boot, confidence)
            floor_rows.append(
                {"characteristic": char.name, "a": a, "b": b, "value": value}
                | {"ci_low": low, "ci_high": high}
            )
        sign = 1.0 if char.higher_is_better else -1.0
        for variant in tested:
            floor = _floor_pairs_for(variant, pairs, population)
            if not floor:
                continue  # S = 2: the only replicate is the floor itself, nothing to test it by
            value, value_boot = pair_value(variant, reference)
            floor_points = np.array([pair_value(a, b)[0] for a, b in floor])
            floor_boot = np.mean([pair_value(a, b)[1] for a, b in floor], axis=0)
            gap = sign * (value - float(floor_points.mean()))
            gap_boot = sign * (value_boot - floor_boot)
            gap_se = float(np.nanstd(gap_boot, ddof=1)) if n_resamples > 1 else math.nan
            if p_method == "percentile":
                gap_low, gap_high = percentile_interval(gap_boot, confidence)
            else:
                gap_low, gap_high = gap - z_interval * gap_se, gap + z_interval * gap_se
            ci_low, ci_high = percentile_interval(value_boot, confidence)
            rows.append(
                _test_row(
                    variant=variant,
                    char_name=char.name,
                    is_seed=variant in population,
                    higher_is_better=char.higher_is_better,
                    source=SOURCE_BOOTSTRAP,
                    p_method=p_method,
                    n_examples=n_examples,
                    n_resamples=n_resamples,
                    value=value,
                    ci=(ci_low, ci_high),
                    floor_points=floor_points,
                    floor=floor,
                    margin=margin,
                    margin_source=margin_source,
                    gap=gap,
                    gap_se=gap_se,
                    gap_ci=(gap_low, gap_high),
                    gap_boot=gap_boot,
                )
            )
    return _frame(rows, TEST_COLUMNS), _frame(
        floor_rows, ("characteristic", "a", "b", "value", "ci_low", "ci_high")
    )


def _test_row(
    *,
    variant: str,
    char_name: str,
    is_seed: bool,
    higher_is_better: bool,
    source: str,
    p_method: PMethod,
    n_examples: int,
    n_resamples: int,
    value: float,
    ci: tuple[float, float],
    floor_points: np.ndarray,
    floor: Sequence[tuple[str, str]],
    margin: float,
    margin_source: str,
    gap: float,
    gap_se: float,
    gap_ci: tuple[float, float],
    gap_boot: np.ndarray | None,
) -> dict[str, Any]:
    # Diverges: less alike than the seeds by more than their own spread (g < −δ), the mirror
    # of more_alike (g > δ). A gap inside (−δ, 0) is what separates two seeds, not a divergence.
    p_diverge = p_less(gap, gap_se, gap_boot, -margin, p_method)
    p_tost, p_lower, _ = tost(gap, gap_se, margin, gap_boot, p_method)
    return {
        "variant": variant,
        "characteristic": char_name,
        "is_seed": is_seed,
        "higher_is_better": bool(higher_is_better),
        "source": source,
        "p_method": p_method,
        "n_examples": int(n_examples),
        "n_resamples": int(n_resamples),
        "value": value,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "floor_mean": float(np.mean(floor_points)),
        "floor_min": float(np.min(floor_points)),
        "floor_max": float(np.max(floor_points)),
        "n_floor_pairs": len(floor),
        "floor_pairs": "; ".join(f"{a}|{b}" for a, b in floor),
        "margin": margin,
        "margin_source": margin_source,
        "gap": gap,
        "gap_se": gap_se,
        "gap_ci_low": gap_ci[0],
        "gap_ci_high": gap_ci[1],
        "p_diverge": p_diverge,
        # p_equiv is filled by decide(), which knows the equivalence mode; keep both parts.
        "p_equiv": p_tost,
        "p_more_alike": p_greater(gap, gap_se, gap_boot, margin, p_method),
        "_p_noninferior": p_lower,
    }


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    extra = [key for key in (rows[0] if rows else {}) if key not in columns]
    return pd.DataFrame(rows, columns=[*columns, *extra])


# -- tests from precomputed matrices -----------------------------------------------------------


def matrix_gap_tests(
    results: PairwiseResult | Iterable[PairwiseResult],
    reference: str,
    seeds: Sequence[str],
    *,
    variants: Sequence[str] = (),
    margins: Mapping[str, float] | None = None,
    margin_se_multiplier: float = DEFAULT_MARGIN_SE_MULTIPLIER,
    higher_is_better: Mapping[str, bool] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fallback gap tests from V×V matrices with intervals, for analyses without statistics.

    OOD-flag overlaps and attribution top-k Jaccards come as :class:`PairwiseResult` matrices,
    not as per-example sufficient statistics, so the paired bootstrap of the gap is not
    available. Here each standard error is read off its interval, ``se = (high − low) /
    (2 z_{(1+c)/2})`` with ``c`` the ``confidence`` in the metadata (0.95 if absent), and the
    gap's standard error is ``sqrt(se_v² + (mean_p se_p)²)``: the floor mean's variance at its
    upper bound (perfectly correlated pairs), the two terms treated as independent. That ignores
    the positive correlation of paired values, so it is conservative for the ``diverges`` and
    ``within_noise`` tests alike. Rows are labelled ``source =`` :data:`SOURCE_MATRIX`.

    Args:
        results: one or more matrices holding the reference, the seeds and the variants.
        reference: name of the reference.
        seeds: the seed population (S >= 2).
        variants: variants to test (default: all but the reference).
        margins: ``{name: δ}`` overriding the default margin.
        margin_se_multiplier: ``k`` of the margin rule.
        higher_is_better: ``{name: bool}`` overriding the metadata's direction (default True
            when the metadata has none).

    Returns:
        ``(tests, floor)`` as :func:`gap_tests`.

    Raises:
        ValueError: a seed or variant missing from a matrix.
    """
    if isinstance(results, PairwiseResult):
        results = [results]
    rows, floor_rows = [], []
    for result in results:
        population = _population(reference, seeds, result.variants)
        tested = _tested_variants(reference, population, result.variants, variants)
        index = {name: i for i, name in enumerate(result.variants)}
        confidence = float(result.metadata.get("confidence", 0.95))
        z_ci = float(norm.ppf(0.5 + confidence / 2.0))
        symmetric = bool(result.metadata.get("symmetric", True))
        direction = result.metadata.get("higher_is_better", True)
        if higher_is_better and result.name in higher_is_better:
            direction = higher_is_better[result.name]
        sign = 1.0 if direction else -1.0
        n_examples = result.metadata.get("n_examples", math.nan)

        def point(a: str, b: str, result=result, index=index) -> tuple[float, float, float]:
            i, j = index[a], index[b]
            return (
                float(result.value[i, j]),
                float(result.ci_low[i, j]),
                float(result.ci_high[i, j]),
            )

        def se_of(a: str, b: str, z_ci=z_ci, point=point) -> float:
            _, low, high = point(a, b)
            return (high - low) / (2.0 * z_ci)

        pairs = seed_pairs(population, symmetric)
        pair_points = np.array([point(a, b)[0] for a, b in pairs])
        pair_ses = np.array([se_of(a, b) for a, b in pairs])
        margin, margin_source = _margin(
            result.name, pair_points, pair_ses, margins, margin_se_multiplier
        )
        for a, b in pairs:
            value, low, high = point(a, b)
            floor_rows.append(
                {"characteristic": result.name, "a": a, "b": b, "value": value}
                | {"ci_low": low, "ci_high": high}
            )
        for variant in tested:
            floor = _floor_pairs_for(variant, pairs, population)
            if not floor:
                continue
            value, ci_low, ci_high = point(variant, reference)
            floor_points = np.array([point(a, b)[0] for a, b in floor])
            gap = sign * (value - float(floor_points.mean()))
            floor_se = float(np.mean([se_of(a, b) for a, b in floor]))
            gap_se = math.sqrt(se_of(variant, reference) ** 2 + floor_se**2)
            rows.append(
                _test_row(
                    variant=variant,
                    char_name=result.name,
                    is_seed=variant in population,
                    higher_is_better=bool(direction),
                    source=SOURCE_MATRIX,
                    p_method="normal",
                    n_examples=n_examples,
                    n_resamples=int(result.metadata.get("n_resamples", 0)),
                    value=value,
                    ci=(ci_low, ci_high),
                    floor_points=floor_points,
                    floor=floor,
                    margin=margin,
                    margin_source=margin_source,
                    gap=gap,
                    gap_se=gap_se,
                    gap_ci=(gap - z_ci * gap_se, gap + z_ci * gap_se),
                    gap_boot=None,
                )
            )
    return _frame(rows, TEST_COLUMNS), _frame(
        floor_rows, ("characteristic", "a", "b", "value", "ci_low", "ci_high")
    )


# -- the decision ------------------------------------------------------------------------------


def decide(
    tests: pd.DataFrame | Iterable[pd.DataFrame],
    floor: pd.DataFrame | Iterable[pd.DataFrame] = (),
    *,
    alpha: float = DEFAULT_ALPHA,
    equivalence: Equivalence = "tost",
    settings: Mapping[str, Any] | None = None,
) -> VerdictResult:
    """Holm-correct a family of gap tests and give every test and every variant its outcome.

    Args:
        tests: one table or several (e.g. :func:`gap_tests` and :func:`matrix_gap_tests`),
            pooled into one family.
        floor: the matching floor tables.
        alpha: family-wise error rate of each of the three tests (diverges, equivalence,
            more alike) across the family, in (0, 1).
        equivalence: ``"tost"`` (two one-sided tests, ``−δ < g < δ``) or ``"non_inferiority"``
            (``g > −δ``; no ``more_alike`` outcome).
        settings: extra settings to record (e.g. seeds, resamples).

    Returns:
        The :class:`VerdictResult`; ``settings`` holds ``alpha``, ``family_size`` (M, the tests
        with a finite p-value), ``equivalence``, ``outcome_order`` and the margin rule.

    Raises:
        ValueError: unknown ``equivalence`` or ``alpha`` outside (0, 1).
    """
    if equivalence not in ("tost", "non_inferiority"):
        raise ValueError(f"equivalence must be 'tost' or 'non_inferiority', got {equivalence!r}")
    table = _concat(tests, TEST_COLUMNS)
    floor_table = _concat(floor, ("characteristic", "a", "b", "value", "ci_low", "ci_high"))
    if equivalence == "non_inferiority" and "_p_noninferior" in table:
        table["p_equiv"] = table["_p_noninferior"]
    if equivalence == "non_inferiority":
        table["p_more_alike"] = np.nan
    table = table.drop(columns=[c for c in table.columns if c.startswith("_")])
    valid = np.isfinite(table["p_diverge"].to_numpy(dtype=float))
    family_size = int(valid.sum())
    for column in ("p_diverge", "p_equiv", "p_more_alike"):
        _, table[f"{column}_adj"] = holm(table[column].to_numpy(dtype=float), alpha)
    z_critical = float(norm.ppf(1.0 - alpha / max(family_size, 1)))
    outcomes, needed = [], []
    for row in table.itertuples(index=False):
        outcome = _outcome(row, alpha)
        outcomes.append(outcome)
        undecided = outcome == INCONCLUSIVE
        needed.append(_n_needed(row, z_critical, equivalence) if undecided else math.nan)
    table["outcome"] = outcomes
    table["n_needed"] = needed
    record = {
        "alpha": alpha,
        "family_size": family_size,
        "family": "all tested (variant × characteristic) pairs; Holm applied to each of the "
        "diverges, equivalence and more-alike tests across it",
        "equivalence": equivalence,
        "outcome_order": "within_noise, then more_alike, then diverges, else inconclusive",
        "margin_rule": "range of seed-pair values + k · median bootstrap SE of a seed pair",
        "n_needed_rule": f"N · (z · se / distance)², z = Φ⁻¹(1 − α/M) = {z_critical:.3f}",
        **(settings or {}),
    }
    return VerdictResult(table, overall_verdicts(table), floor_table, record)


def _concat(frames: pd.DataFrame | Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    if isinstance(frames, pd.DataFrame):
        frames = [frames]
    frames = [frame for frame in frames if frame is not None and not frame.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def _outcome(row: Any, alpha: float) -> str:
    if row.p_equiv_adj < alpha:
        return WITHIN_NOISE
    if row.p_more_alike_adj < alpha:
        return MORE_ALIKE
    if row.p_diverge_adj < alpha:
        return DIVERGES
    return INCONCLUSIVE


def _n_needed(row: Any, z_critical: float, equivalence: str) -> float:
    gap, margin, se = float(row.gap), float(row.margin), float(row.gap_se)
    n_examples = row.n_examples
    try:
        n_examples = int(n_examples)
    except (TypeError, ValueError):  # NaN or None: a matrix without its N
        return math.nan
    if not math.isfinite(gap):
        return math.nan
    distances = [-gap]  # diverges: g < 0
    # A margin made of standard errors shrinks as fast as the standard error does, so more data
    # cannot show equivalence to it (with the gap held fixed): only set or range margins count.
    fixed_margin = row.margin_source != "se"
    if equivalence == "tost":
        distances.append(gap - margin)  # more alike: g > δ
        if fixed_margin:
            distances.append(margin - abs(gap))  # within noise: |g| < δ
    elif fixed_margin:
        distances.append(gap + margin)  # non-inferiority: g > −δ
    needs = [examples_needed(n_examples, se, d, z_critical) for d in distances if d > 0]
    return min(needs) if needs else math.inf


def overall_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One verdict per variant from its per-characteristic outcomes.

    Args:
        table: the per-test table with ``variant, characteristic, outcome``.

    Returns:
        Columns ``variant, verdict, diverges, inconclusive, n_characteristics, n_within_noise,
        n_more_alike, n_diverges, n_inconclusive``; ``verdict`` is ``trust-equivalent``,
        ``diverges: a, b`` or ``inconclusive``.
    """
    rows = []
    for variant, group in table.groupby("variant", sort=False):
        outcomes = group["outcome"].tolist()
        diverging = group.loc[group["outcome"] == DIVERGES, "characteristic"].tolist()
        unclear = group.loc[group["outcome"] == INCONCLUSIVE, "characteristic"].tolist()
        if diverging:
            verdict = "diverges: " + ", ".join(diverging)
        elif unclear:
            verdict = INCONCLUSIVE
        else:
            verdict = TRUST_EQUIVALENT
        rows.append(
            {
                "variant": variant,
                "verdict": verdict,
                "diverges": ", ".join(diverging),
                "inconclusive": ", ".join(unclear),
                "n_characteristics": len(outcomes),
                "n_within_noise": outcomes.count(WITHIN_NOISE),
                "n_more_alike": outcomes.count(MORE_ALIKE),
                "n_diverges": len(diverging),
                "n_inconclusive": len(unclear),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "variant",
            "verdict",
            "diverges",
            "inconclusive",
            "n_characteristics",
            "n_within_noise",
            "n_more_alike",
            "n_diverges",
            "n_inconclusive",
        ],
    )


def seed_verdicts(
    chars: PairwiseCharacteristic | Iterable[Any],
    outputs_by_variant: Mapping[str, Outputs],
    reference: str,
    seeds: Sequence[str],
    *,
    variants: Sequence[str] = (),
    matrices: Iterable[PairwiseResult] = (),
    n_resamples: int = DEFAULT_N_RESAMPLES,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
    seed: int = 0,
    margins: Mapping[str, float] | None = None,
    margin_se_multiplier: float = DEFAULT_MARGIN_SE_MULTIPLIER,
    equivalence: Equivalence = "tost",
    p_method: PMethod = "normal",
) -> VerdictResult:
    """Verdicts of every variant against the seed population: the normal entry point.

    Runs :func:`gap_tests` on the cached outputs (plus :func:`matrix_gap_tests` on any
    ``matrices`` of analyses without per-example statistics) and :func:`decide` on the pooled
    family. Arguments as in those functions.

    Returns:
        The :class:`VerdictResult`.

    Examples:
        >>> from trusteq.characteristics.prediction_agreement import PredictionAgreement
        >>> from trusteq.stats.simulation import simulate_population
        >>> outputs = simulate_population(["ref", "s1", "s2", "same", "worse"], n_examples=2000,
        ...                               extra_noise={"worse": 2.0}, seed=0)
        >>> result = seed_verdicts(PredictionAgreement(), outputs, "ref", ["s1", "s2"])
        >>> result.verdict("worse")
        'diverges: prediction_agreement'
        >>> result.outcome("same", "prediction_agreement") != "diverges"
        True
    """
    tests, floor = gap_tests(
        chars,
        outputs_by_variant,
        reference,
        seeds,
        variants=variants,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        margins=margins,
        margin_se_multiplier=margin_se_multiplier,
        p_method=p_method,
    )
    all_tests, all_floor = [tests], [floor]
    matrices = list(matrices)
    if matrices:
        m_tests, m_floor = matrix_gap_tests(
            matrices,
            reference,
            seeds,
            variants=variants,
            margins=margins,
            margin_se_multiplier=margin_se_multiplier,
        )
        all_tests.append(m_tests)
        all_floor.append(m_floor)
    population = _population(reference, seeds, outputs_by_variant)
    settings = {
        "reference": reference,
        "seeds": population,
        "n_seed_pairs": len(seed_pairs(population)),
        "n_resamples": n_resamples,
        "confidence": confidence,
        "bootstrap_seed": seed,
        "margin_se_multiplier": margin_se_multiplier,
        "margins_set": dict(margins or {}),
        "p_method": p_method,
    }
    return decide(all_tests, all_floor, alpha=alpha, equivalence=equivalence, settings=settings)
