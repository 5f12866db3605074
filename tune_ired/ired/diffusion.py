"""The diffusion schedule, energy descent ("opt_step") and sampling (docs/method.md §3, 4, 6).

Schedule terms are named tensors (`alphas_cumprod`, `step_sizes`, `clip_values`, ...) so
the code reads like the equations. Step indices t are integer tensors of shape (S, B);
candidates y have shape (S, B, n*n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tune_ired.ired.model import Conditioning, EnergyModel

COSINE_OFFSET = 0.008  # s of the cosine schedule (Nichol & Dhariwal)
MAX_BETA = 0.999  # betas are clipped below 1 so that alpha_bar stays positive
TARGET_CLIP = 2.0  # clean estimates are clamped to [-2, 2], the reference's data range


class Schedule:
    """Cosine noise schedule with T steps and the derived IRED step sizes and clip values."""

    def __init__(self, steps: int, *, clip_scale: float, device: torch.device):
        u = torch.arange(steps + 1, dtype=torch.float64)
        abar = torch.cos(((u / steps) + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        abar = abar / abar[0]
        betas = torch.clip(1 - abar[1:] / abar[:-1], 0, MAX_BETA)
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.steps = steps
        self.betas = betas.float().to(device)
        self.alphas_cumprod = alphas_cumprod.float().to(device)
        self.sqrt_alphas_cumprod = alphas_cumprod.sqrt().float().to(device)
        self.sqrt_one_minus_alphas_cumprod = (1 - alphas_cumprod).sqrt().float().to(device)
        self.sqrt_recip_alphas_cumprod = (1 / alphas_cumprod).sqrt().float().to(device)
        self.sqrt_recipm1_alphas_cumprod = (1 / alphas_cumprod - 1).sqrt().float().to(device)
        self.step_sizes = (betas * (1 / (1 - alphas_cumprod)).sqrt()).float().to(device)
        self.clip_values = (clip_scale * alphas_cumprod.sqrt()).float().to(device)


def at(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Schedule values at steps t (S, B), shaped (S, B, 1) to broadcast over elements."""
    return values[t][..., None]


def q_sample(sched: Schedule, y0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Forward noising q(y0, t, eps) = sqrt(abar_t) y0 + sqrt(1 - abar_t) eps."""
    return at(sched.sqrt_alphas_cumprod, t) * y0 + at(sched.sqrt_one_minus_alphas_cumprod, t) * eps


def predict_y0(
    sched: Schedule, y_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor | float
) -> torch.Tensor:
    """The clean estimate y0_hat = sqrt(1/abar_t) y_t - sqrt(1/abar_t - 1) eps."""
    return (
        at(sched.sqrt_recip_alphas_cumprod, t) * y_t
        - at(sched.sqrt_recipm1_alphas_cumprod, t) * eps
    )


@dataclass(frozen=True)
class DescentOptions:
    """How energy descent behaves: the reference quirks (config keys of the same names, `config.options`)."""

    ref_multiplier_overwrite: bool  # steps after the first use multiplier clip_scale
    ref_first_t_clip: bool  # clip the whole batch by the first problem's t
    clip_scale: float


@dataclass(frozen=True)
class DescentStats:
    """Per-seed diagnostics of one energy descent, each of shape (S,)."""

    grad_norm: torch.Tensor  # mean ||dE/dy|| over steps and problems
    step_distance: torch.Tensor  # mean ||y_{k+1} - y_k|| between consecutive iterates
    reject_share: torch.Tensor  # share of proposed moves rejected


def clip_bound(sched: Schedule, t: torch.Tensor, *, ref_first_t_clip: bool) -> torch.Tensor:
    """Clip values c_t (S, B, 1); with ref_first_t_clip (reference quirk) every problem gets c of its seed's t[0]."""
    return at(sched.clip_values, t[:, :1].expand_as(t) if ref_first_t_clip else t)


def opt_step(
    model: EnergyModel,
    sched: Schedule,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    *,
    steps: int,
    multiplier: float,
    options: DescentOptions,
    ascend: bool = False,
    cond: Conditioning | None = None,
) -> tuple[torch.Tensor, DescentStats]:
    """`steps` energy-descent (`ascend`: ascent) moves from y at steps t; returns detached y and stats.

    A move that raises the energy (lowers it, when ascending) is rejected per problem.
    `cond`, when given, is `model.condition(x, t)` already computed (e.g. shared with the loss).
    """
    with torch.no_grad():
        cond = model.condition(x, t) if cond is None else cond.detach()
        y, stats = descend_given(
            model,
            sched,
            cond,
            y,
            t,
            steps=steps,
            multiplier=multiplier,
            options=options,
            ascend=ascend,
        )
    return y.detach(), stats


def descend_given(
    model: EnergyModel,
    sched: Schedule,
    cond: Conditioning,
    y: torch.Tensor,
    t: torch.Tensor,
    *,
    steps: int,
    multiplier: float,
    options: DescentOptions,
    ascend: bool = False,
) -> tuple[torch.Tensor, DescentStats]:
    """`opt_step` under a conditioning computed once for all moves (call without grad mode).

    The energy computed to judge a move is the next move's starting energy, and its
    gradient comes from the same pass, so each move costs one forward and backward (the
    last move only a forward).
    """
    sign = 1.0 if ascend else -1.0
    bound = clip_bound(sched, t, ref_first_t_clip=options.ref_first_t_clip)
    eta = at(sched.step_sizes, t)
    zero = torch.zeros(y.shape[0], device=y.device)
    grad_norm, distance, rejected = zero.clone(), zero.clone(), zero.clone()
    energy, grad = model.energy_and_grad_given(cond, y) if steps > 0 else (None, None)
    for k in range(steps):
        sf = options.clip_scale if (k > 0 and options.ref_multiplier_overwrite) else multiplier
        proposal = torch.clamp(y + sign * sf * eta * grad, -bound, bound)
        last = k == steps - 1
        if last:
            new_energy = model.energy(cond, proposal)
        else:
            new_energy, new_grad = model.energy_and_grad_given(cond, proposal)
        accept = new_energy >= energy if ascend else new_energy <= energy
        grad_norm += grad.norm(dim=-1).mean(dim=-1)
        moved = torch.where(accept[..., None], proposal, y)
        distance += (moved - y).norm(dim=-1).mean(dim=-1)
        rejected += (~accept).float().mean(dim=-1)
        y = moved
        if not last:
            energy = torch.where(accept, new_energy, energy)
            grad = torch.where(accept[..., None], new_grad, grad)
    count = max(steps, 1)
    return y, DescentStats(grad_norm / count, distance / count, rejected / count)


def sample(
    model: EnergyModel,
    sched: Schedule,
    x: torch.Tensor,
    *,
    start: torch.Tensor,
    opt_steps: int,
    options: DescentOptions,
    shrink: bool,
) -> torch.Tensor:
    """Sample candidate inverses for inputs x (S, B, n*n) from noise `start` (same shape).

    T steps down, each a denoising jump to the clamped clean estimate followed by
    `opt_steps` energy-descent moves. With `shrink` (the reference quirk) the result is
    sqrt(abar_0) * x0, else x0.
    """
    y, x0 = start, start
    for step in reversed(range(sched.steps)):
        t = torch.full(x.shape[:-1], step, device=x.device, dtype=torch.long)
        with torch.no_grad():
            cond = model.condition(x, t)
            _, eps_hat = model.energy_and_grad_given(cond, y)
            y0_hat = torch.clamp(predict_y0(sched, y, t, eps_hat), -TARGET_CLIP, TARGET_CLIP)
            y = at(sched.sqrt_alphas_cumprod, t) * y0_hat
            y, _ = descend_given(
                model, sched, cond, y, t, steps=opt_steps, multiplier=1.0, options=options
            )
        bound = at(sched.clip_values, t)
        y = torch.clamp(y, -bound, bound)
        x0 = y / at(sched.sqrt_alphas_cumprod, t)
        if step > 0:
            y = at(sched.sqrt_alphas_cumprod, t - 1) * x0
    return y if shrink else x0
