"""Render a study's findings as Markdown, LaTeX (booktabs) and a self-contained HTML page.

The tables are formatted once, as text (`display_tables`), and then written in each
format, so the three outputs always state the same numbers. The HTML page inlines
plotly.js, so it opens offline.

    from tune_ired.analysis.render import markdown_summary
    print(markdown_summary(study, findings))
"""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from tune_ired.analysis.stats import CONFIDENCE
from tune_ired.analysis.study import Findings, Study

LEVEL = round(CONFIDENCE * 100)
LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}", "±": r"$\pm$"}


def num(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def intervals(lows: pd.Series, highs: pd.Series, *, signed: bool = False) -> list[str]:
    """'[low, high]' texts: signed percentages to one decimal, else numbers to 4 significant digits."""
    text = (lambda v: f"{v:+.1f}") if signed else num
    return [f"[{text(lo)}, {text(hi)}]" for lo, hi in zip(lows, highs, strict=True)]


def summary_table(findings: Findings) -> pd.DataFrame:
    s, r = findings.summary, findings.ranks
    return pd.DataFrame(
        {
            "seeds": s["seeds"].astype(int).astype(str),
            "mean ± std": [f"{num(m)} ± {num(d)}" for m, d in zip(s["mean"], s["std"], strict=True)],
            f"{LEVEL}% CI (bootstrap)": intervals(s["ci_low"], s["ci_high"]),
            "best seed": s["min"].map(num),
            "mean rank": r["mean_rank"].reindex(s.index).map(num),
            "ranked first": r["share_first"].reindex(s.index).map(lambda v: "n/a" if math.isnan(v) else f"{v:.0%}"),
        },
        index=s.index,
    )


def comparison_table(findings: Findings) -> pd.DataFrame:
    c = findings.comparison
    return pd.DataFrame(
        {
            "seeds": c["seeds"].astype(int).astype(str),
            "improvement %": c["improvement_pct"].map(lambda v: f"{v:+.1f}"),
            f"{LEVEL}% CI (bootstrap)": intervals(c["improvement_ci_low"], c["improvement_ci_high"], signed=True),
            f"{LEVEL}% CI (t)": intervals(c["improvement_t_low"], c["improvement_t_high"], signed=True),
            "Cohen's d (arm - baseline)": c["cohen_d"].map(lambda v: "n/a" if math.isnan(v) else f"{v:.2f}"),
            "t p (Holm)": [f"{num(p)} ({num(h)})" for p, h in zip(c["t_p"], c["t_p_holm"], strict=True)],
            "Wilcoxon p (Holm)": [
                f"{num(p)} ({num(h)})" for p, h in zip(c["wilcoxon_p"], c["wilcoxon_p_holm"], strict=True)
            ],
        },
        index=c.index,
    )


def best_table(findings: Findings) -> pd.DataFrame:
    table = findings.best_trials.set_index("trial_id")
    return table.map(lambda v: num(v) if isinstance(v, float) else str(v))


def display_tables(findings: Findings) -> dict[str, pd.DataFrame]:
    """Title -> text table, in report order."""
    tables = {"Per-arm summary": summary_table(findings)}
    if findings.comparison is not None and len(findings.comparison):
        tables[f"Against the baseline '{findings.baseline}', paired by seed"] = comparison_table(findings)
    tables["Best trials"] = best_table(findings)
    return tables


def overview_lines(study: Study, findings: Findings) -> list[str]:
    """Plain sentences: what was swept and how the trials ended."""
    statuses = ", ".join(f"{n} {s}" for s, n in findings.statuses.items())
    seeds = findings.summary["seeds"]
    per_arm = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    lines = [
        f"Sweep folder: `{study.folder}`; metric: final `{study.metric}` ({study.mode}imised).",
        f"{len(study.trials)} trials ({statuses}); {len(study.arms)} arm(s) with {per_arm} seed(s) each.",
    ]
    if not math.isnan(findings.kendall_w):
        w = findings.kendall_w
        lines.append(f"Rank consistency across seeds: Kendall's W = {w:.2f} (1: every seed ranks the arms alike).")
    return lines


def key_findings(study: Study, findings: Findings) -> list[str]:
    """The few sentences a reader wants first: the best arm, how the verdicts came out, what failed."""
    summary = findings.summary.dropna(subset=["mean"])
    lines = []
    if len(summary):
        best = summary["mean"].idxmin() if study.mode == "min" else summary["mean"].idxmax()
        row = summary.loc[best]
        first = findings.ranks["share_first"].get(best, math.nan)
        ranked = "" if math.isnan(first) else f", ranked first in {first:.0%} of seeds"
        lines.append(f"Best arm by mean final {study.metric}: {best} ({num(row['mean'])} ± {num(row['std'])}{ranked}).")
    if len(findings.outcomes):
        counts = findings.outcomes.value_counts()
        tally = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("meets", "misses", "inconclusive"))
        lines.append(f"Against '{findings.baseline}', of {len(findings.outcomes)} arm(s): {tally} (their criterion).")
    return lines


def markdown_table(table: pd.DataFrame) -> str:
    header = [table.index.name or "arm", *table.columns]
    rows = [[str(i), *map(str, row)] for i, row in zip(table.index, table.to_numpy(), strict=True)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown_summary(study: Study, findings: Findings) -> str:
    parts = [f"# Sweep report: {study.folder.name}", "", *overview_lines(study, findings), ""]
    parts += ["## Key findings", "", *[f"- {line}" for line in key_findings(study, findings)], ""]
    if findings.verdicts:
        parts += ["## Verdicts", "", *[f"- {line}" for line in findings.verdicts], ""]
    for title, table in display_tables(findings).items():
        parts += [f"## {title}", "", markdown_table(table), ""]
    if findings.notes:
        parts += ["## Notes", "", *[f"- {note}" for note in findings.notes], ""]
    return "\n".join(parts)


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(table: pd.DataFrame, *, caption: str) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    header = [table.index.name or "arm", *table.columns]
    body = [[str(i), *map(str, row)] for i, row in zip(table.index, table.to_numpy(), strict=True)]
    rows = [" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in body]
    return "\n".join(
        [
            r"\begin{table}[ht]",
            r"\centering",
            rf"\caption{{{latex_escape(caption)}}}",
            r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in header) + r" \\",
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
        ]
    )


def latex_tables(study: Study, findings: Findings) -> str:
    intro = "\n".join(
        [f"% tune_ired report of {study.folder}: final {study.metric}; needs \\usepackage{{booktabs}}"]
        + [f"% {line}" for line in key_findings(study, findings)]
    )
    tables = [
        latex_table(table, caption=f"{title} (final {study.metric})")
        for title, table in display_tables(findings).items()
    ]
    return "\n\n".join([intro, *tables]) + "\n"


def html_list(title: str, items: list[str]) -> str:
    """A titled bullet list, or '' when there is nothing to say."""
    if not items:
        return ""
    return f"<h2>{html.escape(title)}</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def html_report(study: Study, findings: Findings, figures: list[tuple[str, go.Figure]]) -> str:
    """A self-contained page: overview, verdicts, tables and every figure, plotly.js inlined (no CDN)."""
    body = [f"<h1>Sweep report: {html.escape(study.folder.name)}</h1>"]
    body += [f"<p>{html.escape(line)}</p>" for line in overview_lines(study, findings)]
    body.append(html_list("Key findings", key_findings(study, findings)))
    body.append(html_list("Verdicts", findings.verdicts))
    for title, table in display_tables(findings).items():
        body.append(f"<h2>{html.escape(title)}</h2>" + table.to_html(classes="table", border=0))
    body.append(html_list("Notes", findings.notes))
    for title, fig in figures:
        body.append(f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False))
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px;text-align:right}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Sweep report: {html.escape(study.folder.name)}</title><style>{style}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>{''.join(body)}</body></html>"
    )
