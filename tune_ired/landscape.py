"""Energy landscapes of trained IRED models around the true inverse (issue 15, plan item Q-010).

    python -m tune_ired.landscape runs/quick                       # writes runs/quick/landscape/
    python -m tune_ired.landscape results/dcd_ablation --steps 0,5,9 --out reports/landscape --static

Reads a run folder or every trial of a sweep folder (`tune_ired.landscapes.snapshots`: the final,
else the latest checkpoint; EMA weights unless `--weights live`; every seed of a
multi-seed trial, measured per seed), probes each model (`tune_ired.landscapes.probe`: lines from
the true inverse towards a mined negative, a random direction and the model's own
prediction, and a 2-D slice, at several diffusion steps t; measures defined in
`tune_ired.landscapes.basin`) and writes into `--out` (default `FOLDER/landscape`):
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

from tune_ired._lazy import lazy
from tune_ired.analysis.outputs import LANDSCAPE_FOLDER
from tune_ired.cli import ExitCode, add_version, fail, prog
from tune_ired.landscapes.options import DEFAULT_PROBLEMS, WEIGHTS

# torch, pandas and plotly load after the arguments are parsed
work = lazy("tune_ired.landscapes.write")
snapshots = lazy("tune_ired.landscapes.snapshots")
static = lazy("tune_ired.analysis.static")


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
        prog=prog("landscape"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(parser)
    parser.add_argument(
        "folder", type=Path, help="a run folder (tune_ired.train --out) or a sweep folder"
    )
    parser.add_argument(
        "--out", type=Path, help=f"output folder (default: FOLDER/{LANDSCAPE_FOLDER})"
    )
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
    if args.problems < 1:
        return fail(f"--problems {args.problems}: at least 1")
    out = args.out or args.folder / LANDSCAPE_FOLDER
    try:
        paths = work.write_landscapes(
            args.folder,
            out=out,
            steps=args.steps,
            problems=args.problems,
            weights=args.weights,
            static=args.static,
        )
    except (snapshots.NoRunError, static.StaticExportError, work.BadInputError) as err:
        return fail(str(err))
    print(paths["markdown"].read_text(encoding="utf-8"))
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
