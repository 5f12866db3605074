"""The Ray Tune function trainable: a thin adapter from a Tune trial to `tune_ired.training.trainer.Trainer`.

The trial's config dict (its explicit keys) and the sweep's budget become a `Config` once,
through `make_config`, as `train` does (an unknown key is an error naming it). The
trainer is restored from `tune.get_checkpoint()` when Tune retries or resumes the trial,
and every evaluation row of `Trainer.run()` is reported with `tune.report(row,
checkpoint=...)`. The trial's own folder in the sweep's storage (`<folder>/trial_<id>/`)
is a run folder written by the same loop as `train --out` (`tune_ired.record.runfolder.recorded_run`:
the whole config, provenance, each row on disk before it is reported), so the tables never
depend on the copies of Tune's files that its driver keeps rewriting. That loop also keeps
the trial's `checkpoints/best.pt`, the state at its best evaluation by the sweep's metric
(which `best.json` of the sweep names), beside Tune's own latest checkpoints. A batched trial
whose seeds diverge reports the rule of `tune_ired.training.divergence.seed_mean`; a trial whose
every seed diverged reports `DIVERGED_SENTINEL` (signed for the sweep's mode) in place of
a non-finite metric, plus `diverged=True`, and returns: neither ASHA nor Optuna ever sees
a NaN.

Checkpoints go with the first evaluation of every (re)start, then at most every
`MIN_CHECKPOINT_INTERVAL_S` (and every `checkpoint_every` steps), and with the last row.
Tune keeps the two newest and deletes older ones, while its experiment snapshot, which
a resume restores from, lags the trials by a second or more (Ray issue #27790): spacing
checkpoints keeps the one a snapshot names on disk until a later snapshot replaces it.
Each checkpoint folder also holds a copy of the trial's rows (`metrics.jsonl`), from which
a record cut short is repaired.

Faults: a checkpoint that does not load (torn) is skipped for the trial's next newest one
(`tune_ired.training.checkpoint.load_first_valid`); a trial whose record already ends (finished
before a kill, but still running in the snapshot a resume restored) trains nothing and
rewrites nothing: it reports its last row again, so Tune and the searcher see it end.

    tuner = tune.Tuner(tune.with_parameters(train_ired, metric="val/mse", mode="min", folder=..., budget=...), ...)

`tune_ired.sweep` builds that Tuner; nothing here starts Ray.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from tune_ired.cli import warn
from tune_ired.ired.config import Config, make_config
from tune_ired.record.catalogue import STEP, worst
from tune_ired.record.runfolder import (
    CHECKPOINT_GLOB,
    METRICS_FILE,
    BestCheckpoint,
    is_finished,
    observed_rows,
    read_metrics,
    recorded_run,
    trial_dirname,
    write_rows,
)
from tune_ired.training.checkpoint import STATE_FILE, load_first_valid, save_state
from tune_ired.training.trainer import Trainer

MIN_CHECKPOINT_INTERVAL_S = (
    10.0  # >> the experiment snapshot's period (1 s): see the module docstring
)


def trial_threads(cfg: Config) -> int:
    """CPU threads for torch: the config's num_threads, else the CPUs Tune gave this trial (at least 1)."""
    if cfg.num_threads:
        return cfg.num_threads
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))


def checkpoint_folders(own: Path) -> list[Path]:
    """The checkpoints to restore from, best first: the one Tune names, then the trial's others, newest first.

    Empty when Tune names none (a fresh trial, or one restarted from scratch).
    """
    named = tune.get_checkpoint()
    if named is None:
        return []
    first = Path(named.path)
    return [first, *sorted((p for p in own.glob(CHECKPOINT_GLOB) if p != first), reverse=True)]


def restore(trainer: Trainer, own: Path) -> None:
    """Load the trial's checkpoint into `trainer` (retry or resume): Tune's, else the newest one that loads."""
    folders = checkpoint_folders(own)
    loaded = load_first_valid(folder / STATE_FILE for folder in folders) if folders else None
    if loaded is not None:
        trainer.load_state_dict(loaded[0])
    elif folders:
        warn(
            f"{own}: no checkpoint loads; the trial trains again from step 0 (its recorded rows are kept)."
        )


def finite_metric(row: dict[str, Any], *, metric: str, mode: str) -> dict[str, Any]:
    """The row with a non-finite (or missing) sweep metric replaced by the worst finite sentinel."""
    value = row.get(metric)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return row
    return {**row, metric: worst(mode)}


def wants_checkpoint(
    cfg: Config, row: dict[str, Any], trainer: Trainer, *, since_last: float | None
) -> bool:
    """Checkpoint this row? At the first row since (re)start (`since_last` None), at the end, and else
    at evaluations due by checkpoint_every (0: every one) once MIN_CHECKPOINT_INTERVAL_S have passed.
    """
    if since_last is None or trainer.finished:
        return True
    every = cfg.checkpoint_every
    return (every == 0 or row[STEP] % every == 0) and since_last >= MIN_CHECKPOINT_INTERVAL_S


def train_ired(
    config: dict[str, Any],
    *,
    metric: str,
    mode: str,
    folder: str,
    budget: str | None,
    command: str | None = None,
) -> None:
    """Train one trial's config into `<folder>/trial_<id>/`, reporting each evaluation row to Tune.

    `folder` is the sweep's folder in storage (shared by every node on a cluster), `budget`
    the sweep's budget and `command` the sweep's command line (recorded in run.json). The
    CPU threads the trial uses are written into its config, so its folder repeats it exactly.
    The trainer stops by itself after a diverged or early-stopped row, so the trial returns there.
    """
    cfg = make_config(config, budget=budget, source="trial config")
    own = Path(folder) / trial_dirname(tune.get_context().get_trial_id())
    record = observed_rows(own)
    if is_finished(record, train_steps=cfg.train_steps):
        # its end, once more; nothing is rewritten
        tune.report(finite_metric(record[-1], metric=metric, mode=mode))
        return
    trainer = Trainer(dataclasses.replace(cfg, num_threads=trial_threads(cfg)))
    restore(trainer, own)
    last_checkpoint = None
    best = BestCheckpoint(metric, mode, save=lambda path: save_state(trainer.state_dict(), path))
    for row in recorded_run(trainer, own, budget=budget, command=command, best=best):
        report = finite_metric(row, metric=metric, mode=mode)
        since_last = None if last_checkpoint is None else time.monotonic() - last_checkpoint
        if not wants_checkpoint(cfg, row, trainer, since_last=since_last):
            tune.report(report)
            continue
        with tempfile.TemporaryDirectory(prefix="tune_ired_ckpt_") as staging:
            save_state(trainer.state_dict(), Path(staging) / STATE_FILE)
            # the record so far, to repair a cut one
            write_rows(Path(staging) / METRICS_FILE, read_metrics(own))
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(staging))
        last_checkpoint = time.monotonic()
