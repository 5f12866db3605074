"""Langevin negatives (docs/method.md §9): noisy energy descent that samples the model's own distribution.

    y <- y - eta * dE/dy + sigma * N(0, I),
    eta = langevin_step_scale * eta_t,   sigma = langevin_sigma_scale * sqrt(2 eta)

Unlike `diffusion.opt_step` (docs/method.md §4) no move is rejected: the chain is a sampler
of exp(-E(x, ., t)), whose end states are the negatives of contrastive divergence. With
the clamp (as image EBMs clamp samples to the pixel range) each iterate is kept in the range
the positives q(y0, t, eps) occupy, |y| <= c_t + NOISE_SDS * sqrt(1 - abar_t): without it,
persistent chains (the replay buffer) can run away to energies that overflow. The noise
comes from each seed's own generator (`noise.seed_randn`). The chain runs `langevin_steps`
moves; `langevin_clamp` turns the clamp on.

    python -m tune_ired.train --budget tiny --set strategy=langevin --set langevin_steps=10 --out /tmp/langevin
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tune_ired.ired.diffusion import DescentStats, Schedule, at
from tune_ired.ired.model import Conditioning, EnergyModel
from tune_ired.ired.noise import seed_randn

NOISE_SDS = 4.0  # a standard normal element exceeds 4 standard deviations with probability 6e-5


@dataclass(frozen=True)
class LangevinOptions:
    """The chain's length, its step and noise scales and its clamp (config keys, `config.options`)."""

    langevin_steps: int
    langevin_step_scale: float
    langevin_sigma_scale: float
    langevin_clamp: bool


def langevin_chain(
    model: EnergyModel,
    sched: Schedule,
    cond: Conditioning,
    y: torch.Tensor,
    t: torch.Tensor,
    *,
    options: LangevinOptions,
    generators: list[torch.Generator],
) -> tuple[torch.Tensor, DescentStats]:
    """`options.langevin_steps` Langevin moves from y (S, B, d) at steps t (S, B) under `model.condition(x, t)`.

    Returns detached y and stats.
    """
    cond = cond.detach()
    eta = options.langevin_step_scale * at(sched.step_sizes, t)
    sigma = options.langevin_sigma_scale * (2 * eta).sqrt()
    bound = at(sched.clip_values, t) + NOISE_SDS * at(sched.sqrt_one_minus_alphas_cumprod, t)
    zero = torch.zeros(y.shape[0], device=y.device)
    grad_norm, distance = zero.clone(), zero.clone()
    for _ in range(options.langevin_steps):
        with torch.no_grad():
            _, grad = model.energy_and_grad_given(cond, y)
        moved = y - eta * grad + sigma * seed_randn(generators, tuple(y.shape[1:]))
        if options.langevin_clamp:
            moved = torch.clamp(moved, -bound, bound)
        grad_norm += grad.norm(dim=-1).mean(dim=-1)
        distance += (moved - y).norm(dim=-1).mean(dim=-1)
        y = moved
    count = max(options.langevin_steps, 1)
    return y.detach(), DescentStats(grad_norm / count, distance / count, reject_share=zero)
