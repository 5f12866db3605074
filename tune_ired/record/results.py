"""Sweep folders into tidy pandas tables, read from Ray's files on disk (Ray is never imported).

A sweep folder (`results/<name>/`, written by `python -m tune_ired.sweep`) holds Ray
Tune's experiment state (`experiment_state-*.json`), our `sweep.json` (file, budget,
metric, mode, searched keys, provenance) and one folder per trial, `trial_<id>/`. Each is
a run folder (`tune_ired.record.runfolder`) that the trial's worker writes itself: `config.json`
(the trial's whole config), `run.json` (its provenance) and `metrics.jsonl` (one row per
evaluation); next to them are Tune's own `params.json`, `result.json`, checkpoints and,
for failed trials, `error.txt`. The tables read our files (`params.json` only for trials
that never started): Tune's driver re-copies its files into the folder at every snapshot,
and a kill during that copy truncates them. A trial's rows are its metrics.jsonl completed
from the copies in its checkpoint folders (`tune_ired.record.runfolder.observed_rows`), so a record
cut short still reads whole; Tune's statuses come from its newest whole experiment state,
else the copy the sweep kept (`tune_ired.record.tunestate`).

    from tune_ired.record.results import load_sweep
    sweep = load_sweep("results/noise_scale")
    sweep.trials   # one row per trial
    sweep.curves   # one row per (trial, evaluation)
    sweep.seeds    # one row per (trial, seed)

Stable columns (analysis reads exactly these):
- `trials`: `trial_id`, `status` (a `catalogue.TrialStatus`), `trial_dir`, `iterations`,
  `last_step`, `num_failures`, `error` (the exception, or what is wrong with a record cut
  short), `missing_steps` (evaluations absent from the record up to its last: lost rows,
  never silently), `num_seeds`, `seeds_diverged`, `config_complete`
  (False for folders written before configs were recorded whole: their missing keys are
  left empty, never filled with today's defaults), `config/<key>` for every key of the
  trial's config, `run/code_version`, `run/host`, `run/device`, `run/started_at`,
  `run/ended_at`, `run/sessions` (from run.json; empty for older folders), `final/<metric>`
  (the last report) and `best/<metric>` (the report where the sweep's metric was best,
  with `best/step`), for every metric key except `seed/...` ones.
- `curves`: `trial_id`, `step` and every metric key (`val/mse`, `seed/3/val/mse`, ...).
  Reports repeated by retries and resumes are deduplicated: the last report of each
  (trial, step) is kept.
- `seeds`: `trial_id`, `seed`, `status`, `diverged` (this seed diverged: in a batched trial
  a seed can diverge while its siblings train on), `diverged_step`, `config/<key>`,
  `final/<metric>` (NaN for a diverged seed: its last values are not results),
  `best/<metric>` (best by that seed's own metric), `best/step`; one row per seed of each
  trial (the config's seed when the trial trained one seed), for paired-by-seed statistics.
Non-finite metrics are NaN here. `write_tables` writes `trials` and `seeds` as Parquet
and CSV beside the sweep, so every paired statistic of the report can be recomputed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tune_ired.budgets import BUDGETS
from tune_ired.record import catalogue as K
from tune_ired.record.catalogue import SEED_KEY, TrialStatus
from tune_ired.record.files import read_json, replace_atomically
from tune_ired.record.runfolder import (
    CONFIG_FILE,
    RUN_FILE,
    TRIAL_PREFIX,
    missing_steps,
    observed_rows,
)
from tune_ired.record.sweepfile import metric_of, mode_of, read_meta
from tune_ired.record.tunestate import STATE_GLOB, read_trial_data

TABLES = ("trials", "seeds")  # written as <name>.parquet and <name>.csv into the sweep folder
PARAMS_FILE = "params.json"  # Tune's copy of a trial's config, there before the trial starts
DEFAULT_SEED = (
    0  # Config.seed's default: the seed of a trial whose older, partial config.json omits it
)
TUNE_STATUS = {
    "ERROR": TrialStatus.ERRORED,
    "RUNNING": TrialStatus.RUNNING,
    "PAUSED": TrialStatus.RUNNING,
    "PENDING": TrialStatus.PENDING,
}
# the row's keys without a group prefix
PLAIN_KEYS = tuple(key for key in K.METRICS if "/" not in key)


class NotASweepError(ValueError):
    """A folder that holds no Ray Tune sweep."""


@dataclass
class TrialFiles:
    """What one trial folder holds: its config, its deduplicated reports and its Tune state."""

    trial_id: str
    folder: Path
    params: dict[str, Any]
    rows: list[dict[str, Any]]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """The run's provenance, one entry per start or resume (empty for older folders)."""
        return read_json(self.folder / RUN_FILE).get("sessions", [])

    @property
    def error(self) -> str:
        """The last line of the trial's error.txt (its exception), or ''."""
        path = self.folder / "error.txt"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1] if lines else ""


@dataclass
class SweepResults:
    """The tables of one sweep folder (see the module docstring for their columns)."""

    folder: Path
    meta: dict[str, Any]
    trials: pd.DataFrame
    curves: pd.DataFrame
    seeds: pd.DataFrame

    @property
    def metric(self) -> str:
        return metric_of(self.meta)

    @property
    def mode(self) -> str:
        return mode_of(self.meta)


def trial_folders(folder: Path) -> list[Path]:
    """The trial folders of a sweep folder: those holding our config.json or Tune's params.json."""
    return sorted(
        p
        for p in folder.glob(f"{TRIAL_PREFIX}*")
        if (p / CONFIG_FILE).exists() or (p / PARAMS_FILE).exists()
    )


def is_sweep(folder: Path | str) -> bool:
    """True when `folder` holds a Tune experiment (a state file or trial folders)."""
    folder = Path(folder)
    return folder.is_dir() and (any(folder.glob(STATE_GLOB)) or bool(trial_folders(folder)))


def check_sweep(folder: Path) -> None:
    """Raise NotASweepError naming `folder` (and any sweeps inside it) unless it is a sweep folder."""
    if is_sweep(folder):
        return
    if not folder.is_dir():
        raise NotASweepError(
            f"{folder}: no such folder; expected a sweep folder such as results/noise_scale."
        )
    inside = sorted(child.name for child in folder.iterdir() if is_sweep(child))
    hint = f" It contains the sweeps: {', '.join(inside)}." if inside else ""
    raise NotASweepError(
        f"{folder} is not a sweep folder: it has no {STATE_GLOB} and no {TRIAL_PREFIX}* folders.{hint}"
    )


def read_states(folder: Path) -> dict[str, dict[str, Any]]:
    """Tune's record of each trial (trial_id, status, num_failures) by trial folder name.

    From the newest whole experiment state (by the session's start time in the name: after a
    resume Ray rewrites the old session's file too), else the copy the sweep kept.
    """
    states = {}
    for trial_json, runtime_json in read_trial_data(folder):
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        states[trial["relative_logdir"]] = {**trial, "num_failures": runtime.get("num_failures", 0)}
    return states


def read_trials(folder: Path) -> list[TrialFiles]:
    """Every trial folder of the sweep, with its config, its rows and its Tune state when recorded."""
    states = read_states(folder)
    trials = []
    for trial in trial_folders(folder):
        state = states.get(trial.name, {})
        params = read_json(trial / CONFIG_FILE) or read_json(trial / PARAMS_FILE)
        trial_id = state.get("trial_id") or trial.name.removeprefix(TRIAL_PREFIX)
        rows = observed_rows(trial)
        trials.append(
            TrialFiles(trial_id=trial_id, folder=trial, params=params, rows=rows, state=state)
        )
    return trials


def train_steps(trial: TrialFiles, budget: str | None) -> float:
    """The steps the trial was to train: its config's, else (older partial configs) its sweep budget's."""
    if "train_steps" in trial.params:
        return trial.params["train_steps"]
    return BUDGETS.get(budget or "", {}).get("train_steps", math.inf)


def classify(trial: TrialFiles, budget: str | None, *, scheduled: bool = True) -> TrialStatus:
    """The trial's status: how its record says it ended, else Tune's ERROR/RUNNING/PENDING.

    The record comes first: a trial whose last row ends its run finished, whatever a snapshot
    taken before that (or a failure after it) says. A trial Tune ended before its last step
    was stopped by the scheduler; in a sweep without one (`scheduled` False), its record was
    cut short and nothing could repair it: errored.
    """
    last = trial.rows[-1] if trial.rows else {}
    if last.get(K.DIVERGED):
        return TrialStatus.DIVERGED
    if last.get(K.EARLY_STOPPED):
        return TrialStatus.EARLY_STOPPED
    if last and last[K.STEP] >= train_steps(trial, budget):
        return TrialStatus.COMPLETED
    tune_status = trial.state.get("status")
    if tune_status in TUNE_STATUS:
        return TUNE_STATUS[tune_status]
    if tune_status == "TERMINATED":
        # ended by ASHA, or a cut record
        return TrialStatus.STOPPED if scheduled else TrialStatus.ERRORED
    return TrialStatus.ERRORED if trial.error else TrialStatus.RUNNING


def metrics_of(row: dict[str, Any]) -> dict[str, Any]:
    """The metric keys of a report (grouped keys such as val/mse, plus step), non-finite values as NaN."""
    out = {}
    for key, value in row.items():
        if key not in PLAIN_KEYS and "/" not in key:
            continue  # Tune's bookkeeping: trial_id, timestamp, done, pid, ...
        if isinstance(value, float) and not math.isfinite(value):
            value = math.nan
        out[key] = value
    return out


def best_row(rows: list[dict[str, Any]], metric: str, mode: str) -> dict[str, Any]:
    """The report with the best finite `metric` ({} when none is finite)."""
    scored = [
        row
        for row in rows
        if isinstance(row.get(metric), (int, float)) and math.isfinite(row[metric])
    ]
    if not scored:
        return {}
    pick = min if mode == "min" else max
    return pick(scored, key=lambda row: row[metric])


def prefixed(prefix: str, values: dict[str, Any], *, seeds: bool = False) -> dict[str, Any]:
    """`values` with keys prefixed ('final/'), keeping only per-seed keys (seeds=True) or only plain ones."""
    return {
        f"{prefix}{key}": value
        for key, value in values.items()
        if bool(SEED_KEY.match(key)) == seeds
    }


def code_version(code: dict[str, Any]) -> str:
    """A short code version: the git commit (with -dirty), else the package version."""
    if code.get("git_commit"):
        return code["git_commit"][:12] + ("-dirty" if code.get("git_dirty") else "")
    return str(code.get("version") or "")


def run_columns(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The run/ columns: where the trial last ran, when it started and ended, how many sessions it took."""
    if not sessions:
        return {}
    first, last = sessions[0], sessions[-1]
    return {
        "run/code_version": code_version(last.get("code", {})),
        "run/host": last.get("host"),
        "run/device": (last.get("device") or {}).get("name"),
        "run/started_at": first.get("started_at"),
        "run/ended_at": last.get("ended_at"),
        "run/sessions": len(sessions),
    }


def record_gaps(trial: TrialFiles) -> list[int]:
    """The evaluations missing from the trial's record, up to its last (none known for older partial configs)."""
    every, steps = trial.params.get("eval_every"), trial.params.get("train_steps")
    if not every or not steps:
        return []
    return missing_steps((row[K.STEP] for row in trial.rows), train_steps=steps, eval_every=every)


def trial_error(trial: TrialFiles, status: TrialStatus, gaps: list[int]) -> str:
    """The trial's error: its exception, else what is wrong with its record."""
    if trial.error or status is not TrialStatus.ERRORED or not trial.rows:
        return trial.error
    last = trial.rows[-1][K.STEP]
    lost = f"; steps {gaps} are missing" if gaps else ""
    return f"its record ends at step {last} of {trial.params.get('train_steps', '?')}{lost} (metrics.jsonl cut short)"


def trial_row(
    trial: TrialFiles, status: TrialStatus, seeds: list[dict[str, Any]], metric: str, mode: str
) -> dict:
    """One row of the trials table (`seeds`: its rows of the seeds table)."""
    rows = [metrics_of(row) for row in trial.rows]
    best = best_row(rows, metric, mode)
    sessions = trial.sessions
    gaps = record_gaps(trial)
    return {
        "trial_id": trial.trial_id,
        "status": status.value,
        "trial_dir": trial.folder.name,
        "iterations": len(rows),
        "last_step": rows[-1][K.STEP] if rows else 0,
        "num_failures": trial.state.get("num_failures", 0),
        "error": trial_error(trial, status, gaps),
        "missing_steps": len(gaps),
        "num_seeds": len(seeds),
        "seeds_diverged": sum(bool(seed["diverged"]) for seed in seeds),
        "config_complete": bool(sessions),  # run.json exists only beside a whole config
        **prefixed("config/", trial.params),
        **run_columns(sessions),
        **prefixed("final/", rows[-1] if rows else {}),
        **prefixed("best/", best),
    }


def curve_rows(trial: TrialFiles) -> list[dict[str, Any]]:
    """The trial's rows of the curves table."""
    return [{"trial_id": trial.trial_id, **metrics_of(row)} for row in trial.rows]


def seed_metrics(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """One seed's reports: its `seed/{seed}/...` keys without the prefix, plus the step."""
    tag = f"seed/{seed}/"
    own = [{k.removeprefix(tag): v for k, v in row.items() if k.startswith(tag)} for row in rows]
    return [{K.STEP: row[K.STEP], **values} for row, values in zip(rows, own, strict=True)]


def seed_divergence(
    own: list[dict[str, Any]], status: TrialStatus, metric: str
) -> tuple[bool, float]:
    """(diverged, diverged_step) of one seed from its rows (its `seed/<s>/...` values, or a one-seed trial's).

    Folders written before per-seed divergence have no such keys: the seed diverged when its
    trial did, or when its last reported `metric` is not finite (its siblings trained on);
    its step is then the first evaluation with a non-finite `metric`, else the last one.
    """
    last = own[-1] if own else {}
    bad = [
        row[K.STEP]
        for row in own
        if isinstance(row.get(metric), float) and not math.isfinite(row[metric])
    ]
    if K.DIVERGED in last:
        diverged = bool(last[K.DIVERGED])
    else:
        diverged = status is TrialStatus.DIVERGED or bool(bad and bad[-1] == last.get(K.STEP))
    if not diverged:
        return False, math.nan
    step = last.get(K.DIVERGED_STEP)
    if step is None:
        step = bad[0] if bad else last.get(K.STEP, math.nan)
    return True, float(step)


def seed_rows(
    trial: TrialFiles, status: TrialStatus, metric: str, mode: str
) -> list[dict[str, Any]]:
    """The trial's rows of the seeds table: one per seed, from `seed/{s}/...` keys or the plain keys."""
    rows = [metrics_of(row) for row in trial.rows]
    seeds = sorted({int(m.group(1)) for row in rows for key in row if (m := SEED_KEY.match(key))})
    single = trial.params.get("seed", DEFAULT_SEED)
    per_seed = {seed: seed_metrics(rows, seed) for seed in seeds} or {single: rows}
    common = {
        "trial_id": trial.trial_id,
        "status": status.value,
        **prefixed("config/", trial.params),
    }
    out = []
    for seed, own in per_seed.items():
        diverged, step = seed_divergence(own, status, metric)
        final = {} if diverged else own[-1] if own else {}
        out.append(
            {
                **common,
                "seed": seed,
                "diverged": diverged,
                "diverged_step": step,
                **prefixed("final/", final),
                **prefixed("best/", best_row(own, metric, mode)),
            }
        )
    return out


def load_sweep(folder: Path | str) -> SweepResults:
    """Read a sweep folder into its trials, curves and seeds tables (raises NotASweepError)."""
    folder = Path(folder).resolve()
    check_sweep(folder)
    meta = read_meta(folder)
    metric, mode = metric_of(meta), mode_of(meta)
    trial_rows, curves, seeds = [], [], []
    # older sweep.json files lack the key
    scheduled = meta.get("scheduler", "unrecorded") is not None
    for trial in read_trials(folder):
        status = classify(trial, meta.get("budget"), scheduled=scheduled)
        own = seed_rows(trial, status, metric, mode)
        trial_rows.append(trial_row(trial, status, own, metric, mode))
        curves += curve_rows(trial)
        seeds += own
    return SweepResults(
        folder=folder,
        meta=meta,
        trials=pd.DataFrame(trial_rows, columns=None if trial_rows else ["trial_id", "status"]),
        curves=pd.DataFrame(curves, columns=None if curves else ["trial_id", "step"]),
        seeds=pd.DataFrame(
            seeds, columns=None if seeds else ["trial_id", "seed", "status", "diverged"]
        ),
    )


def write_tables(folder: Path | str) -> list[Path]:
    """Write the trials and seeds tables as Parquet and CSV into the sweep folder, atomically; return the
    paths written (a file that holds its table already is left as it is)."""
    sweep = load_sweep(folder)
    paths = []
    for name in TABLES:
        table = getattr(sweep, name)
        for suffix, write in ((".parquet", table.to_parquet), (".csv", table.to_csv)):
            path = sweep.folder / f"{name}{suffix}"
            if replace_atomically(
                path, lambda tmp, write=write: write(tmp, index=False), skip_same=True
            ):
                paths.append(path)
    return paths
