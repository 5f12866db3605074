"""Turn a sweep folder into a report: self-contained HTML, a Markdown summary and LaTeX tables.

    python -m tune_ired.report results/strategies                     # writes results/strategies/report/
    python -m tune_ired.report results/strategies --baseline none --out reports/strategies
    python -m tune_ired.report results/strategies --static            # + every figure as PDF and PNG
    python -m tune_ired.report results/strategies --landscape         # + its energy landscapes, linked
    python -m tune_ired.report results/research_plan                  # a campaign: an index of its studies

The folder is read without Ray (`tune_ired.results`). The report opens with a verdict per
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

A folder holding several sweeps (a campaign's folder, `tune_ired.campaign`) gets an index,
`report/index.html` and `index.md`: one row per study with its question, state (finished,
running, killed, not started), arms, seeds, diverged seeds, verdicts and best arm, linking
each study's own report (written into its folder as above). An energy landscape already in
a sweep's `landscape/` folder is linked from its report; `--landscape` computes it first
(`python -m tune_ired.landscape`, in its own process: this module never imports torch).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tune_ired.catalogue import Mode, as_mode
from tune_ired.cli import ExitCode, fail

if TYPE_CHECKING:
    from tune_ired.analysis.study import Findings, Study

# The analysis stack (pandas, plotly, scipy) is imported inside the functions that use it, after
# the arguments are parsed: --help answers at once.

REPORT_FOLDER = "report"  # default output folder, inside the sweep folder
OUTPUTS = {"html": "report.html", "markdown": "summary.md", "latex": "tables.tex"}
STATIC_FOLDER = "figures"  # --static PDFs and PNGs, inside the report folder
LANDSCAPE_FOLDER = "landscape"  # a sweep's energy landscapes (python -m tune_ired.landscape SWEEP)
LANDSCAPE_PAGE = "landscape.html"
INDEX = {"markdown": "index.md", "html": "index.html"}  # a campaign's index, in its report folder


@dataclass
class Report:
    """What `write_report` wrote, and the study and findings it stated."""

    paths: dict[str, Path]
    study: Study
    findings: Findings


class Progress:
    """'report: [k/N] step (elapsed)' lines on stderr."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.perf_counter()

    def __call__(self, what: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        print(
            f"report: [{self.done}/{self.total}] {what} ({elapsed:.1f}s)",
            file=sys.stderr,
            flush=True,
        )


def write_report(
    sweep: Path,
    *,
    out: Path,
    baseline: str | None = None,
    metric: str | None = None,
    mode: str | None = None,
    static: bool = False,
    landscape: bool = False,
) -> Report:
    """Write report.html, summary.md and tables.tex (with `static` the figures, with `landscape` the
    energy landscapes first) into `out`."""
    from tune_ired.analysis.panels import figure_builders
    from tune_ired.analysis.render import html_report, latex_tables, markdown_summary
    from tune_ired.analysis.static import export_static, latex_figures
    from tune_ired.analysis.study import analyse, load_study

    if landscape:
        write_landscape(sweep)
    study = load_study(sweep, metric=metric, mode=mode)
    findings = analyse(study, baseline=baseline)
    builders = list(figure_builders(study, findings))
    progress = Progress(len(builders) + len(OUTPUTS) + 1 + static)
    progress(
        f"loaded {len(study.trials)} trials, {len(study.curves)} evaluation rows, {len(study.arms)} arms"
    )
    built = []
    for title, build in builders:
        built.append((title, build()))
        progress(f"figure: {title}")
    out.mkdir(parents=True, exist_ok=True)
    links = landscape_links(sweep, out)
    texts = {
        "markdown": markdown_summary(study, findings, links=links),
        "latex": latex_tables(study, findings),
        "html": html_report(study, findings, built, links=links),
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
    return Report(paths=paths, study=study, findings=findings)


def write_landscape(sweep: Path) -> None:
    """The sweep's energy landscapes into SWEEP/landscape/, by `python -m tune_ired.landscape` (torch stays there)."""
    cmd = [
        sys.executable,
        "-m",
        "tune_ired.landscape",
        str(sweep),
        "--out",
        str(sweep / LANDSCAPE_FOLDER),
    ]
    print(f"report: energy landscapes of {sweep} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def landscape_links(sweep: Path, out: Path) -> list[tuple[str, str]]:
    """A link (relative to `out`) to the sweep's energy landscape page, when it has one."""
    page = sweep / LANDSCAPE_FOLDER / LANDSCAPE_PAGE
    return [("Energy landscape", os.path.relpath(page, out))] if page.exists() else []


def live(pid: int | None) -> bool:
    """True when process `pid` runs on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def campaign_studies(folder: Path) -> list[tuple[str, str, Path]]:
    """(name, recorded state, sweep folder) of each study: campaign.json's, else every sweep inside."""
    from tune_ired import results
    from tune_ired.runlog import read_json

    studies = read_json(folder / results.CAMPAIGN_FILE).get("studies", [])
    if not studies:
        return [
            (child.name, "", child) for child in sorted(folder.iterdir()) if results.is_sweep(child)
        ]
    states = {"running": lambda study: "running" if live(study.get("pid")) else "killed"}
    return [
        (
            study["name"],
            states.get(study["status"], lambda s: s["status"])(study),
            folder / study["name"],
        )
        for study in studies
    ]


def is_campaign_folder(folder: Path) -> bool:
    """A folder of several sweeps (a campaign's): campaign.json, or sweeps inside and none itself."""
    from tune_ired import results

    if (folder / results.CAMPAIGN_FILE).exists():
        return True
    return (
        folder.is_dir()
        and not results.is_sweep(folder)
        and any(results.is_sweep(c) for c in folder.iterdir())
    )


def write_campaign_report(
    folder: Path, *, out: Path, static: bool = False, landscape: bool = False
) -> dict:
    """Every study's report (into its folder) and the campaign's index (into `out`); the index paths."""
    from tune_ired import results
    from tune_ired.analysis.index import StudyEntry, entry_of, index_html, index_markdown
    from tune_ired.runlog import read_json

    entries = []
    for name, state, sweep in campaign_studies(folder):
        if not results.is_sweep(sweep):
            entries.append(
                StudyEntry(name=name, state="not started" if state in ("", "pending") else state)
            )
            continue
        print(f"report: study {name}", file=sys.stderr, flush=True)
        report = write_report(sweep, out=sweep / REPORT_FOLDER, static=static, landscape=landscape)
        links = [("report", os.path.relpath(report.paths["html"], out))]
        links += [
            (title, os.path.relpath(sweep / REPORT_FOLDER / href, out))
            for title, href in landscape_links(sweep, sweep / REPORT_FOLDER)
        ]
        entries.append(entry_of(name, state or "finished", report.study, report.findings, links))
    out.mkdir(parents=True, exist_ok=True)
    title = f"Campaign report: {folder.name}"
    lines = [
        f"Folder: {folder}; {len(entries)} studies.",
        str(read_json(folder / results.CAMPAIGN_FILE).get("description", "")),
    ]
    lines = [line for line in lines if line]
    paths = {kind: out / name for kind, name in INDEX.items()}
    paths["markdown"].write_text(index_markdown(title, entries, lines=lines), encoding="utf-8")
    paths["html"].write_text(index_html(title, entries, lines=lines), encoding="utf-8")
    return paths


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.report", description=__doc__.splitlines()[0]
    )
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
    from tune_ired import results
    from tune_ired.analysis.static import StaticExportError

    out = args.out or args.sweep / REPORT_FOLDER
    try:
        if is_campaign_folder(args.sweep):
            paths = write_campaign_report(
                args.sweep, out=out, static=args.static, landscape=args.landscape
            )
        else:
            paths = write_report(
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
        StaticExportError,
        subprocess.CalledProcessError,
    ) as err:
        return fail(str(err.args[0] if err.args else err))
    print(paths["markdown"].read_text(encoding="utf-8"))
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
