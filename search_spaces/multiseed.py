"""The three mining strategies with ten seeds each (docs/method.md §8), compared by the mean over seeds.

    python -m tune_ired.sweep search_spaces/multiseed.py --budget quick

The ten seeds of an arm train together in ONE trial (`num_seeds=10`, one batched
computation), so no scheduler can stop one seed because a sibling did better; the trial
reports the mean over seeds (`val/mse`) and each seed's value (`seed/{s}/val/mse`),
which `tune_ired.record.results` turns into a per-seed table for paired-by-seed statistics.
"""

from ray import tune

from tune_ired.space import SearchSpace

multiseed = SearchSpace(
    description="none vs random vs adversarial, 10 seeds per arm trained together (one trial per arm)",
    space={"strategy": tune.grid_search(["none", "random", "adversarial"])},
    base={"num_seeds": 10, "seed": 0},
    scheduler=None,  # every arm trains its whole budget: no culling of arms or seeds
)
