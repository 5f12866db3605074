"""A run folder's record, written the same way by every driver: config, provenance, one row per evaluation.

A single run (`python -m tune_ired.train --out DIR`) and every sweep trial
(`<storage>/<name>/trial_<id>/`, written by `tune_ired.trainable` on the trial's worker)
hold the same three files, written by one loop, `recorded_run`, and read back by
`tune_ired.results`:

- `config.json`: the run's whole resolved config (every key, typed), so the folder alone
  says what ran: `python -m tune_ired.train --config RUN/config.json --out DIR` repeats it;
- `run.json`: the budget, and one session per start or resume: code version, packages,
  device, host, SLURM job, command, start and end times, first and last step
  (`tune_ired.provenance`);
- `metrics.jsonl`: one JSON row per evaluation (keys: `tune_ired.catalogue`).

Rows are appended and never rewritten in place, and a restart replaces the file
atomically, so a process killed at any moment leaves at worst a torn last line, which
the reader skips. Ray Tune's own `result.json` / `params.json` are no substitute: its
driver re-copies them into the storage folder at every experiment snapshot, and a kill
during that copy leaves them truncated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from tune_ired import provenance

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RUN_FILE = "run.json"
TRIAL_PREFIX = "trial_"  # a sweep's trial folders are trial_<Tune's trial id>


class Trainable(Protocol):
    """What `recorded_run` needs of a trainer: tune_ired.trainer.Trainer (this module stays torch-free)."""

    step: int
    cfg: Any  # a tune_ired.config.Config: to_dict() gives every key

    def run(self) -> Iterator[dict[str, Any]]: ...

    def device_info(self) -> dict[str, Any]: ...


def trial_dirname(trial_id: str) -> str:
    """The folder name of a trial in its sweep folder (Tune's default name embeds the whole config)."""
    return f"{TRIAL_PREFIX}{trial_id}"


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Create `path` by `write(tmp)` on a sibling temporary file, then a rename: never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON object atomically (sorted keys, indented)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    replace_atomically(path, lambda tmp: tmp.write_text(text))


def write_config(folder: Path, config: dict[str, Any]) -> None:
    """Write the run's config as `config.json` (a dict `make_config` turns back into the run's Config)."""
    write_json(folder / CONFIG_FILE, config)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when it is missing or torn."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The rows of `metrics.jsonl`, the last one of each step kept, in step order (torn lines skipped)."""
    path = folder / METRICS_FILE
    by_step: dict[int, dict[str, Any]] = {}
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
        if isinstance(row, dict) and "step" in row:
            by_step[row["step"]] = row
    return [by_step[step] for step in sorted(by_step)]


def restart_metrics(folder: Path, *, up_to_step: int) -> None:
    """Keep only the rows at or before `up_to_step` (the restored checkpoint's), atomically."""
    kept = [row for row in read_metrics(folder) if row["step"] <= up_to_step]
    text = "".join(json.dumps(row) + "\n" for row in kept)
    replace_atomically(folder / METRICS_FILE, lambda tmp: tmp.write_text(text))


def append_row(folder: Path, row: dict[str, Any]) -> None:
    """Append one evaluation row as a JSON line (non-finite numbers as NaN/Infinity, which json reads back)."""
    with (folder / METRICS_FILE).open("a") as out:
        out.write(json.dumps(row) + "\n")


def recorded_run(
    trainer: Trainable, folder: Path, *, budget: str | None, command: str | None = None
) -> Iterator[dict[str, Any]]:
    """Run `trainer` (fresh or restored from a checkpoint) into `folder`, yielding each row once it is on disk.

    Writes the whole config, opens a session in run.json, cuts metrics.jsonl back to the
    trainer's step (rows past the checkpoint were left by a killed run), appends every row,
    and closes the session when the run ends or its consumer stops it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, trainer.cfg.to_dict())
    restart_metrics(folder, up_to_step=trainer.step)
    record = read_json(folder / RUN_FILE)
    session = provenance.collect(device=trainer.device_info(), command=command) | {
        "from_step": trainer.step,
        "to_step": trainer.step,
    }
    sessions = [*record.get("sessions", []), session]
    write_json(folder / RUN_FILE, {"budget": budget, "sessions": sessions})
    try:
        for row in trainer.run():
            append_row(folder, row)
            session["to_step"] = row["step"]
            yield row
    finally:
        session["ended_at"] = provenance.now()
        write_json(folder / RUN_FILE, {"budget": budget, "sessions": sessions})
