"""Analysis of sweep folders: arms and seeds, multi-seed statistics, verdicts, plotly figures, report text.

The tables are read by `tune_ired.record.results` (Ray's files on disk, without Ray); this package
turns them into numbers a reviewer accepts. The report command (`python -m tune_ired.report`)
and the notebooks in `analysis/` use only what is exported here. Each name is imported from its
module when first used (`tune_ired._lazy`), so `import tune_ired.analysis.outputs` stays light.

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

from tune_ired._lazy import lazy_attributes

HOMES = {  # each public name -> its module
    "SeedState": "tune_ired.analysis.arms",
    "arm_keys": "tune_ired.analysis.arms",
    "label_arms": "tune_ired.analysis.arms",
    "seed_curves": "tune_ired.analysis.arms",
    "seed_finals": "tune_ired.analysis.arms",
    "steps_to_threshold": "tune_ired.analysis.arms",
    "DIVERGENCE_RULE": "tune_ired.analysis.divergence",
    "PAIRING_RULE": "tune_ired.analysis.divergence",
    "score_curves": "tune_ired.analysis.divergence",
    "improvement_interval": "tune_ired.analysis.intervals",
    "log_improvement_interval": "tune_ired.analysis.intervals",
    "view_columns": "tune_ired.analysis.intervals",
    "conditioning_figure": "tune_ired.analysis.panels",
    "conditioning_table": "tune_ired.analysis.panels",
    "curve_figure": "tune_ired.analysis.panels",
    "response_figure": "tune_ired.analysis.panels",
    "study_figures": "tune_ired.analysis.panels",
    "threshold_target": "tune_ired.analysis.panels",
    "compare_to_baseline": "tune_ired.analysis.stats",
    "kendalls_w": "tune_ired.analysis.stats",
    "rank_consistency": "tune_ired.analysis.stats",
    "seed_matrix": "tune_ired.analysis.stats",
    "summarize_arms": "tune_ired.analysis.stats",
    "Findings": "tune_ired.analysis.study",
    "Study": "tune_ired.analysis.study",
    "analyse": "tune_ired.analysis.study",
    "load_study": "tune_ired.analysis.study",
    "DCD_CRITERION": "tune_ired.analysis.verdict",
    "MINING_CRITERION": "tune_ired.analysis.verdict",
    "VERDICT_RULE": "tune_ired.analysis.verdict",
    "Verdict": "tune_ired.analysis.verdict",
    "judge_view": "tune_ired.analysis.verdict",
    "verdicts": "tune_ired.analysis.verdict",
}
__all__ = sorted(HOMES)
__getattr__ = lazy_attributes(HOMES)
