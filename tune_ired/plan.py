"""A sweep's plan: everything the command line names, validated before Ray starts, and what to do with the folder.

`plan_sweep(args)` loads the search-space file (`tune_ired.space`), decides the budget and
the sweep folder, checks the storage, the resources, the devices and the cluster address,
reads what the folder already holds, and returns a `Plan`; anything wrong raises
`ConfigError` (a one-paragraph message naming the file, flag or key, and the command to
run next) and `python -m tune_ired.sweep` exits with code 2 before Ray starts. Nothing is
written here (the storage's write test leaves nothing): `write_meta` and `close_meta` keep
the sweep's own record, `sweep.json` (its identity, what analysis needs to read the folder,
and the provenance of each start or resume). The driver takes its lock (`tune_ired.lock`)
through `plan_sweep(args, lock=...)` before the folder is read.

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
import math
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tune_ired import provenance, results, tunestate
from tune_ired.catalogue import TrialStatus
from tune_ired.config import RUNTIME_KEYS, parse_assignments
from tune_ired.runlog import (
    CONFIG_FILE,
    METRICS_FILE,
    TRIAL_PREFIX,
    read_json,
    write_json,
    write_problem,
)
from tune_ired.space import (
    SearchSpace,
    SpaceError,
    canonical,
    is_grid,
    load_space,
    sample_values,
    trial_space,
)

ADDRESS_TIMEOUT_S = 5.0  # a cluster address must accept a connection within this
UNFINISHED = (TrialStatus.RUNNING, TrialStatus.PENDING)
# what decides what a sweep trains, compared in this order on a re-run or a resume (older sweep.json
# files hold only the first eight but seed and scheduler: only the keys a file holds are compared)
IDENTITY = (
    "file",
    "budget",
    "metric",
    "mode",
    "searcher",
    "seed",
    "scheduler",
    "num_samples",
    "overrides",
    "searched",
    "space",
)
ABSENT = object()  # a key one side of a difference lacks


class Start(StrEnum):
    """What the sweep command does with its folder."""

    FRESH = "fresh"  # start a new sweep (after clearing the folder when `Plan.clear`)
    RESUME = "resume"  # continue the folder's sweep from Tune's snapshot
    REPORT = "report"  # the folder holds this sweep, finished: report it, run nothing


@dataclass
class Plan:
    """A validated sweep, ready to run: everything is checked before Ray starts."""

    spec: SearchSpace
    file: Path
    budget: str
    folder: Path  # <storage>/<name>
    param_space: dict[str, Any]
    searched: list[str]  # the config keys Tune varies (the rest are fixed)
    num_samples: int
    resources: dict[str, float]
    max_concurrent: int
    address: str | None
    command: str  # this command line, recorded in sweep.json and every trial's run.json
    again: str  # the command that continues this sweep (sweep.resume_command)
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


@dataclass(frozen=True)
class Stored:
    """What a sweep folder holds already."""

    meta: dict[str, Any]  # its sweep.json ({} when none, or unreadable)
    tune_files: bool  # Tune's tuner.pkl or experiment state
    records: list[str]  # trial folders holding a run record (a trial started in them)

    @property
    def anything(self) -> bool:
        return bool(self.meta or self.tune_files or self.records)


def read_stored(folder: Path) -> Stored:
    """What `folder` holds (nothing when it does not exist)."""
    if not folder.is_dir():
        return Stored(meta={}, tune_files=False, records=[])
    tune_files = (folder / tunestate.TUNER_FILE).exists() or bool(tunestate.state_files(folder))
    records = sorted(
        trial.name
        for trial in folder.glob(f"{TRIAL_PREFIX}*")
        if (trial / CONFIG_FILE).exists() or (trial / METRICS_FILE).exists()
    )
    return Stored(meta=results.read_meta(folder), tune_files=tune_files, records=records)


def check_address(address: str) -> None:
    """Raise SpaceError unless something accepts a TCP connection at the cluster address (HOST:PORT)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise SpaceError(
            f"--address '{address}': expected HOST:PORT of a Ray head, e.g. 10.0.0.1:6379."
        )
    try:
        socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT_S).close()
    except OSError as err:
        raise SpaceError(
            f"--address '{address}': nothing answers there ({err}). Start the cluster first, "
            "or omit --address to run on a private local Ray."
        ) from err


def check_flags(args: argparse.Namespace) -> None:
    """The numeric flags and their combinations (raises SpaceError)."""
    problems = []
    if args.cpus_per_trial < 1:
        problems.append(f"--cpus-per-trial {args.cpus_per_trial}: must be >= 1")
    if args.gpus_per_trial < 0 or not math.isfinite(args.gpus_per_trial):
        problems.append(
            f"--gpus-per-trial {args.gpus_per_trial}: must be >= 0 (fractions share a GPU)"
        )
    if args.max_concurrent < 0:
        problems.append(
            f"--max-concurrent {args.max_concurrent}: must be >= 0 (0: as many as resources allow)"
        )
    if args.num_samples is not None and args.num_samples < 1:
        problems.append(
            f"--num-samples {args.num_samples}: must be >= 1 (Ray Tune reads -1 as 'sample until stopped'; "
            "this command has no such mode: give the number of trials)"
        )
    if args.studies_at_once < 1:
        problems.append(f"--studies-at-once {args.studies_at_once}: must be >= 1")
    if args.name is not None and (problem := name_problem(args.name)):
        problems.append(f"--name {args.name!r}: {problem}")
    if args.resume and args.overwrite:
        problems.append(
            "--resume continues the folder's sweep and --overwrite deletes it: pass one of them"
        )
    if problems:
        raise SpaceError("; ".join(problems) + ".")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a sweep's, a campaign's or a study's folder in --storage (None: it can)."""
    if name in ("", ".", ".."):
        return "not a folder name"
    if any(separator in name for separator in ("/", "\\", "\0")):
        return "a folder name in --storage, without a path separator"
    if name.startswith("."):
        return "must not start with '.' (the drivers' lock files do)"
    return None


def check_storage(folder: Path) -> None:
    """Raise SpaceError when the sweep folder cannot be written (a file, a read-only folder)."""
    problem = write_problem(folder)
    if problem:
        raise SpaceError(
            f"--storage: the sweep folder {folder} cannot be written: {problem}. Choose another --storage."
        )


def local_cpus() -> int:
    """The CPUs a private local Ray gets on this machine (Ray's own count, cgroup limits included)."""
    from ray._private.utils import get_num_cpus

    return int(get_num_cpus())


def local_gpus() -> int:
    """The CUDA GPUs torch can use on this machine (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def requested_devices(param_space: dict[str, Any]) -> set[str]:
    """Every `device` a trial of the space can be given."""
    value = param_space.get("device")
    return set(map(str, sample_values(value))) if value is not None else set()


def check_local_resources(param_space: dict[str, Any], resources: dict[str, float]) -> None:
    """Raise SpaceError when a trial asks more than this machine has (Ray would wait forever) or a missing GPU."""
    problems = []
    cpus = local_cpus()
    if resources["cpu"] > cpus:
        problems.append(
            f"--cpus-per-trial {resources['cpu']:g} is more than the {cpus} CPUs of this machine"
        )
    cuda = sorted(device for device in requested_devices(param_space) if device.startswith("cuda"))
    if resources["gpu"] > 0 or cuda:
        gpus = local_gpus()
        if resources["gpu"] > gpus:
            problems.append(
                f"--gpus-per-trial {resources['gpu']:g} asks for more GPUs than the {gpus} of this machine"
            )
        wanted = [
            d
            for d in cuda
            if (d == "cuda" and not gpus) or (d.startswith("cuda:") and int(d[5:]) >= gpus)
        ]
        if wanted:
            problems.append(
                f"device={wanted[0]} asks for a CUDA GPU this machine does not have ({gpus} found)"
            )
    if problems:
        raise SpaceError(
            "; ".join(problems)
            + ". Ray would wait for it forever, or every trial would fail: ask for less, "
            "use device=cpu (the default), or run on a cluster that has it (--address)."
        )


def check_cluster(
    nodes: list[dict[str, Any]], resources: dict[str, float], *, cuda: bool = False
) -> None:
    """Raise SpaceError unless one alive node of a cluster (`ray.nodes()`) has a trial's CPUs and GPUs
    (some GPU when a trial asks for device=cuda)."""
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive", True)]
    gpus = max(resources["gpu"], float(cuda))
    if any(node.get("CPU", 0) >= resources["cpu"] and node.get("GPU", 0) >= gpus for node in alive):
        return
    sizes = (
        ", ".join(f"{node.get('CPU', 0):g} CPUs and {node.get('GPU', 0):g} GPUs" for node in alive)
        or "none"
    )
    wants = f"--cpus-per-trial {resources['cpu']:g} and --gpus-per-trial {resources['gpu']:g}"
    raise SpaceError(
        f"{wants}{' with device=cuda' if cuda else ''}: no node of the cluster has that (its nodes: {sizes}); "
        "Ray would wait for it forever, or every trial would fail. Ask for less per trial, or use device=cpu."
    )


def expected_trials(spec: SearchSpace, param_space: dict[str, Any], num_samples: int) -> int:
    """The trials the sweep makes: the grid's points times num_samples (Optuna: num_samples)."""
    if spec.searcher == "optuna":
        return num_samples
    return (
        math.prod(len(value["grid_search"]) for value in param_space.values() if is_grid(value))
        * num_samples
    )


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
    for key in (key for key in IDENTITY if key in meta and meta[key] != mine[key]):
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
    expected = expected_trials(plan.spec, plan.param_space, plan.num_samples)
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
    from tune_ired.sweep import resume_command

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
    folder is read: the driver takes its lock there (`tune_ired.lock`); a dry run and a
    campaign's planning pass none.
    """
    from tune_ired.sweep import resume_command

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
    param_space = trial_space(spec, budget, overrides, source=f"{args.file} at budget '{budget}'")
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    if args.address:
        check_address(args.address)
    else:
        check_local_resources(param_space, resources)
    plan = Plan(
        spec=spec,
        file=args.file.resolve(),
        budget=budget,
        folder=folder,
        param_space=param_space,
        searched=[key for key in spec.budget_space(budget) if key not in overrides],
        num_samples=args.num_samples or was.get("num_samples") or spec.budget_samples(budget),
        resources=resources,
        max_concurrent=args.max_concurrent,
        address=args.address,
        command=provenance.command_line(),
        again=resume_command(args),
        overrides=overrides,
    )
    decide_start(plan, stored, args)
    return plan


def write_meta(plan: Plan) -> None:
    """Write sweep.json: the sweep's identity (what decides what it trains), what analysis needs to read
    the folder (metric, mode, searched keys, budget), and the provenance of this start (a resume adds a
    session; `provenance` is the latest)."""
    path = plan.folder / results.SWEEP_FILE
    session = provenance.collect(command=plan.command)
    if plan.resume:
        meta = read_json(path)
        meta["sessions"] = [*meta.get("sessions", []), session]
        meta["provenance"] = session
        write_json(path, meta)
        return
    meta = {
        **identity(plan),
        "name": plan.folder.name,
        "resources": plan.resources,
        "description": plan.spec.description,
        "provenance": session,
        "sessions": [session],
    }
    write_json(path, meta)


def close_meta(plan: Plan) -> None:
    """Record in sweep.json when this session ended."""
    path = plan.folder / results.SWEEP_FILE
    meta = read_json(path)
    if meta.get("sessions"):
        meta["sessions"][-1]["ended_at"] = meta["provenance"]["ended_at"] = provenance.now()
        write_json(path, meta)
