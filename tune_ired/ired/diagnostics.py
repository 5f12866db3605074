"""Mining diagnostics at evaluation (docs/method.md §10): the conditioning of positives vs negatives.

(The training-time false-negative rate lives with the energy term, `tune_ired.ired.energy_loss`.)
`mining_diagnostics` runs at each evaluation: it mines
negatives for a small fixed subset of the validation set with the live model and
summarises the conditioning of the positives' and negatives' clean candidates
Y = y0_hat(y, t, eps) (relative to the positive's noise eps, so a positive's Y is its true
inverse and a re-noised negative's Y its mined clean estimate): the share with det Y < 0,
log|det Y|, log10 of the condition number, and the smallest singular values of Y and of
A Y, as quantiles over the subset, under keys such as `mine/neg_log10_cond_q50`. Its t
and noise come from generators seeded afresh each time (never the training streams),
and the replay buffer is only read. Non-finite candidates (a diverging model) give NaN
statistics for their problems, never an error: the run then ends as diverged, not crashed.

    python -m tune_ired.train --budget tiny --out /tmp/diag   # metrics.jsonl rows hold mine/...
"""

from __future__ import annotations

import torch

from tune_ired.ired.data import Problems, Stream, make_generator
from tune_ired.ired.diffusion import Schedule, predict_y0, q_sample
from tune_ired.ired.mining import Miner, MiningOptions, mine
from tune_ired.ired.model import EnergyModel
from tune_ired.ired.noise import seed_randint, seed_randn
from tune_ired.ired.replay import ReplayBuffer
from tune_ired.record import catalogue as K

DIAG_SIZE = 64  # problems in the conditioning subset: enough for quantiles, few SVDs per evaluation


def summarise(role: str, stat: str, values: torch.Tensor) -> dict[str, torch.Tensor]:
    """Quantiles over problems of values (S, B), each (S,), under their catalogue keys."""
    return {
        K.conditioning_key(role, stat, label): torch.nanquantile(values, q, dim=-1)
        for label, q in K.CONDITIONING_QUANTILES.items()
    }


def finite_or_nan(matrices: torch.Tensor, compute) -> torch.Tensor:
    """compute(matrices) per matrix (..., n, n), NaN (and not computed) where a matrix holds a NaN or inf."""
    finite = torch.isfinite(matrices).all(dim=-1).all(dim=-1)
    eye = torch.eye(matrices.shape[-1], device=matrices.device, dtype=matrices.dtype)
    values = compute(torch.where(finite[..., None, None], matrices, eye))
    mask = finite.view(*finite.shape, *([1] * (values.dim() - finite.dim())))
    return torch.where(mask, values, torch.nan)


def conditioning(x: torch.Tensor, y: torch.Tensor, *, role: str) -> dict[str, torch.Tensor]:
    """Conditioning statistics of candidates y (S, B, n*n) for inputs x = vec(A), per seed.

    A candidate (or its A Y) holding a NaN or inf gets NaN statistics: LAPACK is never given one.
    """
    n = round(x.shape[-1] ** 0.5)
    a = x.reshape(*x.shape[:-1], n, n)
    yy = y.reshape(*y.shape[:-1], n, n)
    sign, logabsdet = finite_or_nan(
        yy, lambda m: torch.stack(torch.linalg.slogdet(m), dim=-1)
    ).unbind(dim=-1)
    singular = finite_or_nan(yy, torch.linalg.svdvals)
    stats = {
        "logabsdet": logabsdet,
        "log10_cond": torch.log10(singular[..., 0] / singular[..., -1]),
        "smin_y": singular[..., -1],
        "smin_ay": finite_or_nan(a @ yy, torch.linalg.svdvals)[..., -1],
    }
    negative = torch.where(sign.isnan(), torch.nan, (sign < 0).to(sign.dtype))
    out = {K.conditioning_key(role, "det_negative"): negative.nanmean(dim=-1)}
    for stat in K.CONDITIONING_STATS:
        out |= summarise(role, stat, stats[stat])
    return out


def mining_diagnostics(
    model: EnergyModel,
    sched: Schedule,
    problems: Problems,
    *,
    seeds: list[int],
    miner: Miner,
    options: MiningOptions,
    replay: ReplayBuffer | None,
) -> dict[str, torch.Tensor]:
    """Conditioning of positives vs mined negatives on the first DIAG_SIZE fixed problems, per seed."""
    x, y0 = (v[:DIAG_SIZE].expand(len(seeds), -1, -1) for v in (problems.x, problems.y0))
    generators = [make_generator(x.device, seed, Stream.DIAG) for seed in seeds]
    t = seed_randint(generators, sched.steps, (x.shape[1],))
    eps = seed_randn(generators, tuple(x.shape[1:]))
    _, mined, _ = mine(
        model,
        sched,
        Problems(x=x, y0=y0),
        t=t,
        eps=eps,
        generators=generators,
        options=options,
        miner=miner,
        replay=replay,
    )
    if mined is None:
        return {}
    y_pos = q_sample(sched, y0, t, eps)
    with torch.no_grad():
        positives = predict_y0(sched, y_pos, t, eps)
        negatives = predict_y0(sched, mined.y, t, eps)
        return conditioning(x, positives, role="pos") | conditioning(x, negatives, role="neg")
