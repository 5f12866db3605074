"""The intervals a verdict decides on: the ratio of an arm's and the baseline's mean final metric.

The estimand is the ratio of arithmetic means mean(arm) / mean(baseline) over seeds paired
by seed, reported as a percent improvement (positive: better). Two intervals estimate it:

- Fieller's (`fieller_ratio`): the ratios r for which a paired t-test of arm - r * baseline
  does not reject; exact for normal seeds, aware of the baseline mean's own uncertainty.
- The log-scale one (`log_ratio_interval`): the same ratio under a lognormal model of the
  seeds, for arms whose seeds are skewed (a few bad seeds). Cox's estimate generalised to
  paired seeds (Zhou, Gao & Hui 1997 for two independent samples): with l = log(value),
  d = l_arm - l_base and the sample (co)variances s_a^2, s_b^2, s_ab of the logs,
  theta = mean(d) + (s_a^2 - s_b^2) / 2 and
  SE^2 = s_d^2 / n + (s_a^4 + s_b^4 - 2 s_ab^2) / (2 (n - 1)). The quantiles of
  (theta - true) / SE come from a parametric bootstrap of the logs (bootstrap-t,
  BOOTSTRAP_T_DRAWS seeded draws shared by every study), calibrated at the log-variances'
  one-sided VARIANCE_GUARD upper confidence bound: the samples that happen to show little
  spread are the ones whose skew a plain plug-in understates. benchmarks/bench_verdicts.py
  prints what Student's t quantile (Cox's method) and the plain plug-in bootstrap-t would
  give instead on skewed arms, and what each costs in power.

Everything works on stacked arrays (..., seeds), so a simulation of thousands of studies
is one call (benchmarks/bench_verdicts.py) and runs the very functions the report runs.
Values are divided by a common scale first (the largest |value| of the pair): 1e200 and
1e-2 give the same interval. `view_columns` is what a verdict reads from one view of a
comparison (`tune_ired.analysis.verdict.judge_view` judges it).

    from tune_ired.analysis.intervals import view_columns
    view = view_columns(arm, base, mode="min", family=3)   # arrays: improvement, both intervals, flags
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats

from tune_ired.record.catalogue import Mode, as_mode

CONFIDENCE = (
    0.95  # the per-comparison level; a study's family of m comparisons decides at 1 - 0.05/m
)
MIN_SEEDS = (
    3  # paired seeds a verdict needs (and the fewest the log-scale interval is defined with)
)
BOOTSTRAP_T_DRAWS = 20_000  # a 0.25% tail (m = 10) still rests on 50 draws
BOOTSTRAP_T_SEED = 20261206
VARIANCE_GUARD = 0.75  # calibrate the bootstrap-t at this one-sided upper confidence bound of s^2
STUDIES_PER_CHUNK = 50  # studies computed together: 50 x BOOTSTRAP_T_DRAWS floats per array
# metrics are float32 on the device: spreads below this fraction of the values (about 8 float32 ulps)
# are rounding, i.e. none; an interval narrower than this fraction of the ratio is of zero width
CONSTANT_SPREAD = 1e-6


FLAGS = ("log_skipped", "no_spread", "singular")  # the boolean columns of `view_columns`
VIEW_KEYS = (  # every column of `view_columns`
    "seeds", "improvement_pct", "improvement_low", "improvement_high", "fieller_low",
    "fieller_high", "log_low", "log_high", *FLAGS,
)  # fmt: skip


def decide_confidence(family: int) -> float:
    """The confidence each of `family` comparisons decides at (Bonferroni: the family errs at most 5%)."""
    return 1 - (1 - CONFIDENCE) / max(int(family), 1)


def common_scale(arm: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """arm and base divided by their largest |value| per study (1 where that is 0 or not finite)."""
    arm, base = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    with np.errstate(invalid="ignore"):
        scale = np.maximum(
            np.abs(arm).max(axis=-1, initial=0.0), np.abs(base).max(axis=-1, initial=0.0)
        )[..., None]
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return arm / scale, base / scale


def improvement_pct(
    arm: np.ndarray, base: np.ndarray, *, mode: Mode | str = Mode.MIN
) -> np.ndarray:
    """How much better the arm's mean is than the baseline's, in percent of the baseline (positive: better).

    Works on the last axis of stacked arrays; NaN where the baseline mean is 0.
    """
    sign = 1.0 if as_mode(mode) is Mode.MIN else -1.0
    arm, base = common_scale(arm, base)
    base_mean, arm_mean = np.mean(base, axis=-1), np.mean(arm, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            base_mean != 0, sign * (base_mean - arm_mean) / np.abs(base_mean) * 100, np.nan
        )


def fieller_ratio(
    arm: np.ndarray, base: np.ndarray, *, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Fieller's `confidence` interval of mean(arm) / mean(base) for seeds paired on the last axis.

    The set of ratios r whose paired t statistic of arm - r * base stays within the t
    quantile: a quadratic in r. Unbounded (-inf, inf) when the baseline mean is not
    clearly away from 0; NaN with fewer than two seeds.
    """
    arm, base = common_scale(arm, base)
    n = arm.shape[-1]
    if n < 2:
        nan = np.full(arm.shape[:-1], np.nan)
        return nan, nan
    q = stats.t.ppf(0.5 + confidence / 2, df=n - 1) ** 2 / n
    mean_a, mean_b = arm.mean(axis=-1), base.mean(axis=-1)
    var_a, var_b, cov = covariances(arm, base)
    quad = mean_b**2 - q * var_b  # the r^2 coefficient: > 0 when the baseline mean is clearly not 0
    lin = mean_a * mean_b - q * cov
    const = mean_a**2 - q * var_a
    root = np.sqrt(np.clip(lin**2 - quad * const, 0.0, None))
    bounded = quad > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(bounded, (lin - root) / quad, -np.inf)
        high = np.where(bounded, (lin + root) / quad, np.inf)
    return low, high


def covariances(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample variances (ddof 1) of a and b and their covariance, over the last axis."""
    n = a.shape[-1]
    da, db = a - a.mean(axis=-1, keepdims=True), b - b.mean(axis=-1, keepdims=True)
    return (da**2).sum(-1) / (n - 1), (db**2).sum(-1) / (n - 1), (da * db).sum(-1) / (n - 1)


def as_improvement(
    ratio_low: np.ndarray, ratio_high: np.ndarray, base: np.ndarray, *, mode: Mode | str
) -> tuple[np.ndarray, np.ndarray]:
    """A ratio interval as an improvement interval in percent (improvement = k * (1 - ratio) * 100).

    k is +-1 from the mode and the sign of the baseline mean; NaN where that mean is 0.
    """
    k = (1.0 if as_mode(mode) is Mode.MIN else -1.0) * np.sign(
        np.mean(common_scale(base, base)[0], axis=-1)
    )
    ends = np.stack([k * (1 - ratio_low) * 100, k * (1 - ratio_high) * 100])
    with np.errstate(invalid="ignore"):
        low, high = ends.min(axis=0), ends.max(axis=0)
    undefined = (k == 0) | np.isnan(ratio_low) | np.isnan(ratio_high)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def improvement_interval(
    arm: np.ndarray,
    base: np.ndarray,
    *,
    mode: Mode | str = Mode.MIN,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Fieller's `confidence` interval of `improvement_pct`, on the last axis."""
    return as_improvement(*fieller_ratio(arm, base, confidence=confidence), base, mode=mode)


@lru_cache(maxsize=32)
def bootstrap_draws(seeds: int) -> tuple[np.ndarray, ...]:
    """Shared draws for `seeds` paired seeds: a Wishart(n - 1, I) matrix (w11, w12, w22, Bartlett's
    decomposition) and two standard normals (u_a, u_b) per draw; seeded."""
    rng = np.random.default_rng([BOOTSTRAP_T_SEED, seeds])
    nu = seeds - 1
    c1, c2 = rng.chisquare(nu, BOOTSTRAP_T_DRAWS), rng.chisquare(nu - 1, BOOTSTRAP_T_DRAWS)
    z = rng.standard_normal(BOOTSTRAP_T_DRAWS)
    u = rng.standard_normal((2, BOOTSTRAP_T_DRAWS))
    return c1, np.sqrt(c1) * z, z**2 + c2, u[0], u[1]


def cox_se(n: int, var_a, var_b, cov) -> np.ndarray:
    """Cox's standard error of mean(d) + (s_a^2 - s_b^2) / 2 for paired log values (see the module)."""
    spread = (var_a + var_b - 2 * cov) / n + (var_a**2 + var_b**2 - 2 * cov**2) / (2 * (n - 1))
    return np.sqrt(np.clip(spread, 0.0, None))


def pivot_quantiles(n: int, var_a, var_b, cov, *, confidence: float) -> tuple[np.ndarray, ...]:
    """Quantiles (1 - confidence)/2 and (1 + confidence)/2 of the studentized Cox estimate under
    bivariate normal logs with these (co)variances (1-d arrays over studies), by the bootstrap-t."""
    w11, w12, w22, u_a, u_b = bootstrap_draws(n)
    nu = n - 1
    l11 = np.sqrt(var_a)[:, None]
    l21 = np.where(l11 > 0, cov[:, None] / np.where(l11 > 0, l11, 1.0), 0.0)
    l22 = np.sqrt(np.clip(var_b[:, None] - l21**2, 0.0, None))
    s_aa = l11**2 * w11 / nu
    s_ab = l11 * (l21 * w11 + l22 * w12) / nu
    s_bb = (l21**2 * w11 + 2 * l21 * l22 * w12 + l22**2 * w22) / nu
    mean_d = (l11 * u_a - l21 * u_a - l22 * u_b) / np.sqrt(n)
    error = mean_d + (s_aa - s_bb) / 2 - ((var_a - var_b) / 2)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        pivot = error / cox_se(n, s_aa, s_bb, s_ab)
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        return tuple(np.quantile(pivot, [tail, 1 - tail], axis=1))


def log_ratio_interval(
    arm: np.ndarray,
    base: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    guard: float | None = VARIANCE_GUARD,
) -> tuple[np.ndarray, np.ndarray]:
    """The log-scale `confidence` interval of mean(arm) / mean(base) (see the module docstring).

    The bootstrap-t is calibrated at the log-variances' one-sided `guard` upper confidence
    bound (None: at the sample's own, the plain plug-in). NaN where a value is not
    positive (no logarithm) or with fewer than MIN_SEEDS seeds.
    """
    arm, base = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    n, shape = arm.shape[-1], arm.shape[:-1]
    low, high = np.full(shape, np.nan), np.full(shape, np.nan)
    defined = (arm > 0).all(axis=-1) & (base > 0).all(axis=-1)
    if n < MIN_SEEDS or not defined.any():
        return low, high
    log_a, log_b = np.log(arm[defined]), np.log(base[defined])
    var_a, var_b, cov = covariances(log_a, log_b)
    theta = (log_a - log_b).mean(axis=-1) + (var_a - var_b) / 2
    se = cox_se(n, var_a, var_b, cov)
    scale = 1.0 if guard is None else (n - 1) / stats.chi2.ppf(1 - guard, n - 1)
    ends = []
    for part in np.array_split(np.arange(len(theta)), max(1, len(theta) // STUDIES_PER_CHUNK)):
        q_low, q_high = pivot_quantiles(
            n, scale * var_a[part], scale * var_b[part], scale * cov[part], confidence=confidence
        )
        ends.append((theta[part] - q_high * se[part], theta[part] - q_low * se[part]))
    low[defined] = np.exp(np.concatenate([lo for lo, _ in ends]))
    high[defined] = np.exp(np.concatenate([hi for _, hi in ends]))
    return low, high


def log_improvement_interval(
    arm: np.ndarray,
    base: np.ndarray,
    *,
    mode: Mode | str = Mode.MIN,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray]:
    """The log-scale `confidence` interval of `improvement_pct` (NaN where it is undefined)."""
    return as_improvement(*log_ratio_interval(arm, base, confidence=confidence), base, mode=mode)


def spread_flags(arm: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(no_spread, singular) per study: neither arm's seeds spread (beyond float32 rounding), or the arm's
    values are an exact linear function of the baseline's (their covariance is singular)."""
    arm, base = common_scale(arm, base)
    var_a, var_b, cov = covariances(arm, base)
    tiny = CONSTANT_SPREAD**2
    none = (var_a <= tiny) & (var_b <= tiny)
    with np.errstate(invalid="ignore"):
        singular = (
            ~none
            & (var_a > tiny)
            & (var_b > tiny)
            & (var_a * var_b - cov**2 <= tiny * var_a * var_b)
        )
    return none, singular


def zero_width(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Intervals (in percent improvement) narrower than CONSTANT_SPREAD of the ratio they bound."""
    ratio = np.maximum(np.abs(1 - low / 100), np.abs(1 - high / 100))
    with np.errstate(invalid="ignore"):
        width = (high - low) / 100
        return np.isfinite(width) & (width <= CONSTANT_SPREAD * ratio)


def log_skippable(
    arm, base, *, mode: Mode | str, arm_penalty=None, base_penalty=None
) -> np.ndarray:
    """Where the log-scale interval is undefined (a value <= 0) only through values that count against the
    arm: its own at the floor of a maximised metric, the baseline's at 0 for a minimised one, or a diverged
    seed's penalty (the finished-seeds view, which leaves it out, is judged in full)."""
    arm, base = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    arm_penalty = np.zeros(arm.shape, bool) if arm_penalty is None else np.asarray(arm_penalty)
    base_penalty = np.zeros(base.shape, bool) if base_penalty is None else np.asarray(base_penalty)
    maximised = as_mode(mode) is Mode.MAX
    excused_arm = (arm > 0) | maximised | arm_penalty
    excused_base = (base > 0) | (not maximised) | base_penalty
    undefined = ((arm <= 0) | (base <= 0)).any(axis=-1)
    return undefined & (excused_arm & excused_base).all(axis=-1)


def view_columns(
    arm: np.ndarray,
    base: np.ndarray,
    *,
    mode: Mode | str,
    family: int = 1,
    arm_penalty: np.ndarray | None = None,
    base_penalty: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """What a verdict reads from one view of a comparison (stacked (..., seeds) arrays, paired).

    seeds; improvement_pct with its per-comparison CONFIDENCE Fieller interval
    (improvement_low/high); the intervals that decide, at `decide_confidence(family)`:
    Fieller's (fieller_low/high) and the log-scale one (log_low/high, NaN where undefined);
    log_skipped (undefined only through values that count against the arm, see
    `log_skippable`); no_spread and singular (`spread_flags`, or a deciding interval of
    zero width). `arm_penalty`/`base_penalty` mark the values that are diverged seeds' penalties.
    """
    arm, base = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    if arm.shape[-1] < 2:  # nothing to estimate a spread from
        nan, no = np.full(arm.shape[:-1], np.nan), np.zeros(arm.shape[:-1], bool)
        columns = dict.fromkeys(VIEW_KEYS, nan) | dict.fromkeys(FLAGS, no)
        return columns | {"seeds": np.full(arm.shape[:-1], arm.shape[-1])}
    confidence = decide_confidence(family)
    low, high = improvement_interval(arm, base, mode=mode)
    f_low, f_high = improvement_interval(arm, base, mode=mode, confidence=confidence)
    l_low, l_high = log_improvement_interval(arm, base, mode=mode, confidence=confidence)
    none, singular = spread_flags(arm, base)
    defined_log = ~np.isnan(l_low)
    flat = zero_width(f_low, f_high) | (defined_log & zero_width(l_low, l_high))
    return {
        "seeds": np.full(arm.shape[:-1], arm.shape[-1]),
        "improvement_pct": improvement_pct(arm, base, mode=mode),
        "improvement_low": low,
        "improvement_high": high,
        "fieller_low": f_low,
        "fieller_high": f_high,
        "log_low": l_low,
        "log_high": l_high,
        "log_skipped": log_skippable(
            arm, base, mode=mode, arm_penalty=arm_penalty, base_penalty=base_penalty
        ),
        "no_spread": none | (flat & ~singular),
        "singular": singular,
    }
