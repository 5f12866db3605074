"""Plotly figures of a sweep: learning curves, response curves, parallel coordinates, ASHA, diagnostics.

Each function takes the long tables of `tune_ired.analysis.arms` (or the trial table) and
returns a `plotly.graph_objects.Figure`; nothing here reads files or shows anything.
Pass `colors=arm_colors(all_arms)` to keep one colour per arm across figures that show
different subsets of the arms (the report does).

    from tune_ired.analysis import figures
    figures.learning_curves(seed_curves(trials, curves, "val/mse"), metric="val/mse").show()
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly
BAND_OPACITY = 0.2  # seed bands stay readable when several arms overlap
LOG_AXIS_SPAN = 50.0  # a positive knob whose values span more than this factor gets a log axis
STATUS_COLORS = {  # tune_ired.results.STATUSES
    "completed": "#2ca02c",
    "stopped": "#ff7f0e",
    "early_stopped": "#bcbd22",
    "diverged": "#d62728",
    "errored": "#7f7f7f",
    "running": "#1f77b4",
    "pending": "#c7c7c7",
}


def arm_colors(arms) -> dict[str, str]:
    """A stable colour per arm (in sorted order), reused by every figure."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(sorted(map(str, set(arms))))}


def rgba(color: str, alpha: float) -> str:
    r, g, b = hex_to_rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def band_traces(group: pd.DataFrame, *, arm: str, color: str) -> list[go.Scatter]:
    """Mean line over seeds and a min-max band (shaded) for one arm's long curve table."""
    by_step = group.groupby("step")["value"].agg(["mean", "min", "max", "count"]).reset_index()
    x = list(by_step["step"]) + list(by_step["step"][::-1])
    y = list(by_step["max"]) + list(by_step["min"][::-1])
    seeds = group["seed"].nunique()
    return [
        go.Scatter(
            x=x, y=y, mode="lines", fill="toself", fillcolor=rgba(color, BAND_OPACITY), line={"width": 0},
            hoverinfo="skip", showlegend=False, legendgroup=arm,
        ),
        go.Scatter(
            x=by_step["step"], y=by_step["mean"], mode="lines+markers", line={"color": color},
            name=f"{arm} ({seeds} seeds)", legendgroup=arm,
        ),
    ]  # fmt: skip


def learning_curves(
    curves: pd.DataFrame, *, metric: str, log_y: bool = True, colors: dict[str, str] | None = None
) -> go.Figure:
    """Metric vs step per arm: the mean over seeds, shaded from the best to the worst seed."""
    fig = go.Figure()
    colors = colors or arm_colors(curves["arm"])
    for arm, group in curves.groupby("arm"):
        fig.add_traces(band_traces(group, arm=str(arm), color=colors[str(arm)]))
    positive = bool(len(curves)) and bool((curves["value"] > 0).all())
    fig.update_layout(
        title=f"{metric} over training (line: mean over seeds; band: min to max)",
        xaxis_title="step",
        yaxis_title=metric,
        yaxis_type="log" if log_y and positive else "linear",
    )
    return fig


def knob_axis_type(values: pd.Series) -> str:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any():
        return "category"
    positive = (numeric > 0).all()
    return "log" if positive and numeric.max() / numeric.min() > LOG_AXIS_SPAN else "linear"


def response_curve(finals: pd.DataFrame, *, knob: str, metric: str) -> go.Figure:
    """Final metric vs one knob: every seed as a point, the mean over seeds as a line."""
    axis = knob_axis_type(finals[knob])
    data = finals.dropna(subset=[metric]).sort_values(knob, key=lambda s: pd.to_numeric(s, errors="coerce"))
    means = data.groupby(knob, sort=False)[metric].mean().reset_index()
    fig = go.Figure(
        [
            go.Scatter(x=data[knob], y=data[metric], mode="markers", name="seeds", opacity=0.6,
                       text=[f"seed {s}" for s in data["seed"]]),
            go.Scatter(x=means[knob], y=means[metric], mode="lines+markers", name="mean over seeds"),
        ]
    )  # fmt: skip
    fig.update_layout(
        title=f"{metric} vs {knob}", xaxis_title=knob, yaxis_title=metric, xaxis_type=axis, yaxis_type="log"
    )
    return fig


def parcoords_dimension(values: pd.Series, label: str) -> dict:
    """A parallel-coordinates axis; text values become integer codes with their labels as ticks."""
    numeric = pd.to_numeric(values, errors="coerce")
    if not numeric.isna().any():
        return {"label": label, "values": numeric}
    codes, uniques = pd.factorize(values.astype(str), sort=True)
    return {"label": label, "values": codes, "tickvals": list(range(len(uniques))), "ticktext": list(uniques)}


def parallel_coordinates(trials: pd.DataFrame, *, knobs: list[str], metric: str) -> go.Figure:
    """One line per trial across the knobs of a joint search, coloured by the final metric (log10)."""
    data = trials.dropna(subset=[metric])
    color = np.log10(data[metric].clip(lower=np.finfo(float).tiny))
    dimensions = [parcoords_dimension(data["config/" + k], k) for k in knobs]
    dimensions.append({"label": f"log10 {metric}", "values": color})
    fig = go.Figure(
        go.Parcoords(
            line={"color": color, "colorscale": "Viridis", "showscale": True, "colorbar": {"title": "log10"}},
            dimensions=dimensions,
        )
    )
    fig.update_layout(title=f"Joint search: {len(data)} trials, coloured by {metric} (lower is darker)")
    return fig


def rung_survival(curves: pd.DataFrame, trials: pd.DataFrame) -> go.Figure:
    """Trials still running at each evaluated step, stacked by how they ended (ASHA stops show as drops)."""
    last = curves.groupby("trial_id")["step"].max().rename("last_step")
    ended = trials.set_index("trial_id")[["status"]].join(last).dropna(subset=["last_step"])
    steps = np.sort(curves["step"].unique())
    fig = go.Figure()
    for status, group in ended.groupby("status"):
        alive = [(group["last_step"] >= s).sum() for s in steps]
        fig.add_bar(x=steps, y=alive, name=str(status), marker_color=STATUS_COLORS.get(str(status)))
    fig.update_layout(
        barmode="stack", title="Trials reaching each step (by final status)", xaxis_title="step", yaxis_title="trials"
    )
    return fig


def histograms(finals: pd.DataFrame, *, columns: list[str]) -> go.Figure:
    """Overlaid histograms per arm of each column (e.g. conditioning of positives vs negatives)."""
    fig = make_subplots(rows=len(columns), cols=1, subplot_titles=columns)
    colors = arm_colors(finals["arm"])
    for row, column in enumerate(columns, start=1):
        for arm, group in finals.groupby("arm"):
            fig.add_histogram(
                x=group[column], name=str(arm), marker_color=colors[str(arm)], opacity=0.6,
                legendgroup=str(arm), showlegend=row == 1, row=row, col=1,
            )  # fmt: skip
    fig.update_layout(barmode="overlay", title="Distributions over seeds", height=max(300, 260 * len(columns)))
    return fig


def steps_to_threshold_figure(
    reached: pd.DataFrame, *, metric: str, threshold: float, colors: dict[str, str] | None = None
) -> go.Figure:
    """Box of the steps each seed needed to reach `threshold`; seeds that never did are counted in the name."""
    fig = go.Figure()
    colors = colors or arm_colors(reached["arm"])
    for arm, group in reached.groupby("arm"):
        never = int(group["steps"].isna().sum())
        suffix = f" ({never} of {len(group)} never)" if never else ""
        fig.add_box(y=group["steps"], name=f"{arm}{suffix}", marker_color=colors[str(arm)], boxpoints="all", pointpos=0)
    fig.update_layout(title=f"Steps to reach {metric} <= {threshold:.4g}", yaxis_title="step", showlegend=False)
    return fig
