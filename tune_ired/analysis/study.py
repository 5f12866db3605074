"""A sweep as a study: its tables (via `tune_ired.results`, no Ray) and the findings the report states.

    from tune_ired.analysis.study import load_study, analyse
    study = load_study("results/strategies")          # trials (with 'arm'), curves, per-seed finals
    findings = analyse(study, baseline="none")        # summary, comparison, ranks, verdicts

The statistics are over seeds of the final metric (the last evaluation of each seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tune_ired import results
from tune_ired.analysis.arms import label_arms, resolve_arm, seed_finals
from tune_ired.analysis.stats import compare_to_baseline, kendalls_w, rank_consistency, seed_matrix, summarize_arms
from tune_ired.analysis.verdict import outcomes, verdicts

COMPLETED = "completed"  # results.STATUSES: the trial trained its whole budget
PREFERRED_BASELINE = "none"  # the pure-denoising strategy is the research's baseline when a sweep has it
TOP_TRIALS = 5  # rows of the best-configs table
WILCOXON_FEW_SEEDS = 6  # below this many seeds the exact two-sided Wilcoxon p cannot reach 0.05 (2 / 2**5)


@dataclass
class Study:
    """One sweep folder's tables: trials (with 'arm'), per-iteration curves and per-(arm, seed) finals."""

    folder: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    finals: pd.DataFrame
    metric: str = results.DEFAULT_METRIC
    mode: str = results.DEFAULT_MODE

    @property
    def arms(self) -> list[str]:
        return sorted(self.finals["arm"].astype(str).unique())

    @property
    def final_metric(self) -> str:
        return "final/" + self.metric


@dataclass
class Findings:
    """What the report states about a study (every table indexed by arm)."""

    baseline: str | None
    summary: pd.DataFrame
    comparison: pd.DataFrame | None
    ranks: pd.DataFrame
    kendall_w: float
    verdicts: list[str]
    outcomes: pd.Series
    best_trials: pd.DataFrame
    statuses: pd.Series
    notes: list[str] = field(default_factory=list)


def load_study(folder: str | Path, *, metric: str | None = None, mode: str | None = None) -> Study:
    """Read a sweep folder (raises `results.NotASweepError` naming it when it is not one).

    The metric and mode default to the sweep's own (its sweep.json), else val/mse, min.
    """
    sweep = results.load_sweep(folder)
    trials = label_arms(sweep.trials)
    finals = seed_finals(trials, sweep.seeds)
    return Study(
        folder=sweep.folder,
        trials=trials,
        curves=sweep.curves,
        finals=finals,
        metric=metric or sweep.metric,
        mode=mode or sweep.mode,
    )


def pick_baseline(study: Study, requested: str | None) -> str | None:
    """The requested arm, else 'none' when present, else the first arm; None with a single arm."""
    arms = study.arms
    if requested is not None:
        return resolve_arm(requested, arms)
    if len(arms) < 2:
        return None
    return PREFERRED_BASELINE if PREFERRED_BASELINE in arms else arms[0]


def best_trials(study: Study, *, top: int = TOP_TRIALS) -> pd.DataFrame:
    """The `top` trials by final metric, with status, their arm and their final and best metric."""
    columns = ["trial_id", "arm", "status", study.final_metric, "best/" + study.metric]
    table = study.trials[[c for c in columns if c in study.trials]]
    return table.sort_values(study.final_metric, ascending=study.mode == "min").head(top).reset_index(drop=True)


def study_notes(study: Study, comparison: pd.DataFrame | None) -> list[str]:
    """Caveats a reader must see next to the numbers: few seeds, unfinished trials, diverged seeds."""
    notes = []
    if comparison is None:
        notes.append("Fewer than two seeds or arms: no paired statistics (train several seeds per arm for a verdict).")
    elif comparison["seeds"].min() < WILCOXON_FEW_SEEDS:
        seeds = int(comparison["seeds"].min())
        notes.append(f"With {seeds} paired seeds the exact Wilcoxon p is at least {2 / 2**seeds:.3g}.")
    unfinished = study.trials.loc[study.trials["status"] != COMPLETED, "status"].value_counts()
    if len(unfinished):
        counts = ", ".join(f"{n} {status}" for status, n in unfinished.items())
        notes.append(f"Trials that did not complete their budget ({counts}): final values are from their last report.")
    diverged = int(study.finals[study.final_metric].isna().sum()) if study.final_metric in study.finals else 0
    if diverged:
        notes.append(f"{diverged} seed(s) have no finite final {study.metric} (diverged): left out of the statistics.")
    return notes


def analyse(study: Study, *, baseline: str | None = None) -> Findings:
    """Summary per arm, paired comparison to the baseline, rank consistency and verdict lines."""
    wide = seed_matrix(study.finals, study.final_metric)
    base = pick_baseline(study, baseline)
    comparison, lines, judged = None, [], pd.Series(dtype=object)
    if base is not None and wide.shape[0] >= 2:
        comparison = compare_to_baseline(wide, baseline=base, mode=study.mode)
        lines = verdicts(comparison, baseline=base, metric=study.metric, mode=study.mode)
        judged = outcomes(comparison)
    return Findings(
        baseline=base,
        summary=summarize_arms(wide),
        comparison=comparison,
        ranks=rank_consistency(wide, mode=study.mode),
        kendall_w=kendalls_w(wide, mode=study.mode) if wide.shape[1] > 1 else np.nan,
        verdicts=lines,
        outcomes=judged,
        best_trials=best_trials(study),
        statuses=study.trials["status"].value_counts(),
        notes=study_notes(study, comparison),
    )
