"""Mining diagnostics (spec section 10): false negatives in training, conditioning at evaluation.

`false_negative_rate` is cheap and logged at every training step (the row holds its mean
since the last evaluation). `mining_diagnostics` runs at each evaluation: it mines
negatives for a small fixed subset of the validation set with the live model and
summarises the conditioning of the positives' and negatives' clean candidates
Y = y0_hat(y, t, eps) (relative to the positive's noise eps, so a positive's Y is its true
inverse and a re-noised negative's Y its mined clean estimate): the share with det Y < 0,
log|det Y|, log10 of the condition number, and the smallest singular values of Y and of
A Y, as quantiles over the subset, under keys such as `mine/neg_log10_cond_q50`. Its t
and noise come from generators seeded afresh each time (never the training streams),
and the replay buffer is only read.

    python -m tune_ired.train --budget tiny --out /tmp/diag   # metrics.jsonl rows hold mine/...
"""

from __future__ import annotations

import torch

from tune_ired.config import Config
from tune_ired.data import Problems, make_generator
from tune_ired.diffusion import Schedule, predict_y0, q_sample
from tune_ired.mining import STRATEGIES, make_batch
from tune_ired.model import EnergyModel
from tune_ired.noise import seed_randint, seed_randn
from tune_ired.replay import ReplayBuffer

FALSE_NEGATIVE_MSE = 0.01  # spec section 10: a negative this close (MSE) to its positive is a false negative
DIAG_SIZE = 64  # problems in the conditioning subset: enough for quantiles, few SVDs per evaluation
DIAG_STREAM = 5  # stream key of the diagnostics' generators (training uses 2 and 3, evaluation 4)
QUANTILES = {"q10": 0.1, "q50": 0.5, "q90": 0.9}


def false_negative_rate(y_neg: torch.Tensor, y_pos: torch.Tensor) -> torch.Tensor:
    """Share of each seed's negatives within MSE FALSE_NEGATIVE_MSE of their positives, (S,)."""
    return ((y_neg - y_pos).pow(2).mean(dim=-1) < FALSE_NEGATIVE_MSE).float().mean(dim=-1)


def summarise(key: str, values: torch.Tensor) -> dict[str, torch.Tensor]:
    """Quantiles over problems of values (S, B), each (S,), under `{key}_{q}`."""
    return {f"{key}_{label}": torch.nanquantile(values, q, dim=-1) for label, q in QUANTILES.items()}


def conditioning(x: torch.Tensor, y: torch.Tensor, *, role: str) -> dict[str, torch.Tensor]:
    """Conditioning statistics of candidates y (S, B, n*n) for inputs x = vec(A), per seed."""
    n = round(x.shape[-1] ** 0.5)
    a = x.reshape(*x.shape[:-1], n, n)
    yy = y.reshape(*y.shape[:-1], n, n)
    sign, logabsdet = torch.linalg.slogdet(yy)
    singular = torch.linalg.svdvals(yy)
    singular_ay = torch.linalg.svdvals(a @ yy)
    prefix = f"mine/{role}"
    return {
        f"{prefix}_det_negative": (sign < 0).float().mean(dim=-1),
        **summarise(f"{prefix}_logabsdet", logabsdet),
        **summarise(f"{prefix}_log10_cond", torch.log10(singular[..., 0] / singular[..., -1])),
        **summarise(f"{prefix}_smin_y", singular[..., -1]),
        **summarise(f"{prefix}_smin_ay", singular_ay[..., -1]),
    }


def mining_diagnostics(
    model: EnergyModel, sched: Schedule, cfg: Config, problems: Problems, *, replay: ReplayBuffer | None
) -> dict[str, torch.Tensor]:
    """Conditioning of positives vs mined negatives on the first DIAG_SIZE fixed problems, per seed."""
    seeds = model.l1.weight.shape[0]
    x, y0 = (v[:DIAG_SIZE].expand(seeds, -1, -1) for v in (problems.x, problems.y0))
    generators = [make_generator(x.device, seed, DIAG_STREAM) for seed in cfg.seeds]
    t = seed_randint(generators, sched.steps, (x.shape[1],))
    eps = seed_randn(generators, tuple(x.shape[1:]))
    with torch.no_grad():
        cond = model.condition(x, t)
    batch, _ = make_batch(
        model, sched, cfg, problems=Problems(x=x, y0=y0), cond=cond, t=t, eps=eps, generators=generators, replay=replay
    )
    mined = STRATEGIES[cfg.strategy](batch)
    if mined is None:
        return {}
    y_pos = q_sample(sched, y0, t, eps)
    with torch.no_grad():
        positives = predict_y0(sched, y_pos, t, eps)
        negatives = predict_y0(sched, mined.y, t, eps)
        return conditioning(x, positives, role="pos") | conditioning(x, negatives, role="neg")
