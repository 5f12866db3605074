"""A run folder's record: `config.json` (the run's config) and `metrics.jsonl` (one row per evaluation).

A single run (`python -m tune_ired.train --out DIR`) and every sweep trial
(`<storage>/<name>/trial_<id>/`, written by `tune_ired.trainable` on the trial's worker)
keep the same two files, and `tune_ired.results` reads them back:

    write_config(folder, cfg_dict)           # atomically, once per (re)start
    restart_metrics(folder, up_to_step=k)    # on resume: keep rows up to the checkpoint's step
    append_row(folder, row)                  # one line per evaluation
    read_metrics(folder)                     # rows in step order, each step once

Rows are appended and never rewritten in place, and a restart replaces the file
atomically, so a process killed at any moment leaves at worst a torn last line, which
the reader skips. Ray Tune's own `result.json` / `params.json` are no substitute: its
driver re-copies them into the storage folder at every experiment snapshot, and a kill
during that copy leaves them truncated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Create `path` by `write(tmp)` on a sibling temporary file, then a rename: never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_config(folder: Path, config: dict[str, Any]) -> None:
    """Write the run's config as `config.json` (a dict `make_config` turns back into the run's Config)."""
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    replace_atomically(folder / CONFIG_FILE, lambda tmp: tmp.write_text(text))


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
