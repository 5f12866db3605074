"""Campaigns: several studies (search-space files) on one Ray, in order or side by side, resumable.

    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick          # a campaign file
    python -m tune_ired.sweep search_spaces/strategies.py search_spaces/ood.py       # or several files
    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick --resume # after a kill or time-out
    python -m tune_ired.report results/research_plan                                # an index of every study

The campaign folder `<storage>/<name>/` (name: `--name`, else the campaign file's stem, else
"campaign") holds `campaign.json` (the studies in order and where each stands, and the
options every study is given: recorded once, at the first start; a resume uses them, may
repeat them, and is refused when it changes what trains) and one sweep
folder per study, `<storage>/<name>/<study>/`, a sweep like any other. Every study is planned
(validated) before Ray starts, so a bad file late in the plan fails in seconds. Then one Ray
is started (or joined with `--address`) and each study runs as its own `python -m
tune_ired.sweep` process against it, `--studies-at-once` at a time (default 1: in order,
each with the whole cluster; more run side by side and share it as Ray schedules their
trials). Their console lines are prefixed with the study's name and kept in `<study>.log`.

A SIGINT or SIGTERM (Ctrl-C, `scancel`, or SLURM's time-limit warning through
cluster/ray_sweep.sbatch) is passed on, once, to the running studies (each in its own
process group, so a terminal's Ctrl-C reaches them only through the campaign), which save
and stop; the campaign then exits 75 (`ExitCode.INTERRUPTED`) and prints the command that
continues it (every study's own continue line is that command too): finished studies are
skipped, stopped ones resumed, the others started. The campaign driver holds the lock of
its folder (`tune_ired.tuning.lock`), each study's sweep process the lock of its own. A study
whose campaign process dies (kill -9) stops itself the same way (`watch_campaign`). A study
that fails does not stop the others; the campaign then exits 1 and says which.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_ired.cli import ExitCode, fail
from tune_ired.ired.config import ConfigError, parse_assignments
from tune_ired.record import provenance
from tune_ired.record.campaignfile import CAMPAIGN_FILE, StudyStatus, read_campaign
from tune_ired.record.estimate import Estimate, duration_text, makespan
from tune_ired.record.files import write_json
from tune_ired.record.sweepview import campaign_lines
from tune_ired.tuning import costs, dryrun
from tune_ired.tuning.arguments import CONTINUE_VARIABLE, option_tokens, parse_args, resume_command
from tune_ired.tuning.lock import LockBusy, driver_lock
from tune_ired.tuning.plan import plan_sweep
from tune_ired.tuning.resources import (
    check_flags,
    check_storage,
    job_nodes,
    local_nodes,
    name_problem,
)
from tune_ired.tuning.signals import STOP_SIGNALS
from tune_ired.tuning.tuner import start_ray, stop_ray
from tune_ired.tuning.validate import SpaceError, load_campaign

PARENT_VARIABLE = (
    "TUNE_IRED_CAMPAIGN_PID"  # set for a study's sweep process: the campaign that started it
)
DEFAULT_NAME = "campaign"  # the campaign of a list of files, without --name
POLL_S = 0.5  # how often the campaign looks at its running studies
ORPHAN_GRACE_S = 15.0  # a study whose campaign died stops as on Ctrl-C; if still running this much later, it exits
# the campaign's own options (and those a study is never given): the rest go to every study
CAMPAIGN_OPTIONS = {
    "files",
    "name",
    "storage",
    "address",
    "studies_at_once",
    "resume",
    "overwrite",
    "dry_run",
}
# study options that decide what trains: a resume may repeat them, never change them
IDENTITY_OPTIONS = ("budget", "set", "num_samples")
ABSENT = object()  # a --set key the campaign was not started with


@dataclass
class StudyRun:
    """One study of the campaign: its file, folder and state, and its process while it runs."""

    name: str
    file: Path
    folder: Path
    status: str = StudyStatus.PENDING
    exit_code: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    estimate_s: float | None = None  # its expected wall time (None: not estimated, or finished)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.process.pid if self.process is not None else None,
            "file": str(self.file),
            "folder": str(self.folder),
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "estimate_s": self.estimate_s,
        }


def study_files(files: list[Path]) -> tuple[list[Path], str | None, str]:
    """The search-space files of the campaign in order, its name from a campaign file, and its description."""
    if len(files) == 1 and (loaded := load_campaign(files[0])) is not None:
        campaign, studies = loaded
        return studies, files[0].stem, campaign.description
    nested = [file for file in files if load_campaign(file) is not None]
    if nested:
        raise SpaceError(f"{nested[0]}: a campaign file runs on its own, not in a list of files.")
    return [file.resolve() for file in files], None, ""


def is_campaign(files: list[Path]) -> bool:
    """True when the command line names a campaign: several files, or one campaign file."""
    return len(files) > 1 or load_campaign(files[0]) is not None


def study_options(args: argparse.Namespace) -> list[str]:
    """The command line's options for every study: all but the files and the campaign's own options."""
    return option_tokens(args, skip=CAMPAIGN_OPTIONS)


def option_difference(recorded: argparse.Namespace, given: argparse.Namespace) -> str | None:
    """The first option that decides what trains which this command gives otherwise than the campaign
    recorded (None: it gives none, or repeats them)."""
    there, mine = parse_assignments(recorded.set), parse_assignments(given.set)
    for key, value in mine.items():
        if there.get(key, ABSENT) != value:
            return f"--set {key} is {there.get(key, 'not given')} there, {value} in this command"
    for dest in ("budget", "num_samples"):
        if getattr(given, dest) is not None and getattr(given, dest) != getattr(recorded, dest):
            option = f"--{dest.replace('_', '-')}"
            shown = getattr(recorded, dest) or "not given"
            return f"{option} is {shown} there, {getattr(given, dest)} in this command"
    return None


def resumed_options(folder: Path, recorded: list[str], args: argparse.Namespace) -> list[str]:
    """The studies' options of a resumed campaign: the recorded ones, with this command's runtime options
    (resources, trackers) in place of theirs; raises SpaceError when it changes what trains."""
    stored = parse_args([str(args.file), *recorded])
    difference = option_difference(stored, args)
    if difference:
        raise SpaceError(
            f"--resume: the campaign in {folder} was started with other options: {difference}. "
            "Resume it with its own options (or none: they are recorded), or give this one another --name."
        )
    merged = argparse.Namespace(**vars(stored))
    defaults = vars(parse_args([str(args.file)]))
    for dest, value in vars(args).items():
        if dest not in {*CAMPAIGN_OPTIONS, *IDENTITY_OPTIONS} and value != defaults.get(dest):
            setattr(merged, dest, value)
    return study_options(merged)


def study_argv(
    study: StudyRun, options: list[str], *, address: str | None, resume: bool
) -> list[str]:
    argv = [str(study.file), *options, "--storage", str(study.folder.parent), "--name", study.name]
    argv += ["--address", address] if address else []
    return argv + (["--resume"] if resume else [])


def check_names(args: argparse.Namespace, folder: Path, studies: list[StudyRun]) -> None:
    """The campaign's flags, its studies' folder names and its storage (raises SpaceError)."""
    check_flags(args)
    if args.overwrite:
        raise SpaceError(
            f"--overwrite: a campaign is not overwritten; delete {folder} yourself, or give it another --name."
        )
    names = [study.name for study in studies]
    bad = next((name for name in names if name_problem(name)), None)
    if bad is not None:
        raise SpaceError(f"campaign {folder.name}: study '{bad}': {name_problem(bad)}.")
    if len(set(names)) < len(names):
        raise SpaceError(
            f"campaign {folder.name}: two studies would share a folder ({', '.join(names)})."
        )
    check_storage(folder)


@dataclass
class Planned:
    """A checked campaign: its folder, studies, record (campaign.json without the studies), the options
    each study is given, and the plan of every unfinished study."""

    folder: Path
    studies: list[StudyRun]
    meta: dict[str, Any]
    options: list[str]
    plans: list


def plan_studies(
    args: argparse.Namespace, *, lock: Callable[[Path], object] | None = None
) -> Planned:
    """Check the whole campaign before Ray starts: its studies, their names, its options (recorded once, at
    the first start; a resume uses them) and every unfinished study's plan. `lock` is called with the
    campaign folder before it is read (the driver takes its lock there)."""
    files, name, description = study_files(args.files)
    folder = args.storage.resolve() / (args.name or name or DEFAULT_NAME)
    studies = [StudyRun(name=file.stem, file=file, folder=folder / file.stem) for file in files]
    check_names(args, folder, studies)
    if lock is not None:
        lock(folder)
    meta = read_campaign(folder)
    stored = meta.pop("studies", [])
    finished = bool(stored) and all(study["status"] == StudyStatus.FINISHED for study in stored)
    if stored and not args.resume and not finished:
        raise SpaceError(
            f"{folder} already holds a campaign: continue it with `{resume_command(args)}` (finished "
            "studies are skipped), or choose another --name."
        )
    if stored and [study["name"] for study in stored] != [study.name for study in studies]:
        raise SpaceError(
            f"--resume: the campaign in {folder} runs {', '.join(s['name'] for s in stored)}, not "
            f"{', '.join(study.name for study in studies)}."
        )
    for study, record in zip(studies, stored, strict=False):
        study.status, study.exit_code = record["status"], record["exit_code"]
        study.started_at, study.ended_at = record["started_at"], record["ended_at"]
    if "options" in meta:
        options = resumed_options(folder, meta["options"], args)
    else:
        options = study_options(args)
        meta = {"description": description, "options": options, "provenance": provenance.collect()}
    plans = [
        plan_sweep(
            parse_args(
                study_argv(study, options, address=None, resume=study.status != StudyStatus.PENDING)
            )
        )
        for study in studies
        if study.status != StudyStatus.FINISHED
    ]
    return Planned(folder=folder, studies=studies, meta=meta, options=options, plans=plans)


class Campaign:
    """Runs the planned studies as sweep processes on one Ray and keeps campaign.json true."""

    def __init__(self, planned: Planned, *, at_once: int, again: str):
        self.folder, self.studies, self.at_once = planned.folder, planned.studies, at_once
        self.options, self.meta, self.again = planned.options, planned.meta, again
        self.stopping = False

    def save(self) -> None:
        write_json(
            self.folder / CAMPAIGN_FILE,
            {**self.meta, "at_once": self.at_once, "studies": [s.record() for s in self.studies]},
        )

    def start(self, study: StudyRun, address: str) -> None:
        resume = study.status != StudyStatus.PENDING
        argv = [
            sys.executable,
            "-m",
            "tune_ired.sweep",
            *study_argv(study, self.options, address=address, resume=resume),
        ]
        log = (self.folder / f"{study.name}.log").open("a")
        study.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            process_group=0,  # its own group: a terminal's Ctrl-C reaches it once, forwarded by `stop`
            env={**os.environ, PARENT_VARIABLE: str(os.getpid()), CONTINUE_VARIABLE: self.again},
        )
        threading.Thread(target=relay, args=(study.process, study.name, log), daemon=True).start()
        study.status, study.started_at, study.ended_at = StudyStatus.RUNNING, provenance.now(), None
        print(f"campaign: study {study.name} started ({' '.join(argv[3:])})", flush=True)
        self.save()

    def reap(self, study: StudyRun) -> None:
        code = study.process.wait()
        study.process = None  # before the record is saved: no pid of a process that has ended
        study.exit_code, study.ended_at = code, provenance.now()
        study.status = (
            StudyStatus.FINISHED if code == 0
            else StudyStatus.INTERRUPTED if self.stopping or code == ExitCode.INTERRUPTED
            else StudyStatus.FAILED
        )  # fmt: skip
        print(f"campaign: study {study.name} {study.status} (exit {code})", flush=True)
        self.save()
        _, end = campaign_lines(self.folder)
        if end is not None and not self.stopping:
            print(f"campaign: {end.removeprefix('campaign ')}", flush=True)

    def stop(self, signum: int, _frame) -> None:
        """Pass a stop signal on, once, to the running studies (each saves and stops); start no more."""
        name = signal.Signals(signum).name
        if self.stopping:
            print(f"campaign: {name}: already stopping (SIGKILL stops at once)", flush=True)
            return
        print(f"campaign: {name}: stopping the running studies", flush=True)
        self.stopping = True
        for study in self.studies:
            if study.process is not None and study.process.poll() is None:
                study.process.send_signal(signal.SIGINT)

    def run(self, address: str) -> ExitCode:
        """Run every unfinished study, `at_once` at a time, in order; the campaign's exit code."""
        todo = [study for study in self.studies if study.status != StudyStatus.FINISHED]
        for study in self.studies:
            if study.status == StudyStatus.FINISHED:
                print(f"campaign: study {study.name} finished before, skipped", flush=True)
        running: list[StudyRun] = []
        while todo or running:
            while todo and len(running) < self.at_once and not self.stopping:
                running.append(todo.pop(0))
                self.start(running[-1], address)
            for study in [s for s in running if s.process.poll() is not None]:
                self.reap(study)
                running.remove(study)
            if self.stopping and not running:
                break
            time.sleep(POLL_S)
        return self.exit_code()

    def run_on_ray(self, address: str | None) -> ExitCode:
        """Start (or join) the Ray the studies share, run them, stop that Ray; SIGINT and SIGTERM stop it
        (also one that lands while Ray starts)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.stop)
        try:
            shared = start_shared_ray(address)
            return self.exit_code() if self.stopping else self.run(shared)
        finally:
            if not address:
                stop_ray()

    def exit_code(self) -> ExitCode:
        statuses = {study.status for study in self.studies}
        if self.stopping or StudyStatus.INTERRUPTED in statuses:
            return ExitCode.INTERRUPTED
        return ExitCode.FAILED if StudyStatus.FAILED in statuses else ExitCode.OK


def relay(process: subprocess.Popen, name: str, log) -> None:
    """Copy a study's output to the console, each line prefixed with its name, and to its log file."""
    with log:
        for line in process.stdout:
            log.write(line)
            log.flush()
            print(f"[{name}] {line}", end="", flush=True)


def watch_campaign(poll_s: float = 1.0) -> None:
    """In a study's sweep process: if its campaign process dies, stop as on Ctrl-C (Tune saves its state);
    if that has not ended it ORPHAN_GRACE_S later (its Ray died with the campaign), exit at once."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(ExitCode.INTERRUPTED)  # Tune's last snapshot and the kept copy stand for the state

    threading.Thread(target=watch, daemon=True, name="watch-campaign").start()


def start_shared_ray(address: str | None) -> str:
    """The address of the Ray the studies join: `address`, or a private local Ray started here."""
    return address or start_ray(None)


def main(args: argparse.Namespace) -> int:
    """Plan, run and record a campaign (see the module docstring); the process's exit code."""
    with contextlib.ExitStack() as held:
        notes = []

        def lock(folder: Path) -> None:
            if note := held.enter_context(driver_lock(folder)).note:
                notes.append(note)

        try:
            planned = plan_studies(args, lock=None if args.dry_run else lock)
        except (ConfigError, LockBusy) as err:
            return fail(str(err))
        for note in notes:
            print(note, flush=True)
        if args.dry_run:
            return dry_run(args, planned)
        return run_campaign(args, planned)


def study_estimates(
    args: argparse.Namespace,
    planned: Planned,
    *,
    nodes: list[tuple[float, float]] | None = None,
    gpu: str | None = None,
) -> list[Estimate]:
    """Each unfinished study's estimate on `nodes` (default: this machine, or the SLURM job this runs
    in), side by side with `--studies-at-once` others (each with its share of the trial slots); sets
    the studies' `estimate_s`, which campaign.json keeps for the ETA. `gpu`: the GPU a model assumes."""
    if nodes is None:
        nodes = job_nodes() if args.address else local_nodes()
    pending = [study for study in planned.studies if study.status != StudyStatus.FINISHED]
    estimates = []
    for study, plan in zip(pending, planned.plans, strict=True):
        estimate = costs.plan_estimate(plan, nodes=nodes, share=args.studies_at_once, gpu=gpu)
        study.estimate_s = estimate.wall()
        estimates.append(estimate)
    return estimates


def campaign_total(estimates: list[Estimate], share: int) -> tuple[float | None, float | None]:
    """The campaign's wall time, nothing stopped and everything stopped at ASHA's first rung (None: the
    cluster's size is not known here)."""
    if any(estimate.at_once is None for estimate in estimates):
        return None, None
    full = makespan([estimate.wall() for estimate in estimates], share)
    return full, makespan([estimate.wall(first_rung=True) for estimate in estimates], share)


def estimate_words(planned: Planned, estimates: list[Estimate], share: int) -> list[str]:
    """One line per unfinished study, then the campaign's total wall time and device-hours."""
    lines = []
    for plan, est in zip(planned.plans, estimates, strict=True):
        first = costs.estimate_lines(est, asha=plan.spec.scheduler is not None)[0]
        lines.append(f"study {plan.folder.name}: {first.removeprefix('estimate: ')}")
    if not estimates:
        return lines
    full, low = campaign_total(estimates, share)
    if full is None:
        wall = "unknown (the cluster's size is known once joined)"
    else:
        wall = (
            duration_text(full)
            if full - low < 1
            else f"{duration_text(low)} to {duration_text(full)}"
        )
    hours = costs.hours_text(sum(est.device_hours() for est in estimates), estimates[0].unit)
    lines.append(
        f"campaign estimate: {len(estimates)} studies to run, {share} at a time; "
        f"wall time {wall}; {hours} at most"
    )
    return lines


def dry_run(args: argparse.Namespace, planned: Planned) -> int:
    """Print what every unfinished study would run, and the campaign's estimate (no lock, no Ray)."""
    estimates = study_estimates(args, planned)
    for plan, est in zip(planned.plans, estimates, strict=True):
        print(f"== study {plan.folder.name} ({plan.file})\n{dryrun.dry_run_text(plan, est)}")
    print("\n".join(["== campaign", *estimate_words(planned, estimates, args.studies_at_once)]))
    return ExitCode.OK


def run_campaign(args: argparse.Namespace, planned: Planned) -> int:
    """Run a planned campaign on one Ray (started here, or joined) and say how it ended."""
    folder, studies = planned.folder, planned.studies
    if all(study.status == StudyStatus.FINISHED for study in studies):
        print(
            f"campaign {folder.name}: every study finished before, nothing to run (--name starts another)"
        )
        print(f"next: python -m tune_ired.report {folder}")
        return ExitCode.OK
    estimates = study_estimates(args, planned)
    print(
        f"campaign {folder.name}: {len(studies)} studies ({', '.join(s.name for s in studies)}) into {folder}"
    )
    print("\n".join(estimate_words(planned, estimates, args.studies_at_once)), flush=True)
    full, _ = campaign_total(estimates, args.studies_at_once)
    longest = max((max(est.seconds, default=0.0) for est in estimates), default=0.0)
    first = planned.plans[0]
    if costs.unasked_long_run(
        args, first.spec, first.budget, full or longest, f"campaign {folder.name}"
    ):
        return ExitCode.BAD_INPUT
    campaign = Campaign(planned, at_once=args.studies_at_once, again=resume_command(args))
    folder.mkdir(parents=True, exist_ok=True)
    campaign.save()
    code = campaign.run_on_ray(args.address)
    failed = [s.name for s in studies if s.status == StudyStatus.FAILED]
    print(f"campaign {folder.name}: " + ", ".join(f"{s.name} {s.status}" for s in studies))
    if failed:
        print(f"campaign: failed studies (see their .log in {folder}): {', '.join(failed)}")
    if code == ExitCode.INTERRUPTED:
        print(f"campaign: stopped; continue it with `{campaign.again}`")
    print(f"next: python -m tune_ired.report {folder}")
    return code
