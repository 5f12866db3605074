"""The IRED energy model (docs/method.md §2), with a leading seed axis on every parameter.

`EnergyModel(seeds=[s0, ..., sS-1], ...)` holds S independently initialised copies of the network
as stacked tensors and evaluates them in one batched computation: inputs are (S, B, .),
energies (S, B). Seed s of a stacked model is initialised exactly as a single-seed
model of seed s, so S = 1 is the ordinary single-run trainer and S > 1 trains S seeds
at once (Adam and the EMA act element-wise, so they stay per seed).

Fast paths (the training step's hot loop; tests/test_model_fast.py checks them against
autograd, benchmarks/bench_train.py times them): `condition(x, t)` computes once what every
pass under the same (x, t) shares (layer 1 on x, the FiLM rows of each problem's t, the
time MLP run on the T step values only); `energy_and_grad_given` computes dE/dy by
hand-written backpropagation, differentiable in the weights when grad mode is on, so the
denoising loss needs no autograd-of-autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from tune_ired.ired.data import Stream, make_generator

if TYPE_CHECKING:
    from tune_ired.ired.config import Config

MAX_PERIOD = 10_000.0  # the sinusoidal embedding's longest period, as in the transformer


class SiluGrad(torch.autograd.Function):
    """grad * silu'(u) as one fused kernel, with a hand-written derivative for the denoising loss."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(grad, u)
        return torch.ops.aten.silu_backward(grad, u)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, upstream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grad, u = ctx.saved_tensors
        sig = torch.sigmoid(u)
        # silu''(u) = sig (1 - sig) (2 + u (1 - 2 sig)); sigmoid_backward(g, sig) = g sig (1 - sig), fused
        curvature = torch.ops.aten.sigmoid_backward(upstream * grad, sig)
        return torch.ops.aten.silu_backward(upstream, u), curvature.mul_(
            u * torch.rsub(sig, 1, alpha=2) + 2
        )


def silu_grad(grad: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """grad * silu'(u): the backward of swish, itself differentiable once (in grad and u)."""
    if torch.is_grad_enabled():
        return SiluGrad.apply(grad, u)
    return torch.ops.aten.silu_backward(grad, u)


def film(z: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """z * scale + shift, the FiLM of layers 2 and 3.

    One fused kernel without grad mode; with it, plain ops, whose backward is cheaper than
    addcmul's (which also multiplies by its `value`: two extra passes).
    """
    if torch.is_grad_enabled():
        return z * scale + shift
    return torch.addcmul(shift, z, scale)


@dataclass(frozen=True)
class Conditioning:
    """Everything E(x, ., t) needs besides y, per problem, each (S, B, h): computed once, reused by every pass.

    `l1_x` = x W1x + b1 is layer 1 on x's half of concat(x, y); layer k = 2, 3 is
    swish(h W_k * scale_k + shift_k) with scale_k = 1 + g_k and shift_k = b_k + c_k scale_k,
    the FiLM of step t with the layer's own bias c_k folded in.
    """

    l1_x: torch.Tensor
    scale2: torch.Tensor
    shift2: torch.Tensor
    scale3: torch.Tensor
    shift3: torch.Tensor

    def detach(self) -> Conditioning:
        """The same conditioning cut from the graph (for mining, which needs no parameter gradients)."""
        return Conditioning(*(getattr(self, f.name).detach() for f in fields(self)))

    def select(self, index: slice) -> Conditioning:
        """The conditioning of the problems `index` of every seed."""
        return Conditioning(*(getattr(self, f.name)[:, index] for f in fields(self)))


class StackedLinear(nn.Module):
    """S independent Linear(fan_in, fan_out) layers applied to (S, B, fan_in) inputs."""

    def __init__(self, num_seeds: int, fan_in: int, fan_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_seeds, fan_in, fan_out))
        self.bias = nn.Parameter(torch.empty(num_seeds, 1, fan_out))

    def reset(self, seed_index: int, generator: torch.Generator) -> None:
        """nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for one seed."""
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            for p in (self.weight, self.bias):
                p[seed_index] = (torch.rand(p.shape[1:], generator=generator) * 2 - 1) * bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Half sin, half cos of t * exp(-log(MAX_PERIOD) * i / (dim/2 - 1)), shape (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, device=t.device) / (half - 1))
    angles = t.to(torch.float32)[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class EnergyModel(nn.Module):
    """E(x, y, t) = sum(out^2), out = MLP(concat(x, y)) with time FiLM on layers 2 and 3."""

    def __init__(
        self, *, seeds: list[int], n: int, hidden: int, time_dim: int, diffusion_steps: int
    ):
        super().__init__()
        s, d = len(seeds), n * n
        self.time_dim = time_dim
        self.register_buffer("steps", torch.arange(diffusion_steps), persistent=False)
        self.time1 = StackedLinear(s, time_dim, time_dim)
        self.time2 = StackedLinear(s, time_dim, time_dim)
        self.film2 = StackedLinear(s, time_dim, 2 * hidden)
        self.film3 = StackedLinear(s, time_dim, 2 * hidden)
        self.l1 = StackedLinear(s, 2 * d, hidden)
        self.l2 = StackedLinear(s, hidden, hidden)
        self.l3 = StackedLinear(s, hidden, hidden)
        self.l4 = StackedLinear(s, hidden, d)
        for i, seed in enumerate(seeds):
            generator = make_generator(torch.device("cpu"), seed, Stream.INIT)
            for layer in self.layers():
                layer.reset(i, generator)

    @classmethod
    def from_config(cls, cfg: Config) -> EnergyModel:
        """The model of a run: one network per seed of `cfg.seeds`, sized by the config (on the CPU)."""
        return cls(
            seeds=cfg.seeds,
            n=cfg.n,
            hidden=cfg.hidden,
            time_dim=cfg.time_dim,
            diffusion_steps=cfg.diffusion_steps,
        )

    @property
    def num_seeds(self) -> int:
        """S: the seeds (independent networks) this model stacks."""
        return self.l1.weight.shape[0]

    def layers(self) -> list[StackedLinear]:
        """The layers in their fixed initialisation order."""
        return [self.time1, self.time2, self.film2, self.film3, self.l1, self.l2, self.l3, self.l4]

    def time_film(self) -> tuple[torch.Tensor, torch.Tensor]:
        """FiLM scale-and-shift tables of layers 2 and 3 for every step t: (S, T, 2h) each.

        t takes only T values, so the time MLP runs on T rows, not on every problem.
        """
        emb = (
            sinusoidal_embedding(self.steps, self.time_dim)
            .to(self.l1.weight.dtype)
            .expand(self.num_seeds, -1, -1)
        )
        temb = self.time2(F.gelu(self.time1(emb)))
        return self.film2(temb), self.film3(temb)

    def condition(self, x: torch.Tensor, t: torch.Tensor) -> Conditioning:
        """What E(x, ., t) needs besides y, for inputs x (S, B, n*n) at steps t (S, B)."""
        (g2, b2), (g3, b3) = (table.chunk(2, dim=-1) for table in self.time_film())
        scale2, scale3 = 1 + g2, 1 + g3
        tables = (scale2, b2 + self.l2.bias * scale2, scale3, b3 + self.l3.bias * scale3)
        s, steps = scale2.shape[:2]
        # row of (seed, t) in the flattened tables
        index = t + steps * torch.arange(s, device=t.device)[:, None]
        # one lookup each: no cat in backward
        rows = (F.embedding(index, table.flatten(0, 1)) for table in tables)
        w1x = self.l1.weight[:, : x.shape[-1]]
        return Conditioning(torch.baddbmm(self.l1.bias, x, w1x), *rows)

    def activations(self, cond: Conditioning, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Pre-activations u1, u2, u3 of the three hidden layers and the output `out` (each (S, B, .))."""
        u1 = torch.baddbmm(cond.l1_x, y, self.l1.weight[:, -y.shape[-1] :])
        u2 = film(torch.bmm(F.silu(u1), self.l2.weight), cond.scale2, cond.shift2)
        u3 = film(torch.bmm(F.silu(u2), self.l3.weight), cond.scale3, cond.shift3)
        return u1, u2, u3, self.l4(F.silu(u3))

    def energy(self, cond: Conditioning, y: torch.Tensor) -> torch.Tensor:
        """Energies (S, B) of candidates y (S, B, n*n) under a conditioning."""
        return self.activations(cond, y)[-1].pow(2).sum(dim=-1)

    def energy_and_grad_given(
        self, cond: Conditioning, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies (S, B) and dE/dy (S, B, n*n), the gradient by hand-written backpropagation.

        Differentiable in the parameters when grad mode is on (training's denoising loss),
        without autograd-of-autograd: only y's half of layer 1 is back-propagated into.
        """
        u1, u2, u3, out = self.activations(cond, y)
        grad = silu_grad(torch.bmm(out, self.l4.weight.transpose(1, 2)), u3) * cond.scale3
        grad = silu_grad(torch.bmm(grad, self.l3.weight.transpose(1, 2)), u2) * cond.scale2
        grad = silu_grad(torch.bmm(grad, self.l2.weight.transpose(1, 2)), u1)
        grad = torch.bmm(grad, self.l1.weight[:, -y.shape[-1] :].transpose(1, 2))
        return out.pow(2).sum(dim=-1), 2 * grad

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Energies (S, B) of candidates y (S, B, n*n) for inputs x (S, B, n*n) at steps t (S, B)."""
        return self.energy(self.condition(x, t), y)


def energy_and_grad(
    model: EnergyModel,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    *,
    create_graph: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """E(x, y, t) and dE/dy (the model's noise prediction); y is not modified.

    With create_graph the gradient stays differentiable (training's denoising loss);
    without it, both results are detached.
    """
    with torch.set_grad_enabled(create_graph):
        return model.energy_and_grad_given(model.condition(x, t), y)
