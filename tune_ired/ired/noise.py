"""Per-seed random draws from each seed's own `torch.Generator`, stacked on the seed axis.

Every random number of training (t, eps, Langevin noise, replay choices) comes from the
seed's noise generator through these helpers, so seed s draws the same stream whether it
trains alone or with others (S = 1 or S > 1), and a resumed run continues the stream.
"""

from __future__ import annotations

import torch


def seed_randn(generators: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal noise of `shape` per seed, stacked: (S, *shape)."""
    return torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators])


def seed_randint(
    generators: list[torch.Generator], high: int, shape: tuple[int, ...]
) -> torch.Tensor:
    """Uniform integers in [0, high) of `shape` per seed, stacked: (S, *shape)."""
    return torch.stack(
        [torch.randint(high, shape, generator=g, device=g.device) for g in generators]
    )


def seed_rand(generators: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform numbers in [0, 1) of `shape` per seed, stacked: (S, *shape)."""
    return torch.stack([torch.rand(shape, generator=g, device=g.device) for g in generators])
