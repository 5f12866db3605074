"""Arms and seeds: turn the loader's trial, curve and per-seed tables into per-(arm, seed) tables.

An *arm* is a trial config without its seed. Multi-seed trials (`num_seeds` > 1) hold all
the seeds of one arm; single-seed studies have one trial per seed, told apart by
`config/seed`. Both become the same long tables here, so the statistics and figures never
care which design a sweep used. The tables themselves come from `tune_ired.record.results`.

Each (arm, seed) gets one state (`SeedState`), decided once here (`seed_states`) and read
by every table, comparison and figure: finished, diverged, unfinished, no_result, invalid.

    from tune_ired.analysis.arms import label_arms, seed_finals, seed_curves
    trials = label_arms(trials)                 # adds the 'arm' column
    finals = seed_finals(trials, per_seed)      # arm, seed, trial_id, state, diverged, final/..., best/...
    curves = seed_curves(trials, curves, "val/mse")   # arm, seed, step, value
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from tune_ired.record import sweepfile
from tune_ired.record.catalogue import STEP, Mode, TrialStatus, as_mode, metric_info, trivial_score

CONFIG = "config/"
SEED_KEYS = ("seed", "num_seeds")  # config keys that pick seeds, not arms
ALL_ARMS = "all"  # the label of the one arm of a sweep whose trials share one config
FINAL_STEP = "final/" + STEP
# the trial statuses of a trial that trained its budget, or that its own plateau rule ended
TRAINED = (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED, TrialStatus.DIVERGED)


class SeedState(StrEnum):
    """Where one seed of an arm stands for the judged metric (one closed list, decided in `seed_states`)."""

    FINISHED = (
        "finished"  # trained its budget (or its plateau rule ended it), a finite, valid value
    )
    DIVERGED = "diverged"  # flagged diverged, or it reported and its final value is not finite
    UNFINISHED = "unfinished"  # reported, but its trial did not train its budget: not comparable
    NO_RESULT = "no_result"  # no report at all (errored before its first, or pending)
    INVALID = "invalid"  # finished with a value outside the metric's valid range (a negative MSE)


# the states with an outcome: what a comparison pairs
PAIRED_STATES = (SeedState.FINISHED, SeedState.DIVERGED)


def arm_keys(trials: pd.DataFrame) -> list[str]:
    """Config keys (without 'config/') whose values differ between trials, seed keys excepted."""
    keys = []
    for column in trials.columns:
        key = column.removeprefix(CONFIG)
        if (
            column.startswith(CONFIG)
            and key not in SEED_KEYS
            and trials[column].astype(str).nunique() > 1
        ):
            keys.append(key)
    return keys


def format_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def label_arms(trials: pd.DataFrame) -> pd.DataFrame:
    """The trial table with an 'arm' column: the varying config value(s), e.g. 'adversarial' or 'k=1 j=2'."""
    keys = arm_keys(trials)
    out = trials.copy()
    if not keys:
        out["arm"] = ALL_ARMS
    elif len(keys) == 1:
        out["arm"] = out[CONFIG + keys[0]].map(format_value)
    else:
        out["arm"] = out.apply(
            lambda row: " ".join(f"{k}={format_value(row[CONFIG + k])}" for k in keys), axis=1
        )
    return out


def resolve_arm(name: str, arms) -> str:
    """The arm called `name` (an exact label, or the value part of a unique 'key=value' label)."""
    arms = [str(a) for a in arms]
    if name in arms:
        return name
    matches = [a for a in arms if name in (part.partition("=")[2] for part in a.split())]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise KeyError(
            f"'{name}' names several arms ({', '.join(matches)}); give one label in full"
        )
    raise KeyError(f"no arm named '{name}'; arms: {', '.join(arms)}")


def seed_divergence(seeds: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """Per seed: diverged (bool) and diverged_step (NaN when not diverged); the one place this is decided.

    The loader's own `diverged` / `diverged_step` columns when present. Older folders have
    none: a seed diverged when its trial's status says so, or when it reported and its
    final `metric` is not finite; its step is then its last report's.
    """
    if "diverged" in seeds:
        diverged = seeds["diverged"].astype("boolean").fillna(False).astype(bool)
        step = (
            seeds["diverged_step"]
            if "diverged_step" in seeds
            else pd.Series(np.nan, index=seeds.index)
        )
    else:
        final = "final/" + metric
        reported = (
            seeds["final/step"].notna()
            if "final/step" in seeds
            else pd.Series(False, index=seeds.index)
        )
        values = (
            seeds[final].astype(float) if final in seeds else pd.Series(np.nan, index=seeds.index)
        )
        diverged = (seeds["status"] == TrialStatus.DIVERGED) | (reported & ~np.isfinite(values))
        step = (
            seeds["final/step"] if "final/step" in seeds else pd.Series(np.nan, index=seeds.index)
        )
    return pd.DataFrame({"diverged": diverged, "diverged_step": step.astype(float).where(diverged)})


def seed_states(seeds: pd.DataFrame, *, metric: str) -> pd.Series:
    """The SeedState of each row (arm, seed) of a per-seed table, for the final `metric`.

    Reads `diverged` (from `seed_divergence`), `status` (the trial's), `final/step` (when
    present: whether the seed reported; else a value that is not NaN counts as a report,
    so an unflagged inf is a divergence) and the final value, checked against the metric's
    valid range (`tune_ired.record.catalogue`).
    """
    final = "final/" + metric
    values = seeds[final].astype(float) if final in seeds else pd.Series(np.nan, index=seeds.index)
    reported = seeds[FINAL_STEP].notna() if FINAL_STEP in seeds else values.notna()
    diverged = seeds["diverged"].astype(bool) | (reported & ~np.isfinite(values))
    low, high = metric_info(metric).valid if metric_info(metric) else (-np.inf, np.inf)
    trained = seeds["status"].isin(TRAINED) if "status" in seeds else True
    states = np.select(
        [diverged, ~reported, ~trained, (values < low) | (values > high)],
        [SeedState.DIVERGED, SeedState.NO_RESULT, SeedState.UNFINISHED, SeedState.INVALID],
        default=SeedState.FINISHED,
    )
    return pd.Series(states, index=seeds.index, name="state")


def trivial_scores(table: pd.DataFrame, metric: str) -> pd.Series:
    """Per row of a table with config/ columns: what the trivial predictor scores on `metric` under that
    row's own config (`catalogue.trivial_score`; NaN where unknown)."""
    configs = table.filter(like=CONFIG).rename(columns=lambda c: c.removeprefix(CONFIG))
    scores = [trivial_score(metric, row.dropna().to_dict()) for _, row in configs.iterrows()]
    return pd.Series(scores, index=table.index, dtype=float, name="trivial")


def check_metric(seeds: pd.DataFrame, metric: str) -> None:
    """KeyError naming `metric` when seeds reported but none of their reports holds it (a metric that is
    not recorded per seed, or a typo): every seed would otherwise look diverged."""
    reported = seeds[FINAL_STEP].notna().any() if FINAL_STEP in seeds else False
    if reported and "final/" + metric not in seeds:
        keys = sorted(c.removeprefix("final/") for c in seeds.columns if c.startswith("final/"))
        raise KeyError(
            f"metric '{metric}' is in no seed's final report; the per-seed metrics are: "
            + ", ".join(k for k in keys if k != STEP)
        )


def seed_finals(
    trials: pd.DataFrame, seeds: pd.DataFrame, *, metric: str = sweepfile.DEFAULT_METRIC
) -> pd.DataFrame:
    """One row per (arm, seed): arm, trial_id, status, seed, state, diverged, diverged_step, step, trivial,
    final/ and best/ metrics.

    `seeds` is the loader's per-seed table (`tune_ired.record.results`, one row per seed of each
    trial); `metric` decides the states (`seed_states`; `diverged` is the DIVERGED state,
    an unflagged non-finite report included). `step` is the seed's last reported step (its
    divergence's for a diverged seed); `trivial` what the trivial predictor scores on
    `metric` under the seed's config (`trivial_scores`).
    """
    check_metric(seeds, metric)
    labelled = trials if "arm" in trials else label_arms(trials)
    merged = seeds.merge(labelled[["trial_id", "arm"]], on="trial_id", how="left")
    merged[["diverged", "diverged_step"]] = seed_divergence(merged, metric=metric)
    merged["state"] = seed_states(merged, metric=metric)
    diverged = merged["state"] == SeedState.DIVERGED
    last = merged[FINAL_STEP] if FINAL_STEP in merged else pd.Series(np.nan, index=merged.index)
    merged["diverged"] = diverged
    merged["diverged_step"] = merged["diverged_step"].fillna(last).where(diverged)
    merged["step"] = merged["diverged_step"].where(diverged, last).astype(float)
    merged["trivial"] = trivial_scores(merged, metric)
    metrics = [c for c in merged.columns if c.startswith(("final/", "best/"))]
    columns = ["arm", "trial_id", "status", "seed", "state", "diverged", "diverged_step", "step"]
    columns += ["trivial", *metrics]
    return merged[columns].sort_values(["arm", "seed"], ignore_index=True)


def seed_curves(trials: pd.DataFrame, curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long learning curves of `metric`: arm, trial_id, seed, step, value (per-seed columns when present)."""
    labelled = trials if "arm" in trials else label_arms(trials)
    arms = labelled.set_index("trial_id")["arm"]
    prefix, suffix = "seed/", "/" + metric
    per_seed = [c for c in curves.columns if c.startswith(prefix) and c.endswith(suffix)]
    if per_seed:
        long = curves.melt(
            id_vars=["trial_id", "step"], value_vars=per_seed, var_name="seed", value_name="value"
        )
        long["seed"] = long["seed"].str.removeprefix(prefix).str.removesuffix(suffix).astype(int)
    elif metric in curves.columns:
        long = curves[["trial_id", "step", metric]].rename(columns={metric: "value"})
        seeds = labelled.set_index("trial_id").get(CONFIG + "seed")
        long["seed"] = long["trial_id"].map(seeds) if seeds is not None else 0
    else:
        return pd.DataFrame(columns=["arm", "trial_id", "seed", "step", "value"])
    long["arm"] = long["trial_id"].map(arms)
    long = long.dropna(subset=["value"])
    return long[["arm", "trial_id", "seed", "step", "value"]].sort_values(
        ["arm", "seed", "step"], ignore_index=True
    )


def steps_to_threshold(
    curves: pd.DataFrame, threshold: float, *, mode: Mode | str = Mode.MIN
) -> pd.DataFrame:
    """Per (arm, seed): the first evaluated step at which the value reaches `threshold` (NaN: never)."""
    minimised = as_mode(mode) is Mode.MIN
    reached = curves["value"] <= threshold if minimised else curves["value"] >= threshold
    first = curves[reached].groupby(["arm", "seed"])["step"].min()
    every = curves.groupby(["arm", "seed"]).size().index
    return first.reindex(every, fill_value=np.nan).rename("steps").reset_index()
