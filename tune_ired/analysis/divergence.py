"""How each seed's state counts in a comparison: a divergence as a failure, a missing result never as an excuse.

The seeds' states (`tune_ired.analysis.arms.SeedState`: finished, diverged, unfinished,
no_result, invalid) are decided once, in the per-seed table. Here they become numbers:

- DIVERGENCE_RULE: a diverged seed's final value is its *penalty*, the worse of what the
  trivial predictor scores (predicting zero, from the seed's own config:
  `tune_ired.record.catalogue.trivial_score`) and the worst finite final value of the two arms
  compared. It depends on the pair alone, so no third arm changes a comparison, and a
  divergence costs at least as much as doing nothing, not merely the baseline's worst seed.
  Per-arm tables and learning curves use the same rule with the arm and the baseline.
- PAIRING_RULE: a comparison pairs the seeds where both arms have an outcome (finished or
  diverged), judged twice: with diverged seeds scored so, and on the seeds both finished.
  MEETS needs every seed the arm ran finished or diverged and paired with a baseline
  outcome, so neither the arm's unfinished seeds nor the baseline's missing ones can hide
  the arm's failures; MISSES may be stated on the paired seeds.

    from tune_ired.analysis.divergence import compare_counting_divergence, score_finals
    scored, penalties = score_finals(finals, metric="val/mse", mode="min", baseline="none")
    table = compare_counting_divergence(finals, metric="val/mse", baseline="none", mode="min")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tune_ired.analysis.arms import PAIRED_STATES, SeedState
from tune_ired.analysis.intervals import VIEW_KEYS
from tune_ired.analysis.stats import paired_row, with_holm
from tune_ired.record.catalogue import Mode, as_mode, metric_info

DIVERGENCE_RULE = (
    "a diverged seed counts as a failure: its final value is the worse of what the trivial predictor "
    "(predicting zero) scores under the seed's own config and the worst finite final value of the two "
    "arms compared (in per-arm tables and learning curves: its arm and the baseline; in curves from its "
    "divergence on, at each evaluation), so no third arm changes a comparison; it never reaches a "
    "steps-to-threshold target"
)
PAIRING_RULE = (
    "a comparison pairs the seeds where both arms finished or diverged and is judged twice, with "
    "diverged seeds scored by the rule and on the seeds both finished, taking the worse; MEETS needs "
    "every seed the arm ran finished or diverged and paired with a baseline result (an arm's own "
    "failures are never excused by the baseline's missing data); fewer than 3 paired seeds give no verdict"
)
SCORE = "score"  # the column of a seed's final metric under the rule (what every statistic reads)
FINISHED_VIEW = "finite_"  # prefix of the finished-seeds view's columns
STATE_WORDS = {
    SeedState.FINISHED: "finished",
    SeedState.DIVERGED: "diverged",
    SeedState.UNFINISHED: "unfinished",
    SeedState.NO_RESULT: "no result",
    SeedState.INVALID: "invalid",
}


def worst_finite(values: pd.Series | np.ndarray, *, mode: Mode | str) -> float:
    """The worst finite value (the largest when minimising, the smallest when maximising); NaN when none."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return np.nan
    return float(finite.max() if as_mode(mode) is Mode.MIN else finite.min())


def worse_of(a, b, *, mode: Mode | str):
    """Elementwise the worse of two values for `mode`, ignoring NaN (NaN only where both are)."""
    pick = np.fmax if as_mode(mode) is Mode.MIN else np.fmin
    return pick(a, b)


def scores(finals: pd.DataFrame, arms, *, metric: str, mode: Mode | str) -> pd.Series:
    """SCORE of the rows of `finals` whose arm is in `arms`: finished and unfinished seeds their value, a
    diverged seed its penalty (the worse of its trivial score and the worst finished value of `arms`),
    seeds without a result or with an invalid value NaN."""
    rows = finals[finals["arm"].astype(str).isin([str(a) for a in arms])]
    column = "final/" + metric
    values = rows[column].astype(float) if column in rows else pd.Series(np.nan, index=rows.index)
    state = rows["state"]
    worst = worst_finite(values[state == SeedState.FINISHED], mode=mode)
    penalty = worse_of(rows["trivial"].astype(float), worst, mode=mode)
    kept = state.isin([SeedState.FINISHED, SeedState.UNFINISHED])
    return values.where(kept).mask(state == SeedState.DIVERGED, penalty).rename(SCORE)


def score_finals(
    finals: pd.DataFrame, *, metric: str, mode: Mode | str, baseline: str | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """The per-seed table with SCORE, each arm's diverged seeds scored against that arm and the baseline.

    Also returns each arm's penalty (the score of its diverged seeds; NaN without a finite
    value to score by, e.g. an unknown trivial score and no finished seed).
    """
    parts, penalties = [], {}
    for arm in sorted(finals["arm"].astype(str).unique()):
        pair = {arm} if baseline is None else {arm, str(baseline)}
        own = scores(finals, pair, metric=metric, mode=mode)
        own = own[finals.loc[own.index, "arm"].astype(str) == arm]
        parts.append(own)
        diverged = own[finals.loc[own.index, "state"] == SeedState.DIVERGED]
        penalties[arm] = worst_finite(diverged, mode=mode)
    scored = finals.assign(**{SCORE: pd.concat(parts).reindex(finals.index)})
    return scored, pd.Series(penalties, dtype=float, name="penalty")


def state_counts(finals: pd.DataFrame) -> pd.DataFrame:
    """Per arm: seeds (those with a result: every state but no_result), then one count per SeedState."""
    counts = pd.crosstab(finals["arm"].astype(str), finals["state"])
    counts = counts.reindex(columns=list(SeedState), fill_value=0).astype(int)
    counts.columns = [str(state) for state in SeedState]
    counts.insert(0, "seeds", counts.sum(axis=1) - counts[SeedState.NO_RESULT])
    counts.index.name = "arm"
    return counts


def seed_list(seeds) -> str:
    """'3-5', '0, 2, 7': a compact list of seed numbers."""
    seeds, runs = sorted(int(s) for s in seeds), []
    for seed in seeds:
        if runs and seed == runs[-1][1] + 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return ", ".join(
        f"{a}-{b}" if b > a + 1 else (f"{a}, {b}" if b > a else f"{a}") for a, b in runs
    )


def states_text(states: pd.Series) -> str:
    """'all diverged', or '2 diverged, 1 finished'."""
    counts = states.map(STATE_WORDS).value_counts()
    if len(counts) == 1:
        return f"all {counts.index[0]}" if counts.iloc[0] > 1 else counts.index[0]
    return ", ".join(f"{n} {word}" for word, n in counts.items())


def pair_frame(finals: pd.DataFrame, arm: str, baseline: str, *, metric: str, mode: Mode):
    """Per seed of either arm: each arm's state and score (a seed an arm ran twice, in two trials of the
    same config, counts once: its first trial's)."""
    rows = finals[finals["arm"].astype(str).isin([arm, baseline])]
    scored = rows.assign(**{SCORE: scores(finals, [arm, baseline], metric=metric, mode=mode)})
    sides = {}
    for side, name in (("arm", arm), ("base", baseline)):
        own = scored[scored["arm"].astype(str) == name].set_index("seed")[["state", SCORE]]
        sides[side] = own[~own.index.duplicated()]
    pair = sides["arm"].join(sides["base"], how="outer", suffixes=("_arm", "_base"))
    return pair.sort_index()


def view_row(pair: pd.DataFrame, used: pd.Series, *, mode: Mode, family: int) -> dict:
    """`stats.paired_row` over the seeds `used`, diverged seeds' penalties marked."""
    view = pair[used]
    a, b = view[SCORE + "_arm"].to_numpy(float), view[SCORE + "_base"].to_numpy(float)
    marks = {
        "arm_penalty": (view["state_arm"] == SeedState.DIVERGED).to_numpy(),
        "base_penalty": (view["state_base"] == SeedState.DIVERGED).to_numpy(),
    }
    return paired_row(a, b, mode=mode, family=family, **marks)


def pairing_texts(pair: pd.DataFrame, arm: str, baseline: str) -> dict[str, str]:
    """Why seeds were left out of the comparison, and why MEETS is out of reach ('' when it is not)."""
    arm_state, base_state = pair["state_arm"], pair["state_base"]
    has_arm, has_base = arm_state.isin(PAIRED_STATES), base_state.isin(PAIRED_STATES)
    ran = arm_state.notna()
    texts = {"meets_block": [], "left_out": []}
    for label, left, owner, note in (
        (arm, ran & ~has_arm, arm_state, ""),
        (arm, has_arm & ~has_base, arm_state, ", no baseline result to pair with"),
        (baseline, base_state.notna() & ~base_state.isin(PAIRED_STATES), base_state, ""),
    ):
        if left.any():
            texts["left_out"].append(
                f"{label} {seed_list(pair.index[left])} ({states_text(owner[left])}{note})"
            )
    unfinished = ran & ~has_arm & (arm_state != SeedState.INVALID)
    unpaired = has_arm & ~has_base
    total = int(ran.sum())
    if unfinished.any():
        texts["meets_block"].append(
            f"{unfinished.sum()} of {arm}'s {total} seeds ({seed_list(pair.index[unfinished])}: "
            f"{states_text(arm_state[unfinished])}) did not finish or diverge"
        )
    if unpaired.any():
        texts["meets_block"].append(
            f"{unpaired.sum()} of {arm}'s {total} seeds ({seed_list(pair.index[unpaired])}, "
            f"{states_text(arm_state[unpaired])}) have no baseline result to pair with"
        )
    return {key: "; ".join(parts) for key, parts in texts.items()}


def invalid_text(finals: pd.DataFrame, arms, *, metric: str) -> str:
    """Names each invalid value of `arms` (arm, seed, value) and the metric's valid range; '' when none."""
    rows = finals[finals["arm"].astype(str).isin(arms) & (finals["state"] == SeedState.INVALID)]
    if rows.empty:
        return ""
    low, high = metric_info(metric).valid
    values = ", ".join(
        f"{a} seed {s}: {v:g}"
        for a, s, v in zip(rows["arm"], rows["seed"], rows["final/" + metric], strict=True)
    )
    return f"{metric} outside its valid range [{low:g}, {high:g}] ({values})"


def count_columns(finals: pd.DataFrame, arm: str, baseline: str) -> dict[str, int]:
    """arm_<state> and baseline_<state> counts (and arm_seeds, baseline_seeds: those with a result)."""
    counts = state_counts(finals)
    out = {}
    for prefix, name in (("arm", arm), ("baseline", baseline)):
        own = counts.loc[name] if name in counts.index else pd.Series(0, index=counts.columns)
        out |= {f"{prefix}_{column}": int(own[column]) for column in counts.columns}
    return out


def penalty_columns(pair: pd.DataFrame, arm_trivial: pd.Series, *, mode: Mode) -> dict[str, float]:
    """penalty (the arm's diverged seeds' score), pair_worst (the pair's worst finished value) and
    trivial (the trivial predictor's score of the arm's diverged seeds); NaN where there is none."""
    diverged = pair[SCORE + "_arm"].where(pair["state_arm"] == SeedState.DIVERGED)
    finished = [
        pair[SCORE + side].where(pair["state" + side] == SeedState.FINISHED)
        for side in ("_arm", "_base")
    ]
    return {
        "penalty": worst_finite(diverged, mode=mode),
        "pair_worst": worst_finite(pd.concat(finished), mode=mode),
        "trivial": worst_finite(arm_trivial, mode=mode),
    }


def compare_pair(
    finals: pd.DataFrame, arm: str, baseline: str, *, metric: str, mode: Mode, family: int
) -> dict:
    """One row of `compare_counting_divergence` (it reads the pair's rows of `finals` only)."""
    pair = pair_frame(finals, arm, baseline, metric=metric, mode=mode)
    states = pair["state_arm"], pair["state_base"]
    outcome = states[0].isin(PAIRED_STATES) & states[1].isin(PAIRED_STATES)
    finished = (states[0] == SeedState.FINISHED) & (states[1] == SeedState.FINISHED)
    clean = view_row(pair, finished, mode=mode, family=family)
    own = finals[(finals["arm"].astype(str) == arm) & (finals["state"] == SeedState.DIVERGED)]
    return {
        **view_row(pair, outcome, mode=mode, family=family),
        **{FINISHED_VIEW + key: clean[key] for key in VIEW_KEYS},
        **count_columns(finals, arm, baseline),
        **penalty_columns(pair, own["trivial"], mode=mode),
        "invalid": invalid_text(finals, [arm, baseline], metric=metric),
        **pairing_texts(pair, arm, baseline),
    }


def compare_counting_divergence(
    finals: pd.DataFrame,
    *,
    metric: str,
    baseline: str,
    mode: Mode | str,
    family: int | None = None,
) -> pd.DataFrame:
    """Each other arm against `baseline` under the pairing and divergence rules, one row per arm.

    Columns: the penalty view's (`intervals.view_columns`: seeds, improvement_pct and its
    per-comparison CI, the deciding Fieller and log-scale intervals at the Bonferroni level
    of `family` comparisons, default every compared arm, and the flags) with the paired
    tests, Holm-adjusted over the rows; the finished-seeds view's as finite_<column>;
    arm_<state> and baseline_<state> counts; penalty (the arm's diverged seeds' score),
    pair_worst (the pair's worst finished value) and trivial (the arm's trivial score);
    invalid, meets_block and left_out (texts, '' when there is nothing to say).
    """
    mode = as_mode(mode)
    arms = sorted(a for a in finals["arm"].astype(str).unique() if a != str(baseline))
    if str(baseline) not in set(finals["arm"].astype(str)):
        raise KeyError(
            f"baseline arm '{baseline}' not found; arms: {', '.join(map(str, sorted(finals['arm'].unique())))}"
        )
    family = family or len(arms)
    rows = [
        compare_pair(finals, arm, str(baseline), metric=metric, mode=mode, family=family)
        for arm in arms
    ]
    return with_holm(pd.DataFrame(rows, index=pd.Index(arms, name="arm")))


def score_curves(
    curves: pd.DataFrame,
    finals: pd.DataFrame,
    *,
    mode: Mode | str,
    trivial: pd.Series,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Long curves (arm, trial_id, seed, step, value) with each diverged seed scored by the rule.

    From its divergence (its diverged_step, or its first evaluation without a finite value
    if that is earlier) to its arm's last evaluation, a diverged seed's value is the worse of
    its trivial score (`trivial`, by trial_id) and the worst finite value at that step of
    its own arm and the baseline. Adds a bool column 'diverged' (True on the scored rows).
    """
    out = curves.assign(diverged=False)
    failed = finals.loc[finals["diverged"], ["arm", "trial_id", "seed", "diverged_step"]]
    if failed.empty or curves.empty:
        return out
    scored_rows, drop = [], pd.Series(False, index=curves.index)
    for arm, trial_id, seed, step in failed.itertuples(index=False):
        pair = curves[curves["arm"].astype(str).isin({str(arm), str(baseline)})]
        worst_at = pair.groupby("step")["value"].agg("max" if as_mode(mode) is Mode.MIN else "min")
        own = (curves["arm"] == arm) & (curves["seed"] == seed)
        last_finite = curves.loc[own, "step"].max() if own.any() else -np.inf
        after = worst_at.index[worst_at.index > last_finite]
        start = min(step if np.isfinite(step) else np.inf, after.min() if len(after) else np.inf)
        drop |= own & (curves["step"] >= start)
        values = worse_of(
            worst_at[worst_at.index >= start], trivial.get(trial_id, np.nan), mode=mode
        )
        scored_rows += [
            {"arm": arm, "trial_id": trial_id, "seed": seed, "step": s, "value": v}
            for s, v in values.items()
        ]
    scored = pd.DataFrame(scored_rows, columns=list(curves.columns)).assign(diverged=True)
    out = pd.concat([out[~drop], scored], ignore_index=True) if len(scored) else out[~drop]
    return out.sort_values(["arm", "seed", "step"], ignore_index=True)
