"""Plotly figures of a sweep: learning curves, response curves, parallel coordinates, ASHA, diagnostics.

Each function takes the long tables of `tune_ired.analysis.arms` (or the trial table) and
returns a `plotly.graph_objects.Figure`; nothing here reads files or shows anything.
Pass `colors=arm_colors(all_arms)` to keep one colour per arm across figures that show
different subsets of the arms (the report does). Tables scored by
`tune_ired.analysis.divergence` carry a bool 'diverged' column: those seeds are counted in
the legend and marked with an x.

    from tune_ired.analysis import figures
    figures.learning_curves(seed_curves(trials, curves, "val/mse"), metric="val/mse").show()
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative
from plotly.subplots import make_subplots

from tune_ired.record.catalogue import Mode, TrialStatus, as_mode

PALETTE = qualitative.Plotly
BAND_OPACITY = 0.2  # seed bands stay readable when several arms overlap
HISTOGRAM_OPACITY = 0.55  # overlaid groups show through each other
HISTOGRAM_BINS = (
    30  # at most this many bins per panel, shared by every group so none gets hairline bars
)
EDGE_PAD = 1e-6  # the last bin edge lies this share of the range above the largest value
REFERENCE_COLOR = (
    "#222222"  # a group every arm shares (the positives): drawn last, on top, as a dark outline
)
REFERENCE_FILL = 0.25  # the reference group's fill opacity: bars under it stay visible
LOG_AXIS_SPAN = 50.0  # a positive knob whose values span more than this factor gets a log axis
DIVERGED_MARKER = {"symbol": "x", "size": 10, "line": {"width": 2}}
STATUS_COLORS = dict(  # one colour per trial status, in TrialStatus order
    zip(
        (status.value for status in TrialStatus),
        ("#2ca02c", "#ff7f0e", "#bcbd22", "#d62728", "#7f7f7f", "#1f77b4", "#c7c7c7"),
        strict=True,
    )
)


def arm_colors(arms) -> dict[str, str]:
    """A stable colour per arm (in sorted order), reused by every figure."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(sorted(map(str, set(arms))))}


def rgba(color: str, alpha: float) -> str:
    r, g, b = hex_to_rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def seeds_label(arm: str, group: pd.DataFrame) -> str:
    """'adversarial (10 seeds, 3 diverged)'."""
    seeds = group["seed"].nunique()
    diverged = group.loc[group["diverged"], "seed"].nunique() if "diverged" in group else 0
    return f"{arm} ({seeds} seeds{f', {diverged} diverged' if diverged else ''})"


def band_traces(group: pd.DataFrame, *, arm: str, color: str) -> list[go.Scatter]:
    """Mean line over seeds, a min-max band (shaded) and x marks where seeds diverged, for one arm."""
    by_step = group.groupby("step")["value"].agg(["mean", "min", "max", "count"]).reset_index()
    x = list(by_step["step"]) + list(by_step["step"][::-1])
    y = list(by_step["max"]) + list(by_step["min"][::-1])
    traces = [
        go.Scatter(
            x=x, y=y, mode="lines", fill="toself", fillcolor=rgba(color, BAND_OPACITY), line={"width": 0},
            hoverinfo="skip", showlegend=False, legendgroup=arm,
        ),
        go.Scatter(
            x=by_step["step"], y=by_step["mean"], mode="lines+markers", line={"color": color},
            name=seeds_label(arm, group), legendgroup=arm,
        ),
    ]  # fmt: skip
    if "diverged" in group and group["diverged"].any():
        onsets = group[group["diverged"]].groupby("seed", as_index=False).first()
        traces.append(
            go.Scatter(
                x=onsets["step"], y=onsets["value"], mode="markers", marker={**DIVERGED_MARKER, "color": color},
                name=f"{arm}: diverged", legendgroup=arm, text=[f"seed {s} diverged" for s in onsets["seed"]],
            )
        )  # fmt: skip
    return traces


def learning_curves(
    curves: pd.DataFrame, *, metric: str, log_y: bool = True, colors: dict[str, str] | None = None
) -> go.Figure:
    """Metric vs step per arm: the mean over seeds, shaded from the best to the worst seed."""
    fig = go.Figure()
    colors = colors or arm_colors(curves["arm"])
    for arm, group in curves.groupby("arm"):
        fig.add_traces(band_traces(group, arm=str(arm), color=colors[str(arm)]))
    positive = bool(len(curves)) and bool((curves["value"] > 0).all())
    scored = "diverged" in curves and bool(curves["diverged"].any())
    note = "; x: a seed diverged, the study's worst value from then on" if scored else ""
    fig.update_layout(
        title=f"{metric} over training (line: mean over seeds; band: min to max{note})",
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
    """Final metric vs one knob: every seed as a point (diverged ones as x), the mean over seeds as a line."""
    axis = knob_axis_type(finals[knob])
    data = finals.dropna(subset=[metric]).sort_values(
        knob, key=lambda s: pd.to_numeric(s, errors="coerce")
    )
    diverged = data["diverged"] if "diverged" in data else pd.Series(False, index=data.index)
    means = data.groupby(knob, sort=False)[metric].mean().reset_index()
    fig = go.Figure(
        [
            go.Scatter(x=data.loc[~diverged, knob], y=data.loc[~diverged, metric], mode="markers", name="seeds",
                       opacity=0.6, text=[f"seed {s}" for s in data.loc[~diverged, "seed"]]),
            go.Scatter(x=means[knob], y=means[metric], mode="lines+markers", name="mean over seeds"),
        ]
    )  # fmt: skip
    if diverged.any():
        fig.add_scatter(
            x=data.loc[diverged, knob], y=data.loc[diverged, metric], mode="markers", marker=DIVERGED_MARKER,
            name="diverged (the worst final value)",
            text=[f"seed {s}" for s in data.loc[diverged, "seed"]],
        )  # fmt: skip
    fig.update_layout(
        title=f"{metric} vs {knob}",
        xaxis_title=knob,
        yaxis_title=metric,
        xaxis_type=axis,
        yaxis_type="log",
    )
    return fig


def parcoords_dimension(values: pd.Series, label: str) -> dict:
    """A parallel-coordinates axis; text values become integer codes with their labels as ticks."""
    numeric = pd.to_numeric(values, errors="coerce")
    if not numeric.isna().any():
        return {"label": label, "values": numeric}
    codes, uniques = pd.factorize(values.astype(str), sort=True)
    return {
        "label": label,
        "values": codes,
        "tickvals": list(range(len(uniques))),
        "ticktext": list(uniques),
    }


def parallel_coordinates(trials: pd.DataFrame, *, knobs: list[str], metric: str) -> go.Figure:
    """One line per trial across the knobs of a joint search, coloured by the final metric (log10)."""
    data = trials.dropna(subset=[metric])
    color = np.log10(data[metric].clip(lower=np.finfo(float).tiny))
    dimensions = [parcoords_dimension(data["config/" + k], k) for k in knobs]
    dimensions.append({"label": f"log10 {metric}", "values": color})
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": color,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": "log10"},
            },
            dimensions=dimensions,
        )
    )
    fig.update_layout(
        title=f"Joint search: {len(data)} trials, coloured by {metric} (lower is darker)"
    )
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
        barmode="stack",
        title="Trials reaching each step (by final status)",
        xaxis_title="step",
        yaxis_title="trials",
    )
    return fig


def shared_bins(values: pd.Series) -> dict:
    """One set of histogram bins for every group of a panel, keeping every value.

    Plotly's bins are [edge, next edge): the last edge sits just above the largest value,
    so a value on numpy's last edge is counted (all positives at 0.9999996 once vanished).
    A near-constant panel still gets a visible bar.
    """
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    if finite.empty:
        return {}
    edges = np.histogram_bin_edges(finite, bins="auto")
    low, high = float(edges[0]), float(edges[-1])
    if high <= low:  # every value equal: one bar around it
        half = max(abs(low), 1.0) * 1e-3
        return {"start": low - half, "end": low + half, "size": 2 * half}
    bins = min(len(edges) - 1, HISTOGRAM_BINS)
    pad = max((high - low) * EDGE_PAD, float(np.spacing(abs(high))) * 16)
    size = (high + pad - low) / bins
    return {"start": low, "end": low + bins * size, "size": size}


def histogram_marker(color: str, *, reference: bool) -> dict:
    """Arms: translucent bars; the reference group: a dark outline over a faint fill, so nothing hides."""
    if reference:
        return {"color": rgba(color, REFERENCE_FILL), "line": {"color": color, "width": 2}}
    return {"color": rgba(color, HISTOGRAM_OPACITY), "line": {"color": color, "width": 1}}


def histograms(
    table: pd.DataFrame,
    *,
    columns: dict[str, str],
    reference: str | None = None,
    count_label: str = "count",
    title: str = "Distributions over seeds",
) -> go.Figure:
    """Overlaid histograms per group ('arm' column) of each column, one panel each, bins shared in a panel.

    `columns` maps each column to its x-axis title; the `reference` group (e.g. the
    positives, shared by every arm) is drawn last, as an outline on top of the others.
    """
    fig = make_subplots(rows=len(columns), cols=1, vertical_spacing=0.3 / max(len(columns), 1))
    # the reference last
    groups = sorted(table["arm"].astype(str).unique(), key=lambda g: g == reference)
    colors = arm_colors([g for g in groups if g != reference]) | (
        {reference: REFERENCE_COLOR} if reference else {}
    )
    for row, (column, axis_title) in enumerate(columns.items(), start=1):
        bins = shared_bins(table[column])
        for group in groups:
            values = table.loc[table["arm"].astype(str) == group, column]
            fig.add_histogram(
                x=values, name=group, marker=histogram_marker(colors[group], reference=group == reference),
                xbins=bins, autobinx=False, legendgroup=group, showlegend=row == 1, row=row, col=1,
            )  # fmt: skip
        fig.update_xaxes(title_text=axis_title, row=row, col=1)
        fig.update_yaxes(title_text=count_label, row=row, col=1)
    fig.update_layout(barmode="overlay", title=title, height=max(300, 280 * len(columns)))
    return fig


def steps_to_threshold_figure(
    reached: pd.DataFrame,
    *,
    metric: str,
    threshold: float,
    target: str = "",
    mode: Mode | str = Mode.MIN,
    colors: dict[str, str] | None = None,
) -> go.Figure:
    """Box of the steps each seed needed to reach `threshold`; seeds that diverged or never did are counted."""
    fig = go.Figure()
    colors = colors or arm_colors(reached["arm"])
    for arm, group in reached.groupby("arm"):
        diverged = int(group["diverged"].sum()) if "diverged" in group else 0
        never = int(group["steps"].isna().sum()) - diverged
        counts = [f"{diverged} diverged" if diverged else "", f"{never} never" if never else ""]
        suffix = (
            f" ({', '.join(c for c in counts if c)} of {len(group)})" if diverged or never else ""
        )
        fig.add_box(
            y=group["steps"],
            name=f"{arm}{suffix}",
            marker_color=colors[str(arm)],
            boxpoints="all",
            pointpos=0,
        )
    relation = "<=" if as_mode(mode) is Mode.MIN else ">="
    title = f"Steps to reach {metric} {relation} {threshold:.4g}" + (
        f"<br><sup>{target}</sup>" if target else ""
    )
    fig.update_layout(title=title, xaxis_title="arm", yaxis_title="step", showlegend=False)
    return fig
