"""The IRED training loop: Adam, per-seed gradient clipping, EMA, LR schedule, early stopping.

`Trainer(cfg).run()` trains `cfg.num_seeds` seeds at once (one batched computation) and
yields one metrics row per evaluation (keys: `tune_ired.record.catalogue`). A seed that diverges
is frozen while the others train on (`tune_ired.training.divergence`); the run ends as diverged when
every seed has. `state_dict()` / `load_state_dict()` round-trip the whole state, so a
resumed run continues exactly as an uninterrupted one. The option objects of the maths are
built once here from the config; the maths never sees `Config`. The trainer knows nothing
of files or Ray: `tune_ired.train` and `tune_ired.tuning.trainable` drive it (`tune_ired.record.runfolder`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from ema_pytorch import EMA

from tune_ired.ired.config import FIELDS, RUNTIME_KEYS, Config, ConfigError, options
from tune_ired.ired.data import Stream, draw_seed_batch, fixed_set, make_generator
from tune_ired.ired.diagnostics import mining_diagnostics
from tune_ired.ired.diffusion import Schedule
from tune_ired.ired.evaluate import EvalOptions, evaluate
from tune_ired.ired.loss import LossOptions
from tune_ired.ired.model import EnergyModel
from tune_ired.ired.replay import ReplayBuffer
from tune_ired.record import catalogue as K
from tune_ired.record.provenance import cpu_device
from tune_ired.training.divergence import NOT_DIVERGED, SeedGuard, seed_mean
from tune_ired.training.speed import StepSpeed

OOD_SEED_OFFSET = 1  # the OOD set's seed is val_seed + 1, so it never repeats the validation set
EMA_POWER = 2 / 3  # ema-pytorch's warm-up exponent (its default)
CLIP_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_


def resolve_device(name: str) -> torch.device:
    """The torch device a config names; 'auto' is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"config: 'device' = {name!r} but torch sees no CUDA device; use cpu or auto."
        )
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
        # speed: compiled step, precision (tune_ired.training.speed)
        self.speed = StepSpeed.from_config(cfg, self.device)
        seeds = cfg.seeds
        self.model = EnergyModel.from_config(cfg).to(self.device)
        self.ema = EMA(
            self.model,
            beta=cfg.ema_decay,
            update_every=cfg.ema_update_every,
            update_after_step=cfg.ema_update_after,
            power=EMA_POWER,
            include_online_model=False,
        )
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=cfg.lr,
            betas=(cfg.adam_beta1, cfg.adam_beta2),
            fused=self.speed.fused_adam,
        )
        self.sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=self.device)
        self.loss_options = options(LossOptions, cfg)
        self.miner = self.loss_options.mining.miner()
        self.eval_options = options(EvalOptions, cfg)
        self.data_generators = [make_generator(self.device, s, Stream.DATA) for s in seeds]
        self.noise_generators = [make_generator(self.device, s, Stream.NOISE) for s in seeds]
        self.replay = ReplayBuffer.from_config(cfg, device=self.device)
        self.val = fixed_set(
            cfg.val_size, cfg.n, cfg.train_lambda, seed=cfg.val_seed, device=self.device
        )
        self.ood = fixed_set(
            cfg.val_size,
            cfg.n,
            cfg.ood_lambda,
            seed=cfg.val_seed + OOD_SEED_OFFSET,
            device=self.device,
        )
        self.guard = SeedGuard(len(seeds), diverge_loss=cfg.diverge_loss, device=self.device)
        self.step = 0
        self.best_mse = math.inf
        self.evals_since_best = 0
        self.finished = False
        self.guard.take_snapshot(self.seed_state())
        self.speed.warm_up(  # compiles now, if on
            self.model,
            self.sched,
            cfg,
            options=self.loss_options,
            miner=self.miner,
            replay=self.replay,
            step=self.step,
        )

    def device_info(self) -> dict[str, Any]:
        """The device this trainer computes on, for the run's provenance: its kind, name and CUDA version."""
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device)
            return {"kind": "cuda", "name": name, "cuda": torch.version.cuda}
        return cpu_device()

    def seed_state(self) -> dict[str, torch.Tensor]:
        """Every live tensor with a leading seed axis: parameters, Adam's moments, the EMA's weights."""
        state = {f"model.{name}": p for name, p in self.model.named_parameters()}
        for name, p in self.model.named_parameters():
            moments = self.optimizer.state.get(p, {})
            state |= {
                f"adam.{name}.{k}": moments[k] for k in ("exp_avg", "exp_avg_sq") if k in moments
            }
        return state | {f"ema.{name}": p for name, p in self.ema.ema_model.named_parameters()}

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
                self.model,
                self.sched,
                problems,
                generators=self.noise_generators,
                options=self.loss_options,
                miner=self.miner,
                step=self.step,
                replay=self.replay,
            )
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = clip_grad_per_seed(list(self.model.parameters()), cfg.grad_clip)
        self.optimizer.step()
        self.ema.update()
        self.step += 1
        self.guard.observe_step(out.metrics[K.TRAIN_LOSS], grad_norm, self.step)
        self.guard.restore_dead(self.seed_state)
        return {
            **out.metrics,
            K.TRAIN_GRAD_NORM: grad_norm,
            K.TRAIN_LR: torch.full_like(grad_norm, lr),
        }

    def evaluate(self) -> dict[str, torch.Tensor]:
        """Validation metrics of the EMA weights (and val/mse_live of the live weights), per seed."""
        ema_model, options = self.ema.ema_model, self.eval_options
        val = evaluate(ema_model, self.sched, self.val, options=options)
        ood = evaluate(ema_model, self.sched, self.ood, options=options)
        live = evaluate(self.model, self.sched, self.val, options=options)
        metrics = {
            K.VAL_MSE: val["mse"],
            K.VAL_RESIDUAL: val["residual"],
            K.VAL_RESIDUAL_NORM: val["residual_norm"],
            K.VAL_ELEM_ACC: val["elem_acc"],
            K.VAL_MSE_OOD: ood["mse"],
            K.VAL_RESIDUAL_OOD: ood["residual"],
            K.VAL_MSE_LIVE: live["mse"],
        }
        diagnostics = mining_diagnostics(
            self.model,
            self.sched,
            self.val,
            seeds=self.cfg.seeds,
            miner=self.miner,
            options=self.loss_options.mining,
            replay=self.replay,
        )
        return metrics | diagnostics

    def run(self, on_step: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Train to cfg.train_steps (or an early stop, or every seed diverged), yielding a row per evaluation.

        `on_step(step)` is called after every optimiser step with the step count, a plain int
        (no device sync): a driver's progress bar or heartbeat. The trainer itself prints nothing.
        """
        cfg = self.cfg
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), 0
        while not self.finished:
            for key, value in self.train_step().items():
                sums[key] = sums.get(key, 0) + value
            window_steps += 1
            if on_step is not None:
                on_step(self.step)
            if self.step % cfg.eval_every and self.step < cfg.train_steps:
                continue
            train_seconds = time.perf_counter() - window_start
            per_seed = {key: value / window_steps for key, value in sums.items()}
            eval_start = time.perf_counter()
            per_seed.update(self.evaluate())
            frozen_before = list(self.guard.dead)
            self.guard.settle(self.seed_state(), val_mse=per_seed[K.VAL_MSE], step=self.step)
            row = self.make_row(per_seed, frozen_before=frozen_before)
            row[K.VAL_IS_BEST] = self.track_best(row[K.VAL_MSE])
            row[K.VAL_BEST_MSE] = self.best_mse
            patience = cfg.early_stop_patience
            row[K.EARLY_STOPPED] = bool(patience) and self.evals_since_best >= patience
            row[K.PERF_STEPS_PER_S] = window_steps / train_seconds
            row[K.PERF_SEED_STEPS_PER_S] = window_steps * cfg.num_seeds / train_seconds
            row[K.PERF_EVAL_S] = time.perf_counter() - eval_start
            row[K.PERF_COMPILE_S] = self.speed.compile_s
            self.finished = row[K.DIVERGED] or row[K.EARLY_STOPPED] or self.step >= cfg.train_steps
            yield row
            sums, window_start, window_steps = {}, time.perf_counter(), 0

    def make_row(
        self, per_seed: dict[str, torch.Tensor], *, frozen_before: list[int]
    ) -> dict[str, Any]:
        """A flat metrics row: the run's values (see `divergence.seed_mean`) and, when S > 1, each seed's.

        A seed frozen at an earlier evaluation (`frozen_before`) shows NaN; a seed that diverged
        since the last evaluation shows its values as measured, which say why.
        """
        seeds, dead = self.cfg.seeds, self.guard.dead
        row: dict[str, Any] = {K.STEP: self.step}
        for key, value in per_seed.items():
            values = value.detach().float().cpu()
            row[key] = seed_mean(values, key=key, dead=dead)
            if len(seeds) > 1:
                shown = values.index_fill(
                    0, torch.tensor(frozen_before, dtype=torch.long), math.nan
                )
                row.update(
                    {K.seed_key(s, key): v for s, v in zip(seeds, shown.tolist(), strict=True)}
                )
        steps = [None if k == NOT_DIVERGED else k for k in self.guard.diverged_step.tolist()]
        row[K.DIVERGED] = len(dead) == len(seeds)
        # when the last seed diverged
        row[K.DIVERGED_STEP] = max(steps) if row[K.DIVERGED] else None
        row[K.SEEDS_DIVERGED] = len(dead)
        if len(seeds) > 1:
            for index, s in enumerate(seeds):
                row[K.seed_key(s, K.DIVERGED)] = index in dead
                row[K.seed_key(s, K.DIVERGED_STEP)] = steps[index] if index in dead else None
        return row

    def track_best(self, mse: float) -> bool:
        """Update the early-stopping state with an evaluation's val/mse; True when it is a new best."""
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
            "guard": self.guard.state_dict(),
            "best_mse": self.best_mse,
            "evals_since_best": self.evals_since_best,
            "finished": self.finished,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state_dict() of a trainer with the same config (RUNTIME_KEYS may differ).

        A key the checkpoint's config lacks (added to Config after it was written) counts
        as its default, so checkpoints of older versions still load (with every seed healthy
        when they predate per-seed divergence).
        """
        saved, current = json.loads(state["config"]), json.loads(self.cfg.to_json())
        changed = [
            key
            for key, value in current.items()
            if key not in RUNTIME_KEYS and saved.get(key, FIELDS[key].default) != value
        ]
        if changed:
            raise ValueError(
                f"checkpoint was written by a run with a different config ({', '.join(changed)})"
            )
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        for gen, rng in zip(
            self.data_generators + self.noise_generators,
            state["data_rng"] + state["noise_rng"],
            strict=True,
        ):
            gen.set_state(rng)
        if self.replay is not None:
            self.replay.load_state_dict(state["replay"])
        if "guard" in state:
            self.guard.load_state_dict(state["guard"])
        self.step = state["step"]
        self.best_mse = state["best_mse"]
        self.evals_since_best = state["evals_since_best"]
        self.finished = state["finished"]
        self.guard.take_snapshot(self.seed_state())
