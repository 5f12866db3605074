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
- `metrics.jsonl`: one JSON row per evaluation (keys: `tune_ired.catalogue`);
- `heartbeat.json`: the step reached between evaluations (at most every `HEARTBEAT_PERIOD_S`),
  which `python -m tune_ired.status` and the sweep's live table show;
- `checkpoints/best.pt` (with `BestCheckpoint`): the state at the evaluation whose metric
  was best so far; `train --out` keeps it by val/mse, a sweep trial by the sweep's metric.

Rows are appended and never rewritten in place, and a restart replaces the file
atomically, so a process killed at any moment leaves at worst a torn last line, which
the reader skips. Ray Tune's own `result.json` / `params.json` are no substitute: its
driver re-copies them into the storage folder at every experiment snapshot, and a kill
during that copy leaves them truncated.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tune_ired import provenance
from tune_ired.catalogue import Mode

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RUN_FILE = "run.json"
HEARTBEAT_FILE = "heartbeat.json"
CHECKPOINTS = "checkpoints"  # a run folder's own checkpoints (Tune's stay in checkpoint_NNNNNN/ beside it)
BEST_CHECKPOINT = "best.pt"
HEARTBEAT_PERIOD_S = 5.0  # heartbeat.json is rewritten at most this often: cheap, yet live for a human
TRIAL_PREFIX = "trial_"  # a sweep's trial folders are trial_<Tune's trial id>


class Trainable(Protocol):
    """What `recorded_run` needs of a trainer: tune_ired.trainer.Trainer (this module stays torch-free)."""

    step: int
    cfg: Any  # a tune_ired.config.Config: to_dict() gives every key

    def run(self, on_step: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]: ...

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


def is_better(value: Any, than: float, mode: str) -> bool:
    """True when `value` is a finite number better than `than` for `mode` (NaN `than`: any finite value)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return math.isnan(than) or (value < than if Mode(mode) is Mode.MIN else value > than)


@dataclass
class BestCheckpoint:
    """Keeps `checkpoints/best.pt` of a run folder: the state at its best evaluation by `metric` so far.

    `save(path)` writes the trainer's current state to `path` atomically (the drivers pass
    `tune_ired.checkpoint.save_state`; this module stays torch-free). `recorded_run` offers
    it every row on record, so a resumed run knows the best its kept rows reached.
    """

    metric: str
    mode: str
    save: Callable[[Path], None]
    value: float = math.nan  # the best finite value so far (NaN: none yet)

    def observe(self, row: dict[str, Any]) -> bool:
        """Take `row` into account; True when it is a new best."""
        if not is_better(row.get(self.metric), self.value, self.mode):
            return False
        self.value = row[self.metric]
        return True

    def offer(self, folder: Path, row: dict[str, Any]) -> None:
        """Save the current state as best.pt when `row` is a new best."""
        if self.observe(row):
            self.save(folder / CHECKPOINTS / BEST_CHECKPOINT)


def write_heartbeat(folder: Path, *, step: int, train_steps: int) -> None:
    """Record the step a run has reached between evaluations (heartbeat.json, atomically)."""
    write_json(folder / HEARTBEAT_FILE, {"step": step, "train_steps": train_steps, "at": provenance.now()})


def heartbeat(folder: Path, *, train_steps: int, on_step: Callable[[int], None] | None) -> Callable[[int], None]:
    """The trainer's per-step callback: heartbeat.json at most every HEARTBEAT_PERIOD_S, then `on_step`."""
    last = time.monotonic()

    def step_done(step: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= HEARTBEAT_PERIOD_S:
            write_heartbeat(folder, step=step, train_steps=train_steps)
            last = now
        if on_step is not None:
            on_step(step)

    return step_done


def recorded_run(
    trainer: Trainable,
    folder: Path,
    *,
    budget: str | None,
    command: str | None = None,
    best: BestCheckpoint | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run `trainer` (fresh or restored from a checkpoint) into `folder`, yielding each row once it is on disk.

    Writes the whole config, opens a session in run.json, cuts metrics.jsonl back to the
    trainer's step (rows past the checkpoint were left by a killed run), appends every row,
    and closes the session when the run ends or its consumer stops it. With `best`, the
    state at each new best row is saved as checkpoints/best.pt before the row is yielded.
    Between evaluations heartbeat.json records the step, and `on_step(step)` is called
    after every optimiser step (a progress bar; keep it cheap).
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, trainer.cfg.to_dict())
    restart_metrics(folder, up_to_step=trainer.step)
    if best is not None:
        for row in read_metrics(folder):
            best.observe(row)
    write_heartbeat(folder, step=trainer.step, train_steps=trainer.cfg.train_steps)
    record = read_json(folder / RUN_FILE)
    session = provenance.collect(device=trainer.device_info(), command=command) | {
        "from_step": trainer.step,
        "to_step": trainer.step,
    }
    sessions = [*record.get("sessions", []), session]
    write_json(folder / RUN_FILE, {"budget": budget, "sessions": sessions})
    try:
        for row in trainer.run(on_step=heartbeat(folder, train_steps=trainer.cfg.train_steps, on_step=on_step)):
            append_row(folder, row)
            write_heartbeat(folder, step=row["step"], train_steps=trainer.cfg.train_steps)
            if best is not None:
                best.offer(folder, row)
            session["to_step"] = row["step"]
            yield row
    finally:
        session["ended_at"] = provenance.now()
        write_json(folder / RUN_FILE, {"budget": budget, "sessions": sessions})
