"""Multi-seed statistics: per-arm summaries, paired-by-seed comparisons against a baseline, rank consistency.

Every function takes a *seed matrix*: a DataFrame with one row per seed and one column per
arm (a trial config with its seeds), holding one metric (e.g. the final `val/mse`). Build
it from the per-seed long table with `seed_matrix`. Randomness (the bootstrap) is seeded
explicitly, so a report is reproducible.

The improvement over the baseline is a ratio of means, so its interval is Fieller's
(`improvement_interval`): the ratios r for which a paired t-test of arm - r * baseline
does not reject, exact for normal seeds and aware of the baseline mean's own uncertainty.
The interval functions work on stacked arrays (..., seeds), so a simulation of many
studies runs them in one call (tests/test_stats.py).

    from tune_ired.analysis.stats import seed_matrix, summarize_arms, compare_to_baseline
    wide = seed_matrix(per_seed, "val/mse")
    summarize_arms(wide)                          # mean, std, best and worst seed, bootstrap CI per arm
    compare_to_baseline(wide, baseline="none")    # Fieller CI, paired t, exact Wilcoxon, Holm, Cohen's d
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tune_ired.catalogue import Mode

CONFIDENCE = 0.95  # confidence level of every interval reported
BOOTSTRAP_RESAMPLES = 2000  # enough for stable 95% percentile intervals on a handful of seeds
BOOTSTRAP_SEED = 0  # the bootstrap's own seed: the same data always give the same interval
# metrics are float32 on the device: paired differences spread less than this fraction of the values
# (about 8 float32 ulps) are rounding, i.e. constant; the t-test and Cohen's d are then undefined
CONSTANT_SPREAD = 1e-6


def seed_matrix(
    per_seed: pd.DataFrame, metric: str, *, arm: str = "arm", seed: str = "seed"
) -> pd.DataFrame:
    """Pivot a long per-seed table to seeds x arms for `metric`; every arm stays, missing seeds are NaN."""
    if metric not in per_seed.columns:
        raise KeyError(
            f"metric '{metric}' not in the per-seed table (columns: {', '.join(per_seed.columns)})"
        )
    values = per_seed.assign(**{metric: per_seed[metric].astype(float)})
    wide = values.pivot_table(
        index=seed, columns=arm, values=metric, aggfunc="mean", sort=True, dropna=False
    )
    wide = wide.reindex(columns=sorted(per_seed[arm].unique(), key=str))
    wide.columns.name = "arm"
    return wide


def bootstrap_ci(values: np.ndarray, *, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaN with fewer than two values)."""
    if len(values) < 2:
        return (np.nan, np.nan)
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def summarize_arms(
    wide: pd.DataFrame, *, mode: str = "min", seed: int = BOOTSTRAP_SEED
) -> pd.DataFrame:
    """Per arm: seeds, mean, std (ddof 1), best and worst seed (by `mode`) and a bootstrap CI of the mean."""
    rows = []
    for arm in wide.columns:
        values = wide[arm].dropna().to_numpy(dtype=float)
        low, high = bootstrap_ci(values, seed=seed)
        lowest, highest = (values.min(), values.max()) if len(values) else (np.nan, np.nan)
        rows.append(
            {
                "arm": arm,
                "seeds": len(values),
                "mean": values.mean() if len(values) else np.nan,
                "std": values.std(ddof=1) if len(values) > 1 else np.nan,
                "best": lowest if mode == "min" else highest,
                "worst": highest if mode == "min" else lowest,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(
        rows, columns=["arm", "seeds", "mean", "std", "best", "worst", "ci_low", "ci_high"]
    ).set_index("arm")


def improvement_pct(arm: np.ndarray, base: np.ndarray, *, mode: str = "min") -> np.ndarray:
    """How much better the arm's mean is than the baseline's, in percent of the baseline (positive: better).

    Works on the last axis of stacked arrays; NaN where the baseline mean is 0.
    """
    sign = 1.0 if mode == "min" else -1.0
    base_mean, arm_mean = np.mean(base, axis=-1), np.mean(arm, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            base_mean != 0, sign * (base_mean - arm_mean) / np.abs(base_mean) * 100, np.nan
        )


def fieller_ratio(arm: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fieller's CONFIDENCE interval of mean(arm) / mean(base) for seeds paired on the last axis.

    The set of ratios r whose paired t statistic of arm - r * base stays within the t
    quantile: a quadratic in r. Unbounded (-inf, inf) when the baseline mean is not
    clearly away from 0; NaN with fewer than two seeds.
    """
    arm, base = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    n = arm.shape[-1]
    if n < 2:
        nan = np.full(arm.shape[:-1], np.nan)
        return nan, nan
    q = stats.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1) ** 2 / n
    mean_a, mean_b = arm.mean(axis=-1), base.mean(axis=-1)
    da, db = arm - mean_a[..., None], base - mean_b[..., None]
    var_a, var_b, cov = ((da**2).sum(-1), (db**2).sum(-1), (da * db).sum(-1))
    var_a, var_b, cov = var_a / (n - 1), var_b / (n - 1), cov / (n - 1)
    quad = mean_b**2 - q * var_b  # the r^2 coefficient: > 0 when the baseline mean is clearly not 0
    lin = mean_a * mean_b - q * cov
    const = mean_a**2 - q * var_a
    root = np.sqrt(np.clip(lin**2 - quad * const, 0.0, None))
    bounded = quad > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(bounded, (lin - root) / quad, -np.inf)
        high = np.where(bounded, (lin + root) / quad, np.inf)
    return low, high


def improvement_interval(
    arm: np.ndarray, base: np.ndarray, *, mode: str = "min"
) -> tuple[np.ndarray, np.ndarray]:
    """CONFIDENCE interval of `improvement_pct` (Fieller's, on the ratio of the means), on the last axis."""
    ratio_low, ratio_high = fieller_ratio(arm, base)
    if np.shape(arm)[-1] < 2:
        return ratio_low, ratio_high  # NaN: too few seeds
    # improvement = k * (1 - ratio) * 100 with k = +-1 from the mode and the baseline mean's sign
    k = (1.0 if mode == "min" else -1.0) * np.sign(np.mean(np.asarray(base, dtype=float), axis=-1))
    ends = np.stack([k * (1 - ratio_low) * 100, k * (1 - ratio_high) * 100])
    with np.errstate(invalid="ignore"):
        return np.where(k != 0, ends.min(axis=0), np.nan), np.where(
            k != 0, ends.max(axis=0), np.nan
        )


def exact_wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided exact p of the Wilcoxon signed-rank test, ties and constant differences included.

    Zero differences are dropped (Wilcoxon's rule); tied |differences| get their mean rank;
    the null distribution of the positive rank sum (every sign equally likely) is built
    exactly by a convolution over the ranks. No nonzero difference: p = 1.
    """
    nonzero = diff[diff != 0]
    if not len(nonzero):
        return 1.0
    # mean ranks are multiples of 1/2
    doubled = np.rint(2 * stats.rankdata(np.abs(nonzero))).astype(int)
    null = np.zeros(doubled.sum() + 1)
    null[0] = 1.0
    for rank in doubled:  # add one rank that is positive or negative with probability 1/2 each
        null[rank:] = (null[rank:] + null[:-rank]) / 2
        null[:rank] /= 2
    centre = doubled.sum() / 2
    observed = abs(doubled[nonzero > 0].sum() - centre)
    # the sums are multiples of 1/2
    extreme = np.abs(np.arange(len(null)) - centre) >= observed - 1e-9
    return float(min(1.0, null[extreme].sum()))


def paired_tests(arm: np.ndarray, base: np.ndarray) -> dict[str, float | bool]:
    """Paired t-test, exact Wilcoxon signed-rank test and Cohen's d_z of the per-seed differences arm - base.

    Constant differences (spread below CONSTANT_SPREAD of the values) leave the t-test and
    d undefined (NaN, 'constant': True); the exact Wilcoxon p stays defined.
    """
    diff = arm - base
    if len(diff) < 2:
        return {"t_p": np.nan, "wilcoxon_p": np.nan, "cohen_d": np.nan, "constant": False}
    scale = max(np.abs(arm).max(), np.abs(base).max())
    sd = diff.std(ddof=1)
    constant = bool(sd <= CONSTANT_SPREAD * scale)
    return {
        "t_p": np.nan if constant else float(stats.ttest_1samp(diff, 0.0).pvalue),
        "wilcoxon_p": exact_wilcoxon_p(diff),
        "cohen_d": np.nan if constant else float(diff.mean() / sd),
        "constant": constant,
    }


def holm(pvalues: pd.Series) -> pd.Series:
    """Holm-Bonferroni adjusted p-values over the whole family given (every compared arm).

    An undefined (NaN) p counts as 1 in the step-down, so it never shrinks the others'
    correction; it stays NaN in the output.
    """
    m = len(pvalues)
    ordered = pvalues.fillna(1.0).sort_values(kind="stable")
    adjusted = np.minimum(
        np.maximum.accumulate((m - np.arange(m)) * ordered.to_numpy(dtype=float)), 1.0
    )
    out = pd.Series(adjusted, index=ordered.index, dtype=float).reindex(pvalues.index)
    return out.mask(pvalues.isna())


def compare_to_baseline(wide: pd.DataFrame, *, baseline: str, mode: str = "min") -> pd.DataFrame:
    """Each other arm against `baseline`, paired by seed (only seeds both arms have).

    Columns: seeds, improvement_pct (positive: better than the baseline) with its Fieller
    CI (improvement_low/high), mean_diff (arm - baseline), cohen_d (paired d_z), t_p and
    wilcoxon_p (two-sided; the Wilcoxon p exact), constant (the differences are), and the
    Holm-adjusted p-values over every compared arm (t_p_holm, wilcoxon_p_holm).
    """
    if mode not in tuple(Mode):
        raise ValueError(f"mode must be one of {', '.join(Mode)}, not {mode!r}")
    if baseline not in wide.columns:
        raise KeyError(
            f"baseline arm '{baseline}' not found; arms: {', '.join(map(str, wide.columns))}"
        )
    rows = []
    for arm in wide.columns.drop(baseline):
        pair = wide[[arm, baseline]].dropna()
        a, b = pair[arm].to_numpy(dtype=float), pair[baseline].to_numpy(dtype=float)
        low, high = improvement_interval(a, b, mode=mode)
        rows.append(
            {
                "arm": arm,
                "seeds": len(pair),
                "improvement_pct": float(improvement_pct(a, b, mode=mode)) if len(pair) else np.nan,
                "improvement_low": float(low),
                "improvement_high": float(high),
                "mean_diff": float(np.mean(a - b)) if len(pair) else np.nan,
                **paired_tests(a, b),
            }
        )
    table = pd.DataFrame(rows, columns=["arm", "seeds", "improvement_pct"]).set_index("arm")
    if rows:
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
    tie_sizes = np.concatenate(
        [row.value_counts().to_numpy(dtype=float) for _, row in ranks.iterrows()]
    )
    ties = float((tie_sizes**3 - tie_sizes).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    return 12 * s / denominator if denominator > 0 else np.nan
