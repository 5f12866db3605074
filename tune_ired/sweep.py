"""Sweep command line: run a search-space file on a local private Ray, or on a cluster, with Ray Tune.

    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick
    python -m tune_ired.sweep search_spaces/multiseed.py --address 10.0.0.1:6379 --gpus-per-trial 0.25
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --resume   # continue a killed sweep
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --dry-run  # the trials, without Ray
    python -m tune_ired.sweep search_spaces/noise_scale.py --tracker tensorboard --tracker mlflow
    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick          # a campaign of studies

With no --address a private local Ray is started (its dashboard on 127.0.0.1, address
printed); with one, the sweep joins that cluster. The sweep is written to
`<storage>/<name>/` (default `./results/<file stem>/`): Ray Tune's own files, our
`sweep.json`, and at the end the tidy table `trials.parquet` / `trials.csv`
(`tune_ired.results`) and `best.json` (`tune_ired.summary`). The live table is
`tune_ired.console`'s; `python -m tune_ired.status FOLDER` prints it from the folder alone.
Several files, or one campaign file, run as a campaign on one Ray (`tune_ired.campaign`).
Bad input (file, key, value, budget, scheduler, seed, resources, devices, storage, address,
tracker) exits with code 2 before Ray starts.

Running it again is safe (`tune_ired.plan`): a finished sweep of the same file, budget and
name is reported (writing nothing), an unfinished one says to `--resume`, a start-up's
leftovers start afresh, and `--name` or `--overwrite` start a new one. One driver runs a
folder at a time (`tune_ired.lock`: a second one exits 2 naming it). SIGTERM stops a sweep
as Ctrl-C does (`tune_ired.signals`). Every "continue it with" line is `resume_command`'s.
Exit codes (`tune_ired.cli.ExitCode`): 0 every trial ended (completed, stopped,
early-stopped or diverged); 1 a trial errored (the message says why); 2 bad input, or a
folder another driver runs; 74 the storage filled up (free space, then `--resume`); 75
stopped before its end (a signal) with its state saved (`--resume`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from pathlib import Path

from tune_ired.budgets import BUDGETS, describe_budgets
from tune_ired.cli import ExitCode, fail

# tune_ired.trackers.TRACKERS, named here without importing Ray
TRACKER_NAMES = ("tensorboard", "mlflow", "wandb")
# set by cluster/ray_sweep.sbatch: the `sbatch` line (with the job's options) that resubmits the job
SUBMIT_VARIABLE = "TUNE_IRED_SUBMIT"
# set by a campaign for its studies' sweep processes: the command that continues the campaign
CONTINUE_VARIABLE = "TUNE_IRED_CONTINUE"
NOT_REPEATED = {"files", "resume", "overwrite", "dry_run"}  # options a continue line drops


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.sweep",
        description="Run a search-space file (search_spaces/*.py) as a Ray Tune sweep.",
        epilog=(
            f"budgets:\n{describe_budgets()}\n\n"
            "config keys: python -m tune_ired.train --list-keys\n"
            "a sweep's state, any time: python -m tune_ired.status <storage>/<name>"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a search-space file (search_spaces/noise_scale.py); several, or a campaign file, run as a campaign",
    )
    parser.add_argument(
        "--budget",
        choices=list(BUDGETS),
        help="named budget, listed below (default: the file's default_budget)",
    )
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="join this Ray cluster (default: start a private local Ray)",
    )
    parser.add_argument(
        "--storage",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="storage folder (default: ./results)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="the sweep's (or campaign's) folder in DIR (default: the file's stem)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the sweep (or campaign) in <storage>/<name>"
    )
    parser.add_argument(
        "--cpus-per-trial",
        type=int,
        default=1,
        metavar="N",
        help="CPUs (and torch threads) per trial (default: 1)",
    )
    parser.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        metavar="F",
        help="GPUs per trial, fractions share (default: 0)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=0,
        metavar="N",
        help="trials at once (default: 0, as resources allow)",
    )
    parser.add_argument(
        "--num-samples", type=int, metavar="N", help="override the file's num_samples"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fix a config key (repeatable)",
    )
    # --- console and trackers (tune_ired.console, tune_ired.dryrun, tune_ired.trackers)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the trials, resources and estimated work; start nothing",
    )
    parser.add_argument(
        "--tracker",
        action="append",
        default=[],
        choices=TRACKER_NAMES,
        help="also log to this tracker (repeatable; pip install -e '.[trackers]')",
    )
    parser.add_argument(
        "--mlflow-uri",
        metavar="URI",
        help="MLflow tracking store or server (default: sqlite:///<storage>/<name>/mlflow.db)",
    )
    # --- the sweep folder (tune_ired.plan: re-running is safe)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the sweep folder <storage>/<name> first (asks nothing)",
    )
    # --- campaigns (tune_ired.campaign)
    parser.add_argument(
        "--studies-at-once",
        type=int,
        default=1,
        metavar="N",
        help="a campaign's studies side by side (default: 1)",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    args.file = args.files[0]
    return args


def option_tokens(args: argparse.Namespace, *, skip: set[str]) -> list[str]:
    """The options of `args` that differ from the parser's defaults, as command-line tokens (paths made
    absolute), but those whose destination is in `skip`; `--storage` always."""
    tokens: list[str] = []
    for action in build_parser()._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest in skip or action.default == argparse.SUPPRESS:
            continue  # a positional, a skipped option, or --help
        if value == action.default and action.dest != "storage":
            continue
        option = action.option_strings[-1]
        if action.nargs == 0:  # a flag (store_true)
            tokens.append(option)
            continue
        for one in value if isinstance(value, list) else [value]:
            tokens += [option, str(one.resolve() if isinstance(one, Path) else one)]
    return tokens


def resume_command(args: argparse.Namespace, *, file: Path | None = None) -> str:
    """The command that continues what `args` started: every printed "continue it with" line.

    It repeats the command's options (a resume may repeat its --set, --budget, --num-samples)
    with absolute paths, without --overwrite and --dry-run, and adds --resume. Inside
    cluster/ray_sweep.sbatch it is the job's own `sbatch` line (SUBMIT_VARIABLE, without the
    job's --address); inside a campaign, the campaign's command (CONTINUE_VARIABLE). With
    `file`: the command that continues the sweep of that file in the same folder (its
    recorded settings apply).
    """
    if os.environ.get(CONTINUE_VARIABLE):
        return os.environ[CONTINUE_VARIABLE]
    submit = os.environ.get(SUBMIT_VARIABLE)
    skip = NOT_REPEATED | ({"address"} if submit else set())
    if file is None:
        tokens = [str(path.resolve()) for path in args.files] + option_tokens(args, skip=skip)
    else:
        name = args.name or args.file.stem
        tokens = [str(file), "--storage", str(args.storage.resolve()), "--name", name]
        tokens += ["--address", args.address] if args.address and not submit else []
    return f"{submit or 'python -m tune_ired.sweep'} {shlex.join([*tokens, '--resume'])}"


def resume_line(argv: list[str]) -> str:
    """resume_command of a command line (cluster/ray_sweep.sbatch prints it when the job stops)."""
    return resume_command(parse_args(argv))


ERRORS_LISTED = 5  # errored trials named in the final message; the rest are counted


def outcome(plan) -> ExitCode:
    """The sweep's exit status, from its records: an errored trial fails it (naming why); fewer trials
    finished than the sweep makes means it stopped with its state saved."""
    from tune_ired import results
    from tune_ired.catalogue import TrialStatus
    from tune_ired.plan import unfinished_trials

    trials = results.load_sweep(plan.folder).trials if results.is_sweep(plan.folder) else []
    errored = (
        trials[trials["status"] == TrialStatus.ERRORED].to_dict("records") if len(trials) else []
    )
    if errored:
        why = []
        for trial in errored[:ERRORS_LISTED]:
            config = " ".join(f"{key}={trial.get('config/' + key)}" for key in plan.searched)
            why.append(f"{trial['trial_dir']} ({config}): {trial['error'] or 'no error recorded'}")
        more = f"; and {len(errored) - ERRORS_LISTED} more" if len(errored) > ERRORS_LISTED else ""
        return fail(
            f"{len(errored)} of {len(trials)} trials errored: {'; '.join(why)}{more}. Their tracebacks are in "
            f"{plan.folder}/<trial>/error.txt; `{plan.again}` retries them.",
            ExitCode.FAILED,
        )
    done, expected = unfinished_trials(plan)
    if done < expected:
        return fail(
            f"the sweep stopped with {expected - done} of {expected} trials unfinished, its state saved: "
            f"continue it with `{plan.again}`.",
            ExitCode.INTERRUPTED,
        )
    return ExitCode.OK


def prepare_folder(plan) -> None:
    """Clear the folder (--overwrite, a start-up's leftovers), or make it ready to resume: the kept snapshot
    back in place of a torn one, and every trial's record completed from its checkpoints' copies."""
    import shutil

    from tune_ired import results, tunestate
    from tune_ired.runlog import METRICS_FILE, repair_record

    if plan.clear:
        shutil.rmtree(plan.folder)
    if plan.restore_kept:
        print(tunestate.restore_kept(plan.folder), flush=True)
    if plan.resume:
        set_aside_unrecorded(plan.folder)
        for trial in results.trial_folders(plan.folder):
            _, repaired = repair_record(trial)
            if repaired:
                print(
                    f"repaired {trial / METRICS_FILE}: steps {repaired} restored from its checkpoints",
                    flush=True,
                )


def set_aside_unrecorded(folder: Path) -> None:
    """Move the trial folders Tune's snapshot does not hold into UNRECORDED_DIR, saying so.

    A trial that started after Tune's last snapshot (a kill soon after it began) is unknown to
    the restored experiment and its searcher: Tune draws it again as a new trial. Left in
    place, its folder would count as a trial that never ends; moved, its rows are kept. A
    snapshot that lists no trial at all (or whose format this code cannot read) moves nothing.
    """
    from tune_ired import results
    from tune_ired.runlog import UNRECORDED_DIR

    recorded = results.read_states(folder)
    if not recorded:
        return
    for trial in results.trial_folders(folder):
        if trial.name in recorded:
            continue
        (folder / UNRECORDED_DIR).mkdir(exist_ok=True)
        trial.rename(folder / UNRECORDED_DIR / trial.name)
        print(
            f"{trial.name} started after Tune's last snapshot, so Tune draws it again as a new trial: "
            f"its folder moved to {folder / UNRECORDED_DIR / trial.name}",
            flush=True,
        )


def disk_full(plan, message: str) -> ExitCode:
    """The one message of a sweep stopped by a full disk (before any trial started, or with its state saved)."""
    from tune_ired.plan import read_stored

    state = (
        "the sweep stopped with its state saved"
        if read_stored(plan.folder).records
        else "no trial had started"
    )
    return fail(
        f"{message}. What is on disk stays readable; {state}. Free space, then "
        f"continue it with `{plan.again}`.",
        ExitCode.DISK_FULL,
    )


def report_finished(plan) -> ExitCode:
    """A re-run of a finished sweep: its summary, writing only what the folder lacks (nothing, normally)."""
    from tune_ired.summary import summarize

    print(
        f"{plan.folder} holds this sweep, finished: nothing to run (--overwrite runs it afresh)",
        flush=True,
    )
    written = summarize(plan)
    if written:
        names = ", ".join(path.name for path in written)
        print(f"completed the sweep's final files, missing or out of date: {names}", flush=True)
    return outcome(plan)


def run(plan, trainable=None, trackers=None, stop=None) -> ExitCode:
    """Report a finished sweep, or record the sweep, run it on Ray and summarize it (`trainable`: tests pass
    their own; `stop`: the driver's StopSignals); returns the exit status (`outcome`)."""
    from tune_ired import results
    from tune_ired.plan import Start, close_meta, write_meta
    from tune_ired.summary import summarize
    from tune_ired.trackers import Trackers

    for note in plan.notes:
        print(note, flush=True)
    if plan.start is Start.REPORT:
        return report_finished(plan)
    from tune_ired.trainable import train_ired
    from tune_ired.tuner import run_tuner, shortage

    prepare_folder(plan)
    short = shortage(plan.folder, running=0)
    if short is not None:
        return disk_full(plan, short.message())
    write_meta(plan)
    if stop is not None and stop.requested:
        print("stopped before Ray started", flush=True)
        return outcome(plan)
    run_tuner(plan, trainable or train_ired, trackers or Trackers(), stop=stop)
    if not results.is_sweep(plan.folder):  # stopped before Tune wrote its state: nothing to sum up
        return outcome(plan)
    statuses = results.load_sweep(plan.folder).trials["status"]
    short = shortage(
        plan.folder, running=int(statuses.isin(["running", "pending", "errored"]).sum())
    )
    if short is not None:
        return disk_full(plan, short.message())
    close_meta(plan)
    summarize(plan)
    return outcome(plan)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from tune_ired.auth import private_token

    if args.dry_run:  # starts no Ray: needs no token
        return planned_run(args)
    # before Ray is imported: Ray reads the token set-up once
    with private_token(address=args.address):
        from tune_ired.signals import import_ray_quietly

        import_ray_quietly()
        return planned_run(args)


def planned_run(args: argparse.Namespace) -> int:
    """Validate the command line, then print the dry run, or run the campaign or the sweep."""
    from tune_ired import campaign
    from tune_ired.config import ConfigError
    from tune_ired.trackers import Trackers, check_trackers

    trackers = Trackers(names=tuple(dict.fromkeys(args.tracker)), mlflow_uri=args.mlflow_uri)
    try:
        check_trackers(trackers)
        if campaign.is_campaign(args.files):
            return campaign.main(args)
        if args.dry_run:
            return dry_run(args)
    except ConfigError as err:
        return fail(str(err))
    with contextlib.ExitStack() as held:
        return locked_run(args, trackers, held)


def dry_run(args: argparse.Namespace) -> int:
    """Print what the sweep would run (no lock, no Ray; raises ConfigError)."""
    from tune_ired.dryrun import dry_run_text
    from tune_ired.plan import plan_sweep

    print(dry_run_text(plan_sweep(args)))
    return ExitCode.OK


def take_lock(folder: Path, held: contextlib.ExitStack, stop) -> None:
    """Hold the folder's driver lock until the process ends (raises LockBusy), then handle stop signals."""
    from tune_ired.lock import driver_lock

    lock = held.enter_context(driver_lock(folder))
    if lock.note:
        print(lock.note, flush=True)
    stop.install()
    held.callback(stop.uninstall)


def locked_run(args: argparse.Namespace, trackers, held: contextlib.ExitStack) -> int:
    """Plan the sweep under its folder's lock and run it."""
    from tune_ired import campaign
    from tune_ired.config import ConfigError
    from tune_ired.lock import LockBusy
    from tune_ired.plan import plan_sweep
    from tune_ired.runlog import is_disk_full
    from tune_ired.signals import STOP as stop

    try:
        plan = plan_sweep(args, lock=lambda folder: take_lock(folder, held, stop))
    except (ConfigError, LockBusy) as err:
        return fail(str(err))
    campaign.watch_campaign()
    print(f"sweep {plan.file} at budget '{plan.budget}' into {plan.folder}", flush=True)
    print(f"  its state any time: python -m tune_ired.status {plan.folder}", flush=True)
    try:
        return run(plan, trackers=trackers, stop=stop)
    except ConfigError as err:  # what only a joined cluster can tell (no node can hold a trial)
        return fail(str(err))
    except OSError as err:
        if not is_disk_full(err):
            raise
        return disk_full(
            plan, f"the storage of {plan.folder} is full ({err.strerror}: {err.filename})"
        )


if __name__ == "__main__":
    sys.exit(main())
