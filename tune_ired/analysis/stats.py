"""Multi-seed statistics: per-arm summaries, paired-by-seed comparisons against a baseline, rank consistency.

Every function takes a *seed matrix*: a DataFrame with one row per seed and one column per
arm (a trial config with its seeds), holding one metric (e.g. the final `val/mse`). Build
it from the per-seed long table with `seed_matrix`. Randomness (the bootstrap) is seeded
explicitly, so a report is reproducible. The intervals of the improvement over the
baseline (a ratio of means: Fieller's and a log-scale one) are in
`tune_ired.analysis.intervals`; `compare_to_baseline` adds the paired tests.

    from tune_ired.analysis.stats import seed_matrix, summarize_arms, compare_to_baseline
    wide = seed_matrix(per_seed, "val/mse")
    summarize_arms(wide)                          # mean, std, best and worst seed, bootstrap CI per arm
    compare_to_baseline(wide, baseline="none")    # intervals, paired t, exact Wilcoxon, Holm, Cohen's d
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tune_ired.analysis.intervals import CONFIDENCE, CONSTANT_SPREAD, common_scale, view_columns
from tune_ired.record.catalogue import Mode, as_mode

BOOTSTRAP_RESAMPLES = 2000  # enough for stable 95% percentile intervals on a handful of seeds
BOOTSTRAP_SEED = 0  # the bootstrap's own seed: the same data always give the same interval


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
    wide: pd.DataFrame, *, mode: Mode | str = Mode.MIN, seed: int = BOOTSTRAP_SEED
) -> pd.DataFrame:
    """Per arm: seeds, mean, std (ddof 1), best and worst seed (by `mode`) and a bootstrap CI of the mean."""
    minimised = as_mode(mode) is Mode.MIN
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
                "best": lowest if minimised else highest,
                "worst": highest if minimised else lowest,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(
        rows, columns=["arm", "seeds", "mean", "std", "best", "worst", "ci_low", "ci_high"]
    ).set_index("arm")


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
    arm, base = common_scale(arm, base)  # 1e200 tests as 1e-2 does
    diff = arm - base
    if len(diff) < 2:
        return {"t_p": np.nan, "wilcoxon_p": np.nan, "cohen_d": np.nan, "constant": False}
    sd = diff.std(ddof=1)
    constant = bool(sd <= CONSTANT_SPREAD)
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


def compare_to_baseline(
    wide: pd.DataFrame, *, baseline: str, mode: Mode | str = Mode.MIN, family: int | None = None
) -> pd.DataFrame:
    """Each other arm against `baseline`, paired by seed (only seeds both arms have).

    Columns: those of `intervals.view_columns` (seeds, improvement_pct with its
    per-comparison CI, the deciding Fieller and log-scale intervals at the Bonferroni level
    of `family` comparisons, default every compared arm, and the spread flags), family,
    mean_diff (arm - baseline), cohen_d (paired d_z), t_p and wilcoxon_p (two-sided; the
    Wilcoxon p exact), constant (the differences are), and the Holm-adjusted p-values over
    every compared arm (t_p_holm, wilcoxon_p_holm).
    """
    mode = as_mode(mode)
    if baseline not in wide.columns:
        raise KeyError(
            f"baseline arm '{baseline}' not found; arms: {', '.join(map(str, wide.columns))}"
        )
    arms = wide.columns.drop(baseline)
    rows = []
    for arm in arms:
        pair = wide[[arm, baseline]].dropna()
        a, b = pair[arm].to_numpy(dtype=float), pair[baseline].to_numpy(dtype=float)
        rows.append(paired_row(a, b, mode=mode, family=family or len(arms)))
    return with_holm(pd.DataFrame(rows, index=pd.Index(arms, name="arm")))


def paired_row(a: np.ndarray, b: np.ndarray, *, mode: Mode, family: int, **penalties) -> dict:
    """One comparison row of paired seeds: `view_columns` (with `penalties`: arm_penalty, base_penalty),
    family, mean_diff and `paired_tests`."""
    view = view_columns(a, b, mode=mode, family=family, **penalties)
    mean_diff = float(np.mean(a - b)) if len(a) else np.nan
    return {
        **{key: value.item() for key, value in view.items()},
        "family": family,
        "mean_diff": mean_diff,
        **paired_tests(a, b),
    }


def with_holm(table: pd.DataFrame) -> pd.DataFrame:
    """The table with Holm-adjusted t and Wilcoxon p-values over all its rows."""
    if len(table):
        table["t_p_holm"] = holm(table["t_p"])
        table["wilcoxon_p_holm"] = holm(table["wilcoxon_p"])
    return table


def seed_ranks(wide: pd.DataFrame, *, mode: Mode | str = Mode.MIN) -> pd.DataFrame:
    """Rank of each arm within each seed (1 = best; ties get their average rank); seeds missing an arm dropped."""
    return wide.dropna().rank(axis=1, ascending=as_mode(mode) is Mode.MIN, method="average")


def rank_consistency(wide: pd.DataFrame, *, mode: Mode | str = Mode.MIN) -> pd.DataFrame:
    """Per arm: mean rank over seeds and the share of seeds in which it ranks first (ties share the win)."""
    ranks = seed_ranks(wide, mode=mode)
    firsts = ranks.eq(ranks.min(axis=1), axis=0)
    share = firsts.div(firsts.sum(axis=1), axis=0).mean(axis=0)
    return pd.DataFrame({"mean_rank": ranks.mean(axis=0), "share_first": share})


def kendalls_w(wide: pd.DataFrame, *, mode: Mode | str = Mode.MIN) -> float:
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
