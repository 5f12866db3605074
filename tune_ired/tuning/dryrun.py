"""`python -m tune_ired.sweep FILE --dry-run`: what a sweep would run, without starting Ray.

Prints the plan (`tune_ired.tuning.plan`): the sweep folder, the searcher and scheduler, the
resources per trial, the keys every trial fixes, and then either every trial (a grid: each
trial's searched keys, train_steps and seeds, expanded as Tune will expand it) or, for
random and Optuna searches, what is sampled from which distribution and how many trials
are drawn; and an estimate of the work in trial-steps (optimiser steps summed over
trials; with ASHA an upper bound, since it stops weaker trials early). It ends with what
was checked and what was not: with `--address`, only that something accepts connections
there (the cluster's nodes are checked when the sweep joins it); and whether a driver runs
the sweep now (`tune_ired.tuning.lock`).
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.search.sample import Categorical, Domain, Integer

from tune_ired.record.estimate import Estimate, duration_text
from tune_ired.record.sweepview import format_table
from tune_ired.tuning.costs import estimate_lines
from tune_ired.tuning.lock import holder_of
from tune_ired.tuning.plan import Plan
from tune_ired.tuning.validate import is_grid


def describe_domain(value: Any) -> str:
    """A searched entry in words: 'grid of [..]', 'choice of [..]', 'loguniform(0.01, 3.0)', ..."""
    if is_grid(value):
        return f"grid of {value['grid_search']}"
    if isinstance(value, Categorical):
        return f"choice of {value.categories}"
    if isinstance(value, Integer):  # Tune's upper bound is exclusive
        return f"integers {value.lower}..{value.upper - 1} ({type(value.get_sampler()).__name__.strip('_').lower()})"
    if isinstance(value, Domain):
        kind = type(value.get_sampler()).__name__.strip("_").lower()
        return f"{kind}({getattr(value, 'lower', '?')}, {getattr(value, 'upper', '?')})"
    return repr(value)


def scheduler_words(plan: Plan, eval_every: int, train_steps: int) -> str:
    asha = plan.spec.scheduler
    if asha is None:
        return "none: every trial trains its whole budget"
    return (
        f"ASHA: a trial may be stopped from evaluation {asha.grace_period} (step {asha.grace_period * eval_every}) "
        f"on, the best 1/{asha.reduction_factor:g} going on at each rung, up to evaluation "
        f"{math.ceil(train_steps / eval_every)}"
    )


def resources_words(plan: Plan) -> str:
    cpus, gpus = plan.resources["cpu"], plan.resources["gpu"]
    at_once = (
        f"at most {plan.max_concurrent} at once"
        if plan.max_concurrent
        else "as many at once as resources allow"
    )
    where = f"the cluster at {plan.address}" if plan.address else "a private local Ray"
    return f"{cpus:g} CPU and {gpus:g} GPU per trial, {at_once}, on {where}"


def checks_words(plan: Plan) -> list[str]:
    """What the dry run checked, what it did not, and whether a driver runs the sweep now."""
    lines = [
        "checked: the file, the scheduler and searcher settings, and the whole config of every trial "
        f"at every budget the file supports; {plan.folder.parent} takes a file "
        "(a probe file, created and removed)",
    ]
    if plan.address:
        lines.append(
            f"checked: something accepts connections at {plan.address} (not that it is a Ray head)"
        )
        lines.append(
            "not checked: the cluster's per-node resources (checked when the sweep joins it)"
        )
    else:
        lines.append("checked: this machine has the CPUs and GPUs a trial asks for")
    holder = holder_of(plan.folder)
    if holder is not None:
        lines.append(f"a driver runs this sweep now: {holder.words()} (a start would be refused)")
    return lines


def dry_run_text(plan: Plan, estimate: Estimate) -> str:
    """The dry run's text for a validated plan and its estimate."""
    searched = {key: plan.param_space[key] for key in plan.searched}
    fixed = {key: value for key, value in plan.param_space.items() if key not in plan.searched}
    trials, configs = plan.trials.explicit, plan.trials.configs
    first = configs[0]
    lines = [
        f"dry run: {plan.file} at budget '{plan.budget}' into {plan.folder} (Ray is not started)",
        f"metric: {plan.spec.metric} ({plan.spec.mode}); searcher: {plan.spec.searcher}; "
        f"scheduler: {scheduler_words(plan, first.eval_every, first.train_steps)}",
        f"resources: {resources_words(plan)}",
        "fixed keys: "
        + (", ".join(f"{key}={value}" for key, value in fixed.items()) or "none")
        + f" (the rest: budget '{plan.budget}', then the config defaults)",
    ]
    if plan.trials.sampled:
        lines.append(
            f"{len(configs)} trials, drawn by the {plan.spec.searcher} searcher "
            f"(seed {plan.spec.seed}) from:"
        )
        lines += [f"  {key} ~ {describe_domain(value)}" for key, value in searched.items()]
    else:
        header = ["#", *plan.searched, "train_steps", "eval_every", "seeds", "estimate"]
        rows = [
            [
                str(i + 1),
                *(str(trial.get(key)) for key in plan.searched),
                str(cfg.train_steps),
                str(cfg.eval_every),
                str(cfg.num_seeds),
                duration_text(seconds),
            ]
            for i, (trial, cfg, seconds) in enumerate(
                zip(trials, configs, estimate.seconds, strict=True)
            )
        ]
        lines.append(f"{len(trials)} trials:")
        lines.append(format_table(header, rows))
    steps = sum(cfg.train_steps for cfg in configs)
    seed_steps = sum(cfg.train_steps * cfg.num_seeds for cfg in configs)
    bound = " (an upper bound: ASHA stops the weaker trials early)" if plan.spec.scheduler else ""
    lines.append(f"work: {steps} trial-steps ({seed_steps} seed-steps){bound}")
    lines += estimate_lines(estimate, asha=plan.spec.scheduler is not None)
    lines += checks_words(plan)
    lines.append("run it: the same command without --dry-run")
    return "\n".join(lines)
