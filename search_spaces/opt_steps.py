"""Mining steps sweep (docs/method.md §8): energy-descent steps per adversarial negative (reference 2).

python -m tune_ired.sweep search_spaces/opt_steps.py --budget quick
"""

from ray import tune

from tune_ired.space import ASHA, SearchSpace

opt_steps = SearchSpace(
    description="adversarial mining: opt_steps 1, 2 (reference), 3, 5, 10, 20",
    space={"opt_steps": tune.grid_search([1, 2, 3, 5, 10, 20])},
    base={"strategy": "adversarial"},
    scheduler=ASHA(grace_period=2, reduction_factor=2),
)
