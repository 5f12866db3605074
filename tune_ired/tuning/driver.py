"""A sweep from its command line to its exit code: plan, lock, run on Ray, sum up (or a campaign, or a dry run).

    python -m tune_ired.sweep FILE ...     # tune_ired.sweep calls start(args)

`start` sets up the private token of a local Ray (`tune_ired.tuning.auth`) and Ray's quiet
import, then `planned_run` checks the trackers and either runs a campaign
(`tune_ired.tuning.campaign`), prints a dry run (`tune_ired.tuning.dryrun`), or plans the
sweep under its folder's lock (`tune_ired.tuning.lock`; stop signals handled by
`tune_ired.tuning.signals`) and runs it: a finished sweep is reported (writing nothing),
else the folder is prepared (`tune_ired.tuning.folder`), sweep.json written, Tune run
(`tune_ired.tuning.tuner`) and the end summed up (`tune_ired.tuning.summary`). `outcome`
turns the records into the exit code (`tune_ired.cli.ExitCode`): 0 every trial ended, 1 a
trial errored, 2 bad input or a folder another driver runs, 74 the storage filled up, 75
stopped before its end with its state saved.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from tune_ired._lazy import lazy
from tune_ired.cli import ExitCode, fail
from tune_ired.ired.config import ConfigError
from tune_ired.record import results, sweepfile
from tune_ired.record.catalogue import UNFINISHED, TrialStatus
from tune_ired.record.estimate import Estimate
from tune_ired.record.files import is_disk_full
from tune_ired.tuning.auth import private_token
from tune_ired.tuning.folder import Start, prepare_folder, read_stored
from tune_ired.tuning.lock import LockBusy, driver_lock
from tune_ired.tuning.signals import STOP, StopSignals, import_ray_quietly
from tune_ired.tuning.trackers import Trackers, check_trackers

# these import Ray: loaded once the private token is set and Ray's quiet import has run (`start`)
campaign = lazy("tune_ired.tuning.campaign")
costs = lazy("tune_ired.tuning.costs")  # torch: calibrations
dryrun = lazy("tune_ired.tuning.dryrun")
planning = lazy("tune_ired.tuning.plan")
submit = lazy("tune_ired.tuning.submit")
summary = lazy("tune_ired.tuning.summary")
adapter = lazy("tune_ired.tuning.trainable")  # the Ray Tune trainable
tuner = lazy("tune_ired.tuning.tuner")

ERRORS_LISTED = 5  # errored trials named in the final message; the rest are counted


def outcome(plan) -> ExitCode:
    """The sweep's exit status, from its records: an errored trial fails it (naming why); fewer trials
    finished than the sweep makes means it stopped with its state saved."""
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
    done, expected = planning.unfinished_trials(plan)
    if done < expected:
        return fail(
            f"the sweep stopped with {expected - done} of {expected} trials unfinished, its state saved: "
            f"continue it with `{plan.again}`.",
            ExitCode.INTERRUPTED,
        )
    return ExitCode.OK


def disk_full(plan, message: str) -> ExitCode:
    """The one message of a sweep stopped by a full disk (before any trial started, or with its state saved)."""
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
    print(
        f"{plan.folder} holds this sweep, finished: nothing to run (--overwrite runs it afresh)",
        flush=True,
    )
    written = summary.summarize(plan)
    if written:
        names = ", ".join(path.name for path in written)
        print(f"completed the sweep's final files, missing or out of date: {names}", flush=True)
    return outcome(plan)


def record_start(plan, estimate: Estimate) -> None:
    """sweep.json for this start: the whole record of a new sweep, or one more session of a resumed one."""
    if plan.resume:
        sweepfile.add_session(plan.folder, estimate=estimate.to_json())
        return
    sweepfile.start_record(
        plan.folder,
        planning.identity(plan),
        name=plan.folder.name,
        resources=plan.resources,
        description=plan.spec.description,
        estimate=estimate.to_json(),
    )


def run(
    plan,
    trainable=None,
    trackers: Trackers | None = None,
    stop: StopSignals | None = None,
    estimate: Estimate | None = None,
) -> ExitCode:
    """Report a finished sweep, or record the sweep, run it on Ray and sum it up (`trainable`: tests pass
    their own; `stop`: the driver's StopSignals; `estimate`: the plan's, recorded in sweep.json);
    returns the exit status (`outcome`)."""
    for note in plan.notes:
        print(note, flush=True)
    if plan.start is Start.REPORT:
        return report_finished(plan)
    prepare_folder(plan)
    short = tuner.shortage(plan.folder, running=0)
    if short is not None:
        return disk_full(plan, short.message())
    record_start(plan, estimate or costs.plan_estimate(plan))
    if stop is not None and stop.requested:
        print("stopped before Ray started", flush=True)
        return outcome(plan)
    tuner.run_tuner(plan, trainable or adapter.train_ired, trackers or Trackers(), stop=stop)
    if not results.is_sweep(plan.folder):  # stopped before Tune wrote its state: nothing to sum up
        return outcome(plan)
    statuses = results.load_sweep(plan.folder).trials["status"]
    running = int(statuses.isin([*UNFINISHED, TrialStatus.ERRORED]).sum())
    short = tuner.shortage(plan.folder, running=running)
    if short is not None:
        return disk_full(plan, short.message())
    sweepfile.close_session(plan.folder)
    summary.summarize(plan)
    return outcome(plan)


def start(args: argparse.Namespace) -> int:
    """Run the parsed sweep command: a dry run, a campaign or a sweep; the process's exit code."""
    if args.dry_run:  # starts no Ray: needs no token
        return planned_run(args)
    # before Ray is imported: Ray reads the token set-up and its signal-handler switch once
    with private_token(address=args.address):
        import_ray_quietly()
        return planned_run(args)


def planned_run(args: argparse.Namespace) -> int:
    """Validate the command line, then print the dry run, or run the campaign or the sweep."""
    trackers = Trackers(names=tuple(dict.fromkeys(args.tracker)), mlflow_uri=args.mlflow_uri)
    try:
        check_trackers(trackers)
        if args.slurm:
            return submit.main(args)
        if campaign.is_campaign(args.files):
            return campaign.main(args)
        if args.dry_run:
            plan = planning.plan_sweep(args)
            print(dryrun.dry_run_text(plan, costs.plan_estimate(plan)))
            return ExitCode.OK
    except ConfigError as err:
        return fail(str(err))
    with contextlib.ExitStack() as held:
        return locked_run(args, trackers, held)


def take_lock(folder: Path, held: contextlib.ExitStack, stop: StopSignals) -> None:
    """Hold the folder's driver lock until the process ends (raises LockBusy), then handle stop signals."""
    lock = held.enter_context(driver_lock(folder))
    if lock.note:
        print(lock.note, flush=True)
    stop.install()
    held.callback(stop.uninstall)


def locked_run(args: argparse.Namespace, trackers: Trackers, held: contextlib.ExitStack) -> int:
    """Plan the sweep under its folder's lock and run it."""
    try:
        plan = planning.plan_sweep(args, lock=lambda folder: take_lock(folder, held, STOP))
    except (ConfigError, LockBusy) as err:
        return fail(str(err))
    campaign.watch_campaign()
    print(f"sweep {plan.file} at budget '{plan.budget}' into {plan.folder}", flush=True)
    print(f"  its state any time: python -m tune_ired.status {plan.folder}", flush=True)
    estimate = None
    if plan.start is not Start.REPORT:
        estimate = costs.plan_estimate(plan)
        print("\n".join(costs.estimate_lines(estimate, asha=plan.spec.scheduler is not None)))
        wall = estimate.wall() or max(estimate.seconds, default=0.0)
        if costs.unasked_long_run(args, plan.spec, plan.budget, wall, f"sweep {plan.file}"):
            return ExitCode.BAD_INPUT
    try:
        return run(plan, trackers=trackers, stop=STOP, estimate=estimate)
    except ConfigError as err:  # what only a joined cluster can tell (no node can hold a trial)
        return fail(str(err))
    except OSError as err:
        if not is_disk_full(err):
            raise
        return disk_full(
            plan, f"the storage of {plan.folder} is full ({err.strerror}: {err.filename})"
        )
