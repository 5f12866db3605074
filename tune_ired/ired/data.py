"""Matrix-inversion problems (docs/method.md §1), generated whole batches at a time.

A problem is an SPD matrix A = 2 R R^T + lam I with R ~ U(-1, 1)^{n x n}; the model sees
x = vec(A) and must produce y0 = vec(A^{-1}). Training draws fresh problems every step
from a seeded `torch.Generator` on the training device; validation and OOD sets are
drawn once from `Config.val_seed`, a seed no training stream uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch


class Stream(IntEnum):
    """The random streams of a run: `make_generator(device, seed, Stream.X)`; distinct ids, distinct streams."""

    INIT = 1  # weight initialisation of each seed
    DATA = 2  # each seed's training problems
    NOISE = 3  # each seed's training noise: t, eps, replay choices, Langevin noise
    EVAL = 4  # the sampler's starting noise at evaluation (seeded from val_seed)
    DIAG = 5  # the conditioning diagnostics' t and noise at evaluation
    LANDSCAPE = 6  # energy-landscape directions and mined negatives (tune_ired.landscape)
    WARM_UP = 7  # the compiled step's throwaway warm-up batches (tune_ired.training.speed)


def derive_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys, so that distinct key tuples give distinct streams."""
    high, low = np.random.SeedSequence(list(keys)).generate_state(2, np.uint32)
    return (int(high) << 31) ^ int(low)


def make_generator(device: torch.device, *keys: int) -> torch.Generator:
    """A torch.Generator on `device` seeded from `keys` (see derive_seed)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*keys))
    return gen


@dataclass(frozen=True)
class Problems:
    """A batch of problems: inputs x = vec(A) and targets y0 = vec(A^{-1}), each (..., n*n)."""

    x: torch.Tensor
    y0: torch.Tensor

    @property
    def n(self) -> int:
        return round(self.x.shape[-1] ** 0.5)


def draw_problems(batch: int, n: int, lam: float, *, generator: torch.Generator) -> Problems:
    """Draw `batch` problems of size n with diagonal shift lam, on the generator's device."""
    device = generator.device
    r = torch.rand(batch, n, n, generator=generator, device=device) * 2 - 1
    eye = torch.eye(n, device=device)
    a = 2 * r @ r.transpose(-1, -2) + lam * eye
    # cholesky_inverse returns an exactly symmetric inverse; batched solves against I are several
    # times slower on CPU with 2 threads (benchmarks/bench_data.py). cholesky_ex: no error check, so
    # no host sync on a GPU (A is SPD by construction, lam > 0)
    a_inv = torch.cholesky_inverse(torch.linalg.cholesky_ex(a).L)
    return Problems(x=a.reshape(batch, n * n), y0=a_inv.reshape(batch, n * n))


def draw_seed_batch(batch: int, n: int, lam: float, generators: list[torch.Generator]) -> Problems:
    """One batch per seed, stacked on a leading seed axis: tensors of shape (S, batch, n*n)."""
    parts = [draw_problems(batch, n, lam, generator=g) for g in generators]
    return Problems(x=torch.stack([p.x for p in parts]), y0=torch.stack([p.y0 for p in parts]))


def fixed_set(size: int, n: int, lam: float, *, seed: int, device: torch.device) -> Problems:
    """The fixed validation (or OOD) set: the same problems for every seed and run.

    Its generator is keyed by (seed, n), so every matrix size has its own set.
    """
    return draw_problems(size, n, lam, generator=make_generator(device, seed, n))


def residual(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||A Y - I||_F per problem, for x = vec(A) and y = vec(Y) of shape (..., n*n)."""
    n = round(x.shape[-1] ** 0.5)
    a = x.reshape(*x.shape[:-1], n, n)
    yy = y.reshape(*y.shape[:-1], n, n)
    eye = torch.eye(n, device=x.device, dtype=x.dtype)
    return torch.linalg.matrix_norm(a @ yy - eye)
