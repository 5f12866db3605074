"""Energy landscapes of a run folder or of every trial of a sweep: probe each model, write tables and figures.

    from tune_ired.landscapes.write import write_landscapes
    paths = write_landscapes(Path("runs/quick"), out=Path("runs/quick/landscape"))

Finds the models (`tune_ired.landscapes.snapshots`), probes each one
(`tune_ired.landscapes.probe`, measures of `tune_ired.landscapes.basin`) and writes
`landscape.html`, `basin.csv`, `basin.md` and, with `static`, every figure as PDF and PNG
with `figures.tex` (`tune_ired.analysis.static`). `python -m tune_ired.landscape` is its
command line (`tune_ired.landscape`); docs/landscapes.md defines every measure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tune_ired.analysis.landscape_figures import html_page, landscape_figures
from tune_ired.analysis.outputs import LANDSCAPE_OUTPUTS, STATIC_FOLDER
from tune_ired.analysis.static import export_static, latex_figures
from tune_ired.landscapes.options import DEFAULT_PROBLEMS
from tune_ired.landscapes.probe import MEASURES, Landscape, default_steps, probe
from tune_ired.landscapes.snapshots import NoRunError, find_checkpoints, load_snapshot

TABLE_TITLE = "Energy landscape: basin measures (median over problems, then over seeds)"
DEFINITIONS = "Definitions: python -m tune_ired.landscape --help, and docs/landscapes.md."


class BadInputError(ValueError):
    """A request the models cannot answer: a diffusion step they do not have, no problems."""


def landscape(
    folder: Path | str,
    *,
    steps: list[int] | None = None,
    problems: int = DEFAULT_PROBLEMS,
    weights: str = "ema",
) -> Landscape:
    """The landscape tables of a run folder or of every trial of a sweep folder (one model in memory at a time).

    `steps` default to each model's first, middle and last diffusion step; a step a model
    does not have raises BadInputError naming it.
    """
    sources, skipped = find_checkpoints(folder)
    parts = []
    for source in sources:
        snap = load_snapshot(source, weights=weights)
        own = steps if steps is not None else default_steps(snap.cfg.diffusion_steps)
        bad = [t for t in own if not 0 <= t < snap.cfg.diffusion_steps]
        if bad:
            raise BadInputError(
                f"--steps {bad}: {source.trial} has diffusion steps 0..{snap.cfg.diffusion_steps - 1}"
            )
        parts.append(probe(snap, steps=own, problems=problems))
    if not parts:
        raise NoRunError(f"{folder}: no trial has a checkpoint yet ({'; '.join(skipped)})")
    tables = {
        key: pd.concat([getattr(p, key) for p in parts], ignore_index=True)
        for key in Landscape.table_names()
    }
    return Landscape(**tables, sources=[line for p in parts for line in p.sources], skipped=skipped)


def seed_summary(basin: pd.DataFrame) -> pd.DataFrame:
    """The basin table's measures as medians over seeds, per arm, step t and direction (with the seed count)."""
    keys = ["arm", "t", "direction"]
    columns = ["radius", "energy_centre", *MEASURES]
    summary = basin.groupby(keys, sort=False)[columns].median()
    summary.insert(0, "seeds", basin.groupby(keys, sort=False)["seed"].count())
    return summary.reset_index()


def number(value: float) -> str:
    """Four significant digits; 'inf' (a width never reached) as '> R'."""
    if value == np.inf:
        return "> R"
    return "n/a" if pd.isna(value) else f"{value:.4g}"


def display_summary(basin: pd.DataFrame) -> pd.DataFrame:
    """`seed_summary` as text, numbers to four significant digits: what the Markdown and the page show."""
    summary = seed_summary(basin)
    return summary.map(lambda v: number(v) if isinstance(v, float) else str(v))


def markdown(tables: Landscape) -> str:
    """The basin measures (medians over seeds) as a Markdown table, with what they were read from."""
    summary = display_summary(tables.basin)
    header = list(summary.columns)
    lines = [f"# {TABLE_TITLE}", ""]
    lines += [f"- {line}" for line in tables.sources + tables.skipped]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in summary.itertuples(index=False)]
    lines += ["", DEFINITIONS, ""]
    return "\n".join(lines)


def write_landscapes(
    folder: Path | str,
    *,
    out: Path,
    steps: list[int] | None = None,
    problems: int = DEFAULT_PROBLEMS,
    weights: str = "ema",
    static: bool = False,
) -> dict[str, Path]:
    """Write landscape.html, basin.csv and basin.md (and, with `static`, figures/ and figures.tex) into `out`.

    Returns the paths by kind ("html", "csv", "markdown", and "latex" plus one "figure:<file>" per
    static file), for a report to link.
    """
    tables = landscape(folder, steps=steps, problems=problems, weights=weights)
    figures = landscape_figures(tables)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in LANDSCAPE_OUTPUTS.items() if kind != "latex"}
    tables.basin.to_csv(paths["csv"], index=False)
    text = markdown(tables)
    paths["markdown"].write_text(text, encoding="utf-8")
    page = html_page(
        f"Energy landscape: {Path(folder).resolve().name}",
        lines=[TABLE_TITLE + ".", *tables.sources, *tables.skipped, DEFINITIONS],
        table=display_summary(tables.basin),
        figures=figures,
    )
    paths["html"].write_text(page, encoding="utf-8")
    if static:
        written = export_static(figures, out / STATIC_FOLDER)
        paths.update({f"figure:{path.name}": path for path in written})
        paths["latex"] = out / LANDSCAPE_OUTPUTS["latex"]
        paths["latex"].write_text(
            latex_figures(figures, out / STATIC_FOLDER, relative_to=out), encoding="utf-8"
        )
    return paths
