"""A sweep folder into a report (self-contained HTML, a Markdown summary, LaTeX tables); a campaign into an index.

    from tune_ired.analysis.report import write_report
    report = write_report(Path("results/strategies"), out=Path("reports/strategies"))
    report.paths["html"], report.findings.verdicts

`python -m tune_ired.report` is the command line (`tune_ired.report`); this module does the
work: it loads the study (`tune_ired.analysis.study`), builds every figure it supports
(`tune_ired.analysis.panels`), renders the three outputs (`tune_ired.analysis.render`), with
`static` every figure as PDF and PNG (`tune_ired.analysis.static`), with `landscape` the energy
landscapes first (`python -m tune_ired.landscape`, in its own process: this side never imports
torch), and for a campaign's folder each study's report plus an index
(`tune_ired.analysis.index`). Progress lines go to stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tune_ired.analysis.index import (
    KILLED,
    NOT_STARTED,
    StudyEntry,
    entry_of,
    index_html,
    index_markdown,
)
from tune_ired.analysis.outputs import (
    INDEX,
    LANDSCAPE_FOLDER,
    LANDSCAPE_OUTPUTS,
    REPORT_FOLDER,
    REPORT_OUTPUTS,
    STATIC_FOLDER,
)
from tune_ired.analysis.panels import figure_builders
from tune_ired.analysis.render import html_report, latex_tables, markdown_summary
from tune_ired.analysis.static import export_static, latex_figures
from tune_ired.analysis.study import Findings, Study, analyse, load_study
from tune_ired.record import results
from tune_ired.record.campaignfile import CAMPAIGN_FILE, StudyStatus, read_campaign
from tune_ired.record.provenance import is_running


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
    if landscape:
        write_landscape(sweep)
    study = load_study(sweep, metric=metric, mode=mode)
    findings = analyse(study, baseline=baseline)
    builders = list(figure_builders(study, findings))
    progress = Progress(len(builders) + len(REPORT_OUTPUTS) + 1 + static)
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
        paths[kind] = out / REPORT_OUTPUTS[kind]
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
    page = sweep / LANDSCAPE_FOLDER / LANDSCAPE_OUTPUTS["html"]
    return [("Energy landscape", os.path.relpath(page, out))] if page.exists() else []


def campaign_studies(folder: Path) -> list[tuple[str, str, Path]]:
    """(name, recorded state, sweep folder) of each study: campaign.json's, else every sweep inside."""
    studies = read_campaign(folder).get("studies", [])
    if not studies:
        return [
            (child.name, "", child) for child in sorted(folder.iterdir()) if results.is_sweep(child)
        ]
    states = {
        StudyStatus.RUNNING: lambda study: (
            study["status"] if is_running(study.get("pid")) else KILLED
        )
    }
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
    if (folder / CAMPAIGN_FILE).exists():
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
    entries = []
    for name, state, sweep in campaign_studies(folder):
        if not results.is_sweep(sweep):
            entries.append(
                StudyEntry(
                    name=name, state=NOT_STARTED if state in ("", StudyStatus.PENDING) else state
                )
            )
            continue
        print(f"report: study {name}", file=sys.stderr, flush=True)
        report = write_report(sweep, out=sweep / REPORT_FOLDER, static=static, landscape=landscape)
        links = [("report", os.path.relpath(report.paths["html"], out))]
        links += [
            (title, os.path.relpath(sweep / REPORT_FOLDER / href, out))
            for title, href in landscape_links(sweep, sweep / REPORT_FOLDER)
        ]
        entries.append(
            entry_of(name, state or StudyStatus.FINISHED, report.study, report.findings, links)
        )
    out.mkdir(parents=True, exist_ok=True)
    title = f"Campaign report: {folder.name}"
    lines = [
        f"Folder: {folder}; {len(entries)} studies.",
        str(read_campaign(folder).get("description", "")),
    ]
    lines = [line for line in lines if line]
    paths = {kind: out / name for kind, name in INDEX.items()}
    paths["markdown"].write_text(index_markdown(title, entries, lines=lines), encoding="utf-8")
    paths["html"].write_text(index_html(title, entries, lines=lines), encoding="utf-8")
    return paths
