"""Analysis of sweep folders: arms and seeds, multi-seed statistics, verdicts, plotly figures, report text.

The tables are read by `tune_ired.results` (Ray's files on disk, without Ray); this package
turns them into numbers a reviewer accepts. The report command (`python -m tune_ired.report`)
and the notebooks in `analysis/` use only what is exported here.

    from tune_ired.analysis import analyse, load_study, study_figures
    study = load_study("results/strategies")
    findings = analyse(study, baseline="none")
    for verdict in findings.verdicts: print(verdict)   # 'MEETS: adversarial vs none: ...'
    print(study.provenance)                             # sweep.json's code, packages, device, host
    for title, fig in study_figures(study, findings):
        fig.show()

Modules: `arms` (arm labels, per-seed finals with divergence, curves), `stats` (summaries,
Fieller intervals, paired tests, rank consistency), `divergence` (how a diverged seed
counts), `verdict` (success criteria), `study` (a sweep and its findings), `figures`
(plotly figures), `panels` (which figures a study gets), `numbers` (digits), `provenance`
(what produced a sweep), `render` (Markdown, LaTeX, HTML).
"""

from tune_ired.analysis import figures
from tune_ired.analysis.arms import (
    arm_keys,
    label_arms,
    seed_curves,
    seed_finals,
    steps_to_threshold,
)
from tune_ired.analysis.divergence import DIVERGENCE_RULE, score_curves
from tune_ired.analysis.panels import (
    conditioning_figure,
    conditioning_table,
    curve_figure,
    response_figure,
    study_figures,
    threshold_target,
)
from tune_ired.analysis.stats import (
    compare_to_baseline,
    improvement_interval,
    kendalls_w,
    rank_consistency,
    seed_matrix,
    summarize_arms,
)
from tune_ired.analysis.study import Findings, Study, analyse, load_study
from tune_ired.analysis.verdict import (
    DCD_CRITERION,
    MINING_CRITERION,
    VERDICT_RULE,
    Verdict,
    verdicts,
)

__all__ = [
    "DCD_CRITERION",
    "DIVERGENCE_RULE",
    "MINING_CRITERION",
    "VERDICT_RULE",
    "Findings",
    "Study",
    "Verdict",
    "analyse",
    "arm_keys",
    "compare_to_baseline",
    "conditioning_figure",
    "conditioning_table",
    "curve_figure",
    "figures",
    "improvement_interval",
    "kendalls_w",
    "label_arms",
    "load_study",
    "rank_consistency",
    "response_figure",
    "score_curves",
    "seed_curves",
    "seed_finals",
    "seed_matrix",
    "steps_to_threshold",
    "study_figures",
    "summarize_arms",
    "threshold_target",
    "verdicts",
]
