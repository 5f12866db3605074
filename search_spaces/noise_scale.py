"""Noise-scale sweep (docs/method.md §8): where adversarial negatives start, q(y0, t, noise_scale * eps).

python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick
"""

from ray import tune

from tune_ired.space import ASHA, Budget, SearchSpace

noise_scale = SearchSpace(
    description="adversarial mining: the noise scale of the negatives' starting point (reference 3.0)",
    space={"noise_scale": tune.grid_search([0.01, 0.1, 0.5, 1.0, 2.0, 3.0])},
    base={"strategy": "adversarial"},
    scheduler=ASHA(grace_period=2, reduction_factor=2),
    budgets={"tiny": Budget(), "quick": Budget(), "paper": Budget()},
)
