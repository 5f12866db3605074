"""Ray for a planned sweep: start or join a cluster, build Tune's scheduler, searcher and Tuner.

Nothing here validates input (`tune_ired.plan` did); `run_tuner(plan)` runs the sweep to its
end on the Ray that `start_ray` started or joined. The console is `tune_ired.console`'s
(trials named by their id alone), the trackers `tune_ired.trackers`'.

The local Ray's token is the sweep command's private one (`tune_ired.auth`, set up before
Ray is imported); `start_ray` prints where it is.
"""

from __future__ import annotations

import math
import os

import optuna
import ray
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from tune_ired.config import make_config
from tune_ired.console import SignedASHA, SweepReporter
from tune_ired.plan import Plan
from tune_ired.runlog import trial_dirname
from tune_ired.space import SearchSpace, first_values
from tune_ired.trackers import AUTO_LOGGERS_VARIABLE, Trackers, tracker_callbacks, tracker_hints
from tune_ired.trainable import train_ired

SNAPSHOT_PERIOD_S = "1"  # experiment snapshot every second (Tune's default is 10 s+): a kill -9 loses no trial
CHECKPOINTS_TO_KEEP = 2  # a retry needs only the latest; one spare in case the latest is being written
MAX_FAILURES = 2  # a trial that raises is retried this many times, each from its last checkpoint
NO_TRACKERS = Trackers()  # the console and Tune's CSV and JSON loggers only
DASHBOARD_HOST = "127.0.0.1"  # the local dashboard never listens beyond this machine (port 8265 or the next free)


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
    token = os.environ.get("RAY_AUTH_TOKEN_PATH")  # tune_ired.auth's, or cluster/ray_sweep.sbatch's job token
    where = f"cat {token}" if token else "ray get-auth-token"
    print(f"Ray dashboard: http://{context.dashboard_url} (token: `{where}`)", flush=True)


def make_scheduler(plan: Plan) -> SignedASHA | None:
    """ASHA over evaluations (training_iteration), up to the budget's last evaluation; None when off."""
    asha = plan.spec.scheduler
    if asha is None:
        return None
    cfg = make_config(first_values(plan.param_space), budget=plan.budget, source=str(plan.file))
    return SignedASHA(
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


def run_config(plan: Plan, trackers: Trackers) -> tune.RunConfig:
    reporter = SweepReporter(
        folder=plan.folder, metric=plan.spec.metric, mode=plan.spec.mode, searched=plan.searched, budget=plan.budget
    )
    return tune.RunConfig(
        name=plan.folder.name,
        storage_path=str(plan.folder.parent),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_TO_KEEP),
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        progress_reporter=reporter,
        callbacks=tracker_callbacks(trackers, folder=plan.folder),
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
        return tune.Tuner.restore(str(plan.folder), trainable=fn, resume_unfinished=True, resume_errored=True)
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


def run_tuner(plan: Plan, trainable=train_ired, trackers: Trackers = NO_TRACKERS) -> None:
    """Start (or join) Ray, run the sweep's Tuner to its end, and stop Ray again."""
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = SNAPSHOT_PERIOD_S
    os.environ["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"  # frequent snapshots are wanted
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # our own progress reporter (tune_ired.console), not Tune's new output
    os.environ[AUTO_LOGGERS_VARIABLE] = "1"  # Tune adds no TensorBoard logger of its own: a --tracker choice
    start_ray(plan.address)
    try:
        tuner = make_tuner(plan, trainable, trackers)
        for hint in tracker_hints(trackers, plan.folder):
            print(hint, flush=True)
        tuner.fit()
    finally:
        ray.shutdown()
