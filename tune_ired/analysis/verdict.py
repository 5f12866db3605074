"""Verdicts: each arm against the research's success criteria, stated with its uncertainty and its failures.

The research asks for at least 20% lower val/mse than the baseline (mining strategies) and
expects 1-5% from the corrected DCD variant (spec section 9). An arm *meets* a criterion
when the whole 95% Fieller interval of its improvement lies at or above the threshold,
*misses* it when the whole interval lies below, and is *inconclusive* otherwise
(VERDICT_RULE). When a seed of the arm or the baseline diverged, the arm is judged twice
(`tune_ired.analysis.divergence`): diverged seeds scored as the study's worst finite
value, and the seeds both arms finished; the verdict is the worse of the two. No arm is
judged against a baseline without a finite seed.

    from tune_ired.analysis.verdict import verdicts
    for verdict in verdicts(compare_counting_divergence(scored, baseline="none", mode="min"), baseline="none"):
        print(verdict)            # 'MEETS: adversarial vs none: ...'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tune_ired.analysis.numbers import NA, count, percent, pvalue
from tune_ired.analysis.stats import CONFIDENCE

LEVEL = round(CONFIDENCE * 100)
VERDICT_RULE = (
    f"MEETS when the whole {LEVEL}% Fieller interval of the improvement (the ratio of the arm's and the "
    "baseline's mean, paired by seed) lies at or above the criterion, MISSES when it lies wholly below, "
    "INCONCLUSIVE otherwise"
)
OUTCOMES = ("meets", "misses", "inconclusive")
BADGES = {"meets": "MEETS", "misses": "MISSES", "inconclusive": "INCONCLUSIVE"}
# of two verdicts the one earlier here is the worse
WORSE_FIRST = ("misses", "inconclusive", "meets")
# arm labels naming the DCD variant or its ablations
DCD_PATTERN = re.compile(r"dcd|Q-20[2-4]", re.IGNORECASE)
WILCOXON_FEW_SEEDS = (
    6  # below this many seeds the exact two-sided Wilcoxon p cannot reach 0.05 (2 / 2**5)
)


@dataclass(frozen=True)
class Criterion:
    """A success criterion: an improvement over the baseline of at least `low` percent (expected up to `high`)."""

    name: str
    low: float
    high: float | None = None

    def describe(self) -> str:
        expected = f", {self.low:g}-{self.high:g}% expected" if self.high is not None else ""
        return f"{self.name} criterion (>= {self.low:g}% better than the baseline{expected})"


# the research plan's bar for a better mining strategy
MINING_CRITERION = Criterion("mining", low=20.0)
# the corrected variant's expected gain (spec section 9)
DCD_CRITERION = Criterion("DCD", low=1.0, high=5.0)


@dataclass(frozen=True)
class Verdict:
    """One arm's verdict: its outcome ('meets', 'misses', 'inconclusive') and the sentence that states it."""

    arm: str
    outcome: str
    text: str

    @property
    def badge(self) -> str:
        return BADGES[self.outcome]

    def __str__(self) -> str:
        return f"{self.badge}: {self.text}"


def criterion_for(arm: str) -> Criterion:
    """The criterion an arm is judged by: the DCD one when its label names the DCD variant."""
    return DCD_CRITERION if DCD_PATTERN.search(str(arm)) else MINING_CRITERION


def judge_intervals(low, high, threshold: float) -> np.ndarray:
    """'meets', 'misses' or 'inconclusive' per interval (arrays or scalars; NaN bounds: inconclusive)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(
            low >= threshold, "meets", np.where(high < threshold, "misses", "inconclusive")
        )


def worse(*outcomes: str) -> str:
    return min(outcomes, key=WORSE_FIRST.index)


def diverged_any(row: pd.Series) -> bool:
    return bool(row.get("arm_diverged", 0) or row.get("baseline_diverged", 0))


def judge(row: pd.Series, criterion: Criterion) -> str:
    """The outcome of one comparison row (see the module docstring)."""
    if row.get("baseline_finite", 1) == 0:
        return "inconclusive"
    scored = str(judge_intervals(row["improvement_low"], row["improvement_high"], criterion.low))
    if not diverged_any(row):
        return scored
    finite = str(
        judge_intervals(
            row["finite_improvement_low"], row["finite_improvement_high"], criterion.low
        )
    )
    return worse(scored, finite)


def estimate_text(estimate: float, low: float, high: float, *, mode: str) -> str:
    """'30.2% lower (95% CI +24.1% to +35.8%)'; 'no CI' where the interval is undefined."""
    better, worse_word = ("lower", "higher") if mode == "min" else ("higher", "lower")
    if math.isnan(estimate):
        return NA
    direction = better if estimate >= 0 else worse_word
    ci = "no CI" if math.isnan(low) else f"{LEVEL}% CI {percent(low)}% to {percent(high)}%"
    return f"{abs(estimate):.1f}% {direction} ({ci})"


def finished_text(row: pd.Series, *, mode: str) -> str:
    """The finished-seeds view of a comparison, for a verdict line."""
    seeds = 0 if math.isnan(row["finite_seeds"]) else int(row["finite_seeds"])
    if seeds < 2:
        return f"{count(seeds, 'seed')} both finished, too few to judge"
    low, high = row["finite_improvement_low"], row["finite_improvement_high"]
    return f"{estimate_text(row['finite_improvement_pct'], low, high, mode=mode)} over the {seeds} seeds both finished"


def divergence_text(row: pd.Series, arm: str, baseline: str) -> str:
    arm_part = f"{arm} {int(row.get('arm_diverged', 0))}/{int(row.get('arm_seeds', row['seeds']))}"
    base_part = f"{baseline} {int(row.get('baseline_diverged', 0))}/{int(row.get('baseline_seeds', row['seeds']))}"
    return f"diverged: {arm_part}, {base_part}"


def tests_text(row: pd.Series) -> str:
    d = NA if math.isnan(row["cohen_d"]) else f"{row['cohen_d']:.2f}"
    return (
        f"paired t p={pvalue(row['t_p'])} (Holm {pvalue(row['t_p_holm'])}), "
        f"Wilcoxon p={pvalue(row['wilcoxon_p'])} (Holm {pvalue(row['wilcoxon_p_holm'])}), Cohen's d={d}"
    )


def caveats(row: pd.Series, criterion: Criterion, outcome: str) -> list[str]:
    """What a reader must know next to this verdict."""
    notes = []
    if row.get("constant", False):
        notes.append("the paired differences are constant: t-test and d undefined")
    if 0 < row["seeds"] < WILCOXON_FEW_SEEDS:
        notes.append(
            f"with {int(row['seeds'])} seeds the exact Wilcoxon p is at least {2 / 2 ** row['seeds']:.3g}"
        )
    if (
        criterion.high is not None
        and outcome == "meets"
        and row["improvement_pct"] > criterion.high
    ):
        notes.append(f"above the expected {criterion.low:g}-{criterion.high:g}%")
    return notes


def verdict(
    arm: str, row: pd.Series, *, baseline: str, metric: str = "val/mse", mode: str = "min"
) -> Verdict:
    """The verdict of one comparison row (a row of `compare_counting_divergence` or `compare_to_baseline`)."""
    criterion = criterion_for(arm)
    outcome = judge(row, criterion)
    head = f"{arm} vs {baseline}"
    counts = divergence_text(row, arm, baseline)
    if row.get("baseline_finite", 1) == 0:
        text = f"{head}: no verdict, the baseline has no finite seed to compare with ({counts})."
        return Verdict(arm, outcome, text)
    if row["seeds"] < 2 or math.isnan(row["improvement_pct"]):
        seeds = count(int(row["seeds"]), "paired seed")
        return Verdict(arm, outcome, f"{head}: too few for a verdict, {seeds} ({counts}).")
    low, high = row["improvement_low"], row["improvement_high"]
    measured = f"{metric} {estimate_text(row['improvement_pct'], low, high, mode=mode)} over {int(row['seeds'])} seeds"
    if diverged_any(row):
        measured += (
            f" with diverged seeds as the worst finite value; {finished_text(row, mode=mode)}"
        )
        measured += " (the verdict takes the worse)"
    parts = [measured, counts, tests_text(row), *caveats(row, criterion, outcome)]
    return Verdict(arm, outcome, f"{head}: {'; '.join(parts)}; {criterion.describe()}.")


def verdicts(
    comparison: pd.DataFrame, *, baseline: str, metric: str = "val/mse", mode: str = "min"
) -> list[Verdict]:
    """A verdict per compared arm (rows of `compare_counting_divergence`)."""
    return [
        verdict(str(arm), row, baseline=baseline, metric=metric, mode=mode)
        for arm, row in comparison.iterrows()
    ]
