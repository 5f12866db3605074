"""The IRED training loss for one batch (docs/method.md §5 and 9), per seed.

    total = mean(L_mse + energy term)

L_mse trains E through its gradient (the noise prediction dE/dy, with create_graph).
The energy term (`tune_ired.ired.energy_loss`: NCE or CD, filter, weight schedule) compares a
positive with a negative mined by the bound strategy (`MiningOptions.miner()`), whose
chains start fresh or from the replay buffer (`tune_ired.ired.replay`), which then stores their
end states. Random draws come from each seed's own noise generator in a fixed order
(t, eps, eps2, then replay choices and Langevin noise when those are on), so every seed's
stream is independent of S.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tune_ired.ired.data import Problems
from tune_ired.ired.diffusion import Schedule, q_sample
from tune_ired.ired.energy_loss import EnergyLossOptions, energy_term
from tune_ired.ired.mining import Miner, MiningOptions, mine
from tune_ired.ired.model import EnergyModel
from tune_ired.ired.noise import seed_randint, seed_randn
from tune_ired.ired.replay import ReplayBuffer
from tune_ired.record import catalogue as K


@dataclass(frozen=True)
class LossOptions:
    """The knobs of the loss: how negatives are mined and how the energy term weighs them.

    Built from a config by `tune_ired.ired.config.options(LossOptions, cfg)`.
    """

    mining: MiningOptions
    energy: EnergyLossOptions


@dataclass(frozen=True)
class LossOutput:
    """The loss to minimise (summed over seeds) and per-seed metrics, each of shape (S,)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


def training_loss(
    model: EnergyModel,
    sched: Schedule,
    problems: Problems,
    *,
    generators: list[torch.Generator],
    options: LossOptions,
    miner: Miner,
    step: int = 0,
    replay: ReplayBuffer | None = None,
) -> LossOutput:
    """The loss of one batch (S, B, d) for the model's S seeds at optimiser step `step`, with per-seed metrics.

    `miner` is `options.mining.miner()`, bound once by the caller. `replay` (when on) supplies
    chain starts and receives the mined chains' end states.
    """
    _, b, d = problems.y0.shape
    t = seed_randint(generators, sched.steps, (b,))
    eps = seed_randn(generators, (b, d))
    y_t = q_sample(sched, problems.y0, t, eps)
    # shared by the denoising pass, the mining chain and the energy term
    cond = model.condition(problems.x, t)
    _, eps_hat = model.energy_and_grad_given(cond, y_t)
    per_problem = (eps_hat - eps).pow(2).mean(dim=-1)
    metrics = {K.TRAIN_LOSS_DENOISE: per_problem.detach().mean(dim=-1)}
    eps2 = seed_randn(generators, (b, d))
    batch, mined, replay_stats = mine(
        model,
        sched,
        problems,
        t=t,
        eps=eps2,
        generators=generators,
        options=options.mining,
        miner=miner,
        replay=replay,
        cond=cond,
    )
    if mined is not None:
        term, energy_metrics = energy_term(batch, mined, step=step, options=options.energy)
        per_problem = per_problem + term
        metrics.update(energy_metrics | mined.stats | replay_stats)
        if replay is not None:
            replay.push(mined.chain, t)
    total = per_problem.mean(dim=-1)
    metrics[K.TRAIN_LOSS] = total.detach()
    return LossOutput(loss=total.sum(), metrics=metrics)
