"""Turn a sweep folder into a report: self-contained HTML, a Markdown summary and LaTeX tables.

    python -m tune_ired.report results/strategies                     # writes results/strategies/report/
    python -m tune_ired.report results/strategies --baseline none --out reports/strategies
    python -m tune_ired.report results/strategies --static            # + every figure as PDF and PNG
    python -m tune_ired.report results/strategies --landscape         # + its energy landscapes, linked
    python -m tune_ired.report results/research_plan                  # a campaign: an index of its studies

The folder is read without Ray (`tune_ired.record.results`). The report opens with a verdict per
arm against the research's success criteria (a MEETS / MISSES / INCONCLUSIVE badge, the
improvement with its per-comparison and its deciding, family-wise intervals, the seeds
each arm contributed and divergence counts on one line, the family-wise rule below),
then per-arm mean, std and bootstrap CI over seeds, paired-by-seed tests against the
baseline arm (Holm corrected), rank consistency, the best trials, notes, a provenance
block and every figure the sweep supports (`report.html` opens offline: plotly.js is
inlined). A diverged seed counts as a failure, and seeds one arm lacks never excuse the
other's failures (`tune_ired.analysis.divergence`). Progress goes to
stderr. With `--static` every figure is also written as PDF and PNG into `figures/` and
included by `tables.tex` (`tune_ired.analysis.static`: plotly's kaleido driving the
installed Chromium, offline). A folder that is not a sweep, an unknown arm, or `--static`
without a browser exits with code 2 and a message naming it.

A folder holding several sweeps (a campaign's folder, `tune_ired.tuning.campaign`) gets an index,
`report/index.html` and `index.md`: one row per study with its question, state (finished,
running, killed, not started), arms, seeds, diverged seeds, verdicts and best arm, linking
each study's own report (written into its folder as above). An energy landscape already in
a sweep's `landscape/` folder is linked from its report; `--landscape` computes it first
(`python -m tune_ired.landscape`, in its own process: this module never imports torch).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tune_ired._lazy import lazy
from tune_ired.analysis.outputs import LANDSCAPE_FOLDER, REPORT_FOLDER, STATIC_FOLDER
from tune_ired.cli import ExitCode, add_version, fail, prog
from tune_ired.record.catalogue import Mode, as_mode

# pandas, plotly and scipy load when the report is written, after the arguments are parsed
work = lazy("tune_ired.analysis.report")
results = lazy("tune_ired.record.results")
static = lazy("tune_ired.analysis.static")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog("report"), description=__doc__.splitlines()[0])
    add_version(parser)
    parser.add_argument(
        "sweep", type=Path, help="sweep folder (the --storage/--name folder of tune_ired.sweep)"
    )
    parser.add_argument(
        "--baseline", help="arm the others are compared with (default: 'none' when present)"
    )
    parser.add_argument("--out", type=Path, help=f"output folder (default: SWEEP/{REPORT_FOLDER})")
    parser.add_argument(
        "--metric", help="metric to compare (default: the sweep's own, else val/mse)"
    )
    parser.add_argument(
        "--mode",
        type=as_mode,
        choices=list(Mode),
        help="min: lower is better, in any case (default: the sweep's own)",
    )
    parser.add_argument(
        "--static",
        action="store_true",
        help=f"also write each figure as PDF and PNG into OUT/{STATIC_FOLDER}/",
    )
    parser.add_argument(
        "--landscape",
        action="store_true",
        help=f"first compute the energy landscapes (SWEEP/{LANDSCAPE_FOLDER}/)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # before the analysis stack is imported: --help answers at once
    out = args.out or args.sweep / REPORT_FOLDER
    try:
        if work.is_campaign_folder(args.sweep):
            paths = work.write_campaign_report(
                args.sweep, out=out, static=args.static, landscape=args.landscape
            )
        else:
            paths = work.write_report(
                args.sweep,
                out=out,
                baseline=args.baseline,
                metric=args.metric,
                mode=args.mode,
                static=args.static,
                landscape=args.landscape,
            ).paths
    except (
        results.NotASweepError,
        KeyError,
        static.StaticExportError,
        subprocess.CalledProcessError,
    ) as err:
        return fail(str(err.args[0] if err.args else err))
    print(paths["markdown"].read_text(encoding="utf-8"))
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
