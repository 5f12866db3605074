"""Render a study's findings as Markdown, LaTeX (booktabs) and a self-contained HTML page.

The tables are formatted once, as text (`display_tables`), and then written in each
format, so the three outputs always state the same numbers. Verdicts come first, each
with its badge (MEETS / MISSES / INCONCLUSIVE), interval, seeds, divergence counts and
caveats on one line; a short provenance block says what produced the sweep. The HTML
page inlines plotly.js, so it opens offline.

    from tune_ired.analysis.render import markdown_summary
    print(markdown_summary(study, findings))
"""

from __future__ import annotations

import html
import math
import re

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from tune_ired.analysis.arms import SeedState
from tune_ired.analysis.divergence import PAIRING_RULE
from tune_ired.analysis.intervals import decide_confidence
from tune_ired.analysis.numbers import NA, count, decimals_for, fixed, mean_pm, percent, pvalue, sig
from tune_ired.analysis.provenance import provenance_lines
from tune_ired.analysis.study import Findings, Study, best_arm
from tune_ired.analysis.verdict import BADGES, LEVEL, VERDICT_RULE, Verdict, family_rule

Links = tuple[tuple[str, str], ...] | list[tuple[str, str]]  # (title, href relative to the report)
LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "±": r"$\pm$",
}
CODE_SPAN = re.compile(
    r"`([^`]+)`"
)  # Markdown's inline code, which HTML and LaTeX write their own way
BADGE_COLORS = {"meets": "#1a7f37", "misses": "#cf222e", "inconclusive": "#6e7781"}
STYLE = (
    "body{font-family:sans-serif;max-width:1400px;margin:auto;padding:0 16px}.wide{overflow-x:auto}"
    "table{font-size:90%}td,th{padding:2px 6px;text-align:right;white-space:nowrap}th{border-bottom:1px solid #888}"
    ".badge{color:#fff;border-radius:4px;padding:1px 6px;font-weight:bold;font-size:90%}"
    + "".join(f".badge.{outcome}{{background:{color}}}" for outcome, color in BADGE_COLORS.items())
)


def interval(low: float, high: float, decimals: int | None) -> str:
    return f"[{fixed(low, decimals)}, {fixed(high, decimals)}]"


def bracket(low: float, high: float) -> str:
    """'[+24.1, +35.8]', or '(no CI)' where the interval is undefined."""
    return "(no CI)" if math.isnan(low) else f"[{percent(low)}, {percent(high)}]"


def improvement(estimate: float, low: float, high: float) -> str:
    """'+30.2 [+24.1, +35.8]': an improvement in percent with its interval ('no CI' where undefined)."""
    return NA if math.isnan(estimate) else f"{percent(estimate)} {bracket(low, high)}"


def steps_text(row: pd.Series) -> str:
    """'1000', or '200-1000' when the arm's seeds trained to different steps; 'n/a' when none trained."""
    low, high = row.get("trained_from", math.nan), row.get("trained_to", math.nan)
    if math.isnan(high):
        return NA
    return f"{high:g}" if low == high else f"{low:g}-{high:g}"


def summary_row(row: pd.Series, ranks: pd.Series) -> dict[str, str]:
    places = decimals_for(row["std"])
    all_diverged = row[SeedState.FINISHED] + row[SeedState.UNFINISHED] == 0 and row["diverged"] > 0
    first = ranks.get("share_first", math.nan)
    return {
        "seeds": str(int(row["seeds"])),
        "diverged": f"{int(row['diverged'])}/{int(row['seeds'])}",
        "mean ± std": "all diverged" if all_diverged else mean_pm(row["mean"], row["std"]),
        f"{LEVEL}% CI (bootstrap)": NA
        if all_diverged
        else interval(row["ci_low"], row["ci_high"], places),
        "best seed": "diverged" if all_diverged else fixed(row["best"], places),
        "mean rank": sig(ranks.get("mean_rank", math.nan), 3),
        "ranked first": NA if math.isnan(first) else f"{first:.0%}",
    }


def summary_table(findings: Findings) -> pd.DataFrame:
    """One row per arm; 'trained to' when arms trained to different steps, a column per other state."""
    s, r = findings.summary, findings.ranks.reindex(findings.summary.index)
    table = pd.DataFrame([summary_row(row, r.loc[arm]) for arm, row in s.iterrows()], index=s.index)
    steps = s.apply(steps_text, axis=1)
    if steps[steps != NA].nunique() > 1:
        table.insert(1, "trained to", steps)
    for state in (SeedState.UNFINISHED, SeedState.NO_RESULT, SeedState.INVALID):
        if s[state].any():
            table[str(state).replace("_", " ")] = s[state].astype(int).astype(str)
    return table


def simultaneous(row: pd.Series, prefix: str = "") -> str:
    """'F [+20.1, +41.0]; log [+19.5, +40.2]': a view's deciding intervals."""
    fieller = bracket(row[prefix + "fieller_low"], row[prefix + "fieller_high"])
    if row[prefix + "log_skipped"]:
        log = "skipped"
    else:
        log = (
            NA
            if math.isnan(row[prefix + "log_low"])
            else bracket(row[prefix + "log_low"], row[prefix + "log_high"])
        )
    return f"Fieller {fieller}; log {log}"


def comparison_row(row: pd.Series, *, outcome: str, finished_column: bool) -> dict[str, str]:
    diverged = row["arm_diverged"] > 0 or row["baseline_diverged"] > 0
    family = int(row["family"])
    cells = {
        "verdict": BADGES[outcome],
        "paired seeds": str(int(row["seeds"])),
        "diverged (arm; base)": (
            f"{row['arm_diverged']}/{row['arm_seeds']}; {row['baseline_diverged']}/{row['baseline_seeds']}"
        ),
        f"improvement % [per-comparison {LEVEL}% CI]": improvement(
            row["improvement_pct"], row["improvement_low"], row["improvement_high"]
        ),
        f"simultaneous {decide_confidence(family) * 100:.4g}% CI (Bonferroni, m = {family})": (
            simultaneous(row)
        ),
    }
    if finished_column:
        finite = (
            row["finite_improvement_pct"],
            row["finite_improvement_low"],
            row["finite_improvement_high"],
        )
        seeds = count(int(row["finite_seeds"]), "seed")
        judged = f"{improvement(*finite)}; {simultaneous(row, 'finite_')}; {seeds}"
        cells["finished seeds only"] = (
            "same" if not diverged else judged if row["finite_seeds"] >= 2 else f"n/a, {seeds}"
        )
    cells["left out"] = row["left_out"] or "none"
    cells["Cohen's d (arm - base)"] = NA if math.isnan(row["cohen_d"]) else f"{row['cohen_d']:.2f}"
    cells["t p (Holm)"] = f"{pvalue(row['t_p'])} ({pvalue(row['t_p_holm'])})"
    cells["Wilcoxon p (Holm)"] = f"{pvalue(row['wilcoxon_p'])} ({pvalue(row['wilcoxon_p_holm'])})"
    return cells


def comparison_table(findings: Findings) -> pd.DataFrame:
    """One row per compared arm; a 'finished seeds only' column when any seed of the pair diverged."""
    c = findings.comparison
    finished_column = bool(((c["arm_diverged"] > 0) | (c["baseline_diverged"] > 0)).any())
    rows = [
        comparison_row(
            row, outcome=findings.outcomes.get(arm, "inconclusive"), finished_column=finished_column
        )
        for arm, row in c.iterrows()
    ]
    return pd.DataFrame(rows, index=c.index)


def best_table(findings: Findings) -> pd.DataFrame:
    table = findings.best_trials.set_index("trial_id")
    return table.map(lambda v: sig(v) if isinstance(v, float) else str(v))


def display_tables(findings: Findings) -> dict[str, pd.DataFrame]:
    """Title -> text table, in report order."""
    tables = {"Per-arm summary": summary_table(findings)}
    if findings.comparison is not None and len(findings.comparison):
        tables[f"Against the baseline '{findings.baseline}', paired by seed"] = comparison_table(
            findings
        )
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
        lines.append(
            f"Rank consistency across seeds: Kendall's W = {w:.2f} (1: every seed ranks the arms alike)."
        )
    return lines


def best_line(study: Study, findings: Findings) -> str:
    """The best arm by mean final metric, among the arms that trained their whole budget (said so)."""
    best = best_arm(study, findings)
    if best is None:
        return (
            f"No arm that trained its whole budget has a finished seed of {study.metric}: "
            "no arm is ranked."
        )
    row = findings.summary.loc[best]
    first = findings.ranks["share_first"].get(best, math.nan)
    ranked = "" if math.isnan(first) else f"; ranked first in {first:.0%} of seeds"
    spread = f"{mean_pm(row['mean'], row['std'])} over {int(row['seeds'])} seeds, {int(row['diverged'])} diverged"
    unranked = len(study.arms) - len(findings.complete)
    among = (
        f"of the {len(findings.complete)} arm(s) whose every seed finished training or diverged "
        f"(the other {unranked}, stopped early or lacking seeds, are unranked)"
        if unranked
        else "of all arms"
    )
    return (
        f"Best {among} by mean final {study.metric}, diverged seeds scored by the rule: "
        f"{best} ({spread}{ranked})."
    )


def common_line(study: Study, findings: Findings) -> list[str]:
    """Every arm at the last evaluation they all reached (when some arm stopped early)."""
    if findings.common is None:
        return []
    step, means = findings.common
    values = ", ".join(f"{arm} {sig(value)}" for arm, value in means.items())
    return [
        f"At step {step:g}, the last evaluation every arm reached (some arms stopped early), mean "
        f"{study.metric} over seeds, best first: {values}; no verdict is drawn at this step."
    ]


def key_findings(study: Study, findings: Findings) -> list[str]:
    """The few sentences a reader wants after the verdicts: the best arm, the common step and the tally."""
    lines = [best_line(study, findings), *common_line(study, findings)]
    if len(findings.outcomes):
        counts = findings.outcomes.value_counts()
        tally = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("meets", "misses", "inconclusive"))
        lines.append(
            f"Against '{findings.baseline}', of {len(findings.outcomes)} arm(s): {tally} (their criterion)."
        )
    return lines


def verdict_rule(findings: Findings) -> list[str]:
    """The rules under the verdicts: the verdict rule, the pairing rule and the family-wise statement."""
    if not findings.verdicts:
        return []
    return [
        f"Rule: {VERDICT_RULE}.",
        f"Pairing: {PAIRING_RULE}.",
        family_rule(findings.comparison, findings.baseline),
    ]


def markdown_table(table: pd.DataFrame) -> str:
    header = [table.index.name or "arm", *table.columns]
    rows = [[str(i), *map(str, row)] for i, row in zip(table.index, table.to_numpy(), strict=True)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown_verdict(verdict: Verdict) -> str:
    return f"- **{verdict.badge}** {verdict.text}"


def markdown_summary(study: Study, findings: Findings, *, links: Links = ()) -> str:
    """The report as Markdown; `links` are (title, relative path) of outputs beside it (energy landscapes)."""
    parts = [f"# Sweep report: {study.folder.name}", "", *overview_lines(study, findings), ""]
    if findings.verdicts:
        parts += [
            "## Verdicts",
            "",
            *map(markdown_verdict, findings.verdicts),
            "",
            *verdict_rule(findings),
            "",
        ]
    parts += ["## Key findings", "", *[f"- {line}" for line in key_findings(study, findings)], ""]
    for title, table in display_tables(findings).items():
        parts += [f"## {title}", "", markdown_table(table), ""]
    if findings.notes:
        parts += ["## Notes", "", *[f"- {note}" for note in findings.notes], ""]
    parts += [
        "## Provenance",
        "",
        *[f"- {line}" for line in provenance_lines(study.provenance, study.trials)],
        "",
    ]
    if links:
        parts += ["## Linked outputs", "", *[f"- [{title}]({href})" for title, href in links], ""]
    return "\n".join(parts)


def latex_escape(text: str) -> str:
    """`text` for LaTeX: special characters escaped, Markdown code spans as \\texttt."""
    parts = CODE_SPAN.split(str(text))  # odd positions: the insides of code spans
    escaped = ["".join(LATEX_SPECIAL.get(ch, ch) for ch in part) for part in parts]
    return "".join(rf"\texttt{{{part}}}" if i % 2 else part for i, part in enumerate(escaped))


def plain(text: str) -> str:
    """`text` without Markdown's code-span backticks (for LaTeX comments)."""
    return CODE_SPAN.sub(r"\1", str(text))


def html_text(text: str) -> str:
    """`text` for HTML: escaped, Markdown code spans as <code>."""
    return CODE_SPAN.sub(r"<code>\1</code>", html.escape(str(text)))


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
        [
            f"% tune_ired report of {study.folder}: final {study.metric}; needs \\usepackage{{booktabs}}"
        ]
        + [
            f"% {plain(line)}"
            for line in [*map(str, findings.verdicts), *key_findings(study, findings)]
        ]
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
    return (
        f"<h2>{html.escape(title)}</h2><ul>"
        + "".join(f"<li>{html_text(i)}</li>" for i in items)
        + "</ul>"
    )


def html_verdicts(findings: Findings) -> str:
    if not findings.verdicts:
        return ""
    items = "".join(
        f"<li><span class='badge {v.outcome}'>{v.badge}</span> {html_text(v.text)}</li>"
        for v in findings.verdicts
    )
    rule = "".join(f"<p>{html_text(line)}</p>" for line in verdict_rule(findings))
    return f"<h2>Verdicts</h2><ul>{items}</ul>{rule}"


def html_table(table: pd.DataFrame) -> str:
    """The table with its header on one row (the index is an ordinary first column)."""
    flat = table.rename_axis(table.index.name or "arm").reset_index()
    return f"<div class='wide'>{flat.to_html(classes='table', border=0, index=False)}</div>"


def html_links(links: Links) -> str:
    if not links:
        return ""
    items = "".join(
        f"<li><a href='{html.escape(href)}'>{html.escape(title)}</a></li>" for title, href in links
    )
    return f"<h2>Linked outputs</h2><ul>{items}</ul>"


def html_report(
    study: Study, findings: Findings, figures: list[tuple[str, go.Figure]], *, links: Links = ()
) -> str:
    """A self-contained page: verdicts first, findings, tables, notes, provenance, links and every figure (no CDN)."""
    body = [f"<h1>Sweep report: {html.escape(study.folder.name)}</h1>"]
    body += [f"<p>{html_text(line)}</p>" for line in overview_lines(study, findings)]
    body.append(html_verdicts(findings))
    body.append(html_list("Key findings", key_findings(study, findings)))
    for title, table in display_tables(findings).items():
        body.append(f"<h2>{html.escape(title)}</h2>" + html_table(table))
    body.append(html_list("Notes", findings.notes))
    body.append(html_list("Provenance", provenance_lines(study.provenance, study.trials)))
    body.append(html_links(links))
    for title, fig in figures:
        body.append(
            f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False)
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Sweep report: {html.escape(study.folder.name)}</title><style>{STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>{''.join(body)}</body></html>"
    )
