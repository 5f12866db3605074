"""Multi-seed statistics against hand-computed values on small fixed tables.

Arm "better" beats the baseline on every seed (differences -3, -3, -3, -4); arm "same"
differs from it by +1, -1, +1, -1 (no real difference).
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tune_ired.analysis import figures
from tune_ired.analysis.arms import arm_keys, label_arms, resolve_arm, seed_curves, seed_finals, steps_to_threshold
from tune_ired.analysis.stats import (
    compare_to_baseline,
    holm,
    kendalls_w,
    rank_consistency,
    seed_matrix,
    summarize_arms,
)
from tune_ired.analysis.verdict import DCD_CRITERION, MINING_CRITERION, criterion_for, verdicts

BASE = [10.0, 12.0, 11.0, 13.0]
BETTER = [7.0, 9.0, 8.0, 9.0]
SAME = [11.0, 11.0, 12.0, 12.0]


@pytest.fixture
def per_seed() -> pd.DataFrame:
    """The long per-seed table shape the loader produces: one row per (arm, seed)."""
    rows = [
        {"arm": arm, "seed": seed, "val/mse": value}
        for arm, values in (("base", BASE), ("better", BETTER), ("same", SAME))
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def wide(per_seed) -> pd.DataFrame:
    return seed_matrix(per_seed, "val/mse")


def test_seed_matrix_pivots_seeds_by_arms(wide):
    assert wide.shape == (4, 3)
    assert list(wide["better"]) == BETTER


def test_summary_mean_std_and_reproducible_ci(wide):
    summary = summarize_arms(wide)
    row = summary.loc["better"]
    assert row["seeds"] == 4
    assert row["mean"] == pytest.approx(8.25)
    assert row["std"] == pytest.approx(math.sqrt(2.75 / 3))  # squared deviations 1.5625+.5625+.0625+.5625
    assert 7.0 <= row["ci_low"] <= 8.25 <= row["ci_high"] <= 9.0
    again = summarize_arms(wide)
    assert again.loc["better", "ci_low"] == row["ci_low"]


def test_arms_that_truly_differ(wide):
    table = compare_to_baseline(wide, baseline="base")
    row = table.loc["better"]
    assert row["improvement_pct"] == pytest.approx((11.5 - 8.25) / 11.5 * 100)
    assert row["mean_diff"] == pytest.approx(-3.25)
    assert row["cohen_d"] == pytest.approx(-3.25 / 0.5)  # differences have sd 0.5
    t = -3.25 / (0.5 / 2)  # mean difference over its standard error, 3 degrees of freedom
    assert row["t_p"] == pytest.approx(2 * stats.t.sf(abs(t), df=3))
    assert row["wilcoxon_p"] == pytest.approx(2 / 16)  # all 4 signs negative: exact two-sided 2 * (1/2)^4
    # the per-seed improvements are 25-30.8%, so every bootstrap mean ratio lies in that range
    assert 25.0 <= row["improvement_ci_low"] <= row["improvement_pct"] <= row["improvement_ci_high"] <= 30.8
    # t interval: differences 3, 3, 3, 4 in % of the baseline mean 11.5, +- t(0.975, 3) * sd / sqrt(4)
    half = stats.t.ppf(0.975, df=3) * (0.5 / 11.5 * 100) / 2
    assert row["improvement_t_low"] == pytest.approx(row["improvement_pct"] - half)
    assert row["improvement_t_high"] == pytest.approx(row["improvement_pct"] + half)


def test_arms_that_do_not_differ(wide):
    row = compare_to_baseline(wide, baseline="base").loc["same"]
    assert row["improvement_pct"] == pytest.approx(0.0)
    assert row["cohen_d"] == pytest.approx(0.0)
    assert row["t_p"] == pytest.approx(1.0)
    assert row["wilcoxon_p"] == pytest.approx(1.0)
    assert row["improvement_ci_low"] < 0 < row["improvement_ci_high"]


def test_holm_adjustment():
    adjusted = holm(pd.Series([0.01, 0.04, 0.03, np.nan], index=list("abcd")))
    assert adjusted["a"] == pytest.approx(0.03)  # 3 * 0.01
    assert adjusted["c"] == pytest.approx(0.06)  # 2 * 0.03
    assert adjusted["b"] == pytest.approx(0.06)  # max(1 * 0.04, 0.06): monotone
    assert math.isnan(adjusted["d"])


def test_holm_in_comparison(wide):
    table = compare_to_baseline(wide, baseline="base")
    assert table.loc["better", "t_p_holm"] == pytest.approx(2 * table.loc["better", "t_p"])
    assert table.loc["same", "t_p_holm"] == pytest.approx(1.0)


def test_rank_consistency_and_kendalls_w(wide):
    ranks = rank_consistency(wide)
    assert ranks.loc["better", "share_first"] == 1.0
    assert ranks.loc["base", "share_first"] == 0.0
    assert ranks.loc["better", "mean_rank"] == 1.0
    # rank sums 4, 10, 10 (mean 8): S = 24; W = 12 S / (m^2 (n^3 - n)) = 288 / (16 * 24)
    assert kendalls_w(wide) == pytest.approx(0.75)


def test_kendalls_w_zero_when_seeds_disagree():
    latin = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 1.0], "c": [3.0, 1.0, 2.0]})
    assert kendalls_w(latin) == pytest.approx(0.0)
    shares = rank_consistency(latin)["share_first"]
    assert list(shares) == pytest.approx([1 / 3, 1 / 3, 1 / 3])


def test_max_mode_flips_the_direction(wide):
    table = compare_to_baseline(wide, baseline="base", mode="max")  # higher is better: "better" is worse
    assert table.loc["better", "improvement_pct"] == pytest.approx(-(11.5 - 8.25) / 11.5 * 100)
    assert rank_consistency(wide, mode="max").loc["better", "share_first"] == 0.0


def test_unknown_baseline_names_the_arms(wide):
    with pytest.raises(KeyError, match="better"):
        compare_to_baseline(wide, baseline="nope")


def test_verdicts(wide):
    comparison = compare_to_baseline(wide, baseline="base")
    lines = dict(zip(comparison.index, verdicts(comparison, baseline="base"), strict=True))
    assert "28.3% lower" in lines["better"] and "MEETS" in lines["better"]
    assert "MISSES" in lines["same"]
    assert criterion_for("strategy=adversarial") is MINING_CRITERION
    assert criterion_for("preset=Q-204") is DCD_CRITERION


# --- arms, per-seed tables and figures, on hand-made tables of tune_ired.results' shape


def loader_tables(*, multi_seed: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Trials, curves and seeds tables as tune_ired.results builds them: 2 strategies x 2 seeds, steps 10, 20."""
    arms = {"none": [[0.5, 0.4], [0.6, 0.45]], "adversarial": [[0.4, 0.3], [0.5, 0.35]]}  # [seed][step]
    trials, curves, seeds = [], [], []
    for strategy, per_seed in arms.items():
        ids = [strategy] if multi_seed else [f"{strategy}-{s}" for s in range(len(per_seed))]
        for trial_id in ids:
            owned = range(len(per_seed)) if multi_seed else [int(trial_id[-1])]
            config = {"config/strategy": strategy, "config/num_seeds": len(owned), "config/seed": owned[0]}
            trials.append({"trial_id": trial_id, "status": "completed", **config})
            for i, step in enumerate((10, 20)):
                row = {"trial_id": trial_id, "step": step, "val/mse": np.mean([per_seed[s][i] for s in owned])}
                if multi_seed:
                    row.update({f"seed/{s}/val/mse": per_seed[s][i] for s in owned})
                curves.append(row)
            seeds += [{"trial_id": trial_id, "seed": s, "status": "completed", **config,
                       "final/val/mse": per_seed[s][-1]} for s in owned]  # fmt: skip
    return pd.DataFrame(trials), pd.DataFrame(curves), pd.DataFrame(seeds)


@pytest.mark.parametrize("multi_seed", [True, False], ids=["seeds-in-one-trial", "one-trial-per-seed"])
def test_both_seed_designs_give_the_same_tables(multi_seed):
    trials, curves, seeds = loader_tables(multi_seed=multi_seed)
    labelled = label_arms(trials)
    assert arm_keys(trials) == ["strategy"]  # seed and num_seeds never make an arm
    finals = seed_finals(labelled, seeds)
    assert finals[["arm", "seed", "final/val/mse"]].values.tolist() == [
        ["adversarial", 0, 0.3], ["adversarial", 1, 0.35], ["none", 0, 0.4], ["none", 1, 0.45],
    ]  # fmt: skip
    long = seed_curves(labelled, curves, "val/mse")
    assert len(long) == 8 and set(long["seed"]) == {0, 1}
    reached = steps_to_threshold(long, 0.4).set_index(["arm", "seed"])["steps"]
    assert reached[("adversarial", 0)] == 10 and reached[("adversarial", 1)] == 20 and reached[("none", 0)] == 20
    assert math.isnan(reached[("none", 1)])  # never reached 0.4


def test_arm_labels_of_joint_searches_and_baseline_lookup():
    trials = pd.DataFrame({"trial_id": ["a", "b"], "config/opt_steps": [1, 5], "config/noise_scale": [0.5, 2.0]})
    labels = list(label_arms(trials)["arm"])
    assert labels == ["opt_steps=1 noise_scale=0.5", "opt_steps=5 noise_scale=2"]
    assert resolve_arm("opt_steps=5 noise_scale=2", labels) == labels[1]
    with pytest.raises(KeyError, match="opt_steps=1"):
        resolve_arm("7", labels)
    assert resolve_arm("none", ["none", "adversarial"]) == "none"


def test_figures_build_with_one_trace_group_per_arm():
    trials, curves, seeds = loader_tables(multi_seed=True)
    labelled = label_arms(trials)
    long = seed_curves(labelled, curves, "val/mse")
    curves_fig = figures.learning_curves(long, metric="val/mse")
    assert len(curves_fig.data) == 4  # a band and a mean line per arm
    assert curves_fig.layout.yaxis.type == "log"
    finals = seed_finals(labelled, seeds).assign(knob=lambda t: t["arm"])
    assert len(figures.response_curve(finals, knob="knob", metric="final/val/mse").data) == 2
    joint = labelled.assign(**{"config/noise_scale": [0.1, 3.0], "final/val/mse": [0.4, 0.3]})
    parallel = figures.parallel_coordinates(joint, knobs=["strategy", "noise_scale"], metric="final/val/mse")
    assert [d.label for d in parallel.data[0].dimensions] == ["strategy", "noise_scale", "log10 final/val/mse"]
    survival = figures.rung_survival(curves, labelled.assign(status=["completed", "stopped"]))
    assert {bar.name for bar in survival.data} == {"completed", "stopped"}
