"""A sweep as a study: its tables (via `tune_ired.record.results`, no Ray) and the findings the report states.

    from tune_ired.analysis.study import load_study, analyse
    study = load_study("results/strategies")   # trials (with 'arm'), curves, per-seed finals, meta, provenance
    findings = analyse(study, baseline="none")  # summary, comparison, ranks, verdicts, notes

The statistics are over seeds of the final metric (the last evaluation of each seed), each
seed in one state (`tune_ired.analysis.arms.SeedState`) and a diverged seed counted as a
failure by `tune_ired.analysis.divergence`'s rules. Arms are ranked only when every seed
of theirs finished or diverged (trained its whole budget): an arm that ASHA stopped early
is compared with the others only at the last step they all reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_ired.analysis.arms import (
    PAIRED_STATES,
    SeedState,
    label_arms,
    resolve_arm,
    seed_curves,
    seed_finals,
)
from tune_ired.analysis.divergence import (
    DIVERGENCE_RULE,
    SCORE,
    compare_counting_divergence,
    score_curves,
    score_finals,
    state_counts,
)
from tune_ired.analysis.numbers import sig
from tune_ired.analysis.stats import kendalls_w, rank_consistency, seed_matrix, summarize_arms
from tune_ired.analysis.verdict import Verdict, verdicts
from tune_ired.record import results, sweepfile
from tune_ired.record.catalogue import Mode, TrialStatus, as_mode

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
    metric: str = sweepfile.DEFAULT_METRIC
    mode: Mode = sweepfile.DEFAULT_MODE
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.mode = as_mode(self.mode)

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

    `scored` is the per-seed table with its 'state' and the column 'score' (the final
    metric; a diverged seed's is its arm's `penalties` entry, by the divergence rule
    against the baseline); `summary` and `ranks` are built on it, `comparison` on the
    per-seed states (each pair scored alone). `complete` lists the arms whose seeds all
    finished or diverged (the only ones ranked); `common` is (step, mean per arm) at the
    last evaluation every arm reached, when some arm was stopped before its budget.
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
    penalties: pd.Series
    complete: list[str] = field(default_factory=list)
    common: tuple[float, pd.Series] | None = None
    notes: list[str] = field(default_factory=list)


def load_study(
    folder: str | Path, *, metric: str | None = None, mode: Mode | str | None = None
) -> Study:
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
        mode=as_mode(mode or sweep.mode),
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
    """The complete arm (every seed finished or diverged) with the best mean final metric, diverged
    seeds scored by the rule; None when no complete arm has a finished seed."""
    summary = findings.summary.loc[findings.complete]
    summary = summary[summary[SeedState.FINISHED] > 0]
    if not len(summary):
        return None
    return summary["mean"].idxmin() if study.mode is Mode.MIN else summary["mean"].idxmax()


def best_trials(study: Study, scored: pd.DataFrame, *, top: int = TOP_TRIALS) -> pd.DataFrame:
    """The `top` trials by their seeds' mean final metric (diverged seeds scored), with status, seeds and
    the step each trained to; trials that trained their whole budget (every seed finished or diverged)
    rank first.

    No best-evaluation column: a diverged seed's best report came before its failure.
    """
    final = study.final_metric
    per_trial = scored.groupby("trial_id").agg(
        seeds=("seed", "size"),
        diverged=("diverged", "sum"),
        step=("step", "max"),
        complete=("state", lambda states: bool(states.isin(PAIRED_STATES).all())),
        **{final: (SCORE, "mean")},
    )
    table = study.trials[["trial_id", "arm", "status"]].join(per_trial, on="trial_id")
    table = table.sort_values(
        ["complete", final], ascending=[False, study.mode is Mode.MIN], na_position="last"
    )
    return table.drop(columns="complete").head(top).reset_index(drop=True)


def complete_arms(scored: pd.DataFrame) -> list[str]:
    """The arms whose every seed finished or diverged (trained its whole budget, or failed)."""
    done = scored.groupby(scored["arm"].astype(str))["state"].agg(
        lambda states: bool(states.isin(PAIRED_STATES).all())
    )
    return sorted(done.index[done])


def common_step(study: Study, findings: Findings) -> tuple[float, pd.Series] | None:
    """(step, mean value per arm) at the last evaluation every arm's seeds reached, diverged seeds scored;
    None when every arm is complete (their final values compare already) or the curves lack the metric."""
    if len(findings.complete) == len(study.arms):
        return None
    curves = seed_curves(study.trials, study.curves, study.metric)
    if curves.empty:
        return None
    trivial = findings.scored.set_index("trial_id")["trivial"]
    trivial = trivial[~trivial.index.duplicated()]
    curves = score_curves(
        curves, findings.scored, mode=study.mode, trivial=trivial, baseline=findings.baseline
    )
    step = curves.groupby(["arm", "seed"], dropna=False)["step"].max().min()
    at = curves[curves["step"] == step].groupby("arm")["value"].mean()
    return float(step), at.sort_values(ascending=study.mode is Mode.MIN)


def divergence_note(counts: pd.DataFrame, penalties: pd.Series) -> list[str]:
    """The note on diverged seeds: how many per arm and what they scored."""
    diverged = counts[counts[SeedState.DIVERGED] > 0]
    if diverged.empty:
        return []
    per_arm = ", ".join(
        f"{arm} {row[SeedState.DIVERGED]}/{row['seeds']} (scored {sig(penalties.get(arm, np.nan))})"
        for arm, row in diverged.iterrows()
    )
    total = int(diverged[SeedState.DIVERGED].sum())
    return [f"{total} seed(s) diverged: {per_arm}. Rule: {DIVERGENCE_RULE}."]


def study_notes(
    study: Study, counts: pd.DataFrame, *, penalties: pd.Series, paired: bool
) -> list[str]:
    """Caveats a reader must see next to the numbers: divergence, missing, unfinished and invalid seeds."""
    notes = (
        []
        if paired
        else ["Fewer than two seeds or arms: no paired statistics (train several seeds per arm)."]
    )
    notes += divergence_note(counts, penalties)
    missing = int(counts[SeedState.NO_RESULT].sum())
    if missing:
        notes.append(
            f"{missing} seed(s) have no result (no report yet, or errored before one): left out and "
            "counted; an arm missing seeds cannot MEET, nor an arm whose seeds the baseline lacks."
        )
    unfinished = study.trials.loc[
        ~study.trials["status"].isin(
            [TrialStatus.COMPLETED, TrialStatus.DIVERGED, TrialStatus.EARLY_STOPPED]
        ),
        "status",
    ].value_counts()
    if len(unfinished):
        ended = ", ".join(f"{n} {status}" for status, n in unfinished.items())
        notes.append(
            f"Trials that did not complete their budget ({ended}): their seeds' last values are from "
            "fewer steps (the 'trained to' column); no verdict pairs them and no ranking includes them."
        )
    invalid = int(counts[SeedState.INVALID].sum())
    if invalid:
        notes.append(
            f"{invalid} seed(s) report a {study.metric} outside its valid range: every comparison "
            "involving their arm is INCONCLUSIVE (the verdict names arm, seed and value)."
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


def arm_summary(scored: pd.DataFrame, counts: pd.DataFrame, *, mode: Mode) -> pd.DataFrame:
    """Per arm: the state counts, the statistics of its scores and the steps its seeds trained to."""
    summary = summarize_arms(seed_matrix(scored, SCORE), mode=mode).drop(columns="seeds")
    trained = scored[scored["state"].isin([SeedState.FINISHED, SeedState.UNFINISHED])]
    steps = trained.groupby(trained["arm"].astype(str))["step"].agg(["min", "max"])
    steps.columns = ["trained_from", "trained_to"]
    return counts.join(summary).join(steps)


def analyse(study: Study, *, baseline: str | None = None) -> Findings:
    """Summary per arm, paired comparison to the baseline, rank consistency and verdicts, divergence counted."""
    base = pick_baseline(study, baseline)
    scored, penalties = score_finals(
        study.finals, metric=study.metric, mode=study.mode, baseline=base
    )
    counts = state_counts(scored)
    complete = complete_arms(scored)
    ranked = seed_matrix(scored[scored["arm"].astype(str).isin(complete)], SCORE)
    comparison, judged = None, []
    if base is not None and seed_matrix(scored, SCORE).shape[0] >= 2:
        comparison = compare_counting_divergence(
            study.finals, metric=study.metric, baseline=base, mode=study.mode
        )
        judged = verdicts(comparison, baseline=base, metric=study.metric, mode=study.mode)
    findings = Findings(
        baseline=base,
        summary=arm_summary(scored, counts, mode=study.mode),
        comparison=comparison,
        ranks=rank_consistency(ranked, mode=study.mode),
        kendall_w=kendalls_w(ranked, mode=study.mode) if ranked.shape[1] > 1 else np.nan,
        verdicts=judged,
        outcomes=pd.Series({v.arm: v.outcome for v in judged}, dtype=object),
        best_trials=best_trials(study, scored),
        statuses=study.trials["status"].value_counts(),
        scored=scored,
        penalties=penalties,
        complete=complete,
        notes=study_notes(study, counts, penalties=penalties, paired=comparison is not None),
    )
    findings.common = common_step(study, findings)
    return findings
