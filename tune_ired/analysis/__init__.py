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

Modules: `arms` (arm labels, each seed's state, per-seed finals, curves), `intervals` (the
ratio-of-means intervals a verdict decides on: Fieller's and a log-scale one, vectorised),
`stats` (summaries, paired tests, rank consistency), `divergence` (how each seed's state
counts: the divergence penalty and the pairing rule), `verdict` (success criteria,
family-wise level), `study` (a sweep and its findings), `figures`
(plotly figures), `panels` (which figures a study gets), `numbers` (digits), `provenance`
(what produced a sweep), `render` (Markdown, LaTeX, HTML).
"""

from tune_ired.analysis import figures
from tune_ired.analysis.arms import (
    SeedState,
    arm_keys,
    label_arms,
    seed_curves,
    seed_finals,
    steps_to_threshold,
)
from tune_ired.analysis.divergence import DIVERGENCE_RULE, PAIRING_RULE, score_curves
from tune_ired.analysis.intervals import (
    improvement_interval,
    log_improvement_interval,
    view_columns,
)
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
    judge_view,
    verdicts,
)

__all__ = [
    "DCD_CRITERION",
    "DIVERGENCE_RULE",
    "MINING_CRITERION",
    "PAIRING_RULE",
    "VERDICT_RULE",
    "Findings",
    "SeedState",
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
    "judge_view",
    "kendalls_w",
    "label_arms",
    "load_study",
    "log_improvement_interval",
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
    "view_columns",
]
