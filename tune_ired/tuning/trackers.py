"""Experiment trackers for a sweep, through Ray Tune's own logger callbacks (`--tracker`, repeatable).

    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --tracker tensorboard --tracker mlflow

- `tensorboard`: Tune's TensorBoardX logger writes event files into every trial folder;
  open them with `tensorboard --logdir <sweep folder>` (`pip install -e '.[trackers]'`).
- `mlflow`: one MLflow run per trial (named by the trial id, params = the trial's config,
  metrics = every numeric key of each report, by training iteration) in the experiment
  named after the sweep. `--mlflow-uri` names the tracking store: a server
  (`http://host:5000`) or a database; default `sqlite:///<sweep>/mlflow.db`, a local file
  (MLflow 3 refuses its older `./mlruns` folder store unless MLFLOW_ALLOW_FILE_STORE=true).
- `wandb`: one W&B run per trial (project = the sweep's name unless WANDB_PROJECT is set),
  offline unless the user configured W&B (WANDB_MODE, WANDB_API_KEY or `wandb login`):
  the runs then lie in `<trial folder>/wandb/offline-run-*` for `wandb sync`.

Tune's CSV and JSON loggers (`progress.csv`, `result.json`, which Ray's ExperimentAnalysis
reads) are always on; Tune's implicit TensorBoard logger is off unless asked for
(`tune_ired.tuning.tuner` sets AUTO_LOGGERS_VARIABLE). The callbacks are part of the Tuner that
Tune pickles into the sweep folder, so `--resume` logs to the trackers of the first start.
`check_trackers` runs before Ray starts: a tracker whose package is missing exits with
code 2, naming the flag and the extra to install.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tune_ired._lazy import lazy
from tune_ired.ired.config import ConfigError
from tune_ired.record.runfolder import trial_dirname

if TYPE_CHECKING:
    from ray.tune import Callback

# Ray loads when the callbacks are made (the sweep command names TRACKERS before it imports Ray)
loggers = lazy("ray.tune.logger")
mlflow_integration = lazy("ray.air.integrations.mlflow")
wandb_integration = lazy("ray.air.integrations.wandb")

TRACKERS = {  # tracker -> the Python module its callback needs
    "tensorboard": "tensorboardX",
    "mlflow": "mlflow",
    "wandb": "wandb",
}
EXTRA = "pip install -e '.[trackers]'"
MLFLOW_DB = "mlflow.db"  # the default MLflow store, inside the sweep folder
AUTO_LOGGERS_VARIABLE = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"  # "1": Tune adds no logger of its own
WANDB_MODE_VARIABLE, WANDB_KEY_VARIABLE = "WANDB_MODE", "WANDB_API_KEY"


@dataclass(frozen=True)
class Trackers:
    """The trackers a sweep logs to (`--tracker`) and MLflow's store (`--mlflow-uri`; None: the default)."""

    names: tuple[str, ...] = ()
    mlflow_uri: str | None = None


def check_trackers(trackers: Trackers) -> None:
    """Raise ConfigError naming the flag when a chosen tracker's package is not installed."""
    for name in trackers.names:
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise ConfigError(
                f"--tracker {name}: the package '{TRACKERS[name]}' is not installed; {EXTRA}."
            )
    if trackers.mlflow_uri and "mlflow" not in trackers.names:
        raise ConfigError("--mlflow-uri: only used with --tracker mlflow.")


def mlflow_uri(trackers: Trackers, folder: Path) -> str:
    """MLflow's tracking URI: --mlflow-uri, else a SQLite file in the sweep folder."""
    return trackers.mlflow_uri or f"sqlite:///{folder / MLFLOW_DB}"


def wandb_configured() -> bool:
    """True when the user set W&B up (a mode, an API key, or `wandb login`): then we leave its mode alone."""
    if os.environ.get(WANDB_MODE_VARIABLE) or os.environ.get(WANDB_KEY_VARIABLE):
        return True
    import wandb  # only a sweep with --tracker wandb pays for the import

    return bool(wandb.api.api_key)


def wandb_callback(*, project: str, folder: Path) -> Callback:
    """Tune's W&B callback, offline unless the user configured W&B (decided when each run of the sweep starts),
    writing each trial's W&B files straight into its folder in the sweep (Tune's default is the driver's
    staging folder, copied to the sweep only at its next sync: a run that ends last can miss it)."""

    class OfflineUnlessConfigured(wandb_integration.WandbLoggerCallback):
        def log_trial_start(self, trial) -> None:
            # read as this trial's run starts
            self.kwargs["dir"] = str(folder / trial_dirname(trial.trial_id))
            super().log_trial_start(trial)

        def setup(self, *args, **kwargs) -> None:
            # the sweep's console is ours: no W&B run summaries in it
            self.kwargs["settings"] = {"silent": True}
            if not wandb_configured():
                os.environ[WANDB_MODE_VARIABLE] = (
                    "offline"  # read by Tune's callback in this process
                )
                self.kwargs["mode"] = "offline"  # and by wandb.init in each trial's logging actor
            super().setup(*args, **kwargs)

    return OfflineUnlessConfigured(project=project)


def tracker_callbacks(trackers: Trackers, *, folder: Path) -> list[Callback]:
    """Tune's callbacks for the chosen trackers, after the CSV and JSON loggers that are always on."""
    callbacks: list[Callback] = [loggers.CSVLoggerCallback(), loggers.JsonLoggerCallback()]
    if "tensorboard" in trackers.names:
        callbacks.append(loggers.TBXLoggerCallback())
    if "mlflow" in trackers.names:
        callbacks.append(
            mlflow_integration.MLflowLoggerCallback(
                tracking_uri=mlflow_uri(trackers, folder),
                experiment_name=folder.name,
                tags={"sweep_folder": str(folder)},
            )
        )
    if "wandb" in trackers.names:
        callbacks.append(
            wandb_callback(project=os.environ.get("WANDB_PROJECT") or folder.name, folder=folder)
        )
    return callbacks


def tracker_hints(trackers: Trackers, folder: Path) -> list[str]:
    """How to open what each chosen tracker logged (printed at the start and the end of a sweep)."""
    hints = {
        "tensorboard": f"TensorBoard: tensorboard --logdir {folder}",
        "mlflow": f"MLflow: mlflow ui --backend-store-uri {mlflow_uri(trackers, folder)}",
        "wandb": (
            f"W&B: offline unless configured, into {folder}/trial_*/wandb/ "
            f"(upload: wandb sync {folder}/trial_*/wandb/offline-run-*)"
        ),
    }
    return [hints[name] for name in trackers.names]
