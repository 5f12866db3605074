"""Evaluation metrics on a fixed problem set (docs/method.md §7), per seed.

Samples candidate inverses with the full IRED sampler and scores them: MSE against the
true inverse, the residual ||A Y - I||_F (raw and divided by n), and per-element
accuracy. The sampler's starting noise comes from a generator seeded afresh from
`val_seed` at every evaluation, the same for every seed, so evaluation never touches the
training streams and two evaluations of the same weights give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tune_ired.ired.data import Problems, Stream, make_generator, residual
from tune_ired.ired.diffusion import DescentOptions, Schedule, sample
from tune_ired.ired.model import EnergyModel


@dataclass(frozen=True)
class EvalOptions:
    """How candidates are sampled and scored (docs/method.md §6-7): config keys, by `tune_ired.ired.config.options`."""

    sample_opt_steps: int  # energy-descent steps per diffusion step
    descent: DescentOptions
    ref_sample_shrink: bool  # reference quirk: return sqrt(abar_0) * x0
    acc_tol: float
    val_seed: int  # also the seed of the sampler's starting noise


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


def sample_candidates(
    model: EnergyModel, sched: Schedule, problems: Problems, *, options: EvalOptions
) -> torch.Tensor:
    """Sampled candidates (S, B, d) for the fixed problems (B, d), one set per seed of the model."""
    generator = make_generator(problems.x.device, options.val_seed, Stream.EVAL)
    start = torch.randn(problems.x.shape, generator=generator, device=problems.x.device)
    x = problems.x.expand(model.num_seeds, -1, -1)
    return sample(
        model,
        sched,
        x,
        start=start.expand(model.num_seeds, -1, -1),
        opt_steps=options.sample_opt_steps,
        options=options.descent,
        shrink=options.ref_sample_shrink,
    )


def evaluate(
    model: EnergyModel, sched: Schedule, problems: Problems, *, options: EvalOptions
) -> dict[str, torch.Tensor]:
    """Scores of the model's samples on `problems` (keys mse, residual, residual_norm, elem_acc), each (S,)."""
    return score(
        problems,
        sample_candidates(model, sched, problems, options=options),
        acc_tol=options.acc_tol,
    )
