"""Checkpoint files: atomic writes, and loads that only accept tensors and plain data.

A checkpoint is the trainer's whole state (`Trainer.state_dict()`): model, EMA,
optimiser, every RNG state, the step and the early-stopping state. Files are written to
a temporary name and renamed, so a process killed mid-write never leaves a torn file;
a file torn all the same (a copy cut short, a full disk, a damaged disk) does not load,
and `load_first_valid` then falls back to the next one (`save_keeping_previous` keeps the
one before the latest for that).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from tune_ired.cli import warn
from tune_ired.record.files import replace_atomically

STATE_FILE = "state.pt"  # the file name of a checkpoint inside a checkpoint directory
PREVIOUS_SUFFIX = ".previous"  # latest.pt's predecessor: latest.pt.previous


def save_state(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` atomically (write to a sibling temp file, then rename)."""
    replace_atomically(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by save_state, safely (weights_only), onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def previous_of(path: Path) -> Path:
    """Where `save_keeping_previous` keeps the checkpoint that `path` replaced."""
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def save_keeping_previous(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` atomically, keeping the checkpoint it replaces as `previous_of(path)`."""
    if path.exists():
        os.replace(path, previous_of(path))
    save_state(state, path)


def load_first_valid(paths: Iterable[Path]) -> tuple[dict[str, Any], Path] | None:
    """The first of `paths` that loads, with its path (None when none does); each one skipped is named on stderr."""
    skipped = []
    for path in paths:
        if not path.exists():
            skipped.append(f"{path} (missing)")
            continue
        try:
            state = load_state(path)
        except (
            Exception
        ) as err:  # torch reports a torn file as RuntimeError, EOFError, UnpicklingError, ...
            skipped.append(
                f"{path} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            )
            continue
        if skipped:
            warn(f"checkpoint {'; '.join(skipped)} unreadable: restored from {path} instead.")
        return state, path
    if skipped:
        warn(f"no readable checkpoint: {'; '.join(skipped)}.")
    return None
