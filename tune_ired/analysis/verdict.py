"""Verdict lines: each arm against the research's success criteria, stated with its uncertainty.

The research asks for at least 20% lower val/mse than the baseline (mining strategies) and
expects 1-5% from the corrected DCD variant (spec section 9). An arm *meets* a criterion
when the whole 95% bootstrap interval of its improvement lies at or above the threshold,
*misses* it when the whole interval lies below, and is *inconclusive* otherwise. The
interval judged is the wider envelope of the bootstrap and the Student-t intervals: with
a handful of seeds the bootstrap alone is too narrow.

    from tune_ired.analysis.verdict import verdicts
    for line in verdicts(compare_to_baseline(wide, baseline="none"), baseline="none"):
        print(line)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from tune_ired.analysis.stats import CONFIDENCE


@dataclass(frozen=True)
class Criterion:
    """A success criterion: an improvement over the baseline of at least `low` percent (expected up to `high`)."""

    name: str
    low: float
    high: float | None = None

    def describe(self) -> str:
        expected = f", {self.low:g}-{self.high:g}% expected" if self.high is not None else ""
        return f"{self.name} criterion (>= {self.low:g}% better than the baseline{expected})"


MINING_CRITERION = Criterion("mining", low=20.0)  # the research plan's bar for a better mining strategy
DCD_CRITERION = Criterion("DCD", low=1.0, high=5.0)  # the corrected variant's expected gain (spec section 9)
OUTCOME_TEXT = {"meets": "MEETS", "misses": "MISSES", "inconclusive": "INCONCLUSIVE for"}
DCD_PATTERN = re.compile(r"dcd|Q-20[2-4]", re.IGNORECASE)  # arm labels naming the DCD variant or its ablations


def criterion_for(arm: str) -> Criterion:
    """The criterion an arm is judged by: the DCD one when its label names the DCD variant."""
    return DCD_CRITERION if DCD_PATTERN.search(str(arm)) else MINING_CRITERION


def envelope(row: pd.Series) -> tuple[float, float]:
    """The wider of the bootstrap and t intervals of a comparison row's improvement, in percent."""
    low = min(row["improvement_ci_low"], row["improvement_t_low"])
    high = max(row["improvement_ci_high"], row["improvement_t_high"])
    return (low, high)


def judge(row: pd.Series, criterion: Criterion) -> str:
    """'meets', 'misses' or 'inconclusive' for one comparison row (see the module docstring)."""
    low, high = envelope(row)
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    if low >= criterion.low:
        return "meets"
    if high < criterion.low:
        return "misses"
    return "inconclusive"


def format_p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3g}"


def verdict_line(arm: str, row: pd.Series, *, baseline: str, metric: str = "val/mse", mode: str = "min") -> str:
    """One sentence: the arm's improvement with its CI, the tests, and whether it meets its criterion."""
    criterion = criterion_for(arm)
    better, worse = ("lower", "higher") if mode == "min" else ("higher", "lower")
    estimate = row["improvement_pct"]
    seeds = int(row["seeds"])
    if seeds < 2 or math.isnan(estimate):
        return f"{arm} vs {baseline}: too few paired seeds ({seeds}) for a verdict."
    direction = better if estimate >= 0 else worse
    level = round(CONFIDENCE * 100)
    low, high = envelope(row)
    text = (
        f"{arm} vs {baseline}: {metric} {abs(estimate):.1f}% {direction} over {seeds} seeds "
        f"(improvement {level}% CI {low:+.1f}% to {high:+.1f}%, the wider of bootstrap "
        f"[{row['improvement_ci_low']:+.1f}, {row['improvement_ci_high']:+.1f}] and t "
        f"[{row['improvement_t_low']:+.1f}, {row['improvement_t_high']:+.1f}]; "
        f"paired t p={format_p(row['t_p'])} (Holm {format_p(row['t_p_holm'])}), "
        f"Wilcoxon p={format_p(row['wilcoxon_p'])} (Holm {format_p(row['wilcoxon_p_holm'])}), "
        f"Cohen's d={row['cohen_d']:.2f})"
    )
    outcome = judge(row, criterion)
    note = ""
    if criterion.high is not None and outcome == "meets" and estimate > criterion.high:
        note = f"; above the expected {criterion.low:g}-{criterion.high:g}%"
    return f"{text}: {OUTCOME_TEXT[outcome]} the {criterion.describe()}{note}."


def outcomes(comparison: pd.DataFrame) -> pd.Series:
    """'meets', 'misses' or 'inconclusive' per compared arm, each against its own criterion."""
    return pd.Series({arm: judge(row, criterion_for(str(arm))) for arm, row in comparison.iterrows()}, dtype=object)


def verdicts(comparison: pd.DataFrame, *, baseline: str, metric: str = "val/mse", mode: str = "min") -> list[str]:
    """A verdict line per compared arm (rows of `compare_to_baseline`)."""
    return [
        verdict_line(str(arm), row, baseline=baseline, metric=metric, mode=mode) for arm, row in comparison.iterrows()
    ]
