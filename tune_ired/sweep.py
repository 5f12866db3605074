"""Sweep command line: run a search-space file on a local private Ray, or on a cluster, with Ray Tune.

    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick
    python -m tune_ired.sweep search_spaces/multiseed.py --address 10.0.0.1:6379 --gpus-per-trial 0.25
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --resume   # continue a killed sweep

With no --address a private local Ray is started (its dashboard on 127.0.0.1, address
printed); with one, the sweep joins that cluster. The sweep is written to
`<storage>/<name>/` (default `./results/<file stem>/`): Ray Tune's own files, our
`sweep.json`, and at the end the tidy table `trials.parquet` / `trials.csv`
(`tune_ired.results`). Bad input (file, key, value, budget, scheduler, seed, resources,
devices, storage, address) exits with code 2 before Ray starts.

Running it again is safe (`tune_ired.plan`): a finished sweep of the same file, budget and
name is reported, an unfinished one says to `--resume`, a start-up's leftovers start
afresh, and `--name` or `--overwrite` start a new one. Exit codes (`tune_ired.cli.ExitCode`):
0 every trial ended (completed, stopped, early-stopped or diverged); 1 a trial errored (the
message says why); 2 bad input; 74 the storage filled up (free space, then `--resume`);
75 stopped before its end with its state saved (`--resume`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_ired.budgets import BUDGETS
from tune_ired.cli import ExitCode, fail


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
    # --- the sweep folder (tune_ired.plan: re-running is safe)
    parser.add_argument(
        "--overwrite", action="store_true", help="delete the sweep folder <storage>/<name> first (asks nothing)"
    )
    return parser.parse_args(argv)


ERRORS_LISTED = 5  # errored trials named in the final message; the rest are counted


def outcome(plan) -> ExitCode:
    """The sweep's exit status, from its records: an errored trial fails it (naming why); unfinished ones mean
    it stopped with its state saved."""
    from tune_ired import results
    from tune_ired.catalogue import TrialStatus
    from tune_ired.plan import UNFINISHED, continue_command

    trials = results.load_sweep(plan.folder).trials
    again = continue_command(plan.file, plan.folder)
    errored = trials[trials["status"] == TrialStatus.ERRORED].to_dict("records")
    if errored:
        why = []
        for trial in errored[:ERRORS_LISTED]:
            config = " ".join(f"{key}={trial.get('config/' + key)}" for key in plan.searched)
            why.append(f"{trial['trial_dir']} ({config}): {trial['error'] or 'no error recorded'}")
        more = f"; and {len(errored) - ERRORS_LISTED} more" if len(errored) > ERRORS_LISTED else ""
        return fail(
            f"{len(errored)} of {len(trials)} trials errored: {'; '.join(why)}{more}. Their tracebacks are in "
            f"{plan.folder}/<trial>/error.txt; `{again}` retries them.",
            ExitCode.FAILED,
        )
    unfinished = int(trials["status"].isin(list(UNFINISHED)).sum())
    if unfinished:
        return fail(
            f"the sweep stopped with {unfinished} of {len(trials)} trials unfinished, its state saved: "
            f"continue it with `{again}`.",
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
        for trial in results.trial_folders(plan.folder):
            _, repaired = repair_record(trial)
            if repaired:
                print(f"repaired {trial / METRICS_FILE}: steps {repaired} restored from its checkpoints", flush=True)


def disk_full(plan, message: str) -> ExitCode:
    """The one message of a sweep stopped by a full disk."""
    from tune_ired.plan import continue_command

    return fail(
        f"{message}. What is on disk stays readable; the sweep stopped with its state saved. Free space, then "
        f"continue it with `{continue_command(plan.file, plan.folder)}`.",
        ExitCode.DISK_FULL,
    )


def run(plan, trainable=None) -> ExitCode:
    """Report a finished sweep, or record the sweep, run it on Ray and summarize it (`trainable`: tests pass
    their own); returns the exit status (`outcome`)."""
    from tune_ired import results
    from tune_ired.plan import Start, close_meta, write_meta
    from tune_ired.summary import summarize

    for note in plan.notes:
        print(note, flush=True)
    if plan.start is Start.REPORT:
        print(f"{plan.folder} holds this sweep, finished: nothing to run (--overwrite runs it afresh)", flush=True)
        summarize(plan)
        return outcome(plan)
    from tune_ired.trainable import train_ired
    from tune_ired.tuner import run_tuner, shortage

    prepare_folder(plan)
    short = shortage(plan.folder, running=0)
    if short is not None:
        return disk_full(plan, short.message())
    write_meta(plan)
    run_tuner(plan, trainable or train_ired)
    statuses = results.load_sweep(plan.folder).trials["status"]
    short = shortage(plan.folder, running=int(statuses.isin(["running", "pending", "errored"]).sum()))
    if short is not None:
        return disk_full(plan, short.message())
    close_meta(plan)
    summarize(plan)
    return outcome(plan)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tune_ired.config import ConfigError
    from tune_ired.plan import plan_sweep
    from tune_ired.runlog import is_disk_full

    try:
        plan = plan_sweep(args)
    except ConfigError as err:
        return fail(str(err))
    print(f"sweep {plan.file} at budget '{plan.budget}' into {plan.folder}", flush=True)
    try:
        return run(plan)
    except ConfigError as err:  # what only a joined cluster can tell (no node can hold a trial)
        return fail(str(err))
    except OSError as err:
        if not is_disk_full(err):
            raise
        return disk_full(plan, f"the storage of {plan.folder} is full ({err.strerror}: {err.filename})")


if __name__ == "__main__":
    sys.exit(main())
