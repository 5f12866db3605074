"""A run folder's record, written the same way by every driver: config, provenance, one row per evaluation.

A single run (`python -m tune_ired.train --out DIR`) and every sweep trial
(`<storage>/<name>/trial_<id>/`, written by `tune_ired.tuning.trainable` on the trial's worker)
hold the same three files, written by one loop, `recorded_run`, and read back by
`tune_ired.record.results`:

- `config.json`: the run's whole resolved config (every key, typed), so the folder alone
  says what ran: `python -m tune_ired.train --config RUN/config.json --out DIR` repeats it;
- `run.json`: the budget, and one session per start or resume: code version, packages,
  device, host, SLURM job, command, start and end times, first and last step
  (`tune_ired.record.provenance`);
- `metrics.jsonl`: one JSON row per evaluation (keys: `tune_ired.record.catalogue`);
- `heartbeat.json`: the step reached between evaluations (at most every `HEARTBEAT_PERIOD_S`),
  which `python -m tune_ired.status` and the sweep's live table show;
- `checkpoints/best.pt` (with `BestCheckpoint`): the state at the evaluation whose metric
  was best so far; `train --out` keeps it by val/mse, a sweep trial by the sweep's metric.

Rows are appended and never rewritten in place; every other file is replaced atomically (a
temporary file, flushed to disk, then a rename), so a process killed at any moment, or a
full disk, leaves at worst a torn last line, which the reader skips. A sweep trial also
puts a copy of its rows into each checkpoint folder (`checkpoint_*/metrics.jsonl`): a
record cut short is repaired from it when the run restarts (and read through it by
`tune_ired.record.results`). A restart never deletes an observed row: rows past the restored
checkpoint stay as written (the resumed run recomputes the same steps and does not write
them again), and the session in run.json marks the restart (`from_step`,
`observed_to_step`, `repaired_steps`, and `missing_steps` for a gap nothing could fill).
Ray Tune's own `result.json` / `params.json` are no substitute: its driver re-copies them
into the storage folder at every experiment snapshot, and a kill during that copy leaves
them truncated.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tune_ired.cli import warn
from tune_ired.record import provenance
from tune_ired.record.catalogue import DIVERGED, EARLY_STOPPED, STEP, Mode
from tune_ired.record.files import is_disk_full, read_json, replace_atomically, write_json

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RUN_FILE = "run.json"
HEARTBEAT_FILE = "heartbeat.json"
CHECKPOINTS = (
    "checkpoints"  # a run folder's own checkpoints (Tune's stay in checkpoint_NNNNNN/ beside it)
)
BEST_CHECKPOINT = "best.pt"
HEARTBEAT_PERIOD_S = (
    5.0  # heartbeat.json is rewritten at most this often: cheap, yet live for a human
)
TRIAL_PREFIX = "trial_"  # a sweep's trial folders are trial_<Tune's trial id>
# where a resume moves the trial folders Tune's snapshot never recorded (Tune draws them again)
UNRECORDED_DIR = "unrecorded"
CHECKPOINT_GLOB = (
    "checkpoint_*"  # Tune's checkpoint folders in a trial folder (each holds a copy of the rows)
)


class Trainable(Protocol):
    """What `recorded_run` needs of a trainer: tune_ired.training.trainer.Trainer (this module stays torch-free)."""

    step: int
    cfg: Any  # a tune_ired.ired.config.Config: to_dict() gives every key

    def run(self, on_step: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]: ...

    def device_info(self) -> dict[str, Any]: ...


def trial_dirname(trial_id: str) -> str:
    """The folder name of a trial in its sweep folder (Tune's default name embeds the whole config)."""
    return f"{TRIAL_PREFIX}{trial_id}"


def write_config(folder: Path, config: dict[str, Any]) -> None:
    """Write the run's config as `config.json` (a dict `make_config` turns back into the run's Config)."""
    write_json(folder / CONFIG_FILE, config)


def read_rows(path: Path) -> tuple[dict[int, dict[str, Any]], bool]:
    """The rows of a JSON-lines file by step (the last of each step), and whether the file is clean:
    every line whole, each step once, the last line ended (a torn line is skipped)."""
    text = path.read_text(errors="replace") if path.exists() else ""
    rows: dict[int, dict[str, Any]] = {}
    clean = not text or text.endswith("\n")
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            clean = False  # a line cut short by a killed process or a full disk
            continue
        if not isinstance(row, dict) or STEP not in row:
            clean = False
            continue
        clean = clean and row[STEP] not in rows
        rows[row[STEP]] = row
    return rows, clean


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The rows of `metrics.jsonl`, the last one of each step kept, in step order (torn lines skipped)."""
    rows, _ = read_rows(folder / METRICS_FILE)
    return [rows[step] for step in sorted(rows)]


def checkpoint_rows(folder: Path) -> dict[int, dict[str, Any]]:
    """The rows copied into the trial's checkpoint folders, by step (a newer checkpoint's copy wins)."""
    rows: dict[int, dict[str, Any]] = {}
    for copy in sorted(folder.glob(f"{CHECKPOINT_GLOB}/{METRICS_FILE}")):
        rows.update(read_rows(copy)[0])
    return rows


def observed_rows(folder: Path) -> list[dict[str, Any]]:
    """Every row the run reported, in step order: metrics.jsonl, completed from the checkpoints' copies."""
    rows = {**checkpoint_rows(folder), **read_rows(folder / METRICS_FILE)[0]}
    return [rows[step] for step in sorted(rows)]


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as JSON lines, atomically (non-finite numbers as NaN/Infinity, which json reads back)."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    replace_atomically(path, lambda tmp: tmp.write_text(text))


def repair_record(folder: Path) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """Complete metrics.jsonl from the checkpoints' copies and drop torn lines, rewriting it (atomically) only then.

    Returns the record's rows by step and the steps restored from a checkpoint's copy.
    """
    path = folder / METRICS_FILE
    rows, clean = read_rows(path)
    copies = checkpoint_rows(folder)
    repaired = sorted(set(copies) - set(rows))
    merged = {**copies, **rows}
    if repaired or not clean:
        write_rows(path, (merged[step] for step in sorted(merged)))
    return merged, repaired


def evaluation_steps(*, train_steps: int, eval_every: int, up_to: int) -> list[int]:
    """The steps at which a run of `train_steps` evaluates (every `eval_every`, and the last), up to `up_to`."""
    steps = list(range(eval_every, min(up_to, train_steps) + 1, eval_every))
    if train_steps <= up_to and train_steps % eval_every:
        steps.append(train_steps)
    return steps


def missing_steps(rows: Iterable[int], *, train_steps: int, eval_every: int) -> list[int]:
    """The evaluations absent from a record holding `rows` (steps), up to its last one."""
    present = set(rows)
    expected = evaluation_steps(
        train_steps=train_steps, eval_every=eval_every, up_to=max(present, default=0)
    )
    return [step for step in expected if step not in present]


def is_finished(rows: list[dict[str, Any]], *, train_steps: int) -> bool:
    """True when a record (in step order) ends with its run's last row: the last step, a divergence or an early stop."""
    if not rows:
        return False
    last = rows[-1]
    return bool(last.get(DIVERGED) or last.get(EARLY_STOPPED)) or last[STEP] >= train_steps


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
    `tune_ired.training.checkpoint.save_state`; this module stays torch-free). `recorded_run` offers
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
    write_json(
        folder / HEARTBEAT_FILE, {"step": step, "train_steps": train_steps, "at": provenance.now()}
    )


def heartbeat(
    folder: Path, *, train_steps: int, on_step: Callable[[int], None] | None
) -> Callable[[int], None]:
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

    Writes the whole config, repairs metrics.jsonl (`repair_record`), opens a session in
    run.json, appends every new row, and closes the session when the run ends or its
    consumer stops it. A step already on record (observed before a kill, past the restored
    checkpoint) is not written again: its recorded row is yielded. Evaluations up to the
    restored step that nothing holds are reported on stderr and in the session. With
    `best`, the state at each new best row is saved as checkpoints/best.pt before the row is
    yielded. Between evaluations heartbeat.json records the step, and `on_step(step)` is
    called after every optimiser step (a progress bar; keep it cheap).
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, trainer.cfg.to_dict())
    record, repaired = repair_record(folder)
    cfg = trainer.cfg
    expected = evaluation_steps(
        train_steps=cfg.train_steps, eval_every=cfg.eval_every, up_to=trainer.step
    )
    missing = [step for step in expected if step not in record]
    if best is not None:
        for row in record.values():
            best.observe(row)
    write_heartbeat(folder, step=trainer.step, train_steps=cfg.train_steps)
    session = provenance.collect(device=trainer.device_info(), command=command) | {
        "from_step": trainer.step,
        "to_step": trainer.step,
        "observed_to_step": max(record, default=0),
    }
    if repaired:
        session["repaired_steps"] = repaired
        warn(
            f"{folder / METRICS_FILE}: restored the rows of steps {repaired} from the checkpoints' copies."
        )
    if missing:
        session["missing_steps"] = missing
        warn(
            f"{folder / METRICS_FILE}: the rows of steps {missing} are lost (cut short; no checkpoint holds them)."
        )
    sessions = [*read_json(folder / RUN_FILE).get("sessions", []), session]
    write_json(folder / RUN_FILE, {"budget": budget, "sessions": sessions})
    try:
        for row in trainer.run(
            on_step=heartbeat(folder, train_steps=cfg.train_steps, on_step=on_step)
        ):
            step = row[STEP]
            if step in record:
                row = record[step]  # observed before a kill: kept as written, never written twice
            else:
                append_row(folder, row)
                record[step] = row
            write_heartbeat(folder, step=step, train_steps=cfg.train_steps)
            if best is not None:
                best.offer(folder, row)
            session["to_step"] = step
            yield row
    finally:
        session["ended_at"] = provenance.now()
        try:
            write_json(folder / RUN_FILE, {"budget": budget, "sessions": sessions})
        except OSError as err:
            if not is_disk_full(err):
                raise
            warn(
                f"{folder / RUN_FILE}: the disk is full; this session's end is not recorded (its start is)."
            )
