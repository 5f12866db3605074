"""The IRED training loop: Adam, per-seed gradient clipping, EMA, LR schedule, early stopping.

`Trainer(cfg).run()` trains `cfg.num_seeds` seeds at once (one batched computation) and
yields one metrics row per evaluation. `state_dict()` / `load_state_dict()` round-trip
the whole state, so a resumed run continues exactly as an uninterrupted one. The
trainer knows nothing of files or Ray: `tune_ired.train` and `tune_ired.trainable` are
thin drivers around it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import torch
from ema_pytorch import EMA

from tune_ired.config import FIELDS, Config, ConfigError
from tune_ired.data import draw_seed_batch, fixed_set, make_generator
from tune_ired.diagnostics import mining_diagnostics
from tune_ired.diffusion import Schedule
from tune_ired.evaluate import evaluate
from tune_ired.model import EnergyModel
from tune_ired.replay import ReplayBuffer
from tune_ired.speed import StepSpeed

DATA_STREAM, NOISE_STREAM = 2, 3  # stream keys of each seed's problem and noise generators
OOD_SEED_OFFSET = 1  # the OOD set's seed is val_seed + 1, so it never repeats the validation set
EMA_POWER = 2 / 3  # ema-pytorch's warm-up exponent (its default)
CLIP_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_


def resolve_device(name: str) -> torch.device:
    """The torch device a config names; 'auto' is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config: 'device' = {name!r} but torch sees no CUDA device; use cpu or auto.")
    return torch.device(name)


def get_lr(step: int, cfg: Config) -> float:
    """Learning rate at `step`: constant, or cosine decay from cosine_start to train_steps."""
    if cfg.lr_schedule == "constant" or step < cfg.cosine_start:
        return cfg.lr
    progress = (step - cfg.cosine_start) / (cfg.train_steps - cfg.cosine_start)
    floor = cfg.lr * cfg.lr_min_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def clip_grad_per_seed(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip each seed's gradient norm (over all parameters) to max_norm; return pre-clip norms (S,)."""
    grads = [p.grad for p in params]
    norms = torch.stack([g.pow(2).flatten(1).sum(dim=1) for g in grads]).sum(dim=0).sqrt()
    if max_norm > 0:
        scale = (max_norm / (norms + CLIP_EPS)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    return norms


class Trainer:
    """Trains the seeds of one config together and evaluates them on fixed sets."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.speed = StepSpeed.from_config(cfg, self.device)  # speed: compiled step, precision (tune_ired.speed)
        seeds = cfg.seeds
        self.model = EnergyModel(
            seeds=seeds, n=cfg.n, hidden=cfg.hidden, time_dim=cfg.time_dim, diffusion_steps=cfg.diffusion_steps
        ).to(self.device)
        self.ema = EMA(
            self.model,
            beta=cfg.ema_decay,
            update_every=cfg.ema_update_every,
            update_after_step=cfg.ema_update_after,
            power=EMA_POWER,
            include_online_model=False,
        )
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), fused=self.speed.fused_adam
        )
        self.sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=self.device)
        self.data_generators = [make_generator(self.device, s, DATA_STREAM) for s in seeds]
        self.noise_generators = [make_generator(self.device, s, NOISE_STREAM) for s in seeds]
        self.replay = ReplayBuffer.from_config(cfg, device=self.device)
        self.val = fixed_set(cfg.val_size, cfg.n, cfg.train_lambda, seed=cfg.val_seed, device=self.device)
        self.ood = fixed_set(
            cfg.val_size, cfg.n, cfg.ood_lambda, seed=cfg.val_seed + OOD_SEED_OFFSET, device=self.device
        )
        self.step = 0
        self.best_mse = math.inf
        self.evals_since_best = 0
        self.finished = False
        self.speed.warm_up(self.model, self.sched, cfg, replay=self.replay, step=self.step)  # compiles, if on

    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step on a fresh batch per seed; returns per-seed metrics (S,)."""
        cfg = self.cfg
        lr = get_lr(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        problems = draw_seed_batch(cfg.batch_size, cfg.n, cfg.train_lambda, self.data_generators)
        self.speed.begin_step()
        with self.speed.autocast():
            out = self.speed.loss(
                self.model, self.sched, cfg, problems, self.noise_generators, step=self.step, replay=self.replay
            )
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = clip_grad_per_seed(list(self.model.parameters()), cfg.grad_clip)
        self.optimizer.step()
        self.ema.update()
        self.step += 1
        return {**out.metrics, "train/grad_norm": grad_norm, "train/lr": torch.full_like(grad_norm, lr)}

    def evaluate(self) -> dict[str, torch.Tensor]:
        """Validation metrics of the EMA weights (and val/mse_live of the live weights), per seed."""
        cfg, ema_model = self.cfg, self.ema.ema_model
        val = evaluate(ema_model, self.sched, cfg, self.val)
        ood = evaluate(ema_model, self.sched, cfg, self.ood)
        live = evaluate(self.model, self.sched, cfg, self.val)
        metrics = {f"val/{key}": value for key, value in val.items()}
        metrics["val/mse_ood"] = ood["mse"]
        metrics["val/residual_ood"] = ood["residual"]
        metrics["val/mse_live"] = live["mse"]
        metrics.update(mining_diagnostics(self.model, self.sched, cfg, self.val, replay=self.replay))
        return metrics

    def run(self) -> Iterator[dict[str, Any]]:
        """Train to cfg.train_steps (or an early stop), yielding a metrics row per evaluation."""
        cfg = self.cfg
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), 0
        while not self.finished:
            for key, value in self.train_step().items():
                sums[key] = sums.get(key, 0) + value
            window_steps += 1
            if self.step % cfg.eval_every and self.step < cfg.train_steps:
                continue
            train_seconds = time.perf_counter() - window_start
            per_seed = {key: value / window_steps for key, value in sums.items()}
            eval_start = time.perf_counter()
            per_seed.update(self.evaluate())
            row = self.make_row(per_seed)
            row["perf/steps_per_s"] = window_steps / train_seconds
            row["perf/seed_steps_per_s"] = window_steps * cfg.num_seeds / train_seconds
            row["perf/eval_s"] = time.perf_counter() - eval_start
            row["perf/compile_s"] = self.speed.compile_s
            yield row
            sums, window_start, window_steps = {}, time.perf_counter(), 0

    def make_row(self, per_seed: dict[str, torch.Tensor]) -> dict[str, Any]:
        """A flat metrics row: means over seeds, per-seed values when S > 1, stopping state."""
        row: dict[str, Any] = {"step": self.step}
        for key, value in per_seed.items():
            values = value.detach().float().cpu()
            row[key] = values.mean().item()
            if len(values) > 1:
                row.update({f"seed/{s}/{key}": v for s, v in zip(self.cfg.seeds, values.tolist(), strict=True)})
        row["diverged"] = not (math.isfinite(row["val/mse"]) and row["train/loss"] <= self.cfg.diverge_loss)
        row["val/is_best"] = self.track_best(row["val/mse"])
        row["val/best_mse"] = self.best_mse
        patience = self.cfg.early_stop_patience
        row["early_stopped"] = bool(patience) and self.evals_since_best >= patience
        self.finished = row["diverged"] or row["early_stopped"] or self.step >= self.cfg.train_steps
        return row

    def track_best(self, mse: float) -> bool:
        """Update the early-stopping state with a new val/mse; True when it is a new best."""
        if math.isfinite(mse) and mse < self.best_mse - self.cfg.early_stop_min_delta:
            self.best_mse, self.evals_since_best = mse, 0
            return True
        self.evals_since_best += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        """The whole training state, as tensors and plain data (loads with weights_only=True)."""
        return {
            "config": self.cfg.to_json(),
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "data_rng": [g.get_state() for g in self.data_generators],
            "noise_rng": [g.get_state() for g in self.noise_generators],
            "replay": self.replay.state_dict() if self.replay is not None else {},
            "best_mse": self.best_mse,
            "evals_since_best": self.evals_since_best,
            "finished": self.finished,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state_dict() of a trainer with the same config.

        A key the checkpoint's config lacks (added to Config after it was written) counts
        as its default, so checkpoints of older versions still load.
        """
        saved, current = json.loads(state["config"]), json.loads(self.cfg.to_json())
        changed = [key for key, value in current.items() if saved.get(key, FIELDS[key].default) != value]
        if changed:
            raise ValueError(f"checkpoint was written by a run with a different config ({', '.join(changed)})")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        for gen, rng in zip(
            self.data_generators + self.noise_generators, state["data_rng"] + state["noise_rng"], strict=True
        ):
            gen.set_state(rng)
        if self.replay is not None:
            self.replay.load_state_dict(state["replay"])
        self.step = state["step"]
        self.best_mse = state["best_mse"]
        self.evals_since_best = state["evals_since_best"]
        self.finished = state["finished"]
