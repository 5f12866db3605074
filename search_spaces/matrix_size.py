"""Matrix-size study: the strategies at n = 5, 10, 20 (paper), 30, 50.

    python -m tune_ired.sweep search_spaces/matrix_size.py --budget quick

MSEs of different sizes are not comparable, so no scheduler stops trials. The quick and
tiny budgets use smaller matrices so that they stay minutes and seconds on a CPU.
"""

from ray import tune

from tune_ired.space import Budget, SearchSpace

matrix_size = SearchSpace(
    description="none vs random vs adversarial at matrix sizes up to 50 x 50",
    space={
        "strategy": tune.grid_search(["none", "random", "adversarial"]),
        "n": tune.grid_search([5, 10, 20, 30, 50]),
    },
    scheduler=None,
    budgets={
        "tiny": Budget(space={"n": tune.grid_search([2, 3])}),
        "quick": Budget(space={"n": tune.grid_search([3, 5, 8])}),
        "paper": Budget(),
    },
)
