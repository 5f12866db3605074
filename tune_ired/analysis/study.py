"""A sweep as a study: its tables (via `tune_ired.results`, no Ray) and the findings the report states.

    from tune_ired.analysis.study import load_study, analyse
    study = load_study("results/strategies")   # trials (with 'arm'), curves, per-seed finals, meta, provenance
    findings = analyse(study, baseline="none")  # summary, comparison, ranks, verdicts, notes

The statistics are over seeds of the final metric (the last evaluation of each seed), a
diverged seed counted as a failure by `tune_ired.analysis.divergence`'s rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_ired import results
from tune_ired.analysis.arms import label_arms, resolve_arm, seed_finals
from tune_ired.analysis.divergence import (
    DIVERGENCE_RULE,
    SCORE,
    compare_counting_divergence,
    divergence_counts,
    score_finals,
)
from tune_ired.analysis.numbers import sig
from tune_ired.analysis.stats import kendalls_w, rank_consistency, seed_matrix, summarize_arms
from tune_ired.analysis.verdict import Verdict, verdicts
from tune_ired.catalogue import TrialStatus

PREFERRED_BASELINE = (
    "none"  # the pure-denoising strategy is the research's baseline when a sweep has it
)
TOP_TRIALS = 5  # rows of the best-trials table


@dataclass
class Study:
    """One sweep folder's tables: trials (with 'arm'), per-iteration curves, per-(arm, seed) finals, sweep.json."""

    folder: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    finals: pd.DataFrame
    metric: str = results.DEFAULT_METRIC
    mode: str = results.DEFAULT_MODE
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def arms(self) -> list[str]:
        return sorted(self.finals["arm"].astype(str).unique())

    @property
    def final_metric(self) -> str:
        return "final/" + self.metric

    @property
    def provenance(self) -> dict[str, Any] | None:
        """sweep.json's record of code, packages, device, host and command (None: an older sweep)."""
        return self.meta.get("provenance")

    @property
    def used_scheduler(self) -> bool:
        """Whether a trial scheduler (ASHA) could stop trials: sweep.json says, else a trial was stopped."""
        if "scheduler" in self.meta:
            return self.meta["scheduler"] is not None
        return bool((self.trials["status"] == TrialStatus.STOPPED).any())


@dataclass
class Findings:
    """What the report states about a study (every table indexed by arm).

    `scored` is the per-seed table with the column 'score' (the final metric, a diverged
    seed's replaced by `worst_final`); `summary`, `ranks` and `comparison` are built on it.
    """

    baseline: str | None
    summary: pd.DataFrame
    comparison: pd.DataFrame | None
    ranks: pd.DataFrame
    kendall_w: float
    verdicts: list[Verdict]
    outcomes: pd.Series
    best_trials: pd.DataFrame
    statuses: pd.Series
    scored: pd.DataFrame
    worst_final: float
    notes: list[str] = field(default_factory=list)


def load_study(folder: str | Path, *, metric: str | None = None, mode: str | None = None) -> Study:
    """Read a sweep folder (raises `results.NotASweepError` naming it when it is not one).

    The metric and mode default to the sweep's own (its sweep.json), else val/mse, min.
    `finals` has one row per (arm, seed): arm, trial_id, status, seed, diverged,
    diverged_step and the seed's final/ and best/ metrics.
    """
    sweep = results.load_sweep(folder)
    metric = metric or sweep.metric
    trials = label_arms(sweep.trials)
    return Study(
        folder=sweep.folder,
        trials=trials,
        curves=sweep.curves,
        finals=seed_finals(trials, sweep.seeds, metric=metric),
        metric=metric,
        mode=mode or sweep.mode,
        meta=sweep.meta,
    )


def pick_baseline(study: Study, requested: str | None) -> str | None:
    """The requested arm, else 'none' when present, else the first arm; None with a single arm."""
    arms = study.arms
    if requested is not None:
        return resolve_arm(requested, arms)
    if len(arms) < 2:
        return None
    return PREFERRED_BASELINE if PREFERRED_BASELINE in arms else arms[0]


def best_arm(study: Study, findings: Findings) -> str | None:
    """The arm with the best mean final metric (diverged seeds scored by the rule); None when none is finite."""
    summary = findings.summary[findings.summary["finite"] > 0]
    if not len(summary):
        return None
    return summary["mean"].idxmin() if study.mode == "min" else summary["mean"].idxmax()


def best_trials(study: Study, scored: pd.DataFrame, *, top: int = TOP_TRIALS) -> pd.DataFrame:
    """The `top` trials by their seeds' mean final metric (diverged seeds scored), with status and seeds.

    No best-evaluation column: a diverged seed's best report came before its failure.
    """
    final = study.final_metric
    per_trial = scored.groupby("trial_id").agg(
        seeds=("seed", "size"), diverged=("diverged", "sum"), **{final: (SCORE, "mean")}
    )
    table = study.trials[["trial_id", "arm", "status"]].join(per_trial, on="trial_id")
    return table.sort_values(final, ascending=study.mode == "min").head(top).reset_index(drop=True)


def study_notes(study: Study, counts: pd.DataFrame, *, worst: float, paired: bool) -> list[str]:
    """Caveats a reader must see next to the numbers: divergence, missing results, unfinished trials."""
    notes = (
        []
        if paired
        else ["Fewer than two seeds or arms: no paired statistics (train several seeds per arm)."]
    )
    diverged = int(counts["diverged"].sum())
    if diverged:
        per_arm = ", ".join(
            f"{arm} {n}/{s}" for arm, n, s in counts[["diverged", "seeds"]].itertuples() if n
        )
        scored_as = (
            f" ({sig(worst)})" if np.isfinite(worst) else " (none: no seed has a finite value)"
        )
        notes.append(
            f"{diverged} seed(s) diverged ({per_arm}). Rule: {DIVERGENCE_RULE}; worst value{scored_as}."
        )
    missing = int(counts["no_result"].sum())
    if missing:
        notes.append(
            f"{missing} seed(s) have no result (no report yet, or errored before one): left out and counted."
        )
    unfinished = study.trials.loc[
        ~study.trials["status"].isin([TrialStatus.COMPLETED, TrialStatus.DIVERGED]), "status"
    ].value_counts()
    if len(unfinished):
        ended = ", ".join(f"{n} {status}" for status, n in unfinished.items())
        notes.append(
            f"Trials that did not complete their budget ({ended}): final values are from their last report."
        )
    partial = (
        int((~study.trials["config_complete"].astype(bool)).sum())
        if "config_complete" in study.trials
        else 0
    )
    if partial:
        notes.append(
            f"{partial} trial(s) recorded only part of their config (older version): missing keys are unknown."
        )
    return notes


def analyse(study: Study, *, baseline: str | None = None) -> Findings:
    """Summary per arm, paired comparison to the baseline, rank consistency and verdicts, divergence counted."""
    scored, worst = score_finals(study.finals, metric=study.final_metric, mode=study.mode)
    wide = seed_matrix(scored, SCORE)
    counts = divergence_counts(scored)
    base = pick_baseline(study, baseline)
    comparison, judged = None, []
    if base is not None and wide.shape[0] >= 2:
        comparison = compare_counting_divergence(scored, baseline=base, mode=study.mode)
        judged = verdicts(comparison, baseline=base, metric=study.metric, mode=study.mode)
    summary = summarize_arms(wide, mode=study.mode).drop(columns="seeds").join(counts)
    return Findings(
        baseline=base,
        summary=summary[[*counts.columns, *summary.columns.drop(counts.columns)]],
        comparison=comparison,
        ranks=rank_consistency(wide, mode=study.mode),
        kendall_w=kendalls_w(wide, mode=study.mode) if wide.shape[1] > 1 else np.nan,
        verdicts=judged,
        outcomes=pd.Series({v.arm: v.outcome for v in judged}, dtype=object),
        best_trials=best_trials(study, scored),
        statuses=study.trials["status"].value_counts(),
        scored=scored,
        worst_final=worst,
        notes=study_notes(study, counts, worst=worst, paired=comparison is not None),
    )
