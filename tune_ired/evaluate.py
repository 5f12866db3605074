"""Evaluation metrics on a fixed problem set (spec section 7), per seed.

Samples candidate inverses with the full IRED sampler and scores them: MSE against the
true inverse, the residual ||A Y - I||_F (raw and divided by n), and per-element
accuracy. The sampler's starting noise comes from a generator seeded afresh from the
config at every evaluation, the same for every seed, so evaluation never touches the
training streams and two evaluations of the same weights give the same numbers.
"""

from __future__ import annotations

import torch

from tune_ired.config import Config
from tune_ired.data import Problems, make_generator, residual
from tune_ired.diffusion import Schedule, sample
from tune_ired.mining import descent_options
from tune_ired.model import EnergyModel

EVAL_STREAM = 4  # stream key of the sampler's starting noise at evaluation


def score(problems: Problems, y: torch.Tensor, *, acc_tol: float) -> dict[str, torch.Tensor]:
    """MSE, residual and element accuracy of candidates y (S, B, d) for fixed problems (B, d)."""
    err = y - problems.y0
    res = residual(problems.x, y)
    return {
        "mse": err.pow(2).mean(dim=(-1, -2)),
        "residual": res.mean(dim=-1),
        "residual_norm": res.mean(dim=-1) / problems.n,
        "elem_acc": (err.abs() <= acc_tol).float().mean(dim=(-1, -2)),
    }


def sample_candidates(model: EnergyModel, sched: Schedule, cfg: Config, problems: Problems) -> torch.Tensor:
    """Sampled candidates (S, B, d) for the fixed problems (B, d), one set per seed of the model."""
    seeds = model.l1.weight.shape[0]
    generator = make_generator(problems.x.device, cfg.val_seed, EVAL_STREAM)
    start = torch.randn(problems.x.shape, generator=generator, device=problems.x.device)
    x = problems.x.expand(seeds, -1, -1)
    return sample(
        model,
        sched,
        x,
        start=start.expand(seeds, -1, -1),
        opt_steps=cfg.sample_opt_steps,
        options=descent_options(cfg),
        shrink=cfg.ref_sample_shrink,
    )


def evaluate(model: EnergyModel, sched: Schedule, cfg: Config, problems: Problems) -> dict[str, torch.Tensor]:
    """Scores of the model's samples on `problems`, each of shape (S,)."""
    return score(problems, sample_candidates(model, sched, cfg, problems), acc_tol=cfg.acc_tol)
