"""The IRED energy model (spec section 2), with a leading seed axis on every parameter.

`EnergyModel(num_seeds=S, ...)` holds S independently initialised copies of the network
as stacked tensors and evaluates them in one batched computation: inputs are (S, B, .),
energies (S, B). Seed s of a stacked model is initialised exactly as a single-seed
model of seed s, so S = 1 is the ordinary single-run trainer and S > 1 trains S seeds
at once (Adam and the EMA act element-wise, so they stay per seed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tune_ired.data import make_generator

INIT_STREAM = 1  # stream key of the weight-initialisation generator of each seed
MAX_PERIOD = 10_000.0  # the sinusoidal embedding's longest period, as in the transformer


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

    def __init__(self, *, seeds: list[int], n: int, hidden: int, time_dim: int, diffusion_steps: int):
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
            generator = make_generator(torch.device("cpu"), seed, INIT_STREAM)
            for layer in self.layers():
                layer.reset(i, generator)

    def layers(self) -> list[StackedLinear]:
        """The layers in their fixed initialisation order."""
        return [self.time1, self.time2, self.film2, self.film3, self.l1, self.l2, self.l3, self.l4]

    def time_film(self) -> tuple[torch.Tensor, torch.Tensor]:
        """FiLM scale-and-shift tables of layers 2 and 3 for every step t: (S, T, 2h) each.

        t takes only T values, so the time MLP runs on T rows, not on every problem.
        """
        s = self.l1.weight.shape[0]
        emb = sinusoidal_embedding(self.steps, self.time_dim).expand(s, -1, -1)
        temb = self.time2(F.gelu(self.time1(emb)))
        return self.film2(temb), self.film3(temb)

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Energies (S, B) of candidates y (S, B, n*n) for inputs x (S, B, n*n) at steps t (S, B)."""
        film2, film3 = (table.gather(1, t[..., None].expand(-1, -1, table.shape[-1])) for table in self.time_film())
        g2, b2 = film2.chunk(2, dim=-1)
        g3, b3 = film3.chunk(2, dim=-1)
        h = F.silu(self.l1(torch.cat([x, y], dim=-1)))
        h = F.silu(self.l2(h) * (1 + g2) + b2)
        h = F.silu(self.l3(h) * (1 + g3) + b3)
        return self.l4(h).pow(2).sum(dim=-1)


def energy_and_grad(
    model: EnergyModel, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, *, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """E(x, y, t) and dE/dy (the model's noise prediction); y is not modified.

    With create_graph the gradient stays differentiable (training's denoising loss);
    without it, both results are detached.
    """
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        energy = model(x, y, t)
        (grad,) = torch.autograd.grad(energy.sum(), y, create_graph=create_graph)
    if create_graph:
        return energy, grad
    return energy.detach(), grad.detach()
