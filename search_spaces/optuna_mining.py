"""Optuna (TPE) joint search over the mining knobs (docs/method.md §8), with ASHA early stopping.

python -m tune_ired.sweep search_spaces/optuna_mining.py --budget quick
"""

from ray import tune

from tune_ired.space import ASHA, Budget, SearchSpace

optuna_mining = SearchSpace(
    description="TPE over strategy, opt_steps, ascent_lr, noise_scale, mixed_ratio and energy_weight",
    space={
        "strategy": tune.choice(["adversarial", "ascent", "mixed"]),
        "opt_steps": tune.randint(1, 21),  # 1..20
        "ascent_lr": tune.loguniform(0.01, 1.0),
        "noise_scale": tune.loguniform(0.01, 3.0),
        "mixed_ratio": tune.uniform(0.0, 1.0),
        "energy_weight": tune.uniform(0.1, 1.0),
    },
    searcher="optuna",
    num_samples=64,
    seed=0,
    scheduler=ASHA(grace_period=2, reduction_factor=3),
    budgets={"tiny": Budget(num_samples=4), "quick": Budget(num_samples=12), "paper": Budget()},
)
