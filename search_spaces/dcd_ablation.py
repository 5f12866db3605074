"""The IRED-DCD ablation (docs/method.md §9): Q-201 reference, Q-202 +CD, Q-203 +replay, Q-204 all, +-energy_l2.

    python -m tune_ired.sweep search_spaces/dcd_ablation.py --budget quick
    python -m tune_ired.report results/dcd_ablation --baseline "energy_l2=0 preset=Q-201"

Each arm is a `preset` of tune_ired.ired.config (PRESETS); the base sets no mining key, so the
presets decide them. The CD arms as the plan defines them diverge (their loss is unbounded
below): a diverging arm is a finding, counted by the report. Spec section 9 asks the study
to run each CD arm with the energy-magnitude penalty too (`energy_l2` = 1e-3, Du & Mordatch
2019), so the comparison shows both; the reference with the penalty is the control that
separates the penalty's own effect. Three seeds per arm train together in one trial.
"""

from ray import tune

from tune_ired.space import SearchSpace

dcd_ablation = SearchSpace(
    description="DCD ablation: presets Q-201..Q-204, each without and with energy_l2=1e-3, 3 seeds per arm",
    space={
        "preset": tune.grid_search(["Q-201", "Q-202", "Q-203", "Q-204"]),
        "energy_l2": tune.grid_search([0.0, 1e-3]),
    },
    base={"num_seeds": 3},
    scheduler=None,  # an ablation compares whole runs
)
