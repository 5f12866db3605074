"""The search-space file contract: `SearchSpace` and its loader, which validates a file before Ray starts.

A file in `search_spaces/` is data: it assigns one `SearchSpace` (or, for a campaign of
several studies, one `Campaign` listing search-space files) holding the parameter
space in Ray Tune's own vocabulary (`tune.grid_search`, `tune.loguniform`, ...), the
metric and mode, the scheduler (`ASHA(...)` or None), the searcher ("grid", "random"
or "optuna"), `num_samples`, the fixed `base` config and the named budgets it supports:

    from ray import tune
    from tune_ired.space import ASHA, Budget, SearchSpace

    noise_scale = SearchSpace(
        space={"noise_scale": tune.grid_search([0.01, 0.1, 0.5, 1.0, 2.0])},
        base={"strategy": "adversarial"},
        scheduler=ASHA(grace_period=2),
        budgets={"quick": Budget(config={"train_steps": 600})},
    )

`load_space(path)` runs the file and checks every key and fixed value, every grid value
and the bounds of every distribution against `tune_ired.config`, for every budget the
file supports. A problem raises `SpaceError` (a `ConfigError`): one paragraph naming
the file and the key.
"""

from __future__ import annotations

import runpy
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune.search.sample import Categorical, Domain, Float, Integer

from tune_ired.budgets import BUDGETS
from tune_ired.catalogue import METRICS, Mode, sweepable_metrics
from tune_ired.config import ConfigError, check_key, coerce_value, make_config

SEARCHERS = ("grid", "random", "optuna")  # grid and random: Tune's variant generator; optuna: TPE


class SpaceError(ConfigError):
    """A search-space file that cannot be run: missing, broken, or naming an impossible config."""


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
    metric: str = "val/mse"  # compared by the scheduler and searcher (a mean over seeds)
    mode: str = "min"
    scheduler: ASHA | None = field(default_factory=ASHA)
    searcher: str = "grid"
    num_samples: int = 1  # repeats of the grid, or trials drawn by random/optuna search
    seed: int = 0  # seed of the searcher's own sampling (random search, Optuna TPE)
    base: dict[str, Any] = field(default_factory=dict)  # fixed config keys, for every budget
    budgets: dict[str, Budget] = field(default_factory=lambda: {name: Budget() for name in BUDGETS})
    default_budget: str | None = None  # the budget when --budget is not given (None: the largest it supports)
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

    studies: list[str]  # search-space files, relative to the campaign file, in the order the research needs
    description: str = ""


def is_grid(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"grid_search"}


def sample_values(value: Any) -> list[Any]:
    """Values that stand for a space entry when checking it: grid values, categories, bounds, or the value."""
    if is_grid(value):
        return list(value["grid_search"])
    if isinstance(value, Categorical):
        return list(value.categories)
    if isinstance(value, Integer):
        return [value.lower, value.upper - 1]  # randint's upper bound is exclusive
    if isinstance(value, Float):
        return [value.lower, value.upper]
    if isinstance(value, Domain):
        return []  # tune.sample_from: only known when a trial is drawn
    return [value]


def check_entries(entries: Mapping[str, Any], *, source: str) -> None:
    """Check every key of `entries` and every value it stands for against the trainer config."""
    if not isinstance(entries, Mapping):
        raise SpaceError(f"{source}: expected a dict of config keys, got {type(entries).__name__}.")
    for key, value in entries.items():
        check_key(key, source=source)
        values = sample_values(value)
        if is_grid(value) and not values:
            raise SpaceError(f"{source}: '{key}' is an empty tune.grid_search([]).")
        for one in values:
            coerce_value(key, one, source=source)


def first_values(space: Mapping[str, Any]) -> dict[str, Any]:
    """One representative trial of a space: the first value each entry stands for."""
    return {key: values[0] for key, value in space.items() if (values := sample_values(value))}


def check_settings(spec: SearchSpace, *, source: str) -> None:
    """Check the sweep settings that are not config keys: metric, mode, searcher, scheduler, samples, budgets."""
    problems = []
    metrics = sweepable_metrics()
    if spec.metric not in metrics:
        problems.append(
            f"metric '{spec.metric}' is not a trainer metric a sweep can optimise (one of {', '.join(metrics)})"
        )
    if spec.mode not in tuple(Mode):
        problems.append(f"mode '{spec.mode}' is not 'min' or 'max'")
    elif spec.metric in metrics and METRICS[spec.metric].direction != spec.mode:
        better = "lower" if METRICS[spec.metric].direction is Mode.MIN else "higher"
        problems.append(f"mode '{spec.mode}' for metric '{spec.metric}', which is better when {better}")
    if spec.searcher not in SEARCHERS:
        problems.append(f"searcher '{spec.searcher}' is not one of {', '.join(SEARCHERS)}")
    if spec.scheduler is not None and not isinstance(spec.scheduler, ASHA):
        problems.append("scheduler must be ASHA(...) or None")
    if not isinstance(spec.num_samples, int) or spec.num_samples < 1:
        problems.append(f"num_samples {spec.num_samples!r} is not a positive integer")
    unknown = sorted(set(spec.budgets) - set(BUDGETS))
    if unknown:
        problems.append(f"budgets {unknown} are not among {', '.join(BUDGETS)}")
    if not spec.budgets:
        problems.append("budgets is empty")
    elif spec.default_budget not in (None, *spec.budgets):
        problems.append(f"default_budget '{spec.default_budget}' is not among its budgets {sorted(spec.budgets)}")
    if spec.searcher == "optuna" and any(is_grid(v) for v in spec.space.values()):
        problems.append("Optuna cannot search a tune.grid_search; use tune.choice([...])")
    if problems:
        raise SpaceError(f"{source}: " + "; ".join(problems) + ".")


def check_space(spec: SearchSpace, *, source: str) -> None:
    """Check a SearchSpace against the trainer config at every budget it supports (raises SpaceError)."""
    check_settings(spec, source=source)
    check_entries(spec.space, source=f"{source} (space)")
    check_entries(spec.base, source=f"{source} (base)")
    for name, budget in spec.budgets.items():
        where = f"{source} (budgets['{name}'])"
        if not isinstance(budget, Budget):
            raise SpaceError(f"{where}: expected Budget(config=..., space=..., num_samples=...).")
        check_entries(budget.config, source=f"{where}.config")
        check_entries(budget.space, source=f"{where}.space")
        make_config({**spec.fixed_config(name), **first_values(spec.budget_space(name))}, budget=name, source=where)


def run_file(path: Path) -> dict[str, Any]:
    """Execute a search-space file and return its globals, turning any failure into a SpaceError."""
    if not path.is_file():
        raise SpaceError(f"{path}: no such search-space file (see search_spaces/ for examples).")
    try:
        return runpy.run_path(str(path))
    except SyntaxError as err:
        raise SpaceError(f"{path}: syntax error at line {err.lineno}: {err.msg}.") from err
    except Exception as err:  # the file is user code: any failure is bad input
        where = traceback.extract_tb(err.__traceback__)[-1]
        raise SpaceError(f"{path}: running it raised {type(err).__name__}: {err} (line {where.lineno}).") from err


def assigned(path: Path, kind: type) -> dict[str, Any]:
    """The objects of type `kind` a search-space or campaign file assigns, by name (raises SpaceError)."""
    return {name: value for name, value in run_file(path).items() if isinstance(value, kind)}


def load_campaign(path: Path | str) -> tuple[Campaign, list[Path]] | None:
    """The campaign a file assigns and its study files (checked to exist, in order), or None for a study file."""
    path = Path(path)
    found = assigned(path, Campaign)
    if not found:
        return None
    if len(found) > 1:
        raise SpaceError(f"{path}: a campaign file must assign one Campaign; it assigns {', '.join(sorted(found))}.")
    campaign = next(iter(found.values()))
    files = [(path.parent / study).resolve() for study in campaign.studies]
    if not files:
        raise SpaceError(f"{path}: the Campaign lists no studies.")
    missing = [str(study) for study, file in zip(campaign.studies, files, strict=True) if not file.is_file()]
    if missing:
        raise SpaceError(
            f"{path}: the Campaign lists studies that do not exist (relative to the file): {', '.join(missing)}."
        )
    return campaign, files


def load_space(path: Path | str) -> SearchSpace:
    """Run a search-space file, find its one SearchSpace and validate it (raises SpaceError)."""
    path = Path(path)
    found = assigned(path, SearchSpace)
    if len(found) != 1:
        names = f" (it assigns {', '.join(sorted(found))})" if found else ""
        raise SpaceError(
            f"{path}: a search-space file must assign exactly one SearchSpace "
            f"(from tune_ired.space import SearchSpace){names}; found {len(found)}."
        )
    spec = next(iter(found.values()))
    check_space(spec, source=str(path))
    return spec


def trial_space(
    spec: SearchSpace, budget: str, overrides: Mapping[str, Any], *, source: str = "--set"
) -> dict[str, Any]:
    """Tune's param_space for a sweep at `budget`: fixed keys, then `overrides` (--set), then searched keys.

    An override of a searched key fixes it (the dimension is dropped from the search). The
    space holds explicit keys only: each trial applies the budget itself (`make_config`).
    """
    if budget not in spec.budgets:
        raise SpaceError(
            f"{source}: budget '{budget}' is not supported by this search space; "
            f"it supports {', '.join(sorted(spec.budgets))}."
        )
    searched = {key: value for key, value in spec.budget_space(budget).items() if key not in overrides}
    fixed = {**spec.fixed_config(budget), **overrides}
    make_config({**fixed, **first_values(searched)}, budget=budget, source=source)
    return {**fixed, **searched}
