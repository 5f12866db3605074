"""The search-space file contract: what a file in `search_spaces/` assigns. Data only: no Ray, no torch.

A search-space file assigns one `SearchSpace` (or, for a campaign of several studies, one
`Campaign` listing search-space files) holding the parameter space in Ray Tune's own
vocabulary (`tune.grid_search`, `tune.loguniform`, ...), the metric and mode, the scheduler
(`ASHA(...)` or None), the searcher ("grid", "random" or "optuna"), `num_samples`, the
fixed `base` config and the named budgets it supports:

    from ray import tune
    from tune_ired.space import ASHA, Budget, SearchSpace

    noise_scale = SearchSpace(
        space={"noise_scale": tune.grid_search([0.01, 0.1, 0.5, 1.0, 2.0])},
        base={"strategy": "adversarial"},
        scheduler=ASHA(grace_period=2),
        budgets={"quick": Budget(config={"train_steps": 600})},
    )

`python -m tune_ired.sweep FILE` validates the file before Ray starts
(`tune_ired.tuning.validate`: every setting, and every trial's whole config at every budget
the file supports) and runs it. docs/sweeps.md describes every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tune_ired.budgets import BUDGETS
from tune_ired.record.catalogue import VAL_MSE, Mode

SEARCHERS = ("grid", "random", "optuna")  # grid and random: Tune's variant generator; optuna: TPE


@dataclass(frozen=True)
class ASHA:
    """ASHA early-stopping settings, in evaluations (Tune's training_iteration); max_t is the budget's last one."""

    grace_period: int = 1  # evaluations every trial gets before it can be stopped
    reduction_factor: float = 3.0  # keep the best 1/reduction_factor at each rung
    brackets: int = 1


@dataclass(frozen=True)
class Budget:
    """A budget a file supports: explicit keys on top of `tune_ired.budgets.BUDGETS[name]` and of the file."""

    config: dict[str, Any] = field(default_factory=dict)  # fixed config keys for this budget
    space: dict[str, Any] = field(default_factory=dict)  # searched keys replaced for this budget
    num_samples: int | None = None  # replaces SearchSpace.num_samples for this budget


@dataclass(frozen=True)
class SearchSpace:
    """One sweep: what to search, how to compare and stop trials, and at which budgets."""

    space: dict[str, Any]  # config key -> Tune domain, tune.grid_search([...]) or a fixed value
    metric: str = VAL_MSE  # compared by the scheduler and searcher (a mean over seeds)
    mode: str = Mode.MIN
    scheduler: ASHA | None = field(default_factory=ASHA)
    searcher: str = "grid"
    num_samples: int = 1  # repeats of the grid, or trials drawn by random/optuna search
    seed: int = 0  # seed of the searcher's own sampling (random search, Optuna TPE)
    base: dict[str, Any] = field(default_factory=dict)  # fixed config keys, for every budget
    budgets: dict[str, Budget] = field(default_factory=lambda: {name: Budget() for name in BUDGETS})
    default_budget: str | None = (
        None  # the budget when --budget is not given (None: the largest it supports)
    )
    description: str = ""

    @property
    def chosen_default(self) -> str:
        """The budget of a sweep started without --budget."""
        return self.default_budget or [name for name in BUDGETS if name in self.budgets][-1]

    def budget_space(self, budget: str) -> dict[str, Any]:
        """The searched keys at `budget` (the file's space with the budget's replacements)."""
        return {**self.space, **self.budgets[budget].space}

    def budget_samples(self, budget: str) -> int:
        """num_samples at `budget`."""
        given = self.budgets[budget].num_samples
        return self.num_samples if given is None else given

    def fixed_config(self, budget: str) -> dict[str, Any]:
        """The explicit fixed keys of every trial at `budget`: the file's base, then its Budget(config=...).

        The named budget itself (tune_ired.budgets) is applied by `make_config(..., budget=...)`,
        under the preset and these keys, exactly as `python -m tune_ired.train --budget` does.
        """
        return {**self.base, **self.budgets[budget].config}


@dataclass(frozen=True)
class Campaign:
    """Several studies run on one Ray, in this order (`python -m tune_ired.sweep CAMPAIGN_FILE`)."""

    # search-space files, relative to the campaign file, in the order the research needs
    studies: list[str]
    description: str = ""
