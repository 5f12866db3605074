"""Energy landscapes of trained IRED models around the true inverse (issue 15, plan item Q-010).

    python -m tune_ired.landscape runs/quick                       # writes runs/quick/landscape/
    python -m tune_ired.landscape results/dcd_ablation --steps 0,5,9 --out reports/landscape --static

Reads a run folder or every trial of a sweep folder (`tune_ired.snapshots`: the final,
else the latest checkpoint; EMA weights unless `--weights live`; every seed of a
multi-seed trial, measured per seed), probes each model (`tune_ired.probe`: lines from
the true inverse towards a mined negative, a random direction and the model's own
prediction, and a 2-D slice, at several diffusion steps t; measures defined in
`tune_ired.basin`) and writes into `--out` (default `FOLDER/landscape`):
`landscape.html` (self-contained: plotly.js inlined), `basin.csv` (one row per arm,
trial, seed, step t and direction) and `basin.md` (medians over seeds, also printed);
with `--static`, every figure as PDF and PNG in `figures/` and `figures.tex`
(`\\includegraphics` lines; `tune_ired.analysis.static`). A folder that is neither a run
nor a sweep, a step the model does not have, or a missing Chromium exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tune_ired.analysis.landscape_figures import html_page, landscape_figures
from tune_ired.analysis.static import StaticExportError, export_static, latex_figures
from tune_ired.cli import ExitCode, fail
from tune_ired.probe import DEFAULT_PROBLEMS, MEASURES, Landscape, default_steps, probe
from tune_ired.snapshots import WEIGHTS, NoRunError, find_checkpoints, load_snapshot

OUT_FOLDER = "landscape"  # default output folder, inside the run or sweep folder
STATIC_FOLDER = "figures"  # PDFs and PNGs, inside the output folder
OUTPUTS = {
    "html": "landscape.html",
    "csv": "basin.csv",
    "markdown": "basin.md",
    "latex": "figures.tex",
}
TABLE_TITLE = "Energy landscape: basin measures (median over problems, then over seeds)"
DEFINITIONS = "Definitions: python -m tune_ired.landscape --help, and the README's section 'Energy landscapes'."


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
    paths = {kind: out / name for kind, name in OUTPUTS.items() if kind != "latex"}
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
        paths["latex"] = out / OUTPUTS["latex"]
        paths["latex"].write_text(
            latex_figures(figures, out / STATIC_FOLDER, relative_to=out), encoding="utf-8"
        )
    return paths


def parse_steps(text: str) -> list[int]:
    """'0,5,9' -> [0, 5, 9]."""
    try:
        return sorted({int(part) for part in text.split(",")})
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of steps, e.g. 0,5,9"
        ) from err


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.landscape",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "folder", type=Path, help="a run folder (tune_ired.train --out) or a sweep folder"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: FOLDER/landscape)")
    parser.add_argument(
        "--steps",
        type=parse_steps,
        help="diffusion steps, e.g. 0,5,9 (default: first, middle, last)",
    )
    parser.add_argument(
        "--problems", type=int, default=DEFAULT_PROBLEMS, help="validation problems per landscape"
    )
    parser.add_argument(
        "--weights", choices=WEIGHTS, default="ema", help="EMA weights (evaluated) or the live ones"
    )
    parser.add_argument(
        "--static",
        action="store_true",
        help="also write each figure as PDF and PNG, and figures.tex",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or args.folder / OUT_FOLDER
    try:
        if args.problems < 1:
            raise BadInputError(f"--problems {args.problems}: at least 1")
        paths = write_landscapes(
            args.folder,
            out=out,
            steps=args.steps,
            problems=args.problems,
            weights=args.weights,
            static=args.static,
        )
    except (NoRunError, StaticExportError, BadInputError) as err:
        return fail(str(err))
    print(paths["markdown"].read_text(encoding="utf-8"))
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
