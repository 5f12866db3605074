"""A sweep's plan: everything the command line names, validated before Ray starts, and what to do with the folder.

`plan_sweep(args)` loads the search-space file (`tune_ired.space`), decides the budget and
the sweep folder, checks the storage, the resources, the devices and the cluster address,
reads what the folder already holds, and returns a `Plan`; anything wrong raises
`ConfigError` (a one-paragraph message naming the file, flag or key, and the command to
run next) and `python -m tune_ired.sweep` exits with code 2 before Ray starts. Nothing is
written here (the storage's write test leaves nothing); the driver (`tune_ired.tuning.driver`)
records `identity(plan)` in the sweep's `sweep.json` (`tune_ired.record.sweepfile`). The
driver takes its lock (`tune_ired.tuning.lock`) through `plan_sweep(args, lock=...)` before
the folder is read.

What a folder leads to (`Plan.start`):
- nothing there, or only a start-up's leftovers (killed before any trial started:
  `sweep.json`, Tune's files, no trial record): a fresh start (the leftovers are cleared),
  also for `--resume` (which says that nothing had started);
- the same sweep (`identity`: file, budget, metric, mode, searcher and seed, scheduler,
  samples, `--set`, and the resolved space with its grid values and distributions),
  finished: reported (`Start.REPORT`: its summary, nothing runs); unfinished: `--resume`
  continues it (`Start.RESUME`; the recorded budget, samples and `--set` apply, and may be
  repeated), and without `--resume` the message says to pass it;
- a different sweep: refused, naming the first difference; `--name` or `--overwrite`
  (which deletes that folder and nothing else, without asking) start afresh.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_ired.ired.config import RUNTIME_KEYS, parse_assignments
from tune_ired.record import provenance, results, sweepfile, tunestate
from tune_ired.record.catalogue import UNFINISHED
from tune_ired.space import SearchSpace
from tune_ired.tuning.arguments import resume_command
from tune_ired.tuning.folder import Start, Stored, read_stored
from tune_ired.tuning.resources import (
    check_address,
    check_flags,
    check_local_resources,
    check_storage,
)
from tune_ired.tuning.validate import (
    SpaceError,
    Trials,
    budget_trials,
    canonical,
    check_other_budgets,
    is_grid,
    load_space,
)

ABSENT = object()  # a key one side of a difference lacks


@dataclass
class Plan:
    """A validated sweep, ready to run: everything is checked before Ray starts."""

    spec: SearchSpace
    file: Path
    budget: str
    folder: Path  # <storage>/<name>
    trials: Trials  # Tune's param_space and every trial's config, made once
    searched: list[str]  # the config keys Tune varies (the rest are fixed)
    resources: dict[str, float]
    max_concurrent: int
    address: str | None
    command: str  # this command line, recorded in sweep.json and every trial's run.json
    again: str  # the command that continues this sweep (`arguments.resume_command`)
    # --set (recorded: a re-run must give the same)
    overrides: dict[str, Any] = field(default_factory=dict)
    start: Start = Start.FRESH
    clear: bool = False  # delete the folder first (--overwrite, or a start-up's leftovers)
    restore_kept: bool = (
        False  # Tune's newest snapshot is torn: put the kept copy back before resuming
    )
    # what the plan decided, said before anything runs
    notes: list[str] = field(default_factory=list)

    @property
    def resume(self) -> bool:
        return self.start is Start.RESUME

    @property
    def num_samples(self) -> int:
        """Passes over the grid, or trials drawn (--num-samples, the recorded one, else the budget's)."""
        return self.trials.num_samples

    @property
    def param_space(self) -> dict[str, Any]:
        """What Tune searches: fixed keys, --set, then the searched entries."""
        return self.trials.param_space


def identity(plan: Plan) -> dict[str, Any]:
    """Everything that decides what the sweep trains, as JSON data (a re-run or a resume must match the
    folder's sweep.json): the file, budget, metric, mode, searcher and its seed, the scheduler, the
    samples, --set, and the resolved space Tune gets (runtime keys aside: device, threads, compile)."""
    overrides = {key: value for key, value in plan.overrides.items() if key not in RUNTIME_KEYS}
    space = {key: value for key, value in plan.param_space.items() if key not in RUNTIME_KEYS}
    scheduler = plan.spec.scheduler
    mine = {
        "file": str(plan.file),
        "budget": plan.budget,
        "metric": plan.spec.metric,
        "mode": plan.spec.mode,
        "searcher": plan.spec.searcher,
        "seed": plan.spec.seed,
        "scheduler": None if scheduler is None else vars(scheduler),
        "num_samples": plan.num_samples,
        "overrides": overrides,
        "searched": plan.searched,
        "space": canonical(space),
    }
    return json.loads(json.dumps(mine))  # as sweep.json holds it: lists, string keys


def describe(sweep: dict[str, Any]) -> str:
    """One sweep's identity in words."""
    fixed = " ".join(f"{k}={v}" for k, v in sweep.get("overrides", {}).items())
    return (
        f"{sweep.get('file')} at budget '{sweep.get('budget')}' (metric {sweep.get('metric')} {sweep.get('mode')}, "
        f"searcher {sweep.get('searcher')}, searched {', '.join(sweep.get('searched') or []) or 'nothing'}, "
        f"{sweep.get('num_samples')} sample(s)" + (f", --set {fixed}" if fixed else "") + ")"
    )


def shown(value: Any) -> str:
    """An identity value in a message: a grid as grid_search([...]), the rest as JSON."""
    if value is ABSENT:
        return "absent"
    if is_grid(value):
        return f"grid_search({value['grid_search']!r})"
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def first_difference(meta: dict[str, Any], plan: Plan) -> str | None:
    """The first identity item in which the folder's sweep (its sweep.json) and this plan differ, in words
    ("space['strategy'] is grid_search([...]) there, grid_search([...]) in this command"); None when they
    agree on every item the file holds (older files lack some)."""
    mine = identity(plan)
    for key in (key for key in sweepfile.IDENTITY if key in meta and meta[key] != mine[key]):
        there, here = meta[key], mine[key]
        if isinstance(there, dict) and isinstance(here, dict):
            sub = next(k for k in [*there, *here] if there.get(k, ABSENT) != here.get(k, ABSENT))
            there, here = there.get(sub, ABSENT), here.get(sub, ABSENT)
            key = f"--set {sub}" if key == "overrides" else f"{key}[{sub!r}]"
        return f"{key} is {shown(there)} there, {shown(here)} in this command"
    return None


def unfinished_trials(plan: Plan) -> tuple[int, int]:
    """(finished, expected) trials of the folder's sweep, read from its records (none before Tune wrote
    any: a sweep stopped in its start-up)."""
    expected = len(plan.trials.configs)
    if not results.is_sweep(plan.folder):
        return 0, expected
    trials = results.load_sweep(plan.folder).trials
    done = int((~trials["status"].isin(list(UNFINISHED))).sum()) if len(trials) else 0
    return done, expected


def decide_start(plan: Plan, stored: Stored, args: argparse.Namespace) -> None:
    """Set `plan.start` (and clear, restore_kept, notes) from what the folder holds; raise SpaceError if refused."""
    folder, resume = plan.folder, args.resume
    if args.overwrite:
        if folder.is_dir() and any(folder.iterdir()) and not stored.anything:
            raise SpaceError(
                f"--overwrite: {folder} is not a sweep folder; it is left alone. Choose another --name."
            )
        plan.clear = stored.anything
        if plan.clear:
            plan.notes.append(f"--overwrite: deleting {folder} and starting afresh")
        return
    if not stored.records:
        plan.clear = stored.anything
        if plan.clear:
            plan.notes.append(
                f"{folder} holds a sweep stopped in its start-up (no trial had started): starting afresh"
            )
        elif resume:
            plan.notes.append(f"--resume: nothing had started in {folder}: starting it")
        return
    refuse_another(plan, stored, args)
    if resume:
        plan.start = Start.RESUME
        check_snapshot(plan)
        return
    done, expected = unfinished_trials(plan)
    if done < expected:
        raise SpaceError(
            f"{folder} holds this sweep, unfinished ({done} of {expected} trials done): continue it with "
            f"`{plan.again}`, or start it afresh with --overwrite (deletes its results)."
        )
    plan.start = Start.REPORT


def refuse_another(plan: Plan, stored: Stored, args: argparse.Namespace) -> None:
    """Raise SpaceError when the folder's trials belong to another sweep, naming the first difference."""
    difference = first_difference(stored.meta, plan) if stored.meta else None
    if stored.meta and difference is None:
        return
    held = describe(stored.meta) if stored.meta else "trial records but no readable sweep.json"
    other_file = stored.meta.get("file") not in (None, str(plan.file))
    stored_next = (
        f"continue it with `{resume_command(args, file=Path(stored.meta['file']))}`; "
        if other_file
        else ""
    )
    raise SpaceError(
        f"{'--resume: ' if args.resume else ''}{plan.folder} holds another sweep: "
        + (f"{difference}. It holds {held}. " if difference else f"{held}. ")
        + f"{stored_next}give this sweep its own --name, or replace the stored one with --overwrite "
        "(deletes its results)."
    )


def check_snapshot(plan: Plan) -> None:
    """A resume: Tune's snapshot restores, or the kept copy will replace it (raises SpaceError when neither)."""
    folder = plan.folder
    problems = tunestate.snapshot_problems(folder)
    if problems and not tunestate.kept(folder):
        raise SpaceError(
            f"--resume: Tune's snapshot in {folder} cannot be restored ({'; '.join(problems)}) and no copy of it "
            f"was kept; the trials' own records are intact (python -m tune_ired.report {folder}). To run the "
            "sweep again, give it another --name, or --overwrite this folder (deletes its results)."
        )
    if problems:
        plan.restore_kept = True
        plan.notes.append(
            f"Tune's newest snapshot is damaged ({'; '.join(problems)}): restoring the copy the sweep kept"
        )


def sweep_folder(args: argparse.Namespace) -> Path:
    """<storage>/<name>: where the sweep is written."""
    return args.storage.resolve() / (args.name or args.file.stem)


def plan_sweep(args: argparse.Namespace, *, lock: Callable[[Path], object] | None = None) -> Plan:
    """Validate everything the command line names, before Ray starts (raises ConfigError).

    `lock` is called with the sweep folder once the command line is checked and before the
    folder is read: the driver takes its lock there (`tune_ired.tuning.lock`); a dry run and a
    campaign's planning pass none.
    """
    spec = load_space(args.file)
    check_flags(args)
    folder = sweep_folder(args)
    check_storage(folder)
    if lock is not None:
        lock(folder)
    stored = read_stored(folder)
    was = stored.meta if args.resume and stored.records else {}
    budget = args.budget or was.get("budget") or spec.chosen_default
    # a resume keeps the recorded --set; one given again must repeat it (identity compares them)
    overrides = {**was.get("overrides", {}), **parse_assignments(args.set)}
    if args.gpus_per_trial > 0:
        overrides.setdefault("device", "cuda")
    source = f"{args.file} at budget '{budget}'"
    samples = args.num_samples or was.get("num_samples")
    trials = budget_trials(spec, budget, overrides, num_samples=samples, source=source)
    check_other_budgets(spec, budget, overrides, source=str(args.file))
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    if args.address:
        check_address(args.address)
    elif not args.slurm:  # a job's nodes are checked against its request (tuning.submit)
        check_local_resources(trials.param_space, resources)
    plan = Plan(
        spec=spec,
        file=args.file.resolve(),
        budget=budget,
        folder=folder,
        trials=trials,
        searched=[key for key in spec.budget_space(budget) if key not in overrides],
        resources=resources,
        max_concurrent=args.max_concurrent,
        address=args.address,
        command=provenance.command_line(),
        again=resume_command(args),
        overrides=overrides,
    )
    decide_start(plan, stored, args)
    return plan
