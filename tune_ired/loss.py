"""The IRED training loss for one batch (spec section 5), per seed.

    total = mean(L_mse + energy_weight * L_energy)

L_mse trains E through its gradient (the noise prediction dE/dy, with create_graph);
L_energy is the NCE cross-entropy between a positive and a mined negative, whose
strategy comes from `mining.STRATEGIES`. Random draws come from each seed's own noise
generator in a fixed order (t, eps, eps2), so every seed's stream is independent of S.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tune_ired.config import Config
from tune_ired.data import Problems
from tune_ired.diffusion import Schedule, q_sample
from tune_ired.mining import STRATEGIES, MiningBatch
from tune_ired.model import EnergyModel, energy_and_grad


@dataclass(frozen=True)
class LossOutput:
    """The loss to minimise (summed over seeds) and per-seed metrics, each of shape (S,)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


def seed_randn(generators: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal noise of `shape` per seed, stacked: (S, *shape)."""
    return torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators])


def seed_randint(generators: list[torch.Generator], high: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform integers in [0, high) of `shape` per seed, stacked: (S, *shape)."""
    return torch.stack([torch.randint(high, shape, generator=g, device=g.device) for g in generators])


def nce_loss(e_pos: torch.Tensor, e_neg: torch.Tensor) -> torch.Tensor:
    """cross_entropy(logits=[-E_pos, -E_neg], target=positive) per problem: softplus(E_pos - E_neg)."""
    return F.softplus(e_pos - e_neg)


def training_loss(
    model: EnergyModel, sched: Schedule, cfg: Config, problems: Problems, generators: list[torch.Generator]
) -> LossOutput:
    """The loss of one batch (S, B, d) for the model's S seeds, with per-seed metrics."""
    _, b, d = problems.y0.shape
    t = seed_randint(generators, sched.steps, (b,))
    eps = seed_randn(generators, (b, d))
    y_t = q_sample(sched, problems.y0, t, eps)
    _, eps_hat = energy_and_grad(model, problems.x, y_t, t, create_graph=True)
    loss_denoise = (eps_hat - eps).pow(2).mean(dim=-1)
    metrics = {"train/loss_denoise": loss_denoise.detach().mean(dim=-1)}
    eps2 = seed_randn(generators, (b, d))
    mined = STRATEGIES[cfg.strategy](MiningBatch(model, sched, cfg, problems.x, problems.y0, t, eps2))
    if mined is None:
        total = loss_denoise.mean(dim=-1)
    else:
        y_pos = q_sample(sched, problems.y0, t, eps2)
        energies = model(problems.x.repeat(1, 2, 1), torch.cat([y_pos, mined.y], dim=1), t.repeat(1, 2))
        e_pos, e_neg = energies.split(b, dim=1)
        loss_energy = nce_loss(e_pos, e_neg)
        total = (loss_denoise + cfg.energy_weight * loss_energy).mean(dim=-1)
        metrics["train/loss_energy"] = loss_energy.detach().mean(dim=-1)
        metrics["mine/energy_pos"] = e_pos.detach().mean(dim=-1)
        metrics["mine/energy_neg"] = e_neg.detach().mean(dim=-1)
        metrics["mine/energy_gap"] = (e_neg - e_pos).detach().mean(dim=-1)
        metrics.update(mined.stats)
    metrics["train/loss"] = total.detach()
    return LossOutput(loss=total.sum(), metrics=metrics)
