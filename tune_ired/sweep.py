"""Sweep command line: run a search-space file on a local private Ray, or on a cluster, with Ray Tune.

    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick
    python -m tune_ired.sweep search_spaces/multiseed.py --address 10.0.0.1:6379 --gpus-per-trial 0.25
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --resume   # continue a killed sweep

With no --address a private local Ray is started (its dashboard on 127.0.0.1, address
printed); with one, the sweep joins that cluster. The sweep is written to
`<storage>/<name>/` (default `./results/<file stem>/`): Ray Tune's own files, our
`sweep.json`, and at the end the tidy table `trials.parquet` / `trials.csv`
(`tune_ired.results`). Bad input (file, key, value, budget, address) exits with code 2
before Ray starts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from tune_ired import provenance, results
from tune_ired.budgets import BUDGETS
from tune_ired.cli import ExitCode, fail
from tune_ired.config import ConfigError, make_config, parse_assignments
from tune_ired.runlog import read_json, trial_dirname, write_json
from tune_ired.space import SearchSpace, SpaceError, first_values, load_space, trial_space
from tune_ired.trainable import train_ired

SNAPSHOT_PERIOD_S = "1"  # experiment snapshot every second (Tune's default is 10 s+): a kill -9 loses no trial
CHECKPOINTS_TO_KEEP = 2  # a retry needs only the latest; one spare in case the latest is being written
MAX_FAILURES = 2  # a trial that raises is retried this many times, each from its last checkpoint
PROGRESS_PERIOD_S = 15  # the live progress table is printed at most this often
ADDRESS_TIMEOUT_S = 5.0  # a cluster address must accept a connection within this
DASHBOARD_HOST = "127.0.0.1"  # the local dashboard never listens beyond this machine (port 8265 or the next free)


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.sweep",
        description="Run a search-space file (search_spaces/*.py) as a Ray Tune sweep.",
        epilog="Config keys: python -m tune_ired.train --list-keys",
    )
    parser.add_argument("file", type=Path, help="a search-space file, e.g. search_spaces/noise_scale.py")
    parser.add_argument("--budget", choices=list(BUDGETS), help="named budget (default: the file's default_budget)")
    parser.add_argument("--address", help="join the Ray cluster at HOST:PORT (default: start a private local Ray)")
    parser.add_argument("--storage", type=Path, default=Path("results"), help="storage folder (default: ./results)")
    parser.add_argument("--name", help="experiment name (default: the file's stem)")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in <storage>/<name>")
    parser.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs (and torch threads) per trial")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, fractions allowed")
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: as resources allow)")
    parser.add_argument("--num-samples", type=int, help="override the file's num_samples")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fix a config key")
    return parser.parse_args(argv)


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


def start_ray(address: str | None) -> None:
    """Join the cluster at `address`, or start a private local Ray with its dashboard on 127.0.0.1."""
    quiet = ray.LoggingConfig(log_level="WARNING")  # no per-checkpoint INFO lines from every trial
    if address:
        context = ray.init(address=address, logging_config=quiet)
    else:
        context = ray.init(
            address="local",
            include_dashboard=True,
            dashboard_host=DASHBOARD_HOST,
            logging_config=quiet,
        )
    token = os.environ.get("RAY_AUTH_TOKEN_PATH")  # set by cluster/ray_sweep.sbatch: the job's own token file
    where = f"cat {token}" if token else "ray get-auth-token"
    print(f"Ray dashboard: http://{context.dashboard_url} (token: `{where}`)", flush=True)


def make_scheduler(plan: Plan) -> ASHAScheduler | None:
    """ASHA over evaluations (training_iteration), up to the budget's last evaluation; None when off."""
    asha = plan.spec.scheduler
    if asha is None:
        return None
    cfg = make_config(first_values(plan.param_space), budget=plan.budget, source=str(plan.file))
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=math.ceil(cfg.train_steps / cfg.eval_every),
        grace_period=asha.grace_period,
        reduction_factor=asha.reduction_factor,
        brackets=asha.brackets,
    )


def make_searcher(spec: SearchSpace) -> OptunaSearch | BasicVariantGenerator:
    """Optuna TPE (seeded) or Tune's grid/random variant generator (seeded)."""
    if spec.searcher == "optuna":
        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=spec.seed))
    return BasicVariantGenerator(random_state=spec.seed)


def run_config(plan: Plan) -> tune.RunConfig:
    reporter = tune.CLIReporter(
        metric_columns=["step", plan.spec.metric, "diverged"],
        parameter_columns=plan.searched,
        max_report_frequency=PROGRESS_PERIOD_S,
    )
    return tune.RunConfig(
        name=plan.folder.name,
        storage_path=str(plan.folder.parent),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_TO_KEEP),
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        progress_reporter=reporter,
        verbose=1,  # the status table only; every metric of every trial is in the trial folders
    )


def make_tuner(plan: Plan, trainable=train_ired) -> tune.Tuner:
    """A new Tuner for the plan, or the restored one (--resume: unfinished and errored trials continue)."""
    fn = tune.with_resources(
        tune.with_parameters(
            trainable,
            metric=plan.spec.metric,
            mode=plan.spec.mode,
            folder=str(plan.folder),
            budget=plan.budget,
            command=plan.command,
        ),
        plan.resources,
    )
    if plan.resume:
        return tune.Tuner.restore(str(plan.folder), trainable=fn, resume_unfinished=True, resume_errored=True)
    tune_config = tune.TuneConfig(
        metric=plan.spec.metric,
        mode=plan.spec.mode,
        scheduler=make_scheduler(plan),
        search_alg=make_searcher(plan.spec),
        num_samples=plan.num_samples,
        max_concurrent_trials=plan.max_concurrent or None,
        trial_dirname_creator=lambda trial: trial_dirname(trial.trial_id),
        reuse_actors=True,
    )
    return tune.Tuner(fn, param_space=plan.param_space, tune_config=tune_config, run_config=run_config(plan))


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


def summarize(plan: Plan) -> None:
    """Print the trials' statuses and the best config; write the tidy table into the sweep folder."""
    sweep = results.load_sweep(plan.folder)
    trials, best = sweep.trials, f"best/{plan.spec.metric}"
    print("trials: " + ", ".join(f"{n} {status}" for status, n in trials["status"].value_counts().items()))
    if best in trials and trials[best].notna().any():
        top = trials.loc[trials[best].idxmin() if plan.spec.mode == "min" else trials[best].idxmax()]
        config = {key.removeprefix("config/"): top[key] for key in trials if key.startswith("config/")}
        print(f"best trial {top['trial_id']}: {best} = {top[best]:.6g} at step {top['best/step']:.0f}")
        searched = {key: config[key] for key in plan.searched if key in config}
        print("best config: " + json.dumps(searched, default=lambda value: value.item()))  # numpy scalars
    for path in results.write_tables(plan.folder):
        print(f"wrote {path}")
    if trials["status"].isin(["running", "pending"]).any():
        again = f"{plan.file} --storage {plan.folder.parent} --name {plan.folder.name} --resume"
        print(f"the sweep did not finish; continue it with: python -m tune_ired.sweep {again}")


def run(plan: Plan, trainable=train_ired) -> None:
    """Start (or join) Ray, run the sweep to its end, and summarize it."""
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = SNAPSHOT_PERIOD_S
    os.environ["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"  # frequent snapshots are wanted
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the compact CLIReporter table instead of every metric column
    write_meta(plan)
    start_ray(plan.address)
    try:
        make_tuner(plan, trainable).fit()
    finally:
        ray.shutdown()
    close_meta(plan)
    summarize(plan)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = plan_sweep(args)
    except ConfigError as err:
        return fail(str(err))
    print(f"sweep {plan.file} at budget '{plan.budget}' into {plan.folder}", flush=True)
    run(plan)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
