"""Out-of-distribution study: the strategies scored on harder matrices (diagonal shift ood_lambda 0.1).

    python -m tune_ired.sweep search_spaces/ood.py --budget quick

Training uses train_lambda 0.5; `val/mse_ood` is the MSE on the fixed OOD set.
Three seeds per arm train together in one trial.
"""

from ray import tune

from tune_ired.space import SearchSpace

ood = SearchSpace(
    description="none vs random vs adversarial on out-of-distribution matrices (val/mse_ood), 3 seeds per arm",
    space={"strategy": tune.grid_search(["none", "random", "adversarial"])},
    metric="val/mse_ood",
    base={"train_lambda": 0.5, "ood_lambda": 0.1, "num_seeds": 3},
    scheduler=None,
)
