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
file supports, and the scheduler's and searcher's settings by the rules Ray asserts
(ASHA: grace_period >= 1 and at most the budget's evaluations, reduction_factor > 1,
brackets >= 1; seeds in numpy's range; Optuna: only the domains it can convert).
`trial_space` then draws a few trials the way Tune will (`tune.sample_from` and custom
domains included) and checks each whole config. A problem raises `SpaceError` (a
`ConfigError`): one paragraph naming the file and the key.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import math
import runpy
import traceback
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Float, Integer
from ray.tune.search.variant_generator import generate_variants

from tune_ired.budgets import BUDGETS
from tune_ired.catalogue import METRICS, Mode, sweepable_metrics
from tune_ired.config import Config, ConfigError, check_key, coerce_value, make_config

SEARCHERS = ("grid", "random", "optuna")  # grid and random: Tune's variant generator; optuna: TPE
# numpy's RandomState (Tune's variant generator, Optuna's TPE) takes these seeds
SEED_RANGE = (0, 2**32 - 1)
CHECKED_DRAWS = 8  # trials drawn from a space at validation, as Tune draws them, each checked whole


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


def is_grid(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"grid_search"}


def source_hash(function: types.FunctionType) -> str:
    """sha256 of a function's source text (of its code, where the source cannot be read)."""
    try:
        text = inspect.getsource(function).encode()
    except (OSError, TypeError):
        code = function.__code__
        text = code.co_code + repr((code.co_consts, code.co_names)).encode()
    return hashlib.sha256(text).hexdigest()


def canonical(value: Any) -> Any:
    """A space entry as JSON data, equal for entries that draw the same trials: grid values, a Domain's
    type and fields (bounds, categories, sampler with its base, q, mean...), a function by its qualified
    name and a hash of its source; non-finite floats as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, types.FunctionType):
        return {
            "function": f"{value.__module__}.{value.__qualname__}",
            "sha256": source_hash(value),
        }
    try:
        fields = dict(vars(value))
    except TypeError:  # an object without attributes of its own
        return repr(value)
    if isinstance(value, Domain):  # a domain without its own sampler draws with the default one
        fields["sampler"] = value.get_sampler()
    return {"type": type(value).__qualname__, **canonical(fields)}


def sample_values(value: Any) -> list[Any]:
    """Values that stand for a space entry when checking it: grid values, categories, bounds, or the value."""
    if is_grid(value):
        return list(value["grid_search"])
    if isinstance(value, Categorical):
        return list(value.categories)
    if isinstance(value, Integer):
        return [value.lower, value.upper - 1]  # randint's upper bound is exclusive
    if isinstance(value, Float):
        # tune.randn has none
        return [bound for bound in (value.lower, value.upper) if bound is not None]
    if isinstance(value, Domain):
        return []  # tune.sample_from, custom domains: only known when a trial is drawn (check_draws)
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


def is_count(value: Any, *, low: int = 1) -> bool:
    """An int (not a bool) of at least `low`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def asha_problems(asha: ASHA) -> list[str]:
    """What Ray's ASHAScheduler would assert about these settings (grace_period <= max_t is checked per budget)."""
    problems = []
    if not is_count(asha.grace_period):
        problems.append(
            f"ASHA grace_period {asha.grace_period!r} is not an integer >= 1 (evaluations)"
        )
    rf = asha.reduction_factor
    if isinstance(rf, bool) or not isinstance(rf, (int, float)) or not rf > 1:
        problems.append(f"ASHA reduction_factor {rf!r} is not a number > 1")
    if not is_count(asha.brackets):
        problems.append(f"ASHA brackets {asha.brackets!r} is not an integer >= 1")
    return problems


def evaluations(cfg: Config) -> int:
    """The evaluations (Tune's training_iteration) of a full trial: ASHA's max_t."""
    return math.ceil(cfg.train_steps / cfg.eval_every)


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
        problems.append(
            f"mode '{spec.mode}' for metric '{spec.metric}', which is better when {better}"
        )
    if spec.searcher not in SEARCHERS:
        problems.append(f"searcher '{spec.searcher}' is not one of {', '.join(SEARCHERS)}")
    if spec.scheduler is not None and not isinstance(spec.scheduler, ASHA):
        problems.append("scheduler must be ASHA(...) or None")
    elif spec.scheduler is not None:
        problems += asha_problems(spec.scheduler)
    if not is_count(spec.seed, low=SEED_RANGE[0]) or spec.seed > SEED_RANGE[1]:
        problems.append(
            f"seed {spec.seed!r} is not an integer in [{SEED_RANGE[0]}, {SEED_RANGE[1]}]"
        )
    if not is_count(spec.num_samples):
        problems.append(f"num_samples {spec.num_samples!r} is not a positive integer")
    for name, budget in spec.budgets.items():
        if (
            isinstance(budget, Budget)
            and budget.num_samples is not None
            and not is_count(budget.num_samples)
        ):
            problems.append(
                f"budgets['{name}'].num_samples {budget.num_samples!r} is not a positive integer"
            )
    unknown = sorted(set(spec.budgets) - set(BUDGETS))
    if unknown:
        problems.append(f"budgets {unknown} are not among {', '.join(BUDGETS)}")
    if not spec.budgets:
        problems.append("budgets is empty")
    elif spec.default_budget not in (None, *spec.budgets):
        problems.append(
            f"default_budget '{spec.default_budget}' is not among its budgets {sorted(spec.budgets)}"
        )
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
        make_config(
            {**spec.fixed_config(name), **first_values(spec.budget_space(name))},
            budget=name,
            source=where,
        )


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
        raise SpaceError(
            f"{path}: running it raised {type(err).__name__}: {err} (line {where.lineno})."
        ) from err


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
        raise SpaceError(
            f"{path}: a campaign file must assign one Campaign; it assigns {', '.join(sorted(found))}."
        )
    campaign = next(iter(found.values()))
    files = [(path.parent / study).resolve() for study in campaign.studies]
    if not files:
        raise SpaceError(f"{path}: the Campaign lists no studies.")
    missing = [
        str(study)
        for study, file in zip(campaign.studies, files, strict=True)
        if not file.is_file()
    ]
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


def draws(param_space: Mapping[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` trial configs drawn from `param_space` as Tune's variant generator draws them (seeded)."""
    passes = (
        (
            variant["config"]
            for _, variant in generate_variants(
                {"config": copy.deepcopy(dict(param_space))},
                random_state=np.random.RandomState(seed),
            )
        )
        for seed in range(count)
    )
    return list(itertools.islice(itertools.chain.from_iterable(passes), count))


def check_draws(param_space: Mapping[str, Any], budget: str, *, source: str) -> list[Config]:
    """Draw a few trials the way Tune will and check each whole config (tune.sample_from and custom domains
    too); returns their configs."""
    try:
        drawn = draws(param_space, CHECKED_DRAWS)
    except Exception as err:  # a tune.sample_from function or a custom domain is user code
        cause = err
        while cause.__cause__ or cause.__context__:  # Tune wraps the user's exception
            cause = cause.__cause__ or cause.__context__
        raise SpaceError(
            f"{source}: drawing a trial from the space raised {type(cause).__name__}: {cause}."
        ) from err
    return [
        make_config(config, budget=budget, source=f"{source}, a drawn trial") for config in drawn
    ]


def max_evaluations(param_space: Mapping[str, Any], budget: str) -> int:
    """The most evaluations a trial of the space makes (ASHA's max_t), over trials drawn as Tune draws them
    (the first value of each entry alone would miss a searched train_steps or eval_every)."""
    return max(evaluations(cfg) for cfg in check_draws(param_space, budget, source="the space"))


def check_optuna(searched: Mapping[str, Any], *, source: str) -> None:
    """Raise SpaceError unless Ray's OptunaSearch can convert the searched domains (it cannot sample_from, randn)."""
    from ray.tune.search.optuna import OptunaSearch

    try:
        OptunaSearch.convert_search_space(dict(searched))
    except ValueError as err:
        raise SpaceError(f"{source}: Optuna cannot search this space: {err}.") from err


def check_scheduler(asha: ASHA | None, configs: list[Config], *, source: str) -> None:
    """Raise SpaceError when ASHA's grace period outlasts every trial (Ray asserts max_t >= grace_period)."""
    longest = max(configs, key=evaluations)
    if asha is not None and asha.grace_period > evaluations(longest):
        raise SpaceError(
            f"{source}: ASHA grace_period {asha.grace_period} is more than the {evaluations(longest)} evaluations "
            f"of a trial (train_steps {longest.train_steps} / eval_every {longest.eval_every}); lower it."
        )


def trial_space(
    spec: SearchSpace, budget: str, overrides: Mapping[str, Any], *, source: str = "--set"
) -> dict[str, Any]:
    """Tune's param_space for a sweep at `budget`: fixed keys, then `overrides` (--set), then searched keys.

    An override of a searched key fixes it (the dimension is dropped from the search). The
    space holds explicit keys only: each trial applies the budget itself (`make_config`).
    The scheduler is checked against the trials' length, Optuna against the domains, and a
    few drawn trials are checked whole (`check_draws`).
    """
    if budget not in spec.budgets:
        raise SpaceError(
            f"{source}: budget '{budget}' is not supported by this search space; "
            f"it supports {', '.join(sorted(spec.budgets))}."
        )
    searched = {
        key: value for key, value in spec.budget_space(budget).items() if key not in overrides
    }
    fixed = {**spec.fixed_config(budget), **overrides}
    make_config({**fixed, **first_values(searched)}, budget=budget, source=source)
    if spec.searcher == "optuna":
        check_optuna(searched, source=source)
    check_scheduler(
        spec.scheduler, check_draws({**fixed, **searched}, budget, source=source), source=source
    )
    return {**fixed, **searched}
