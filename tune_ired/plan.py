"""A sweep's plan: everything the command line names, validated before Ray starts.

`plan_sweep(args)` loads the search-space file (`tune_ired.space`), decides the budget and
the sweep folder, checks the resources and the cluster address, and returns a `Plan`;
anything wrong raises `ConfigError` (a one-paragraph message naming the file, flag or key)
and `python -m tune_ired.sweep` exits with code 2 before Ray starts. `write_meta` and
`close_meta` keep the sweep's own record, `sweep.json` (what analysis needs to read the
folder, and the provenance of each start or resume).
"""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_ired import provenance, results
from tune_ired.config import parse_assignments
from tune_ired.runlog import read_json, write_json
from tune_ired.space import SearchSpace, SpaceError, load_space, trial_space

ADDRESS_TIMEOUT_S = 5.0  # a cluster address must accept a connection within this


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
    resume: bool
    command: str  # this command line, recorded in sweep.json and every trial's run.json


def check_address(address: str) -> None:
    """Raise SpaceError unless something accepts a TCP connection at the cluster address (HOST:PORT)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise SpaceError(f"--address '{address}': expected HOST:PORT of a Ray head, e.g. 10.0.0.1:6379.")
    try:
        socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT_S).close()
    except OSError as err:
        raise SpaceError(
            f"--address '{address}': nothing answers there ({err}). Start the cluster first, "
            "or omit --address to run on a private local Ray."
        ) from err


def stored_budget(folder: Path, budget: str | None) -> str:
    """The budget of the sweep to resume in `folder` (checking a given --budget agrees)."""
    meta = results.read_meta(folder)
    if not (folder / "tuner.pkl").exists() or "budget" not in meta:
        raise SpaceError(f"--resume: {folder} holds no sweep to resume; run it without --resume first.")
    if budget not in (None, meta["budget"]):
        raise SpaceError(f"--resume: the sweep in {folder} runs budget '{meta['budget']}', not '{budget}'.")
    return meta["budget"]


def plan_sweep(args: argparse.Namespace) -> Plan:
    """Validate everything the command line names, before Ray starts (raises ConfigError)."""
    spec = load_space(args.file)
    folder = args.storage.resolve() / (args.name or args.file.stem)
    if args.resume and args.set:
        raise SpaceError("--resume continues a sweep as it was started; --set cannot change it.")
    if not args.resume and (folder / "tuner.pkl").exists():
        raise SpaceError(f"{folder} already holds a sweep: pass --resume to continue it, or choose another --name.")
    budget = stored_budget(folder, args.budget) if args.resume else args.budget or spec.chosen_default
    if args.cpus_per_trial < 1 or args.gpus_per_trial < 0 or args.max_concurrent < 0 or args.num_samples == 0:
        raise SpaceError("--cpus-per-trial and --num-samples must be >= 1, --gpus-per-trial and --max-concurrent >= 0.")
    overrides = parse_assignments(args.set)
    if args.gpus_per_trial > 0:
        overrides.setdefault("device", "cuda")
    param_space = trial_space(spec, budget, overrides, source=f"{args.file} at budget '{budget}'")
    if args.address:
        check_address(args.address)
    return Plan(
        spec=spec,
        file=args.file.resolve(),
        budget=budget,
        folder=folder,
        param_space=param_space,
        searched=[key for key in spec.budget_space(budget) if key not in overrides],
        num_samples=args.num_samples or spec.budget_samples(budget),
        resources={"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial},
        max_concurrent=args.max_concurrent,
        address=args.address,
        resume=args.resume,
        command=provenance.command_line(),
    )


def write_meta(plan: Plan) -> None:
    """Write sweep.json: what analysis needs to read the folder (metric, mode, searched keys, budget),
    and the provenance of this start (a resume adds a session; `provenance` is the latest)."""
    path = plan.folder / results.SWEEP_FILE
    session = provenance.collect(command=plan.command)
    if plan.resume:
        meta = read_json(path)
        meta["sessions"] = [*meta.get("sessions", []), session]
        meta["provenance"] = session
        write_json(path, meta)
        return
    meta = {
        "file": str(plan.file),
        "name": plan.folder.name,
        "budget": plan.budget,
        "metric": plan.spec.metric,
        "mode": plan.spec.mode,
        "searcher": plan.spec.searcher,
        "scheduler": None if plan.spec.scheduler is None else vars(plan.spec.scheduler),
        "num_samples": plan.num_samples,
        "searched": plan.searched,
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
