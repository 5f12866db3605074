"""Analysis of sweep folders: arms and seeds, multi-seed statistics, verdicts, plotly figures, report text.

The tables are read by `tune_ired.results` (Ray's files on disk, without Ray); this package
turns them into numbers a reviewer accepts. The report command (`python -m tune_ired.report`)
and the notebooks in `analysis/` use only what is exported here.

    from tune_ired.analysis import analyse, load_study, study_figures
    study = load_study("results/strategies")
    findings = analyse(study, baseline="none")
    for line in findings.verdicts: print(line)
    for title, fig in study_figures(study, findings):
        fig.show()

Modules: `arms` (arm labels, per-seed finals and curves), `stats` (summaries, paired tests,
rank consistency), `verdict` (success criteria), `study` (a sweep and its findings),
`figures` (plotly figures), `panels` (which figures a study gets), `render` (Markdown,
LaTeX, HTML).
"""

from tune_ired.analysis import figures
from tune_ired.analysis.arms import arm_keys, label_arms, seed_curves, seed_finals, steps_to_threshold
from tune_ired.analysis.panels import conditioning_table, study_figures
from tune_ired.analysis.stats import (
    compare_to_baseline,
    kendalls_w,
    rank_consistency,
    seed_matrix,
    summarize_arms,
)
from tune_ired.analysis.study import Findings, Study, analyse, load_study
from tune_ired.analysis.verdict import DCD_CRITERION, MINING_CRITERION, verdicts

__all__ = [
    "DCD_CRITERION",
    "MINING_CRITERION",
    "Findings",
    "Study",
    "analyse",
    "arm_keys",
    "compare_to_baseline",
    "conditioning_table",
    "figures",
    "kendalls_w",
    "label_arms",
    "load_study",
    "rank_consistency",
    "seed_curves",
    "seed_finals",
    "seed_matrix",
    "steps_to_threshold",
    "study_figures",
    "summarize_arms",
    "verdicts",
]
