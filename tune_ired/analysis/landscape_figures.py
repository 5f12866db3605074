"""Plotly figures of energy landscapes (`tune_ired.landscapes.write.landscape`), the arms side by side, and their page.

Each figure has one column per arm and one row per diffusion step t (the basin summary:
one column per t). Lines and slices show the median over seeds of each seed's median
over problems; line bands run from the lowest to the highest seed, as in the learning
curves. Nothing here reads files.

    from tune_ired.landscapes.write import landscape
    from tune_ired.analysis import landscape_figures
    tables = landscape("results/strategies")
    landscape_figures.line_figure(tables.profiles, tables.basin).show()
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from tune_ired.analysis.figures import BAND_OPACITY, rgba

DIRECTION_COLORS = {"negative": "#d62728", "random": "#7f7f7f", "prediction": "#1f77b4"}
TARGET_SYMBOLS = {"negative": "x", "prediction": "circle-open"}
# white, outlined: seen on dark and light colours
PLANE_SYMBOLS = {"negative": "x", "prediction": "circle"}
# pixels per subplot: readable with up to a dozen arms in a row
PANEL_WIDTH, PANEL_HEIGHT = (340, 260)
MARGIN_WIDTH, MARGIN_HEIGHT = 160, 140  # axis titles, legend and colour bar around the panels


def panel_grid(rows: list, cols: list, *, titles: list[str], **kwargs) -> go.Figure:
    """Subplots sized by their count."""
    fig = make_subplots(rows=len(rows), cols=len(cols), subplot_titles=titles, **kwargs)
    fig.update_layout(
        width=max(700, PANEL_WIDTH * len(cols) + MARGIN_WIDTH),
        height=PANEL_HEIGHT * len(rows) + MARGIN_HEIGHT,
    )
    return fig


def arms_and_steps(table: pd.DataFrame) -> tuple[list[str], list[int]]:
    """The arms in the order they were read, and the sorted diffusion steps."""
    return list(dict.fromkeys(table["arm"])), sorted(table["t"].unique())


def line_figure(profiles: pd.DataFrame, basin: pd.DataFrame, *, width_rise: float) -> go.Figure:
    """Energy rise E(c + alpha u) - E(c) along each direction; crosses and circles mark the targets."""
    arms, steps = arms_and_steps(profiles)
    titles = [f"{arm}, t = {t}" for t in steps for arm in arms]
    fig = panel_grid(steps, arms, titles=titles)
    for (arm, t, direction), group in profiles.groupby(["arm", "t", "direction"], sort=False):
        row, col, first = steps.index(t) + 1, arms.index(arm) + 1, (arm, t) == (arms[0], steps[0])
        by_alpha = group.groupby("alpha")["q50"].agg(["median", "min", "max"]).reset_index()
        color = DIRECTION_COLORS[direction]
        x = list(by_alpha["alpha"]) + list(by_alpha["alpha"][::-1])
        band = list(by_alpha["max"]) + list(by_alpha["min"][::-1])
        fig.add_scatter(
            x=x, y=band, fill="toself", fillcolor=rgba(color, BAND_OPACITY), line={"width": 0}, mode="lines",
            hoverinfo="skip", showlegend=False, legendgroup=direction, row=row, col=col,
        )  # fmt: skip
        fig.add_scatter(
            x=by_alpha["alpha"], y=by_alpha["median"], mode="lines", line={"color": color}, name=direction,
            legendgroup=direction, showlegend=first, row=row, col=col,
        )  # fmt: skip
    targets = basin[basin["direction"].isin(list(TARGET_SYMBOLS))]
    for (arm, t, direction), group in targets.groupby(["arm", "t", "direction"], sort=False):
        fig.add_scatter(
            x=[group["target_distance"].median()], y=[group["target_rise"].median()], mode="markers",
            marker={"color": DIRECTION_COLORS[direction], "symbol": TARGET_SYMBOLS[direction], "size": 11},
            name=f"{direction} (median position)", legendgroup=direction,
            showlegend=(arm, t) == (arms[0], steps[0]), row=steps.index(t) + 1, col=arms.index(arm) + 1,
        )  # fmt: skip
    fig.add_hline(
        y=width_rise, line_dash="dot", line_color="black", opacity=0.4, row="all", col="all"
    )
    fig.update_xaxes(title_text="alpha (distance from c)", row=len(steps))
    fig.update_yaxes(title_text="E - E(c)", col=1)
    fig.update_layout(
        title="Energy along lines from the true inverse c (median over seeds; band: seed range)"
    )
    return fig


def signed_log(values: np.ndarray) -> np.ndarray:
    """sign(v) log10(1 + |v|): keeps sign and order, tames energies that differ by orders of magnitude."""
    return np.sign(values) * np.log10(1 + np.abs(values))


def slice_figure(slices: pd.DataFrame, plane_targets: pd.DataFrame) -> go.Figure:
    """Median energy rise on the plane of the negative (a axis) and prediction (b axis) directions."""
    arms, steps = arms_and_steps(slices)
    titles = [f"{arm}, t = {t}" for t in steps for arm in arms]
    fig = panel_grid(steps, arms, titles=titles)
    for (arm, t), group in slices.groupby(["arm", "t"], sort=False):
        row, col = steps.index(t) + 1, arms.index(arm) + 1
        grid = group.groupby(["b", "a"])["rise"].median().unstack("a")  # rows b, columns a
        fig.add_contour(
            x=grid.columns, y=grid.index, z=signed_log(grid.to_numpy()), coloraxis="coloraxis",
            contours={"coloring": "heatmap"}, row=row, col=col,
        )  # fmt: skip
        marks = plane_targets[(plane_targets["arm"] == arm) & (plane_targets["t"] == t)]
        for target, where in marks.groupby("target", sort=False):
            fig.add_scatter(
                x=[where["a"].median()], y=[where["b"].median()], mode="markers", name=target, legendgroup=target,
                marker={"color": "white", "symbol": PLANE_SYMBOLS[target], "size": 12, "line": {"width": 1.5}},
                showlegend=(arm, t) == (arms[0], steps[0]), row=row, col=col,
            )  # fmt: skip
    fig.update_layout(
        title="Energy on the plane of the mined negative (a) and the prediction (b): median over seeds",
        coloraxis={
            "colorscale": "Viridis",
            "colorbar": {
                "title": "sign·log10(1+|E - E(c)|)",
                "len": 0.6,
                "y": 0,
                "yanchor": "bottom",
            },
        },
    )
    fig.update_xaxes(title_text="a (towards the negative)", row=len(steps))
    fig.update_yaxes(title_text="b (prediction, orthogonal part)", col=1)
    return fig


def basin_figure(basin: pd.DataFrame, *, width_rise: float) -> go.Figure:
    """Width towards each target (and the negatives' distance) and depth per arm, each seed a point."""
    _, steps = arms_and_steps(basin)
    titles = [f"{what}, t = {t}" for what in ("width towards the target", "depth") for t in steps]
    fig = panel_grid([0, 1], steps, titles=titles)
    clipped = basin.assign(width_fwd=basin["width_fwd"].clip(upper=basin["radius"]))
    negatives = clipped[clipped["direction"] == "negative"].assign(direction="negative's distance")
    negatives = negatives.assign(width_fwd=negatives["target_distance"])
    colors = {**DIRECTION_COLORS, "negative's distance": "#9467bd"}
    for row, measure in ((1, "width_fwd"), (2, "depth")):
        shown = pd.concat([clipped, negatives]) if row == 1 else clipped
        for (t, direction), group in shown.groupby(["t", "direction"], sort=False):
            fig.add_box(
                x=group["arm"], y=group[measure], name=direction, legendgroup=direction, boxpoints="all",
                marker_color=colors[direction], showlegend=bool(row == 1 and t == steps[0]),
                row=row, col=steps.index(t) + 1,
            )  # fmt: skip
    fig.update_layout(
        boxmode="group",
        title=f"Basin width (distance to a rise of {width_rise:g}; drawn at the window's edge when never reached) "
        "and depth, per seed",
    )
    return fig


def landscape_figures(tables) -> list[tuple[str, go.Figure]]:
    """(title, figure) of a `tune_ired.landscapes.probe.Landscape`, in page order."""
    return [
        (
            "Energy along lines",
            line_figure(tables.profiles, tables.basin, width_rise=tables.width_rise),
        ),
        (
            "Energy on the negative-prediction plane",
            slice_figure(tables.slices, tables.plane_targets),
        ),
        ("Basin width and depth per arm", basin_figure(tables.basin, width_rise=tables.width_rise)),
    ]


def html_page(
    title: str, *, lines: list[str], table: pd.DataFrame, figures: list[tuple[str, go.Figure]]
) -> str:
    """A self-contained page (plotly.js inlined, no CDN): sentences, the table, then every figure."""
    body = [f"<h1>{html.escape(title)}</h1>", *(f"<p>{html.escape(line)}</p>" for line in lines)]
    body.append(table.to_html(index=False, border=0))
    for name, fig in figures:
        body.append(
            f"<h2>{html.escape(name)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False)
        )
    style = "body{font-family:sans-serif;margin:1em 2em}td,th{padding:2px 8px;text-align:right}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(body)}</body></html>"
    )
