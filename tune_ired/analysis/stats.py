"""Multi-seed statistics: per-arm summaries, paired-by-seed tests against a baseline, rank consistency.

Every function takes a *seed matrix*: a DataFrame with one row per seed and one column per
arm (a trial config with its seeds), holding one metric (e.g. the final `val/mse`). Build
it from the per-seed long table with `seed_matrix`. Randomness (the bootstrap) is seeded
explicitly, so a report is reproducible.

    from tune_ired.analysis.stats import seed_matrix, summarize_arms, compare_to_baseline
    wide = seed_matrix(per_seed, "val/mse")
    summarize_arms(wide)                          # mean, std, bootstrap CI per arm
    compare_to_baseline(wide, baseline="none")    # paired t, Wilcoxon, Holm, Cohen's d, % improvement
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95  # confidence level of every interval reported
BOOTSTRAP_RESAMPLES = 2000  # enough for stable 95% percentile intervals on a handful of seeds
BOOTSTRAP_SEED = 0  # the bootstrap's own seed: the same data always give the same interval
MODES = ("min", "max")


def seed_matrix(per_seed: pd.DataFrame, metric: str, *, arm: str = "arm", seed: str = "seed") -> pd.DataFrame:
    """Pivot a long per-seed table to seeds x arms for `metric`; seeds missing in an arm stay NaN."""
    if metric not in per_seed.columns:
        raise KeyError(f"metric '{metric}' not in the per-seed table (columns: {', '.join(per_seed.columns)})")
    wide = per_seed.pivot_table(index=seed, columns=arm, values=metric, aggfunc="mean", sort=True)
    wide.columns.name = "arm"
    return wide


def bootstrap_ci(*samples: np.ndarray, statistic, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(*samples)` (samples resampled together, paired)."""
    if len(samples[0]) < 2:
        return (np.nan, np.nan)
    result = stats.bootstrap(
        samples,
        statistic,
        paired=len(samples) > 1,
        vectorized=False,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def summarize_arms(wide: pd.DataFrame, *, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Per arm: seeds, mean, std (ddof 1), min, max and a bootstrap CI of the mean."""
    rows = []
    for arm in wide.columns:
        values = wide[arm].dropna().to_numpy(dtype=float)
        low, high = bootstrap_ci(values, statistic=np.mean, seed=seed)
        rows.append(
            {
                "arm": arm,
                "seeds": len(values),
                "mean": values.mean() if len(values) else np.nan,
                "std": values.std(ddof=1) if len(values) > 1 else np.nan,
                "min": values.min() if len(values) else np.nan,
                "max": values.max() if len(values) else np.nan,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows).set_index("arm")


def improvement_pct(arm: np.ndarray, base: np.ndarray, *, mode: str = "min") -> float:
    """How much better the arm's mean is than the baseline's, in percent of the baseline (positive: better)."""
    sign = 1.0 if mode == "min" else -1.0
    return float(sign * (np.mean(base) - np.mean(arm)) / abs(np.mean(base)) * 100)


def improvement_t_ci(arm: np.ndarray, base: np.ndarray, *, mode: str = "min") -> tuple[float, float]:
    """Student-t interval of the improvement in percent: the paired mean difference over the baseline's mean.

    With few seeds a percentile bootstrap is too narrow (3 seeds have only 10 distinct
    resamples); this interval widens with the t distribution instead.
    """
    if len(arm) < 2:
        return (np.nan, np.nan)
    sign = 1.0 if mode == "min" else -1.0
    scaled = sign * (base - arm) / abs(np.mean(base)) * 100
    sem = stats.sem(scaled)
    if sem == 0:
        return (float(scaled.mean()), float(scaled.mean()))
    low, high = stats.t.interval(CONFIDENCE, df=len(scaled) - 1, loc=scaled.mean(), scale=sem)
    return (float(low), float(high))


def holm(pvalues: pd.Series) -> pd.Series:
    """Holm-Bonferroni adjusted p-values (family-wise error control across arms); NaN stays NaN."""
    valid = pvalues.dropna().sort_values()
    m = len(valid)
    adjusted = np.maximum.accumulate([(m - i) * p for i, p in enumerate(valid)]) if m else []
    out = pd.Series(np.nan, index=pvalues.index, dtype=float)
    out[valid.index] = np.minimum(adjusted, 1.0)
    return out


def paired_tests(diff: np.ndarray) -> dict[str, float]:
    """Paired t-test, Wilcoxon signed-rank test and paired Cohen's d (d_z) of per-seed differences."""
    if len(diff) < 2:
        return {"t_p": np.nan, "wilcoxon_p": np.nan, "cohen_d": np.nan}
    sd = diff.std(ddof=1)
    if sd == 0:  # every seed moved by exactly the same amount: the tests and d are undefined
        return {"t_p": np.nan, "wilcoxon_p": np.nan, "cohen_d": np.nan}
    return {
        "t_p": float(stats.ttest_1samp(diff, 0.0).pvalue),
        "wilcoxon_p": float(stats.wilcoxon(diff).pvalue),
        "cohen_d": float(diff.mean() / sd),
    }


def compare_to_baseline(
    wide: pd.DataFrame, *, baseline: str, mode: str = "min", seed: int = BOOTSTRAP_SEED
) -> pd.DataFrame:
    """Each other arm against `baseline`, paired by seed (only seeds both arms have).

    Columns: seeds, improvement_pct (positive: better than the baseline) with its paired
    bootstrap CI (improvement_ci_low/high) and Student-t CI (improvement_t_low/high),
    mean_diff (arm - baseline), cohen_d (paired d_z of arm - baseline), t_p and wilcoxon_p
    (two-sided), and their Holm-adjusted versions across the compared arms.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if baseline not in wide.columns:
        raise KeyError(f"baseline arm '{baseline}' not found; arms: {', '.join(map(str, wide.columns))}")
    rows = []
    for arm in wide.columns.drop(baseline):
        pair = wide[[arm, baseline]].dropna()
        a, b = pair[arm].to_numpy(dtype=float), pair[baseline].to_numpy(dtype=float)
        low, high = bootstrap_ci(a, b, statistic=lambda x, y: improvement_pct(x, y, mode=mode), seed=seed)
        t_low, t_high = improvement_t_ci(a, b, mode=mode)
        rows.append(
            {
                "arm": arm,
                "seeds": len(pair),
                "improvement_pct": improvement_pct(a, b, mode=mode) if len(pair) else np.nan,
                "improvement_ci_low": low,
                "improvement_ci_high": high,
                "improvement_t_low": t_low,
                "improvement_t_high": t_high,
                "mean_diff": float(np.mean(a - b)) if len(pair) else np.nan,
                **paired_tests(a - b),
            }
        )
    table = pd.DataFrame(rows, columns=["arm", "seeds", "improvement_pct"]).set_index("arm")
    if len(rows):
        table = pd.DataFrame(rows).set_index("arm")
        table["t_p_holm"] = holm(table["t_p"])
        table["wilcoxon_p_holm"] = holm(table["wilcoxon_p"])
    return table


def seed_ranks(wide: pd.DataFrame, *, mode: str = "min") -> pd.DataFrame:
    """Rank of each arm within each seed (1 = best; ties get their average rank); seeds missing an arm dropped."""
    return wide.dropna().rank(axis=1, ascending=(mode == "min"), method="average")


def rank_consistency(wide: pd.DataFrame, *, mode: str = "min") -> pd.DataFrame:
    """Per arm: mean rank over seeds and the share of seeds in which it ranks first (ties share the win)."""
    ranks = seed_ranks(wide, mode=mode)
    firsts = ranks.eq(ranks.min(axis=1), axis=0)
    share = firsts.div(firsts.sum(axis=1), axis=0).mean(axis=0)
    return pd.DataFrame({"mean_rank": ranks.mean(axis=0), "share_first": share})


def kendalls_w(wide: pd.DataFrame, *, mode: str = "min") -> float:
    """Kendall's coefficient of concordance W of the arms' rankings across seeds (1: every seed agrees).

    Seeds are the raters, arms the items; ties are corrected for. NaN with fewer than two
    arms or seeds, or when every ranking is all ties.
    """
    ranks = seed_ranks(wide, mode=mode)
    m, n = ranks.shape
    if m < 2 or n < 2:
        return np.nan
    rank_sums = ranks.sum(axis=0).to_numpy()
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    tie_sizes = np.concatenate([row.value_counts().to_numpy(dtype=float) for _, row in ranks.iterrows()])
    ties = float((tie_sizes**3 - tie_sizes).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    return 12 * s / denominator if denominator > 0 else np.nan
