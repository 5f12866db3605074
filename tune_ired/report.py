"""Turn a sweep folder into a report: self-contained HTML, a Markdown summary and LaTeX tables.

    python -m tune_ired.report results/strategies                     # writes results/strategies/report/
    python -m tune_ired.report results/strategies --baseline none --out reports/strategies
    python -m tune_ired.report results/dcd_ablation --baseline Q-201
    python -m tune_ired.report results/strategies --static            # + every figure as PDF and PNG

The folder is read without Ray (`tune_ired.results`). The report opens with a verdict per
arm against the research's success criteria (a MEETS / MISSES / INCONCLUSIVE badge, the
improvement's Fieller interval, seeds and divergence counts on one line), then per-arm
mean, std and bootstrap CI over seeds, paired-by-seed tests against the baseline arm
(Holm corrected), rank consistency, the best trials, notes, a provenance block and every
figure the sweep supports (`report.html` opens offline: plotly.js is inlined). A diverged
seed counts as a failure by one rule (`tune_ired.analysis.divergence`). Progress goes to
stderr. With `--static` every figure is also written as PDF and PNG into `figures/` and
included by `tables.tex` (`tune_ired.analysis.static`: plotly's kaleido driving the
installed Chromium, offline). A folder that is not a sweep, an unknown arm, or `--static`
without a browser exits with code 2 and a message naming it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tune_ired.catalogue import Mode
from tune_ired.cli import ExitCode, fail

REPORT_FOLDER = "report"  # default output folder, inside the sweep folder
OUTPUTS = {"html": "report.html", "markdown": "summary.md", "latex": "tables.tex"}
STATIC_FOLDER = "figures"  # --static PDFs and PNGs, inside the report folder


class Progress:
    """'report: [k/N] step (elapsed)' lines on stderr."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.perf_counter()

    def __call__(self, what: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        print(f"report: [{self.done}/{self.total}] {what} ({elapsed:.1f}s)", file=sys.stderr, flush=True)


def write_report(
    sweep: Path,
    *,
    out: Path,
    baseline: str | None = None,
    metric: str | None = None,
    mode: str | None = None,
    static: bool = False,
) -> dict[str, Path]:
    """Write report.html, summary.md and tables.tex (and with `static` the figures) into `out`; paths by kind."""
    from tune_ired.analysis.panels import figure_builders
    from tune_ired.analysis.render import html_report, latex_tables, markdown_summary
    from tune_ired.analysis.static import export_static, latex_figures
    from tune_ired.analysis.study import analyse, load_study

    study = load_study(sweep, metric=metric, mode=mode)
    findings = analyse(study, baseline=baseline)
    builders = list(figure_builders(study, findings))
    progress = Progress(len(builders) + len(OUTPUTS) + 1 + static)
    progress(f"loaded {len(study.trials)} trials, {len(study.curves)} evaluation rows, {len(study.arms)} arms")
    built = []
    for title, build in builders:
        built.append((title, build()))
        progress(f"figure: {title}")
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "markdown": markdown_summary(study, findings),
        "latex": latex_tables(study, findings),
        "html": html_report(study, findings, built),
    }
    paths = {}
    if static:
        written = export_static(built, out / STATIC_FOLDER)
        texts["latex"] += "\n" + latex_figures(built, out / STATIC_FOLDER, relative_to=out)
        paths |= {f"figure {path.name}": path for path in written}
        progress(f"wrote {len(written)} static figures into {out / STATIC_FOLDER}")
    for kind, text in texts.items():
        paths[kind] = out / OUTPUTS[kind]
        paths[kind].write_text(text, encoding="utf-8")
        progress(f"wrote {paths[kind]}")
    return paths


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_ired.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="sweep folder (the --storage/--name folder of tune_ired.sweep)")
    parser.add_argument("--baseline", help="arm the others are compared with (default: 'none' when present)")
    parser.add_argument("--out", type=Path, help=f"output folder (default: SWEEP/{REPORT_FOLDER})")
    parser.add_argument("--metric", help="metric to compare (default: the sweep's own, else val/mse)")
    parser.add_argument("--mode", choices=list(Mode), help="min: lower is better (default: the sweep's own)")
    parser.add_argument(
        "--static", action="store_true", help=f"also write each figure as PDF and PNG into OUT/{STATIC_FOLDER}/"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # before the analysis stack is imported: --help answers at once
    from tune_ired import results
    from tune_ired.analysis.static import StaticExportError

    out = args.out or args.sweep / REPORT_FOLDER
    try:
        paths = write_report(
            args.sweep, out=out, baseline=args.baseline, metric=args.metric, mode=args.mode, static=args.static
        )
    except (results.NotASweepError, KeyError, StaticExportError) as err:
        return fail(str(err.args[0] if err.args else err))
    print(paths["markdown"].read_text(encoding="utf-8"))
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
