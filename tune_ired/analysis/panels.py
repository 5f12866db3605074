"""Which figures a study gets: chosen from what its sweep varied and which metrics its rows hold.

Every study gets learning curves and steps-to-threshold; a sweep with a trial scheduler
(ASHA) the trials reaching each rung; a one-knob numeric sweep a response curve; a joint
search parallel coordinates; rows with `mine/` diagnostics energy-gap curves and
conditioning histograms of positives vs negatives. Diverged seeds count by
`tune_ired.analysis.divergence`'s rule in every figure of the judged metric.

    from tune_ired.analysis.panels import study_figures
    for title, fig in study_figures(study, findings): fig.show()
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tune_ired.analysis import figures
from tune_ired.analysis.arms import (
    CONFIG,
    SeedState,
    arm_keys,
    seed_curves,
    steps_to_threshold,
    trivial_scores,
)
from tune_ired.analysis.divergence import SCORE, score_curves, worst_finite
from tune_ired.analysis.study import Findings, Study
from tune_ired.record.catalogue import (
    CONDITIONING_STATS,
    MINE_ENERGY_GAP,
    VAL_MSE_OOD,
    Mode,
    conditioning_key,
    direction_of,
)

# an error: lower is better, whatever metric the sweep judged
OOD_METRIC, OOD_MODE = VAL_MSE_OOD, direction_of(VAL_MSE_OOD)
CONDITIONING_TITLES = {  # catalogue.CONDITIONING_STATS (of the clean candidates Y), as axis titles
    "log10_cond": "log10 condition number of Y",
    "logabsdet": "log |det Y|",
    "smin_y": "smallest singular value of Y",
    "smin_ay": "smallest singular value of A Y",
}
CONDITIONING_TITLE = (
    "Conditioning of positives vs negatives (median over problems, per seed and evaluation)"
)
POSITIVES = "positives (true inverses)"
CONDITIONING_QUANTILE = "q50"  # the median over the diagnostic subset, per seed and evaluation
CONDITIONING_COUNT = "count (seed x evaluation)"


def conditioning_table(study: Study) -> pd.DataFrame:
    """Per (group, seed, step): the median conditioning statistics of each arm's negatives and of the positives.

    Positives are the true inverses, the same whatever the arm: they form one group.
    """
    frames = []
    for stat in CONDITIONING_STATS:
        negatives = seed_curves(
            study.trials, study.curves, conditioning_key("neg", stat, CONDITIONING_QUANTILE)
        )
        positives = seed_curves(
            study.trials, study.curves, conditioning_key("pos", stat, CONDITIONING_QUANTILE)
        )
        negatives["arm"] = negatives["arm"].astype(str) + " negatives"
        positives["arm"] = POSITIVES
        frames += [negatives.assign(stat=stat), positives.assign(stat=stat)]
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        return data
    return data.pivot_table(
        index=["arm", "seed", "step"], columns="stat", values="value"
    ).reset_index()


def conditioning_figure(table: pd.DataFrame) -> go.Figure:
    """Histograms of `conditioning_table`: each arm's negatives and the positives, on shared bins."""
    columns = {stat: title for stat, title in CONDITIONING_TITLES.items() if stat in table}
    title = "Each arm's mined negatives vs the positives (true inverses, the same for every arm)"
    return figures.histograms(
        table, columns=columns, reference=POSITIVES, count_label=CONDITIONING_COUNT, title=title
    )


def curve_figure(
    study: Study,
    findings: Findings,
    metric: str,
    *,
    mode: Mode | str | None = None,
    log_y: bool = True,
):
    """Learning curves of `metric`; with a `mode` (its direction) diverged seeds are scored by the rule."""
    curves = seed_curves(study.trials, study.curves, metric)
    if mode is not None:
        trivial = trivial_scores(study.trials, metric).set_axis(study.trials["trial_id"])
        curves = score_curves(
            curves, findings.scored, mode=mode, trivial=trivial, baseline=findings.baseline
        )
    return figures.learning_curves(
        curves, metric=metric, log_y=log_y, colors=figures.arm_colors(study.arms)
    )


def threshold_target(study: Study, findings: Findings) -> tuple[float, str]:
    """A target the baseline itself reaches: its finished seeds' worst final value (else the study's)."""
    finished = findings.scored[findings.scored["state"] == SeedState.FINISHED]
    own = finished[finished["arm"] == findings.baseline][SCORE]
    if findings.baseline is not None and own.notna().any():
        text = f"the worst final value of the baseline {findings.baseline}'s {own.notna().sum()} finished seeds"
        return worst_finite(own, mode=study.mode), text + ": each of them reaches it"
    return worst_finite(
        finished[SCORE], mode=study.mode
    ), "the worst final value of any finished seed"


def threshold_figure(study: Study, findings: Findings) -> go.Figure:
    """Steps each seed needed to reach the target; a diverged seed never does (the rule)."""
    level, target = threshold_target(study, findings)
    curves = seed_curves(study.trials, study.curves, study.metric)
    # seeds with a result
    judged = findings.scored[findings.scored[SCORE].notna() | findings.scored["diverged"]]
    seeds = judged[["arm", "seed", "diverged"]].astype({"arm": str})
    reached = seeds.merge(
        steps_to_threshold(curves, level, mode=study.mode), on=["arm", "seed"], how="left"
    )
    reached["steps"] = reached["steps"].mask(reached["diverged"])
    colors = figures.arm_colors(study.arms)
    return figures.steps_to_threshold_figure(
        reached, metric=study.metric, threshold=level, target=target, mode=study.mode, colors=colors
    )


def response_figure(study: Study, findings: Findings, knob: str) -> go.Figure:
    scored = findings.scored.drop(columns=study.final_metric, errors="ignore").rename(
        columns={SCORE: study.final_metric}
    )
    finals = scored.merge(study.trials[["trial_id", CONFIG + knob]], on="trial_id")
    return figures.response_curve(
        finals.rename(columns={CONFIG + knob: knob}), knob=knob, metric=study.final_metric
    )


def parallel_figure(study: Study, findings: Findings, knobs: list[str]) -> go.Figure:
    """Parallel coordinates coloured by each trial's seeds' mean final metric, diverged seeds scored."""
    per_trial = findings.scored.groupby("trial_id")[SCORE].mean().rename(study.final_metric)
    trials = study.trials.drop(columns=study.final_metric, errors="ignore").join(
        per_trial, on="trial_id"
    )
    return figures.parallel_coordinates(trials, knobs=knobs, metric=study.final_metric)


def figure_builders(study: Study, findings: Findings) -> list[tuple[str, Callable[[], go.Figure]]]:
    """(title, zero-argument builder) for every figure this study supports, in report order."""
    metric, curves, trials = study.metric, study.curves, study.trials
    builders = [
        (
            f"Learning curves: {metric}",
            partial(curve_figure, study, findings, metric, mode=study.mode),
        )
    ]
    if OOD_METRIC in curves and metric != OOD_METRIC:
        ood = partial(curve_figure, study, findings, OOD_METRIC, mode=OOD_MODE)
        builders.append(("Out-of-distribution MSE", ood))
    if np.isfinite(threshold_target(study, findings)[0]):
        builders.append(("Steps to threshold", partial(threshold_figure, study, findings)))
    keys = arm_keys(trials)
    if len(keys) == 1 and pd.to_numeric(trials[CONFIG + keys[0]], errors="coerce").notna().all():
        builders.append(
            (f"Response to {keys[0]}", partial(response_figure, study, findings, keys[0]))
        )
    if len(keys) > 1:
        builders.append(("Parallel coordinates", partial(parallel_figure, study, findings, keys)))
    if study.used_scheduler:
        builders.append(
            ("Trial survival (ASHA rungs)", partial(figures.rung_survival, curves, trials))
        )
    if curves.get(MINE_ENERGY_GAP, pd.Series(dtype=float)).notna().any():
        gap = partial(curve_figure, study, findings, MINE_ENERGY_GAP, log_y=False)
        builders.append(("Energy gap E(neg) - E(pos)", gap))
    table = conditioning_table(study)
    if not table.empty:
        builders.append((CONDITIONING_TITLE, partial(conditioning_figure, table)))
    return builders


def study_figures(study: Study, findings: Findings) -> list[tuple[str, go.Figure]]:
    """Every figure this study supports, built."""
    return [(title, build()) for title, build in figure_builders(study, findings)]
