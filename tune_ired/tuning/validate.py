"""Validation of a search-space file before Ray starts: its settings, then every trial's config, once.

    spec = load_space("search_spaces/noise_scale.py")          # runs the file, checks its settings
    trials = budget_trials(spec, "quick", {"seed": 3}, num_samples=1, source="...")
    trials.param_space, trials.configs                          # Tune's space; each trial's Config

`load_space` runs the file (any failure is bad input) and checks what is not a config key:
metric and mode against `tune_ired.record.catalogue`, the searcher, the scheduler's and
searcher's settings by the rules Ray asserts (ASHA: grace_period >= 1, reduction_factor > 1,
brackets >= 1; seeds in numpy's range; sample counts), the budgets' names and types, and the
bounds of every distribution. `budget_trials` then expands the trials of one budget as Tune's
variant generator will (a grid times num_samples; for random and Optuna searches, num_samples
draws stand for the trials the searcher will make: `tune.sample_from` and custom domains
included) and makes each trial's `Config` exactly once (`make_config`: an unknown key or a bad
value names the file, the budget and the key); Optuna's domains and ASHA's grace period
against the trials' length are checked against those configs. `check_other_budgets` does the
same for every other budget the file supports, so a typo in `budgets['paper']` fails a quick
sweep too. A problem raises `SpaceError` (a `ConfigError`): one paragraph naming the file and
the key. `canonical` turns a space into JSON data: the identity a resume compares.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
import runpy
import traceback
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Float, Integer
from ray.tune.search.variant_generator import generate_variants

from tune_ired.budgets import BUDGETS
from tune_ired.ired.config import Config, ConfigError, coerce_value, make_config
from tune_ired.record.catalogue import METRICS, Mode, sweepable_metrics
from tune_ired.space import ASHA, SEARCHERS, Budget, Campaign, SearchSpace

# numpy's RandomState (Tune's variant generator, Optuna's TPE) takes these seeds
SEED_RANGE = (0, 2**32 - 1)
SAMPLED = ("random", "optuna")  # searchers that draw trials instead of listing a grid


class SpaceError(ConfigError):
    """A search-space file that cannot be run: missing, broken, or naming an impossible config."""


@dataclass(frozen=True)
class Trials:
    """The trials of a sweep at one budget: Tune's param_space, each trial's explicit keys and its Config.

    For a grid they are the trials Tune will run; for random and Optuna searches
    (`sampled`) the same number of draws, which stand for the trials the searcher will make.
    """

    param_space: dict[str, Any]
    num_samples: int  # passes over a grid, or trials drawn
    explicit: list[dict[str, Any]]
    configs: list[Config]
    sampled: bool


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
        return []  # tune.sample_from, custom domains: only known when a trial is drawn
    return [value]


def check_entries(entries: Mapping[str, Any], *, source: str) -> None:
    """Check what the trials' configs cannot show: that `entries` is a dict, that no grid is empty, and
    the bounds and categories of every distribution (a draw may never reach a bound)."""
    if not isinstance(entries, Mapping):
        raise SpaceError(f"{source}: expected a dict of config keys, got {type(entries).__name__}.")
    for key, value in entries.items():
        if is_grid(value) and not value["grid_search"]:
            raise SpaceError(f"{source}: '{key}' is an empty tune.grid_search([]).")
        if isinstance(value, Domain):
            for one in sample_values(value):
                coerce_value(key, one, source=source)


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
    check_settings(spec, source=str(path))
    check_structure(spec, source=str(path))
    return spec


def check_structure(spec: SearchSpace, *, source: str) -> None:
    """The space, base and every budget are dicts of entries with sane grids and distributions."""
    check_entries(spec.space, source=f"{source} (space)")
    check_entries(spec.base, source=f"{source} (base)")
    for name, budget in spec.budgets.items():
        where = f"{source} (budgets['{name}'])"
        if not isinstance(budget, Budget):
            raise SpaceError(f"{where}: expected Budget(config=..., space=..., num_samples=...).")
        check_entries(budget.config, source=f"{where}.config")
        check_entries(budget.space, source=f"{where}.space")


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


def expand(param_space: Mapping[str, Any], *, num_samples: int, seed: int) -> list[dict[str, Any]]:
    """Each trial's explicit keys, as Tune's variant generator makes them: `num_samples` passes over the
    space (a grid's every point, distributions drawn), from one RandomState seeded with `seed`."""
    random_state = np.random.RandomState(seed)
    return [
        variant["config"]
        for _ in range(num_samples)
        for _, variant in generate_variants(
            {"config": copy.deepcopy(dict(param_space))}, random_state=random_state
        )
    ]


def user_cause(err: BaseException) -> BaseException:
    """The user's own exception inside the ones Tune wraps it in (a tune.sample_from function's)."""
    while err.__cause__ or err.__context__:
        err = err.__cause__ or err.__context__
    return err


def budget_trials(
    spec: SearchSpace,
    budget: str,
    overrides: Mapping[str, Any],
    *,
    num_samples: int | None = None,
    source: str,
) -> Trials:
    """The trials at `budget`: fixed keys, then `overrides` (--set), then searched keys; every trial's
    config made once (raises SpaceError, ConfigError). `num_samples`: --num-samples, else the budget's.

    An override of a searched key fixes it (the dimension is dropped from the search). The
    space holds explicit keys only: each trial applies the budget itself (`make_config`), as
    `python -m tune_ired.train --budget` does.
    """
    if budget not in spec.budgets:
        raise SpaceError(
            f"{source}: budget '{budget}' is not supported by this search space; "
            f"it supports {', '.join(sorted(spec.budgets))}."
        )
    num_samples = num_samples or spec.budget_samples(budget)
    searched = {
        key: value for key, value in spec.budget_space(budget).items() if key not in overrides
    }
    param_space = {**spec.fixed_config(budget), **overrides, **searched}
    try:
        explicit = expand(param_space, num_samples=num_samples, seed=spec.seed)
    except Exception as err:  # a tune.sample_from function or a custom domain is user code
        cause = user_cause(err)
        raise SpaceError(
            f"{source}: drawing a trial from the space raised {type(cause).__name__}: {cause}."
        ) from err
    sampled = spec.searcher in SAMPLED or any(
        isinstance(value, Domain) for value in searched.values()
    )
    configs = [
        make_config(
            trial,
            budget=budget,
            source=f"{source}, {'a drawn trial' if sampled else f'trial {index + 1}'}",
        )
        for index, trial in enumerate(explicit)
    ]
    if spec.searcher == "optuna":
        check_optuna(searched, source=source)
    check_scheduler(spec.scheduler, configs, source=source)
    return Trials(
        param_space=param_space,
        num_samples=num_samples,
        explicit=explicit,
        configs=configs,
        sampled=sampled,
    )


def check_other_budgets(
    spec: SearchSpace, chosen: str, overrides: Mapping[str, Any], *, source: str
) -> None:
    """Every budget the file supports but `chosen`, checked as `budget_trials` checks the chosen one."""
    for name in spec.budgets:
        if name != chosen:
            budget_trials(spec, name, overrides, source=f"{source} at budget '{name}'")
