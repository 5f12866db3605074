"""How a diverged seed counts: as a failure, under one rule used by every table, verdict and figure.

The rule (DIVERGENCE_RULE, quoted by the report): a diverged seed's final metric is the
study's worst finite final value (the largest for a minimised metric), so it ranks last
and weighs on its arm's mean, spread and paired tests; in the learning curves it takes the
study's worst finite value at each evaluation from its divergence on; it never reaches a
steps-to-threshold target. A verdict compares the arm twice, with diverged seeds scored
so and on the seeds both arms finished, and takes the worse of the two verdicts: neither
the arm's own failures nor the baseline's can make it look better. Seeds without any
result (errored before their first report, still pending) are no failure of the method:
they are left out and counted.

    from tune_ired.analysis.divergence import score_finals, compare_counting_divergence
    scored, worst = score_finals(finals, metric="final/val/mse", mode="min")
    table = compare_counting_divergence(scored, baseline="none", mode="min")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tune_ired.analysis.stats import compare_to_baseline, seed_matrix

DIVERGENCE_RULE = (
    "a diverged seed counts as a failure: its final value is the study's worst finite final value "
    "(in learning curves, the worst finite value at each evaluation from its divergence on; it never "
    "reaches a steps-to-threshold target), and a verdict is judged both so and on the seeds both arms "
    "finished, taking the worse"
)
SCORE = "score"  # the column of a seed's final metric under the rule (what every statistic reads)
# kept from the 2nd comparison
FINITE_VIEW = ("seeds", "improvement_pct", "improvement_low", "improvement_high")


def worst_finite(values: pd.Series | np.ndarray, *, mode: str) -> float:
    """The worst finite value (the largest when minimising, the smallest when maximising); NaN when none."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return np.nan
    return float(finite.max() if mode == "min" else finite.min())


def score_finals(finals: pd.DataFrame, *, metric: str, mode: str) -> tuple[pd.DataFrame, float]:
    """The per-seed table with SCORE (the final `metric`, or the worst finite final value where diverged).

    Also returns that worst value (NaN when the study has no finite final value at all).
    """
    worst = worst_finite(finals[metric], mode=mode) if metric in finals else np.nan
    values = (
        finals[metric].astype(float) if metric in finals else pd.Series(np.nan, index=finals.index)
    )
    scored = finals.assign(**{SCORE: values.mask(finals["diverged"], worst)})
    return scored, worst


def divergence_counts(scored: pd.DataFrame) -> pd.DataFrame:
    """Per arm: seeds (those with a result, diverged ones included), diverged, finite, and seeds with no result."""
    groups = scored.assign(
        finite=np.isfinite(scored[SCORE].to_numpy(dtype=float)) & ~scored["diverged"],
        no_result=scored[SCORE].isna() & ~scored["diverged"],
    ).groupby("arm")
    counts = pd.DataFrame(
        {
            "diverged": groups["diverged"].sum(),
            "finite": groups["finite"].sum(),
            "no_result": groups["no_result"].sum(),
        }
    ).astype(int)
    counts.insert(0, "seeds", counts["diverged"] + counts["finite"])
    counts.index = counts.index.astype(str)
    return counts


def compare_counting_divergence(scored: pd.DataFrame, *, baseline: str, mode: str) -> pd.DataFrame:
    """`compare_to_baseline` on the scored values, plus the finite-pairs view and the divergence counts.

    Added columns: finite_seeds, finite_improvement_pct/_low/_high (the seeds both arms
    finished), arm_seeds, arm_diverged, baseline_seeds, baseline_diverged, baseline_finite.
    """
    table = compare_to_baseline(seed_matrix(scored, SCORE), baseline=baseline, mode=mode)
    finished = scored.assign(**{SCORE: scored[SCORE].mask(scored["diverged"])})
    finite = compare_to_baseline(seed_matrix(finished, SCORE), baseline=baseline, mode=mode)
    table = table.join(finite.reindex(columns=list(FINITE_VIEW)).add_prefix("finite_"))
    counts = divergence_counts(scored)
    table["arm_seeds"] = counts["seeds"].reindex(table.index).fillna(0).astype(int)
    table["arm_diverged"] = counts["diverged"].reindex(table.index).fillna(0).astype(int)
    for column in ("seeds", "diverged", "finite"):
        table[f"baseline_{column}"] = int(counts[column].get(baseline, 0))
    return table


def score_curves(curves: pd.DataFrame, finals: pd.DataFrame, *, mode: str) -> pd.DataFrame:
    """Long curves (arm, trial_id, seed, step, value) with each diverged seed scored by the rule.

    From its divergence (its diverged_step, or its first evaluation without a finite value
    if that is earlier) to the study's last evaluation, a diverged seed's value is the
    study's worst finite value at that step. Adds a bool column 'diverged' (True on the
    scored rows).
    """
    out = curves.assign(diverged=False)
    failed = finals.loc[finals["diverged"], ["arm", "trial_id", "seed", "diverged_step"]]
    if failed.empty or curves.empty:
        return out
    worst_at = curves.groupby("step")["value"].agg("max" if mode == "min" else "min")
    scored_rows, drop = [], pd.Series(False, index=curves.index)
    for arm, trial_id, seed, step in failed.itertuples(index=False):
        own = (curves["arm"] == arm) & (curves["seed"] == seed)
        last_finite = curves.loc[own, "step"].max() if own.any() else -np.inf
        after = worst_at.index[worst_at.index > last_finite]
        start = min(step if np.isfinite(step) else np.inf, after.min() if len(after) else np.inf)
        drop |= own & (curves["step"] >= start)
        for s, value in worst_at[worst_at.index >= start].items():
            scored_rows.append(
                {"arm": arm, "trial_id": trial_id, "seed": seed, "step": s, "value": value}
            )
    scored = pd.DataFrame(scored_rows, columns=list(curves.columns)).assign(diverged=True)
    out = pd.concat([out[~drop], scored], ignore_index=True) if len(scored) else out[~drop]
    return out.sort_values(["arm", "seed", "step"], ignore_index=True)
