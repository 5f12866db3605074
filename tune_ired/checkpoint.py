"""Checkpoint files: atomic writes, and loads that only accept tensors and plain data.

A checkpoint is the trainer's whole state (`Trainer.state_dict()`): model, EMA,
optimiser, every RNG state, the step and the early-stopping state. Files are written to
a temporary name and renamed, so a process killed mid-write never leaves a torn file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tune_ired.runlog import replace_atomically

STATE_FILE = "state.pt"  # the file name of a checkpoint inside a checkpoint directory


def save_state(state: dict[str, Any], path: Path) -> None:
    """Write `state` to `path` atomically (write to a sibling temp file, then rename)."""
    replace_atomically(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by save_state, safely (weights_only), onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)
