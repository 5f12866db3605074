"""The index of a campaign: one row per study with its question, arms, seeds, verdicts, best arm and links.

    from tune_ired.analysis.index import StudyEntry, entry_of, index_html, index_markdown

`tune_ired.report` builds one `StudyEntry` per study of a campaign folder (a finished,
running, killed or not yet started study alike) and writes `index.md` and `index.html`
beside the per-study reports.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from tune_ired.analysis.study import Findings, Study, best_arm
from tune_ired.analysis.verdict import BADGES, OUTCOMES
from tune_ired.record.campaignfile import StudyStatus
from tune_ired.record.catalogue import UNFINISHED

# the index's words for a study beyond campaign.json's StudyStatus
KILLED = "killed"  # recorded as running, but its process is gone
NOT_STARTED = "not started"
INCOMPLETE = "unfinished"  # recorded as finished, but its trials did not all end (an older resume)


@dataclass
class StudyEntry:
    """One row of the index: what a study asked and what it found (empty where it has no result yet)."""

    name: str
    state: str  # finished, running, interrupted, killed, failed, not started, ...
    question: str = ""
    arms: int = 0
    seeds: str = ""
    diverged: int = 0
    baseline: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)
    best: str = ""
    # (title, href relative to the index)
    links: list[tuple[str, str]] = field(default_factory=list)

    def row(self) -> dict[str, str]:
        verdicts = ", ".join(
            f"{self.outcomes[k]} {BADGES[k]}" for k in OUTCOMES if self.outcomes.get(k)
        )
        return {
            "study": self.name,
            "state": self.state,
            "question": self.question,
            "arms": str(self.arms) if self.arms else "",
            "seeds per arm": self.seeds,
            "diverged seeds": str(self.diverged) if self.arms else "",
            "baseline": self.baseline,
            "verdicts": verdicts or ("no verdict" if self.arms else ""),
            "best arm": self.best,
        }


def study_state(recorded: str, study: Study) -> str:
    """The study's state: the campaign's record, corrected by its trials (a 'running' study with no live
    process left behind unfinished trials: killed)."""
    unfinished = study.trials["status"].isin(UNFINISHED).any()
    if recorded == StudyStatus.FINISHED and not unfinished:
        return StudyStatus.FINISHED
    if recorded == StudyStatus.RUNNING:
        return StudyStatus.RUNNING if unfinished else StudyStatus.FINISHED
    return recorded if recorded != StudyStatus.FINISHED else INCOMPLETE


def entry_of(
    name: str, recorded: str, study: Study, findings: Findings, links: list[tuple[str, str]]
) -> StudyEntry:
    """The index row of a study that has trials."""
    seeds = findings.summary["seeds"].astype(int)
    return StudyEntry(
        name=name,
        state=study_state(recorded, study),
        question=str(study.meta.get("description", "")),
        arms=len(study.arms),
        seeds=f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}",
        diverged=int(findings.summary["diverged"].sum()),
        baseline=findings.baseline or "",
        outcomes=findings.outcomes.value_counts().to_dict(),
        best=best_text(study, findings),
        links=links,
    )


def best_text(study: Study, findings: Findings) -> str:
    """The best arm by `study.best_arm`'s rule, saying so when only some arms trained their whole budget."""
    best = best_arm(study, findings)
    if best is None:
        return ""
    ranked = len(findings.complete)
    return (
        best if ranked == len(study.arms) else f"{best} (of the {ranked} arm(s) trained to the end)"
    )


def index_table(entries: list[StudyEntry]) -> pd.DataFrame:
    return pd.DataFrame([entry.row() for entry in entries])


def index_markdown(title: str, entries: list[StudyEntry], *, lines: list[str]) -> str:
    table = index_table(entries)
    header = "| " + " | ".join(table.columns) + " | links |"
    rows = [
        "| "
        + " | ".join(map(str, row))
        + " | "
        + ", ".join(f"[{t}]({h})" for t, h in entry.links)
        + " |"
        for row, entry in zip(table.to_numpy(), entries, strict=True)
    ]
    separator = "|" + "---|" * (len(table.columns) + 1)
    return "\n".join([f"# {title}", "", *lines, "", header, separator, *rows, ""])


def index_html(title: str, entries: list[StudyEntry], *, lines: list[str]) -> str:
    table = index_table(entries)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [*table.columns, "links"])
    body = ""
    for row, entry in zip(table.to_numpy(), entries, strict=True):
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        links = " ".join(f"<a href='{html.escape(h)}'>{html.escape(t)}</a>" for t, h in entry.links)
        body += f"<tr>{cells}<td>{links}</td></tr>"
    text = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    style = (
        "body{font-family:sans-serif;margin:16px}"
        "td,th{padding:2px 8px;text-align:left}th{border-bottom:1px solid #888}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{text}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
