"""The Ray Tune function trainable: a thin adapter from a Tune trial to `tune_ired.trainer.Trainer`.

The trial's config dict becomes a `Config` once (`make_config`; an unknown key is an
error naming it). The trainer is restored from `tune.get_checkpoint()` when Tune retries
or resumes the trial, and every evaluation row of `Trainer.run()` is reported with
`tune.report(row, checkpoint=...)`. A diverging trial (NaN or inf loss) reports
`DIVERGED_SENTINEL` (signed for the sweep's mode) in place of the metric, plus
`diverged=True`, and returns: neither ASHA nor Optuna ever sees a NaN.

    tuner = tune.Tuner(tune.with_parameters(train_ired, metric="val/mse", mode="min"), ...)

`tune_ired.sweep` builds that Tuner; nothing here starts Ray.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from tune_ired.checkpoint import STATE_FILE, load_state, save_state
from tune_ired.config import Config, make_config
from tune_ired.results import DIVERGED_SENTINEL
from tune_ired.trainer import Trainer


def trial_threads(cfg: Config) -> int:
    """CPU threads for torch: the config's num_threads, else the CPUs Tune gave this trial (at least 1)."""
    if cfg.num_threads:
        return cfg.num_threads
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))


def restore(trainer: Trainer) -> None:
    """Load the trial's latest checkpoint into `trainer`, if Tune has one (retry or resume)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return
    with checkpoint.as_directory() as folder:
        trainer.load_state_dict(load_state(Path(folder) / STATE_FILE))


def finite_metric(row: dict[str, Any], *, metric: str, mode: str) -> dict[str, Any]:
    """The row with a non-finite (or missing) sweep metric replaced by the worst finite sentinel."""
    value = row.get(metric)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return row
    return {**row, metric: DIVERGED_SENTINEL if mode == "min" else -DIVERGED_SENTINEL}


def wants_checkpoint(cfg: Config, row: dict[str, Any], trainer: Trainer) -> bool:
    """Checkpoint at every evaluation (checkpoint_every = 0), every checkpoint_every steps, and at the end."""
    every = cfg.checkpoint_every
    return every == 0 or row["step"] % every == 0 or trainer.finished


def train_ired(config: dict[str, Any], *, metric: str, mode: str) -> None:
    """Train one trial's config, reporting each evaluation row (with a checkpoint) to Tune.

    The trainer stops by itself after a diverged or early-stopped row, so the trial returns there.
    """
    cfg = make_config(config, source="trial config")
    torch.set_num_threads(trial_threads(cfg))
    trainer = Trainer(cfg)
    restore(trainer)
    for row in trainer.run():
        report = finite_metric(row, metric=metric, mode=mode)
        if not wants_checkpoint(cfg, row, trainer):
            tune.report(report)
            continue
        with tempfile.TemporaryDirectory(prefix="tune_ired_ckpt_") as folder:
            save_state(trainer.state_dict(), Path(folder) / STATE_FILE)
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))
