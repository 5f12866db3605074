"""Negative mining strategies for the energy-landscape loss (docs/method.md §5 and 8).

Each strategy is a small function registered in `STRATEGIES` under its `config.Strategy`
member (the config's `strategy` choices): it receives the batch (`MiningBatch`, whose `start` is the
chains' starting point, fresh or from the replay buffer) and, as keyword arguments, exactly
the knobs it uses (fields of `MiningOptions`, named as the config keys), and returns the
negatives with per-seed diagnostics. `options(MiningOptions, cfg).miner()` binds a strategy to
its knobs once (`tune_ired.ired.config.options`). `none` mines nothing (the loss then has no
energy term); `langevin` is the corrected variant's sampler (docs/method.md §9,
`tune_ired.ired.langevin`). `mine` is the one mining call of the loss, the diagnostics and
the energy landscapes.

    python -m tune_ired.train --budget tiny --set strategy=mixed --set mixed_ratio=0.3 --out /tmp/mixed
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from tune_ired.ired.config import Strategy
from tune_ired.ired.data import Problems
from tune_ired.ired.diffusion import (
    TARGET_CLIP,
    DescentOptions,
    DescentStats,
    Schedule,
    opt_step,
    predict_y0,
    q_sample,
)
from tune_ired.ired.langevin import LangevinOptions, langevin_chain
from tune_ired.ired.model import Conditioning, EnergyModel
from tune_ired.ired.replay import ReplayBuffer
from tune_ired.record import catalogue as K


@dataclass(frozen=True)
class MiningBatch:
    """What a strategy may use: the model, the schedule and the batch's tensors."""

    model: EnergyModel
    sched: Schedule
    x: torch.Tensor  # (S, B, d) inputs
    cond: (
        Conditioning  # model.condition(x, t), shared with the loss's other passes (with its graph)
    )
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


Miner = Callable[[MiningBatch], Negatives | None]  # a strategy with its knobs bound


@dataclass(frozen=True)
class MiningOptions:
    """How negatives are mined: the strategy and every knob a strategy may take (docs/method.md §8-9).

    Fields are config keys (`tune_ired.ired.config.options` fills them), except the nested option
    objects `descent` and `langevin`.
    """

    strategy: Strategy
    noise_scale: float  # chains start at q(y0, t, noise_scale * eps)
    opt_steps: int
    ascent_lr: float  # the multiplier sf of the first descent (or ascent) move
    mixed_ratio: float
    descent: DescentOptions
    langevin: LangevinOptions
    replay_prob: float

    def miner(self) -> Miner:
        """The strategy with the knobs its keyword-only parameters name bound from these options."""
        strategy = STRATEGIES[self.strategy]
        names = [
            p.name
            for p in inspect.signature(strategy).parameters.values()
            if p.kind is p.KEYWORD_ONLY
        ]
        return functools.partial(strategy, **{name: getattr(self, name) for name in names})


def make_batch(
    model: EnergyModel,
    sched: Schedule,
    *,
    problems: Problems,
    cond: Conditioning,
    t: torch.Tensor,
    eps: torch.Tensor,
    generators: list[torch.Generator],
    options: MiningOptions,
    replay: ReplayBuffer | None,
) -> tuple[MiningBatch, dict[str, torch.Tensor]]:
    """The mining batch, whose chains start at q(y0, t, noise_scale * eps) or from the replay buffer.

    `cond` is `model.condition(problems.x, t)`, computed once by the caller for all passes.
    Returns the batch and the replay diagnostics (empty when replay is off); the buffer is only read.
    """
    start = q_sample(sched, problems.y0, t, options.noise_scale * eps)
    stats = {}
    if replay is not None:
        start, reused = replay.draw(start, t, prob=options.replay_prob, generators=generators)
        stats = {
            K.MINE_REPLAY_REUSE: reused.float().mean(dim=-1),
            K.MINE_REPLAY_FILL: replay.fill_share(),
        }
    return MiningBatch(
        model, sched, problems.x, cond, problems.y0, t, eps, start, generators
    ), stats


def mine(
    model: EnergyModel,
    sched: Schedule,
    problems: Problems,
    *,
    t: torch.Tensor,
    eps: torch.Tensor,
    generators: list[torch.Generator],
    options: MiningOptions,
    miner: Miner,
    replay: ReplayBuffer | None,
    cond: Conditioning | None = None,
) -> tuple[MiningBatch, Negatives | None, dict[str, torch.Tensor]]:
    """Mine negatives for `problems` at steps t: the one mining call of the loss, the diagnostics and the
    energy landscapes.

    The chains start at q(y0, t, noise_scale * eps), or from the replay buffer (`make_batch`), and
    `miner` (`options.miner()`) moves them. `cond` is the caller's `model.condition(x, t)` when it
    has one (the training step shares it, with its graph); else it is computed here, without one.
    Returns the batch, the negatives (None for strategy `none`) and the replay diagnostics.
    """
    if cond is None:
        with torch.no_grad():
            cond = model.condition(problems.x, t)
    batch, replay_stats = make_batch(
        model,
        sched,
        problems=problems,
        cond=cond,
        t=t,
        eps=eps,
        generators=generators,
        options=options,
        replay=replay,
    )
    return batch, miner(batch), replay_stats


def renoise(batch: MiningBatch, y_neg: torch.Tensor) -> torch.Tensor:
    """Rescale a negative to its clean estimate (clamped) and re-noise it with the positives' eps."""
    n0 = torch.clamp(predict_y0(batch.sched, y_neg, batch.t, 0.0), -TARGET_CLIP, TARGET_CLIP)
    return q_sample(batch.sched, n0, batch.t, batch.eps)


def chain_stats(stats: DescentStats) -> dict[str, torch.Tensor]:
    """A mining chain's per-seed diagnostics under their metric keys."""
    return {
        K.MINE_GRAD_NORM: stats.grad_norm,
        K.MINE_STEP_DISTANCE: stats.step_distance,
        K.MINE_REJECT_SHARE: stats.reject_share,
    }


def descend(
    batch: MiningBatch, *, opt_steps: int, ascent_lr: float, descent: DescentOptions, ascend: bool
) -> Negatives:
    """Negatives mined by `opt_steps` energy-descent (`ascend`: ascent) moves from the start, then re-noised."""
    y, stats = opt_step(
        batch.model,
        batch.sched,
        batch.x,
        batch.start,
        batch.t,
        steps=opt_steps,
        multiplier=ascent_lr,
        options=descent,
        ascend=ascend,
        cond=batch.cond,
    )
    return Negatives(y=renoise(batch, y), chain=y, stats=chain_stats(stats))


def restrict(batch: MiningBatch, index: slice) -> MiningBatch:
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


def adversarial_negatives(
    batch: MiningBatch, *, opt_steps: int, ascent_lr: float, descent: DescentOptions
) -> Negatives:
    """Strategy `adversarial` (the reference): energy DEScent to points the model already likes."""
    return descend(batch, opt_steps=opt_steps, ascent_lr=ascent_lr, descent=descent, ascend=False)


def ascent_negatives(
    batch: MiningBatch, *, opt_steps: int, ascent_lr: float, descent: DescentOptions
) -> Negatives:
    """Strategy `ascent`: true energy maximisation, accepting only uphill moves."""
    return descend(batch, opt_steps=opt_steps, ascent_lr=ascent_lr, descent=descent, ascend=True)


def mixed_negatives(
    batch: MiningBatch,
    *,
    mixed_ratio: float,
    opt_steps: int,
    ascent_lr: float,
    descent: DescentOptions,
) -> Negatives:
    """Strategy `mixed`: the first `mixed_ratio` share of each seed's batch adversarial, the rest random."""
    k = round(mixed_ratio * batch.t.shape[1])
    empty = batch.y0[:, :0]
    hard = (
        adversarial_negatives(
            restrict(batch, slice(0, k)), opt_steps=opt_steps, ascent_lr=ascent_lr, descent=descent
        )
        if k > 0
        else Negatives(y=empty, chain=empty)
    )
    easy = random_negatives(restrict(batch, slice(k, None)))
    return Negatives(
        y=torch.cat([hard.y, easy.y], dim=1),
        chain=torch.cat([hard.chain, easy.chain], dim=1),
        stats=hard.stats,
    )


def langevin_negatives(batch: MiningBatch, *, langevin: LangevinOptions) -> Negatives:
    """Strategy `langevin` (docs/method.md §9): `langevin_steps` Langevin moves from the start, not re-noised."""
    y, stats = langevin_chain(
        batch.model,
        batch.sched,
        batch.cond,
        batch.start,
        batch.t,
        options=langevin,
        generators=batch.generators,
    )
    return Negatives(y=y, chain=y, stats=chain_stats(stats))


STRATEGIES: dict[Strategy, Callable[..., Negatives | None]] = {
    Strategy.NONE: no_negatives,
    Strategy.RANDOM: random_negatives,
    Strategy.ADVERSARIAL: adversarial_negatives,
    Strategy.ASCENT: ascent_negatives,
    Strategy.MIXED: mixed_negatives,
    Strategy.LANGEVIN: langevin_negatives,
}
