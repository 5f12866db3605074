"""The energy-landscape term of the training loss (docs/method.md §5 and 9), per problem.

    term = weight(step) * w * l,   l = softplus(E_pos - E_neg)   (nce, the reference)
                                   l = E_pos - E_neg             (cd: its batch mean is mean E(pos) - mean E(neg))

The negatives are detached (no gradient through the mining chain). `w` is 1 except
outside the t range [energy_t_min T, energy_t_max T] (0; T = diffusion_steps) and for
negatives the residual false-negative filter catches (`filter_weight`: 0 drops them).
`weight(step)` warms up linearly from 0 to `energy_weight` over the first `energy_warmup`
share of `train_steps`.
`energy_l2 > 0` adds the energy-magnitude penalty energy_l2 * (E_pos^2 + E_neg^2) to l:
not in the spec, but CD's loss is unbounded below and the penalty keeps energies finite
(as in Du & Mordatch 2019).
With the defaults (nce, no filter, full t range, no warm-up) the term is exactly the
reference's `energy_weight * L_energy`.

    python -m tune_ired.train --budget tiny --set preset=Q-204 --out /tmp/q204   # CD, filter, schedule
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tune_ired.ired.config import EnergyLoss
from tune_ired.ired.data import residual
from tune_ired.ired.diffusion import predict_y0, q_sample
from tune_ired.ired.mining import MiningBatch, Negatives
from tune_ired.record import catalogue as K

PERCENT = 100.0  # filter_percentile is in percent
FALSE_NEGATIVE_MSE = (
    0.01  # docs/method.md §10: a negative this close (MSE) to its positive is a false negative
)


def nce_loss(e_pos: torch.Tensor, e_neg: torch.Tensor) -> torch.Tensor:
    """cross_entropy(logits=[-E_pos, -E_neg], target=positive) per problem: softplus(E_pos - E_neg)."""
    return F.softplus(e_pos - e_neg)


def cd_loss(e_pos: torch.Tensor, e_neg: torch.Tensor) -> torch.Tensor:
    """Contrastive divergence per problem, E_pos - E_neg: lowers positives' energy, raises negatives'."""
    return e_pos - e_neg


ENERGY_LOSSES: dict[EnergyLoss, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    EnergyLoss.NCE: nce_loss,
    EnergyLoss.CD: cd_loss,
}


@dataclass(frozen=True)
class EnergyLossOptions:
    """The energy term's knobs (docs/method.md §5 and 9): config keys, filled by `tune_ired.ired.config.options`."""

    energy_loss: EnergyLoss
    energy_weight: float  # after the warm-up
    energy_warmup: float  # share of train_steps
    train_steps: int
    energy_t_min: float  # the t range [energy_t_min T, energy_t_max T] that gets the term
    energy_t_max: float
    diffusion_steps: int  # T
    filter_percentile: float
    filter_per_t: bool
    filter_weight: float
    energy_l2: float


def energy_weight_at(step: int, options: EnergyLossOptions) -> float:
    """The energy weight at optimiser step `step`: linear warm-up over energy_warmup * train_steps."""
    warmup_steps = options.energy_warmup * options.train_steps
    if warmup_steps <= 0:
        return options.energy_weight
    return options.energy_weight * min(1.0, step / warmup_steps)


def in_t_range(t: torch.Tensor, options: EnergyLossOptions) -> torch.Tensor:
    """Which problems' steps t lie in [energy_t_min T, energy_t_max T]."""
    steps = options.diffusion_steps
    return (t >= options.energy_t_min * steps) & (t <= options.energy_t_max * steps)


def false_negative_rate(y_neg: torch.Tensor, y_pos: torch.Tensor) -> torch.Tensor:
    """Share of each seed's negatives within MSE FALSE_NEGATIVE_MSE of their positives, (S,)."""
    return ((y_neg - y_pos).pow(2).mean(dim=-1) < FALSE_NEGATIVE_MSE).float().mean(dim=-1)


def below_percentile(
    values: torch.Tensor, t: torch.Tensor, *, percentile: float, steps: int | None = None
) -> torch.Tensor:
    """Which values (S, B) lie strictly below the `percentile` of their seed's batch, or of their t group.

    With `steps` (T) each seed's problems are grouped by their t in 0..T-1; else by seed only.
    """
    q = percentile / PERCENT
    if steps is None:
        return values < torch.quantile(values, q, dim=-1, keepdim=True)
    groups = F.one_hot(t, steps).transpose(1, 2).bool()  # (S, T, B)
    grouped = torch.where(groups, values[:, None, :], torch.nan)
    thresholds = torch.nanquantile(grouped, q, dim=-1)  # (S, T); nan for empty groups
    return values < thresholds.gather(1, t)


def problem_weights(
    batch: MiningBatch, negatives: torch.Tensor, options: EnergyLossOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-problem weights w (S, B) of the energy term, and which negatives the residual filter caught.

    The filter judges a negative's clean candidate relative to the positive's noise,
    Y = y0_hat(y_neg, t, eps) (the mined clean estimate, for re-noised negatives), by
    ||A Y - I||_F: a small residual means the "negative" is nearly a solution.
    """
    weights = in_t_range(batch.t, options).to(negatives.dtype)
    caught = torch.zeros_like(batch.t, dtype=torch.bool)
    if options.filter_percentile > 0:
        candidate = predict_y0(batch.sched, negatives, batch.t, batch.eps)
        steps = batch.sched.steps if options.filter_per_t else None
        residuals = residual(batch.x, candidate)
        caught = below_percentile(
            residuals, batch.t, percentile=options.filter_percentile, steps=steps
        )
        weights = torch.where(caught, options.filter_weight * weights, weights)
    return weights, caught


def energy_term(
    batch: MiningBatch, mined: Negatives, *, step: int, options: EnergyLossOptions
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted energy term per problem (S, B) and its per-seed metrics (S,)."""
    y_pos = q_sample(batch.sched, batch.y0, batch.t, batch.eps)
    e_pos, e_neg = batch.model.energy(batch.cond, y_pos), batch.model.energy(batch.cond, mined.y)
    weights, caught = problem_weights(batch, mined.y, options)
    per_problem = ENERGY_LOSSES[options.energy_loss](e_pos, e_neg)
    if options.energy_l2 > 0:
        per_problem = per_problem + options.energy_l2 * (e_pos.pow(2) + e_neg.pow(2))
    weighted = weights * per_problem
    weight = energy_weight_at(step, options)
    metrics = {
        K.TRAIN_LOSS_ENERGY: weighted.detach().mean(dim=-1),
        K.MINE_ENERGY_POS: e_pos.detach().mean(dim=-1),
        K.MINE_ENERGY_NEG: e_neg.detach().mean(dim=-1),
        K.MINE_ENERGY_GAP: (e_neg - e_pos).detach().mean(dim=-1),
        K.MINE_FALSE_NEGATIVE_RATE: false_negative_rate(mined.y, y_pos),
        K.MINE_FILTER_SHARE: caught.float().mean(dim=-1),
        K.MINE_ENERGY_WEIGHT: torch.full_like(e_pos[:, 0], weight).detach(),
    }
    return weight * weighted, metrics
