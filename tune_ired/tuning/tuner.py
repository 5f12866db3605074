"""Ray for a planned sweep: start or join a cluster, build Tune's scheduler, searcher and Tuner, guard the run.

Nothing here validates input (`tune_ired.tuning.plan` did, except what only a joined cluster can
tell: whether one of its nodes can hold a trial). `run_tuner(plan)` runs the sweep to its
end on the Ray that `start_ray` started or joined. The console is `tune_ired.tuning.console`'s
(trials named by their id alone), the trackers `tune_ired.tuning.trackers`'. While it runs,
`Guard` (a Tune callback on the driver) keeps a whole copy of Tune's snapshot
(`tune_ired.record.tunestate`) and watches the storage's free space: below what the running
trials' next checkpoints and the records need (`shortage`), it stops the sweep as Ctrl-C
does (Tune saves its state, the trials stay resumable), and the sweep command reports the
shortage.

The local Ray's token is the sweep command's private one (`tune_ired.tuning.auth`, set up before
Ray is imported); `start_ray` prints where it is.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import ray
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from tune_ired.record import sweepfile, tunestate
from tune_ired.record.files import is_disk_full
from tune_ired.record.runfolder import CHECKPOINT_GLOB, TRIAL_PREFIX, trial_dirname
from tune_ired.space import SearchSpace
from tune_ired.tuning import costs
from tune_ired.tuning.console import SignedASHA, SweepReporter
from tune_ired.tuning.plan import Plan
from tune_ired.tuning.resources import check_cluster, requested_devices
from tune_ired.tuning.signals import STOP, StopSignals, ray_start_keeps_handlers
from tune_ired.tuning.trackers import (
    AUTO_LOGGERS_VARIABLE,
    Trackers,
    tracker_callbacks,
    tracker_hints,
)
from tune_ired.tuning.trainable import train_ired
from tune_ired.tuning.validate import evaluations

SNAPSHOT_PERIOD_S = (
    "1"  # experiment snapshot every second (Tune's default is 10 s+): a kill -9 loses no trial
)
CHECKPOINTS_TO_KEEP = (
    2  # a retry needs only the latest; one spare in case the latest is being written
)
MAX_FAILURES = 2  # a trial that raises is retried this many times, each from its last checkpoint
NO_TRACKERS = Trackers()  # the console and Tune's CSV and JSON loggers only
DASHBOARD_HOST = "127.0.0.1"  # the local dashboard never listens beyond this machine (port 8265 or the next free)
KEEP_PERIOD_S = (
    2.0  # a whole copy of Tune's snapshot at most this old (checkpoints are >= 10 s apart)
)
WATCH_PERIOD_S = 1.0  # the storage's free space is read this often
RECORDS_ROOM = 32 * 2**20  # free bytes kept for Tune's snapshot, the run records and the tables
MIB = 2**20


@dataclass(frozen=True)
class Shortage:
    """The storage is short of space: what is free, and what the sweep needs to go on."""

    folder: Path
    free: int
    needed: int
    running: int  # unfinished trials
    checkpoint: int  # bytes of the largest checkpoint of a trial

    def message(self) -> str:
        per_trial = (CHECKPOINTS_TO_KEEP + 1) * self.checkpoint
        return (
            f"the storage of {self.folder} is full: {self.free / MIB:.1f} MiB free, and the sweep needs at least "
            f"{self.needed / MIB:.1f} MiB ({self.running} unfinished trial(s) x {per_trial / MIB:.2f} MiB for their "
            f"next checkpoints, and {RECORDS_ROOM / MIB:.0f} MiB for the records and Tune's snapshot)"
        )


def largest_checkpoint(folder: Path) -> int:
    """Bytes of the largest checkpoint folder of any trial of the sweep (0 before the first)."""
    sizes = [
        sum(f.stat().st_size for f in checkpoint.iterdir() if f.is_file())
        for checkpoint in folder.glob(f"{TRIAL_PREFIX}*/{CHECKPOINT_GLOB}")
        if checkpoint.is_dir()
    ]
    return max(sizes, default=0)


def shortage(folder: Path, running: int) -> Shortage | None:
    """A Shortage when the storage has less free space than `running` trials and the records need, else None."""
    checkpoint = largest_checkpoint(folder) if running else 0
    needed = RECORDS_ROOM + running * (CHECKPOINTS_TO_KEEP + 1) * checkpoint
    existing = next(place for place in (folder, *folder.parents) if place.exists())
    free = shutil.disk_usage(existing).free
    if free >= needed:
        return None
    return Shortage(folder=folder, free=free, needed=needed, running=running, checkpoint=checkpoint)


class Guard(tune.Callback):
    """On the driver: keep a whole copy of Tune's snapshot, and stop the sweep when its storage runs short.

    The stop is Tune's own (SIGINT, as Ctrl-C): Tune saves its state and ends; the trials stay
    resumable. Saving into a full disk may tear Tune's snapshot: the kept copy replaces it on
    `--resume`. Tune pickles its callbacks into tuner.pkl, so a resumed sweep is guarded too.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.kept: dict[str, float] = {}
        self.next_keep = self.next_watch = 0.0
        self.stopping = False

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        STOP.while_tune_runs()  # a stop signal before Tune's handler existed; a SIGINT Tune handled
        if trials:  # where Tune writes now (a resumed sweep may have been moved since tuner.pkl was written)
            self.folder = Path(trials[0].storage.experiment_fs_path)
        now = time.monotonic()
        if now >= self.next_keep:
            self.next_keep = now + KEEP_PERIOD_S
            try:
                tunestate.keep_snapshot(self.folder, last=self.kept)
            except OSError as err:
                if not is_disk_full(err):
                    raise  # a full disk keeps the older copy; the watch below stops the sweep
        if not self.stopping and now >= self.next_watch:
            self.next_watch = now + WATCH_PERIOD_S
            short = shortage(self.folder, sum(trial.status == "RUNNING" for trial in trials))
            if short is not None:
                self.stopping = True
                print(f"stopping the sweep: {short.message()}", flush=True)
                # Tune's handler: save the state and end the run
                os.kill(os.getpid(), signal.SIGINT)


def start_ray(address: str | None) -> str:
    """Join the cluster at `address`, or start a private local Ray with its dashboard on 127.0.0.1; returns
    the address other drivers join it at (a campaign's studies)."""
    quiet = ray.LoggingConfig(log_level="WARNING")  # no per-checkpoint INFO lines from every trial
    with ray_start_keeps_handlers():  # a SIGTERM meanwhile reaches the driver's handler
        if address:
            context = ray.init(address=address, logging_config=quiet)
        else:
            context = ray.init(
                address="local",
                include_dashboard=True,
                dashboard_host=DASHBOARD_HOST,
                logging_config=quiet,
            )
    # tune_ired.tuning.auth's, or cluster/ray_sweep.sbatch's job token
    token = os.environ.get("RAY_AUTH_TOKEN_PATH")
    where = f"cat {token}" if token else "ray get-auth-token"
    print(f"Ray dashboard: http://{context.dashboard_url} (token: `{where}`)", flush=True)
    return ray.get_runtime_context().gcs_address


def stop_ray() -> None:
    """Stop (or leave) Ray, leaving no escape code behind."""
    ray.shutdown()
    # Ray's CLI logger ran colorama.init(): its exit hook printed a stray ESC[0m to a terminal
    if colorama := sys.modules.get("colorama"):
        atexit.unregister(colorama.initialise.reset_all)


def joined_nodes() -> list[tuple[float, float]]:
    """(CPUs, GPUs) of each alive node of the joined cluster."""
    return [
        (float(node["Resources"].get("CPU", 0)), float(node["Resources"].get("GPU", 0)))
        for node in ray.nodes()
        if node.get("Alive", True)
    ]


def estimate_on_cluster(plan: Plan) -> None:
    """A sweep joining a cluster: its estimate on the cluster's nodes, said and recorded (the live ETA)."""
    estimate = costs.plan_estimate(plan, nodes=joined_nodes())
    sweepfile.update_record(plan.folder, estimate=estimate.to_json())
    lines = costs.estimate_lines(estimate, asha=plan.spec.scheduler is not None)
    print("on the joined cluster: " + "\n".join(lines), flush=True)


def check_joined_cluster(plan: Plan) -> None:
    """With --address: one node of the joined cluster must hold a trial (raises plan's error otherwise)."""
    if plan.address:
        cuda = any(device.startswith("cuda") for device in requested_devices(plan.param_space))
        check_cluster(ray.nodes(), plan.resources, cuda=cuda)


def make_scheduler(plan: Plan) -> SignedASHA | None:
    """ASHA over evaluations (training_iteration), up to the longest trial's last evaluation; None when off."""
    asha = plan.spec.scheduler
    if asha is None:
        return None
    return SignedASHA(
        time_attr="training_iteration",
        max_t=max(evaluations(cfg) for cfg in plan.trials.configs),
        grace_period=asha.grace_period,
        reduction_factor=asha.reduction_factor,
        brackets=asha.brackets,
    )


def make_searcher(spec: SearchSpace) -> OptunaSearch | BasicVariantGenerator:
    """Optuna TPE (seeded) or Tune's grid/random variant generator (seeded)."""
    if spec.searcher == "optuna":
        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=spec.seed))
    return BasicVariantGenerator(random_state=spec.seed)


def run_config(plan: Plan, trackers: Trackers) -> tune.RunConfig:
    reporter = SweepReporter(
        folder=plan.folder,
        metric=plan.spec.metric,
        mode=plan.spec.mode,
        searched=plan.searched,
        budget=plan.budget,
    )
    return tune.RunConfig(
        name=plan.folder.name,
        storage_path=str(plan.folder.parent),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_TO_KEEP),
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        progress_reporter=reporter,
        callbacks=[Guard(plan.folder), *tracker_callbacks(trackers, folder=plan.folder)],
        verbose=1,  # the status table only; every metric of every trial is in the trial folders
    )


def make_tuner(plan: Plan, trainable=train_ired, trackers: Trackers = NO_TRACKERS) -> tune.Tuner:
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
        # the pickled RunConfig comes back with it: the same console and trackers as the first start
        return tune.Tuner.restore(
            str(plan.folder), trainable=fn, resume_unfinished=True, resume_errored=True
        )
    tune_config = tune.TuneConfig(
        metric=plan.spec.metric,
        mode=plan.spec.mode,
        scheduler=make_scheduler(plan),
        search_alg=make_searcher(plan.spec),
        num_samples=plan.num_samples,
        max_concurrent_trials=plan.max_concurrent or None,
        trial_dirname_creator=lambda trial: trial_dirname(trial.trial_id),
        trial_name_creator=lambda trial: trial.trial_id,  # one name everywhere: Tune's id
        reuse_actors=True,
    )
    run = run_config(plan, trackers)
    return tune.Tuner(fn, param_space=plan.param_space, tune_config=tune_config, run_config=run)


def run_tuner(
    plan: Plan,
    trainable=train_ired,
    trackers: Trackers = NO_TRACKERS,
    *,
    stop: StopSignals | None = None,
) -> None:
    """Start (or join) Ray, run the sweep's Tuner to its end (or until `stop` says), and stop Ray again.

    With `stop` (the driver's StopSignals): SIGTERM and SIGINT stop the sweep as Ctrl-C does
    (`tune_ired.tuning.signals`), also one that lands while Ray starts, and an error Tune raises once a
    stop was asked for (a cluster that died with the job) is said in one line: its last snapshot stands.
    """
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = SNAPSHOT_PERIOD_S
    os.environ["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = (
        "0"  # frequent snapshots are wanted
    )
    os.environ["RAY_AIR_NEW_OUTPUT"] = (
        "0"  # our own progress reporter (tune_ired.tuning.console), not Tune's new output
    )
    os.environ[AUTO_LOGGERS_VARIABLE] = (
        "1"  # Tune adds no TensorBoard logger of its own: a --tracker choice
    )
    try:
        if not started_ray(plan, stop):
            return
        check_joined_cluster(plan)
        if plan.address:
            estimate_on_cluster(plan)
        tuner = make_tuner(plan, trainable, trackers)
        for hint in tracker_hints(trackers, plan.folder):
            print(hint, flush=True)
        fit(tuner, stop)
    finally:
        if stop is not None:
            stop.install()  # Tune leaves its SIGINT handler behind
        stop_ray()


def started_ray(plan: Plan, stop: StopSignals | None) -> bool:
    """Start or join Ray; False when a stop signal came first (nothing is run)."""
    start_ray(plan.address)
    if stop is not None and stop.requested:
        print("stopped before Tune started", flush=True)
        return False
    return True


def fit(tuner: tune.Tuner, stop: StopSignals | None) -> None:
    """Run the Tuner; after a stop signal, an error of Tune's (its Ray going away) is said, not raised."""
    try:
        tuner.fit()
    except Exception as err:
        if stop is None or not stop.requested:
            raise
        print(
            f"Tune stopped with {type(err).__name__} ({err}) while the sweep was stopping: "
            "its last snapshot stands",
            flush=True,
        )
