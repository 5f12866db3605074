"""The IRED-DCD ablation (spec section 9): Q-201 reference, Q-202 +CD, Q-203 +replay, Q-204 all.

    python -m tune_ired.sweep search_spaces/dcd_ablation.py --budget quick

Each arm is a `preset` of tune_ired.config (PRESETS); the base sets no mining key, so
the presets decide them. Three seeds per arm train together in one trial.
"""

from ray import tune

from tune_ired.space import SearchSpace

dcd_ablation = SearchSpace(
    description="DCD ablation: presets Q-201..Q-204, 3 seeds per arm trained together",
    space={"preset": tune.grid_search(["Q-201", "Q-202", "Q-203", "Q-204"])},
    base={"num_seeds": 3},
    scheduler=None,  # an ablation compares whole runs
)
