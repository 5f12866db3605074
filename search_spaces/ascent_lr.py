"""Mining step-multiplier sweep (docs/method.md §8): ascent_lr (the first step's sf) for descent and ascent mining.

python -m tune_ired.sweep search_spaces/ascent_lr.py --budget quick
"""

from ray import tune

from tune_ired.space import ASHA, SearchSpace

ascent_lr = SearchSpace(
    description="ascent_lr 0.01, 0.05, 0.1, 0.5, 1.0 (reference) for adversarial (descent) and ascent mining",
    space={
        "strategy": tune.grid_search(["adversarial", "ascent"]),
        "ascent_lr": tune.grid_search([0.01, 0.05, 0.1, 0.5, 1.0]),
    },
    scheduler=ASHA(grace_period=2, reduction_factor=2),
)
