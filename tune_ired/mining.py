"""Negative mining strategies for the energy-landscape loss (spec sections 5 and 8).

Each strategy is a small function with the same signature, registered by name in
`STRATEGIES` and chosen by `Config.strategy`: it receives the batch (`MiningBatch`) and
returns the negatives with per-seed diagnostics. `none` mines nothing (the loss then has
no energy term).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from tune_ired.config import Config
from tune_ired.diffusion import TARGET_CLIP, DescentOptions, Schedule, opt_step, predict_y0, q_sample
from tune_ired.model import EnergyModel


@dataclass(frozen=True)
class MiningBatch:
    """What a strategy may use: the model, schedule, config, and the batch's tensors."""

    model: EnergyModel
    sched: Schedule
    cfg: Config
    x: torch.Tensor  # (S, B, d) inputs
    y0: torch.Tensor  # (S, B, d) true inverses
    t: torch.Tensor  # (S, B) diffusion steps
    eps: torch.Tensor  # (S, B, d) the noise of the positives, shared by the re-noised negatives


@dataclass(frozen=True)
class Negatives:
    """Mined negatives (S, B, d), detached, and per-seed diagnostics (each of shape (S,))."""

    y: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


Strategy = Callable[[MiningBatch], Negatives | None]


def descent_options(cfg: Config, *, ascend: bool = False) -> DescentOptions:
    """Energy-descent options from the config's reference-quirk switches."""
    return DescentOptions(
        multiplier_overwrite=cfg.ref_multiplier_overwrite,
        first_t_clip=cfg.ref_first_t_clip,
        ascend=ascend,
        clip_scale=cfg.clip_scale,
    )


def noisy_start(batch: MiningBatch) -> torch.Tensor:
    """The negatives' starting point q(y0, t, noise_scale * eps)."""
    return q_sample(batch.sched, batch.y0, batch.t, batch.cfg.noise_scale * batch.eps)


def renoise(batch: MiningBatch, y_neg: torch.Tensor) -> torch.Tensor:
    """Rescale a negative to its clean estimate (clamped) and re-noise it with the positives' eps."""
    n0 = torch.clamp(predict_y0(batch.sched, y_neg, batch.t, 0.0), -TARGET_CLIP, TARGET_CLIP)
    return q_sample(batch.sched, n0, batch.t, batch.eps)


def descend(batch: MiningBatch, *, ascend: bool) -> Negatives:
    """Negatives mined by `opt_steps` energy-descent (or ascent) moves from the noisy start."""
    y, stats = opt_step(
        batch.model,
        batch.sched,
        batch.x,
        noisy_start(batch),
        batch.t,
        steps=batch.cfg.opt_steps,
        multiplier=batch.cfg.ascent_lr,
        options=descent_options(batch.cfg, ascend=ascend),
    )
    diagnostics = {
        "mine/grad_norm": stats.grad_norm,
        "mine/step_distance": stats.step_distance,
        "mine/reject_share": stats.reject_share,
    }
    return Negatives(y=renoise(batch, y), stats=diagnostics)


def problems(batch: MiningBatch, index: slice) -> MiningBatch:
    """The same batch restricted to the problems `index` of every seed."""
    return dataclasses.replace(
        batch, x=batch.x[:, index], y0=batch.y0[:, index], t=batch.t[:, index], eps=batch.eps[:, index]
    )


def no_negatives(batch: MiningBatch) -> None:
    """Strategy `none`: pure denoising, no energy-landscape term."""
    return None


def random_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `random`: the noisy start, rescaled and re-noised, with no optimisation."""
    return Negatives(y=renoise(batch, noisy_start(batch)))


def adversarial_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `adversarial` (the reference): energy DEScent to points the model already likes."""
    return descend(batch, ascend=False)


def ascent_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `ascent`: true energy maximisation, accepting only uphill moves."""
    return descend(batch, ascend=True)


def mixed_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `mixed`: the first `mixed_ratio` share of each seed's batch adversarial, the rest random."""
    k = round(batch.cfg.mixed_ratio * batch.t.shape[1])
    hard = adversarial_negatives(problems(batch, slice(0, k))) if k > 0 else Negatives(y=batch.y0[:, :0])
    easy = random_negatives(problems(batch, slice(k, None)))
    return Negatives(y=torch.cat([hard.y, easy.y], dim=1), stats=hard.stats)


STRATEGIES: dict[str, Strategy] = {
    "none": no_negatives,
    "random": random_negatives,
    "adversarial": adversarial_negatives,
    "ascent": ascent_negatives,
    "mixed": mixed_negatives,
}
