"""The three mining strategies (docs/method.md §8): none (pure denoising), random, adversarial (the reference).

    python -m tune_ired.sweep search_spaces/strategies.py --budget quick

One seed per arm; search_spaces/multiseed.py is the same comparison with ten seeds each.
"""

from ray import tune

from tune_ired.space import SearchSpace

strategies = SearchSpace(
    description="negative mining strategies: none vs random vs adversarial, one seed each",
    space={"strategy": tune.grid_search(["none", "random", "adversarial"])},
    scheduler=None,  # three arms: every arm trains its whole budget
)
