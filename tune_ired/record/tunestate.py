"""Ray Tune's experiment snapshot in a sweep folder: find it, check it is whole, keep a good copy, restore it.

A sweep folder holds Tune's snapshot of the experiment: `tuner.pkl` (written once, at the
start) and, per driver session S, `experiment_state-S.json` (every trial's status and latest
checkpoint) beside the searcher's state (`basic-variant-state-S.json`, `searcher-state-S.pkl`,
... which are pickles whatever their suffix). Tune's driver copies them into the folder with
a plain, non-atomic copy every second, so a kill or a full disk during that copy leaves
them cut short, and `Tuner.restore` then silently starts the experiment over, on top of
the finished trials' folders.

So while a sweep runs, `keep_snapshot` copies the newest *whole* snapshot (every file of
the newest session, each checked to parse to its end) into one file, `kept-snapshot.json`,
written atomically; before a resume, `snapshot_problems` says what is torn or missing, and
`restore_kept` puts the kept copy back (the files it replaces, torn or not, are renamed
`*.torn`: a snapshot is whole only as a set). Torch-free and
Ray-free: the tables (`tune_ired.record.results`) read trial statuses through `read_trial_data`.

    problems = snapshot_problems(folder)          # [] when Tune can restore the folder as it is
    if problems and has_kept(folder): restore_kept(folder)
"""

from __future__ import annotations

import base64
import json
import os
import pickletools
from pathlib import Path
from typing import Any

from tune_ired.record.files import read_json, replace_atomically, write_json
from tune_ired.record.provenance import now

STATE_PREFIX, STATE_SUFFIX = "experiment_state-", ".json"
STATE_GLOB = f"{STATE_PREFIX}*{STATE_SUFFIX}"  # Tune's TuneController.CKPT_FILE_TMPL
TUNER_FILE = "tuner.pkl"  # Tune's Tuner, written when the sweep starts
KEPT_FILE = "kept-snapshot.json"  # our last whole copy (its name matches none of Tune's patterns)
TORN_SUFFIX = ".torn"  # a torn file is renamed so, out of Tune's sight, and kept for inspection
SESSION_SUFFIXES = (".json", ".pkl")  # Tune's per-session files: <kind>-<session>.json / .pkl
PICKLE_PROTO = 0x80  # the first byte of a pickle of protocol 2 or later (Tune's searcher states)


def state_files(folder: Path) -> list[Path]:
    """Tune's experiment-state files, oldest session first (Tune restores the last by name)."""
    return sorted(folder.glob(STATE_GLOB))


def session_of(state: Path) -> str:
    """The session (driver start time) in an experiment-state file name."""
    return state.name.removeprefix(STATE_PREFIX).removesuffix(STATE_SUFFIX)


def session_files(folder: Path, session: str) -> list[Path]:
    """Every file Tune restores for `session`: its experiment state, its searcher states, and tuner.pkl."""
    endings = tuple(f"-{session}{suffix}" for suffix in SESSION_SUFFIXES)
    own = [path for path in folder.iterdir() if path.is_file() and path.name.endswith(endings)]
    tuner = folder / TUNER_FILE
    return sorted(own) + ([tuner] if tuner.exists() else [])


def is_whole(data: bytes) -> bool:
    """True when `data` is a complete JSON document or a complete pickle (what a cut copy is not)."""
    if data[:1] == bytes([PICKLE_PROTO]):
        try:
            for _ in pickletools.genops(
                data
            ):  # walks the opcodes to STOP without building any object
                pass
        except ValueError:
            return False
        return True
    try:
        json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def snapshot_problems(folder: Path) -> list[str]:
    """What keeps Tune from restoring `folder` as it is: torn or missing files ([] when none)."""
    states = state_files(folder)
    if not (folder / TUNER_FILE).exists():
        return [f"{TUNER_FILE} is missing"]
    if not states:
        return [f"no {STATE_GLOB} file"]
    problems = []
    for path in session_files(folder, session_of(states[-1])):
        if not is_whole(path.read_bytes()):
            problems.append(f"{path.name} is torn ({path.stat().st_size} bytes)")
    return problems


def kept(folder: Path) -> dict[str, Any]:
    """The kept copy ({} when there is none, or it is unreadable)."""
    return read_json(folder / KEPT_FILE)


def keep_snapshot(folder: Path, *, last: dict[str, float]) -> bool:
    """Copy the newest session's files into KEPT_FILE when they changed since `last` and are all whole.

    `last` maps file names to the modification times last kept (updated in place). Returns
    True when a copy was written. A file caught mid-copy is not whole: the next call keeps it.
    """
    states = state_files(folder)
    if not states:
        return False
    paths = session_files(folder, session_of(states[-1]))
    stamps = {path.name: path.stat().st_mtime for path in paths}
    if stamps == last:
        return False
    files = {path.name: path.read_bytes() for path in paths}
    if not all(is_whole(data) for data in files.values()):
        return False
    write_json(
        folder / KEPT_FILE,
        {
            "session": session_of(states[-1]),
            "kept_at": now(),
            "files": {name: base64.b64encode(data).decode("ascii") for name, data in files.items()},
        },
    )
    last.clear()
    last.update(stamps)
    return True


def restore_kept(folder: Path) -> str:
    """Put the kept copy back, renaming what it replaces (and newer sessions' files) `*.torn`; says what it did."""
    copy = kept(folder)
    names = set(copy["files"])
    for state in state_files(folder):
        if (
            session_of(state) > copy["session"]
        ):  # a newer session whose snapshot is torn: out of Tune's sight
            for path in session_files(folder, session_of(state)):
                if path.name != TUNER_FILE:
                    os.replace(path, path.with_name(path.name + TORN_SUFFIX))
    for name in sorted(names):
        path, data = folder / name, base64.b64decode(copy["files"][name])
        if path.exists() and path.read_bytes() == data:
            continue
        if path.exists():
            os.replace(path, path.with_name(path.name + TORN_SUFFIX))
        replace_atomically(path, lambda tmp, data=data: tmp.write_bytes(data))
    return f"restored the snapshot kept at {copy['kept_at']} (session {copy['session']})"


def read_trial_data(folder: Path) -> list[list[str]]:
    """Tune's per-trial records (`trial_data`) from the newest whole experiment state, else the kept copy."""
    for path in reversed(state_files(folder)):
        data = read_json(path)
        if "trial_data" in data:
            return data["trial_data"]
    copy = kept(folder)
    for name, text in copy.get("files", {}).items():
        if name.startswith(STATE_PREFIX):
            try:
                return json.loads(base64.b64decode(text))["trial_data"]
            except (ValueError, KeyError):
                return []
    return []
