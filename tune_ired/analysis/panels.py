"""Which figures a study gets: chosen from what its sweep varied and which metrics its rows hold.

Every study gets learning curves, steps-to-threshold and trial survival; a one-knob numeric
sweep a response curve; a joint search parallel coordinates; rows with `mine/` diagnostics
energy-gap curves and conditioning histograms of positives vs negatives.

    from tune_ired.analysis.panels import study_figures
    for title, fig in study_figures(study, findings): fig.show()
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import plotly.graph_objects as go

from tune_ired.analysis import figures
from tune_ired.analysis.arms import CONFIG, arm_keys, seed_curves, steps_to_threshold
from tune_ired.analysis.study import Findings, Study

ENERGY_GAP = "mine/energy_gap"
OOD_METRIC = "val/mse_ood"
CONDITIONING = ("log10_cond", "logabsdet", "smin_y", "smin_ay")  # tune_ired.diagnostics' statistics
CONDITIONING_TITLE = "Conditioning of positives vs negatives (median over problems, per seed and evaluation)"
POSITIVES = "positives (true inverses)"
CONDITIONING_QUANTILE = "q50"  # the median over the diagnostic subset, per seed and evaluation


def conditioning_table(study: Study) -> pd.DataFrame:
    """Per (group, seed, step): the median conditioning statistics of each arm's negatives and of the positives.

    Positives are the true inverses, the same whatever the arm: they form one group.
    """
    frames = []
    for stat in CONDITIONING:
        negatives = seed_curves(study.trials, study.curves, f"mine/neg_{stat}_{CONDITIONING_QUANTILE}")
        positives = seed_curves(study.trials, study.curves, f"mine/pos_{stat}_{CONDITIONING_QUANTILE}")
        negatives["arm"] = negatives["arm"].astype(str) + " negatives"
        positives["arm"] = POSITIVES
        frames += [negatives.assign(stat=stat), positives.assign(stat=stat)]
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        return data
    return data.pivot_table(index=["arm", "seed", "step"], columns="stat", values="value").reset_index()


def curve_figure(study: Study, metric: str, *, log_y: bool = True) -> go.Figure:
    curves = seed_curves(study.trials, study.curves, metric)
    return figures.learning_curves(curves, metric=metric, log_y=log_y, colors=figures.arm_colors(study.arms))


def threshold_figure(study: Study, level: float) -> go.Figure:
    curves = seed_curves(study.trials, study.curves, study.metric)
    reached = steps_to_threshold(curves, level, mode=study.mode)
    colors = figures.arm_colors(study.arms)
    return figures.steps_to_threshold_figure(reached, metric=study.metric, threshold=level, colors=colors)


def response_figure(study: Study, knob: str) -> go.Figure:
    finals = study.finals.merge(study.trials[["trial_id", CONFIG + knob]], on="trial_id")
    return figures.response_curve(finals.rename(columns={CONFIG + knob: knob}), knob=knob, metric=study.final_metric)


def threshold(study: Study, findings: Findings) -> float:
    """The baseline's mean final metric (else the median arm mean): how fast does each arm get there?"""
    means = findings.summary["mean"]
    return float(means[findings.baseline] if findings.baseline in means else means.median())


def figure_builders(study: Study, findings: Findings) -> list[tuple[str, Callable[[], go.Figure]]]:
    """(title, zero-argument builder) for every figure this study supports, in report order."""
    metric, curves, trials = study.metric, study.curves, study.trials
    builders = [(f"Learning curves: {metric}", partial(curve_figure, study, metric))]
    if OOD_METRIC in curves and metric != OOD_METRIC:
        builders.append(("Out-of-distribution MSE", partial(curve_figure, study, OOD_METRIC)))
    builders.append(("Steps to threshold", partial(threshold_figure, study, threshold(study, findings))))
    keys = arm_keys(trials)
    if len(keys) == 1 and pd.to_numeric(trials[CONFIG + keys[0]], errors="coerce").notna().all():
        builders.append((f"Response to {keys[0]}", partial(response_figure, study, keys[0])))
    if len(keys) > 1:
        parallel = partial(figures.parallel_coordinates, trials, knobs=keys, metric=study.final_metric)
        builders.append(("Parallel coordinates", parallel))
    builders.append(("Trial survival (ASHA rungs)", partial(figures.rung_survival, curves, trials)))
    if curves.get(ENERGY_GAP, pd.Series(dtype=float)).notna().any():
        builders.append(("Energy gap E(neg) - E(pos)", partial(curve_figure, study, ENERGY_GAP, log_y=False)))
    table = conditioning_table(study)
    if not table.empty:
        columns = [c for c in CONDITIONING if c in table]
        builders.append((CONDITIONING_TITLE, partial(figures.histograms, table, columns=columns)))
    return builders


def study_figures(study: Study, findings: Findings) -> list[tuple[str, go.Figure]]:
    """Every figure this study supports, built."""
    return [(title, build()) for title, build in figure_builders(study, findings)]
