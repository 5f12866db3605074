"""Diverged seeds count as failures in every table, verdict and figure: hand-written sweep folders.

Each folder is written as a sweep leaves it (config.json, metrics.jsonl, Tune's state file,
via tests/test_results.py's writer), in both seed designs: ten seeds trained together in
one trial per arm (a diverged seed's values turn NaN while its siblings train on), or one
trial per seed (a diverged trial ends with a NaN row). Neither holds the per-seed
`diverged` keys of the current trainer (as folders written before them), so the loader
derives divergence from the statuses and the non-finite values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_results import EVAL_EVERY, TRAIN_STEPS, report, write_trial

from tune_ired.analysis import DIVERGENCE_RULE, analyse, load_study, study_figures, threshold_target
from tune_ired.analysis.arms import seed_finals
from tune_ired.analysis.render import markdown_summary
from tune_ired.report import main as report_main

STEPS = list(range(EVAL_EVERY, TRAIN_STEPS + 1, EVAL_EVERY))
# the baseline, seeds 0-9
NONE = [0.040, 0.042, 0.038, 0.041, 0.039, 0.043, 0.040, 0.037, 0.041, 0.039]
WORST = max(NONE)  # the study's worst finite final value: what a diverged seed scores
# 30% better, 3 of 10 diverged
ADVERSARIAL = [0.7 * v if s not in (2, 5, 8) else None for s, v in enumerate(NONE)]
MIXED = [0.01] + [None] * 9  # one excellent seed, 9 of 10 diverged
BROKEN = [None] * 10  # every seed diverged
DESIGNS = ("seeds-in-one-trial", "one-trial-per-seed")


def curve(final: float | None, step: int) -> float:
    """A seed's val/mse at `step`: falling to `final`; NaN from step 40 on for a diverged seed."""
    if final is None:
        return 0.5 if step == STEPS[0] else math.nan
    return final * (1 + (TRAIN_STEPS - step) / TRAIN_STEPS)


def write_batched(folder: Path, arm: str, finals: list[float | None]) -> None:
    """One trial training every seed: a diverged seed's values are NaN, its siblings go on."""
    rows = []
    for step in STEPS:
        values = {f"seed/{s}/val/mse": curve(v, step) for s, v in enumerate(finals)}
        finite = [v for v in values.values() if not math.isnan(v)]
        mean = float(np.mean(finite)) if finite else math.nan
        rows.append(report(step, mean, diverged=not finite, **values))
        if not finite:
            break
    write_trial(folder, arm, rows, status="TERMINATED", strategy=arm, num_seeds=len(finals), seed=0)


def write_per_seed(folder: Path, arm: str, finals: list[float | None]) -> None:
    """One trial per seed; a diverged trial's last row is the sentinel row that ended it."""
    for seed, final in enumerate(finals):
        rows = []
        for step in STEPS:
            value = curve(final, step)
            rows.append(report(step, value, diverged=math.isnan(value)))
            if math.isnan(value):
                break
        write_trial(
            folder, f"{arm}-{seed}", rows, status="TERMINATED", strategy=arm, num_seeds=1, seed=seed
        )


def write_study(folder: Path, arms: dict[str, list[float | None]], *, design: str, **meta) -> Path:
    folder.mkdir()
    (folder / "experiment_state-x.json").write_text(json.dumps({"trial_data": []}))
    sweep = {"metric": "val/mse", "mode": "min", "budget": "tiny", "scheduler": None, **meta}
    (folder / "sweep.json").write_text(json.dumps(sweep))
    for arm, finals in arms.items():
        (write_batched if design == DESIGNS[0] else write_per_seed)(folder, arm, finals)
    return folder


@pytest.fixture(params=DESIGNS)
def failing(request, tmp_path) -> Path:
    arms = {"none": NONE, "adversarial": ADVERSARIAL, "mixed": MIXED, "broken": BROKEN}
    return write_study(tmp_path / "failing", arms, design=request.param)


def test_diverged_seeds_are_counted_in_the_tables(failing):
    study = load_study(failing)
    # the fully diverged arm is there
    assert study.arms == ["adversarial", "broken", "mixed", "none"]
    assert study.finals.groupby("arm")["diverged"].sum().to_dict() == {
        "adversarial": 3, "broken": 10, "mixed": 9, "none": 0,
    }  # fmt: skip
    findings = analyse(study)
    summary = findings.summary
    assert summary["seeds"].tolist() == [10] * 4 and summary.loc["broken", "finished"] == 0
    # the folders' older configs lack n and train_lambda (no trivial score): the pair's worst value
    assert findings.penalties.drop("none").to_dict() == pytest.approx(
        dict.fromkeys(["adversarial", "broken", "mixed"], WORST)
    )
    scored_mean = np.mean([v if v is not None else WORST for v in ADVERSARIAL])
    # 3 seeds at the worst value
    assert summary.loc["adversarial", "mean"] == pytest.approx(scored_mean)
    assert summary.loc["broken", "mean"] == pytest.approx(WORST)
    # 9 of 10 diverged: ranked over all ten seeds (first in its one finite seed, tied last elsewhere), not "100%"
    ranks = findings.ranks
    assert (
        ranks.loc["mixed", "share_first"] < 0.2
        and ranks.loc["mixed", "mean_rank"] > ranks.loc["none", "mean_rank"]
    )
    assert any(DIVERGENCE_RULE in note and "mixed 9/10" in note for note in findings.notes)


def test_no_arm_meets_on_its_survivors(failing):
    findings = analyse(load_study(failing))
    by_arm = {v.arm: v for v in findings.verdicts}
    adversarial = by_arm["adversarial"]
    # over its 7 finished seeds it is 30% better (the finite view MEETS), but 3 failures count
    assert findings.comparison.loc["adversarial", "finite_improvement_pct"] == pytest.approx(30.0)
    assert adversarial.outcome != "meets"
    assert "adversarial 3/10" in adversarial.text and "none 0/10" in adversarial.text
    assert "over the 7 seeds both finished" in adversarial.text
    # 9 of 10 diverged, scored as the pair's worst value: no MEETS; the family of 3 (Bonferroni)
    # leaves its interval [-24%, +25%] too wide for MISSES
    assert by_arm["mixed"].outcome == "inconclusive" and "mixed 9/10" in by_arm["mixed"].text
    assert by_arm["broken"].outcome == "misses" and "broken 10/10" in by_arm["broken"].text
    markdown = markdown_summary(load_study(failing), findings)
    assert "| broken | 10 | 10/10 | all diverged |" in markdown
    assert "Best of all arms" in markdown and ": mixed (" not in markdown


def test_a_fully_diverged_baseline_is_reported_not_missing(tmp_path, capsys):
    folder = write_study(
        tmp_path / "no_base", {"none": BROKEN, "adversarial": NONE}, design=DESIGNS[0]
    )
    findings = analyse(load_study(folder), baseline="none")
    [verdict] = findings.verdicts
    assert verdict.outcome == "inconclusive"
    assert "the baseline has no finished seed" in verdict.text and "none 10/10" in verdict.text
    assert report_main([str(folder), "--out", str(tmp_path / "report")]) == 0
    assert "no finished seed" in capsys.readouterr().out


def test_a_baseline_that_mostly_diverged_gives_no_meets(tmp_path):
    """Imputing the baseline's failures would flatter the arm: the finished-pairs view keeps it honest."""
    mostly = [NONE[0], NONE[1]] + [None] * 8
    folder = write_study(
        tmp_path / "weak_base", {"none": mostly, "adversarial": NONE}, design=DESIGNS[0]
    )
    [verdict] = analyse(load_study(folder)).verdicts
    assert verdict.outcome != "meets" and "none 8/10" in verdict.text


def test_the_loaders_diverged_column_wins_when_present():
    """Newer loaders say which seed diverged; a seed with no result (errored early) is then not a failure."""
    trials = pd.DataFrame({"trial_id": ["t"], "status": ["completed"], "config/strategy": ["a"]})
    seeds = pd.DataFrame(
        {
            "trial_id": ["t"] * 3,
            "seed": [0, 1, 2],
            "status": ["completed"] * 3,
            "diverged": [False, True, False],
            "diverged_step": [np.nan, 40.0, np.nan],
            "final/step": [60, 40, np.nan],
            "final/val/mse": [0.03, np.nan, np.nan],
        }
    )
    finals = seed_finals(trials, seeds)
    assert finals["diverged"].tolist() == [False, True, False]
    assert finals["diverged_step"].tolist()[1] == 40.0
    old = seed_finals(trials, seeds.drop(columns=["diverged", "diverged_step"]))
    # reported NaN: diverged; never reported: no result
    assert old["diverged"].tolist() == [False, True, False]


def test_figures_count_divergence_and_the_target_is_reachable(failing):
    study = load_study(failing)
    findings = analyse(study)
    level, text = threshold_target(study, findings)
    assert level == pytest.approx(WORST) and "baseline none" in text
    figures = dict(study_figures(study, findings))
    assert "Trial survival (ASHA rungs)" not in figures  # sweep.json: "scheduler": null
    names = [trace.name for trace in figures["Learning curves: val/mse"].data if trace.name]
    assert (
        "adversarial (10 seeds, 3 diverged)" in names and "broken (10 seeds, 10 diverged)" in names
    )
    boxes = {trace.name for trace in figures["Steps to threshold"].data}
    assert "none" in boxes  # every baseline seed reaches its own worst final value
    assert "adversarial (3 diverged of 10)" in boxes and "broken (10 diverged of 10)" in boxes
    diverged = study.finals[study.finals["diverged"]]
    assert diverged["diverged_step"].notna().all()
    curves = {trace.name: trace for trace in figures["Learning curves: val/mse"].data}
    marks = curves["adversarial: diverged"]  # an x where each diverged seed's scored values begin
    assert list(marks.x) == [STEPS[1]] * 3 and list(marks.y) == pytest.approx(
        [curve(WORST, STEPS[1])] * 3
    )


def test_asha_panel_and_provenance_when_recorded(tmp_path):
    provenance = {
        "code": {"version": "0.1.0", "git_commit": "0123456789abcdef0123", "git_dirty": True},
        "python": "3.11.7",
        "packages": {"torch": "2.4.0", "ray": "2.50.0", "optuna": "4.1.0"},
        "device": {"kind": "cuda", "name": "NVIDIA H200", "cuda": "12.4"},
        "host": "node01",
        "slurm_job_id": "4242",
        "command": "python -m tune_ired.sweep search_spaces/multiseed.py",
        "started_at": "2025-01-01T10:00:00",
        "ended_at": None,
    }
    arms = {"none": NONE[:3], "adversarial": NONE[:3]}
    folder = write_study(
        tmp_path / "asha", arms, design=DESIGNS[0], scheduler={"grace": 1}, provenance=provenance
    )
    study = load_study(folder)
    study.trials["run/host"] = ["node01", "node02"]
    findings = analyse(study)
    assert "Trial survival (ASHA rungs)" in dict(study_figures(study, findings))
    markdown = markdown_summary(study, findings)
    for text in ("git 0123456789ab with uncommitted changes", "torch 2.4.0", "cuda NVIDIA H200, CUDA 12.4",
                 "SLURM job 4242", "ended not recorded", "Trials ran on hosts: node01, node02"):  # fmt: skip
        assert text in markdown
    older = markdown_summary(
        load_study(write_study(tmp_path / "old", arms, design=DESIGNS[0])), findings
    )
    assert "Provenance not recorded (sweep written by an older version)." in older
