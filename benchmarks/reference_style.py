"""The IRED training step written the way the public reference code does it: the benchmarks' baseline.

Same algorithm and same numbers as `tune_ired` (docs/method.md §1-5, reference quirks on),
written from docs/method.md with the reference's cost structure, so `bench_train.py` can time
both side by side:

- problems are drawn and inverted one at a time in numpy (float64), then collated;
- the energy model is an `nn.Module` MLP whose time MLP and FiLM layers run on every
  problem's t (B rows) in every forward pass;
- every energy gradient is taken with `create_graph=True`, also while mining;
- each descent step is accepted by a separate forward pass, and the accepted energy is
  not reused as the next step's starting energy.

Not part of the package; run it through `python -m benchmarks.bench_train`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from ema_pytorch import EMA
from torch import nn
from torch.utils.data import default_collate

from tune_ired.ired.config import Config
from tune_ired.ired.diffusion import TARGET_CLIP, Schedule, at, predict_y0, q_sample
from tune_ired.ired.model import sinusoidal_embedding
from tune_ired.training.trainer import EMA_POWER


def numpy_problem(rng: np.random.Generator, n: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """One problem as the reference's dataset item: (vec(A), vec(A^-1)) in float32."""
    r = rng.uniform(-1, 1, size=(n, n))
    a = r @ r.T
    a = a + a.T + lam * np.eye(n)
    return a.flatten().astype(np.float32), np.linalg.inv(a).flatten().astype(np.float32)


def numpy_batch(
    rng: np.random.Generator, batch: int, n: int, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch drawn one problem at a time and collated, as a DataLoader without workers does."""
    return default_collate([numpy_problem(rng, n, lam) for _ in range(batch)])


class ReferenceEnergyMLP(nn.Module):
    """E(x, y, t) = sum(out^2) of the method's MLP (docs/method.md §2), with the time MLP run per problem."""

    def __init__(self, *, n: int, hidden: int, time_dim: int):
        super().__init__()
        d = n * n
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim)
        )
        self.film2 = nn.Linear(time_dim, 2 * hidden)
        self.film3 = nn.Linear(time_dim, 2 * hidden)
        self.fc1 = nn.Linear(2 * d, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, hidden)
        self.fc4 = nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(sinusoidal_embedding(t, self.time_dim).to(x.dtype))
        g2, b2 = self.film2(temb).chunk(2, dim=-1)
        g3, b3 = self.film3(temb).chunk(2, dim=-1)
        h = F.silu(self.fc1(torch.cat([x, y], dim=-1)))
        h = F.silu(self.fc2(h) * (g2 + 1) + b2)
        h = F.silu(self.fc3(h) * (g3 + 1) + b3)
        return self.fc4(h).pow(2).sum(dim=-1)


def energy_and_grad(
    model: ReferenceEnergyMLP, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """E and dE/dy, the gradient always taken with create_graph=True as in the reference."""
    with torch.enable_grad():
        y.requires_grad_(True)
        energy = model(x, y, t)
        (grad,) = torch.autograd.grad(energy.sum(), y, create_graph=True)
    return energy, grad


def opt_step(
    model: ReferenceEnergyMLP,
    sched: Schedule,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    *,
    cfg: Config,
) -> torch.Tensor:
    """`cfg.opt_steps` descent steps, each judged by a separate forward pass (reference quirks on)."""
    sf = cfg.ascent_lr
    for _ in range(cfg.opt_steps):
        energy, grad = energy_and_grad(model, x, y, t)
        y_new = y - sf * at(sched.step_sizes, t) * grad
        bound = sched.clip_values[t[0]]
        y_new = torch.clamp(y_new, -bound, bound)
        energy_new = model(x, y_new, t)
        bad_step = energy_new > energy
        y_new[bad_step] = y[bad_step]
        y = y_new.detach()
        sf = cfg.clip_scale
    return y


def p_losses(
    model: ReferenceEnergyMLP,
    sched: Schedule,
    cfg: Config,
    *,
    x: torch.Tensor,
    y0: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """The mean training loss of one batch: denoising plus the adversarial NCE energy term."""
    b, d = y0.shape
    t = torch.randint(sched.steps, (b,), generator=gen, device=gen.device)
    eps = torch.randn((b, d), generator=gen, device=gen.device)
    _, eps_hat = energy_and_grad(model, x, q_sample(sched, y0, t, eps), t)
    loss_mse = (eps_hat - eps).pow(2).mean(dim=-1)
    eps2 = torch.randn((b, d), generator=gen, device=gen.device)
    y_pos = q_sample(sched, y0, t, eps2)
    y_neg = opt_step(model, sched, x, q_sample(sched, y0, t, cfg.noise_scale * eps2), t, cfg=cfg)
    n0 = torch.clamp(predict_y0(sched, y_neg, t, 0.0), -TARGET_CLIP, TARGET_CLIP)
    y_neg = q_sample(sched, n0, t, eps2)
    energy = model(torch.cat([x, x]), torch.cat([y_pos, y_neg]), torch.cat([t, t]))
    logits = -torch.stack(energy.chunk(2), dim=-1)
    loss_energy = F.cross_entropy(
        logits, torch.zeros(b, dtype=torch.long, device=t.device), reduction="none"
    )
    return (loss_mse + cfg.energy_weight * loss_energy).mean()


class ReferenceStyleTrainer:
    """Adam, grad-norm clipping and EMA around `p_losses`, fed by per-problem numpy data copied to `device`."""

    def __init__(self, cfg: Config, device: torch.device | None = None):
        self.cfg, self.device = cfg, device or torch.device("cpu")
        device = self.device
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.model = ReferenceEnergyMLP(n=cfg.n, hidden=cfg.hidden, time_dim=cfg.time_dim).to(
                device
            )
        self.ema = EMA(
            self.model,
            beta=cfg.ema_decay,
            update_every=cfg.ema_update_every,
            update_after_step=cfg.ema_update_after,
            power=EMA_POWER,
            include_online_model=False,
        )
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2)
        )
        self.sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=device)
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh training batch (x, y0), one problem at a time, then copied to the device as a DataLoader's."""
        x, y0 = numpy_batch(self.rng, self.cfg.batch_size, self.cfg.n, self.cfg.train_lambda)
        return x.to(self.device), y0.to(self.device)

    def train_step(self) -> float:
        """One optimiser step on a fresh batch; returns the loss."""
        x, y0 = self.draw()
        loss = p_losses(self.model, self.sched, self.cfg, x=x, y0=y0, gen=self.gen)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.ema.update()
        return loss.item()
