"""Trained models read back from a run folder or a sweep folder's trials, for analyses of the weights.

A run folder (`python -m tune_ired.train --out DIR`) keeps `checkpoints/{final,latest,best}.pt`;
a sweep trial (`<sweep>/trial_<id>/`) keeps Tune's newest checkpoints as
`checkpoint_<k>/state.pt`. A snapshot is the run's final checkpoint, else its latest
(a trial's highest-numbered one), loaded onto the CPU: its config (from the checkpoint,
so it is the config the weights were trained with), its model with all S seeds on the
leading seed axis, EMA weights (what `val/*` metrics evaluate) or the live ones, and its
replay buffer when the config has one.

    from tune_ired.landscapes.snapshots import find_checkpoints, load_snapshot
    sources, skipped = find_checkpoints("results/strategies")   # one per trial with a checkpoint
    snapshot = load_snapshot(sources[0], weights="ema")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from tune_ired.analysis.arms import label_arms
from tune_ired.ired.config import Config, make_config
from tune_ired.ired.model import EnergyModel
from tune_ired.ired.replay import ReplayBuffer
from tune_ired.landscapes.options import WEIGHTS
from tune_ired.record import results
from tune_ired.record.runfolder import CONFIG_FILE
from tune_ired.training.checkpoint import STATE_FILE, load_state

RUN_CHECKPOINT_DIR = "checkpoints"  # where tune_ired.train keeps a run folder's checkpoints
RUN_CHECKPOINTS = ("final.pt", "latest.pt")  # a run folder's checkpoints, in order of preference
TUNE_CHECKPOINT_GLOB = (
    "checkpoint_*"  # Tune's checkpoint folders in a trial folder; the highest is the newest
)
EMA_PREFIX = "ema_model."  # ema-pytorch keeps the averaged model as a submodule under this name


class NoRunError(ValueError):
    """A folder that is neither a run folder with a checkpoint nor a sweep folder."""


@dataclass(frozen=True)
class Source:
    """Where one trained model lies: its arm (sweep) or run folder name, its trial folder, its checkpoint."""

    label: str
    trial: str
    checkpoint: Path


@dataclass(frozen=True)
class Snapshot:
    """One trained model, loaded on the CPU: its source, config and weights."""

    source: Source
    step: int  # the training step the checkpoint was written at
    cfg: Config
    model: EnergyModel
    replay: ReplayBuffer | None
    weights: str  # "ema" or "live"


def run_checkpoint(folder: Path) -> Path | None:
    """A run folder's final checkpoint, else its latest; a trial folder's newest Tune checkpoint; else None."""
    for name in RUN_CHECKPOINTS:
        if (folder / RUN_CHECKPOINT_DIR / name).exists():
            return folder / RUN_CHECKPOINT_DIR / name
    tune = sorted(
        p / STATE_FILE for p in folder.glob(TUNE_CHECKPOINT_GLOB) if (p / STATE_FILE).exists()
    )
    return tune[-1] if tune else None


def model_weights(state: dict, weights: str) -> dict[str, torch.Tensor]:
    """The model's state dict from a trainer checkpoint: the EMA average or the live weights."""
    if weights == "live":
        return state["model"]
    return {
        key.removeprefix(EMA_PREFIX): value
        for key, value in state["ema"].items()
        if key.startswith(EMA_PREFIX)
    }


def load_snapshot(source: Source, *, weights: str = "ema") -> Snapshot:
    """Load a trainer checkpoint (`Trainer.state_dict()`) as a snapshot on the CPU."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights = {weights!r}; expected one of {', '.join(WEIGHTS)}")
    state = load_state(source.checkpoint)
    cfg = make_config(json.loads(state["config"]), source=str(source.checkpoint))
    model = EnergyModel.from_config(cfg)
    model.load_state_dict(model_weights(state, weights))
    model.eval().requires_grad_(False)  # analyses only read the weights: no graph is ever built
    replay = ReplayBuffer.from_config(cfg, device=torch.device("cpu"))
    if replay is not None:
        replay.load_state_dict(state["replay"])
    return Snapshot(
        source=source, step=state["step"], cfg=cfg, model=model, replay=replay, weights=weights
    )


def find_checkpoints(folder: Path | str) -> tuple[list[Source], list[str]]:
    """The checkpoint of a run folder (one) or of every trial of a sweep folder, and a line per skipped trial.

    Raises NoRunError naming the folder when it is neither.
    """
    folder = Path(folder)
    if results.is_sweep(folder):
        trials = label_arms(results.load_sweep(folder).trials)
        sources, skipped = [], []
        for row in trials.itertuples():
            checkpoint = run_checkpoint(folder / row.trial_dir)
            if checkpoint is None:
                skipped.append(f"{row.trial_dir} ({row.arm}, {row.status}): no checkpoint, skipped")
                continue
            sources.append(Source(label=str(row.arm), trial=row.trial_dir, checkpoint=checkpoint))
        return sources, skipped
    checkpoint = run_checkpoint(folder) if (folder / CONFIG_FILE).exists() else None
    if checkpoint is None:
        raise NoRunError(
            f"{folder} is neither a run folder with a checkpoint (config.json and checkpoints/final.pt or "
            f"latest.pt, from python -m tune_ired.train) nor a sweep folder (trial_* folders)."
        )
    return [
        Source(label=folder.resolve().name, trial=folder.resolve().name, checkpoint=checkpoint)
    ], []
