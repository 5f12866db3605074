"""Negative mining strategies for the energy-landscape loss (spec sections 5 and 8).

Each strategy is a small function with the same signature, registered by name in
`STRATEGIES` and chosen by `Config.strategy`: it receives the batch (`MiningBatch`, whose
`start` is the chains' starting point, fresh or from the replay buffer) and returns the
negatives with per-seed diagnostics. `none` mines nothing (the loss then has no energy
term); `langevin` is the corrected variant's sampler (spec section 9, `tune_ired.langevin`).

    python -m tune_ired.train --budget tiny --set strategy=mixed --set mixed_ratio=0.3 --out /tmp/mixed
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from tune_ired.config import Config
from tune_ired.data import Problems
from tune_ired.diffusion import TARGET_CLIP, DescentOptions, DescentStats, Schedule, opt_step, predict_y0, q_sample
from tune_ired.langevin import LangevinOptions, langevin_chain
from tune_ired.model import Conditioning, EnergyModel
from tune_ired.replay import ReplayBuffer


@dataclass(frozen=True)
class MiningBatch:
    """What a strategy may use: the model, schedule, config, and the batch's tensors."""

    model: EnergyModel
    sched: Schedule
    cfg: Config
    x: torch.Tensor  # (S, B, d) inputs
    cond: Conditioning  # model.condition(x, t), shared with the loss's other passes (with its graph)
    y0: torch.Tensor  # (S, B, d) true inverses
    t: torch.Tensor  # (S, B) diffusion steps
    eps: torch.Tensor  # (S, B, d) the noise of the positives, shared by the re-noised negatives
    start: torch.Tensor  # (S, B, d) the chains' starting points
    generators: list[torch.Generator]  # each seed's noise generator (Langevin noise)


@dataclass(frozen=True)
class Negatives:
    """Mined negatives (S, B, d), detached, the chains' end states, and per-seed diagnostics (S,).

    `chain` is what the replay buffer stores: the mining chain's end state, before the
    re-noising that some strategies apply to make `y`.
    """

    y: torch.Tensor
    chain: torch.Tensor
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


def make_batch(
    model: EnergyModel,
    sched: Schedule,
    cfg: Config,
    *,
    problems: Problems,
    cond: Conditioning,
    t: torch.Tensor,
    eps: torch.Tensor,
    generators: list[torch.Generator],
    replay: ReplayBuffer | None,
) -> tuple[MiningBatch, dict[str, torch.Tensor]]:
    """The mining batch, whose chains start at q(y0, t, noise_scale * eps) or from the replay buffer.

    `cond` is `model.condition(problems.x, t)`, computed once by the caller for all passes.
    Returns the batch and the replay diagnostics (empty when replay is off); the buffer is only read.
    """
    start = q_sample(sched, problems.y0, t, cfg.noise_scale * eps)
    stats = {}
    if replay is not None:
        start, reused = replay.draw(start, t, prob=cfg.replay_prob, generators=generators)
        stats = {"mine/replay_reuse": reused.float().mean(dim=-1), "mine/replay_fill": replay.fill_share()}
    return MiningBatch(model, sched, cfg, problems.x, cond, problems.y0, t, eps, start, generators), stats


def renoise(batch: MiningBatch, y_neg: torch.Tensor) -> torch.Tensor:
    """Rescale a negative to its clean estimate (clamped) and re-noise it with the positives' eps."""
    n0 = torch.clamp(predict_y0(batch.sched, y_neg, batch.t, 0.0), -TARGET_CLIP, TARGET_CLIP)
    return q_sample(batch.sched, n0, batch.t, batch.eps)


def chain_stats(stats: DescentStats) -> dict[str, torch.Tensor]:
    """A mining chain's per-seed diagnostics under their metric keys."""
    return {
        "mine/grad_norm": stats.grad_norm,
        "mine/step_distance": stats.step_distance,
        "mine/reject_share": stats.reject_share,
    }


def descend(batch: MiningBatch, *, ascend: bool) -> Negatives:
    """Negatives mined by `opt_steps` energy-descent (or ascent) moves from the start, then re-noised."""
    y, stats = opt_step(
        batch.model,
        batch.sched,
        batch.x,
        batch.start,
        batch.t,
        steps=batch.cfg.opt_steps,
        multiplier=batch.cfg.ascent_lr,
        options=descent_options(batch.cfg, ascend=ascend),
        cond=batch.cond,
    )
    return Negatives(y=renoise(batch, y), chain=y, stats=chain_stats(stats))


def problems(batch: MiningBatch, index: slice) -> MiningBatch:
    """The same batch restricted to the problems `index` of every seed."""
    return dataclasses.replace(
        batch,
        x=batch.x[:, index],
        cond=batch.cond.select(index),
        y0=batch.y0[:, index],
        t=batch.t[:, index],
        eps=batch.eps[:, index],
        start=batch.start[:, index],
    )


def no_negatives(batch: MiningBatch) -> None:
    """Strategy `none`: pure denoising, no energy-landscape term."""
    return None


def random_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `random`: the start, rescaled and re-noised, with no optimisation."""
    return Negatives(y=renoise(batch, batch.start), chain=batch.start)


def adversarial_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `adversarial` (the reference): energy DEScent to points the model already likes."""
    return descend(batch, ascend=False)


def ascent_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `ascent`: true energy maximisation, accepting only uphill moves."""
    return descend(batch, ascend=True)


def mixed_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `mixed`: the first `mixed_ratio` share of each seed's batch adversarial, the rest random."""
    k = round(batch.cfg.mixed_ratio * batch.t.shape[1])
    empty = batch.y0[:, :0]
    hard = adversarial_negatives(problems(batch, slice(0, k))) if k > 0 else Negatives(y=empty, chain=empty)
    easy = random_negatives(problems(batch, slice(k, None)))
    return Negatives(
        y=torch.cat([hard.y, easy.y], dim=1), chain=torch.cat([hard.chain, easy.chain], dim=1), stats=hard.stats
    )


def langevin_negatives(batch: MiningBatch) -> Negatives:
    """Strategy `langevin` (spec section 9): `langevin_steps` Langevin moves from the start, not re-noised."""
    cfg = batch.cfg
    options = LangevinOptions(
        steps=cfg.langevin_steps,
        step_scale=cfg.langevin_step_scale,
        sigma_scale=cfg.langevin_sigma_scale,
        clamp=cfg.langevin_clamp,
    )
    y, stats = langevin_chain(
        batch.model, batch.sched, batch.cond, batch.start, batch.t, options=options, generators=batch.generators
    )
    return Negatives(y=y, chain=y, stats=chain_stats(stats))


STRATEGIES: dict[str, Strategy] = {
    "none": no_negatives,
    "random": random_negatives,
    "adversarial": adversarial_negatives,
    "ascent": ascent_negatives,
    "mixed": mixed_negatives,
    "langevin": langevin_negatives,
}
