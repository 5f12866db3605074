"""Diffusion-steps sweep: T = 10 (reference), 20, 50, 100 steps of the cosine schedule.

python -m tune_ired.sweep search_spaces/diffusion_steps.py --budget quick
"""

from ray import tune

from tune_ired.space import ASHA, SearchSpace

diffusion_steps = SearchSpace(
    description="adversarial mining with T = 10, 20, 50, 100 diffusion steps",
    space={"diffusion_steps": tune.grid_search([10, 20, 50, 100])},
    base={"strategy": "adversarial"},
    scheduler=ASHA(grace_period=2, reduction_factor=2),
)
