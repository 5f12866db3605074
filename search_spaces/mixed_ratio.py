"""Mixed-mining sweep (docs/method.md §8): the share of the batch with adversarial negatives (research default 0.3).

python -m tune_ired.sweep search_spaces/mixed_ratio.py --budget quick
"""

from ray import tune

from tune_ired.space import ASHA, SearchSpace

mixed_ratio = SearchSpace(
    description="strategy 'mixed': mixed_ratio 0.1, 0.3 (research default), 0.5, 0.7, 0.9",
    space={"mixed_ratio": tune.grid_search([0.1, 0.3, 0.5, 0.7, 0.9])},
    base={"strategy": "mixed"},
    scheduler=ASHA(grace_period=2, reduction_factor=2),
)
