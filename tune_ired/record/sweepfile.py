"""A sweep folder's own record, `sweep.json`: the sweep's identity, what analysis needs, provenance.

Written by the sweep driver when a sweep starts (`start_record`) and at each resume
(`add_session`, `close_session`); read by the tables (`tune_ired.record.results`), the status
table, the report and the next start (`read_meta`). What it holds:
- the identity (IDENTITY, in the order a difference is looked for): the file, budget, metric,
  mode, searcher and its seed, the scheduler's settings (null: none), num_samples, the
  `--set` keys (`overrides`), the searched keys, and the resolved space Tune gets
  (`tune_ired.tuning.validate.canonical`); older files hold some of these only;
- `name`, `resources` (CPUs and GPUs per trial), `description` (the file's), `estimate` (what
  the sweep was expected to cost on this session's resources: `tune_ired.record.estimate`);
- `provenance` (the latest session's) and `sessions` (one per start or resume: code, packages,
  device, host, SLURM job, command, start and end; `tune_ired.record.provenance`).
A folder without sweep.json reads as val/mse, minimised (DEFAULT_METRIC, DEFAULT_MODE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tune_ired.record import provenance
from tune_ired.record.catalogue import VAL_MSE, Mode
from tune_ired.record.files import read_json, write_json

SWEEP_FILE = "sweep.json"
DEFAULT_METRIC, DEFAULT_MODE = VAL_MSE, Mode.MIN  # when a folder has no sweep.json
# what decides what a sweep trains, compared in this order on a re-run or a resume (older sweep.json
# files hold only the first eight but seed and scheduler: only the keys a file holds are compared)
IDENTITY = (
    "file",
    "budget",
    "metric",
    "mode",
    "searcher",
    "seed",
    "scheduler",
    "num_samples",
    "overrides",
    "searched",
    "space",
)


def read_meta(folder: Path) -> dict[str, Any]:
    """The sweep's sweep.json, or {} when absent or unreadable."""
    return read_json(folder / SWEEP_FILE)


def metric_of(meta: dict[str, Any]) -> str:
    """The sweep's metric (DEFAULT_METRIC for a folder without sweep.json)."""
    return meta.get("metric", DEFAULT_METRIC)


def mode_of(meta: dict[str, Any]) -> str:
    """The sweep's mode (DEFAULT_MODE for a folder without sweep.json)."""
    return meta.get("mode", DEFAULT_MODE)


def start_record(folder: Path, identity: dict[str, Any], **about: Any) -> None:
    """Write a new sweep's sweep.json: its identity, `about` (name, resources, description, estimate)
    and this session's provenance."""
    session = provenance.collect(command=provenance.command_line())
    write_json(
        folder / SWEEP_FILE,
        {**identity, **about, "provenance": session, "sessions": [session]},
    )


def add_session(folder: Path, **about: Any) -> None:
    """Add this start's session to sweep.json (a resume; `provenance` is the latest session), and
    replace what `about` names (the estimate on this session's resources)."""
    path = folder / SWEEP_FILE
    meta, session = read_json(path), provenance.collect(command=provenance.command_line())
    meta["sessions"] = [*meta.get("sessions", []), session]
    meta["provenance"] = session
    write_json(path, meta | about)


def update_record(folder: Path, **about: Any) -> None:
    """Replace what `about` names in sweep.json (the estimate, once a cluster is joined)."""
    path = folder / SWEEP_FILE
    write_json(path, read_json(path) | about)


def close_session(folder: Path) -> None:
    """Record in sweep.json when this session ended."""
    path = folder / SWEEP_FILE
    meta = read_json(path)
    if meta.get("sessions"):
        meta["sessions"][-1]["ended_at"] = meta["provenance"]["ended_at"] = provenance.now()
        write_json(path, meta)
