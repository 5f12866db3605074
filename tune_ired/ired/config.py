"""The one typed configuration of a training run, its named budgets, and its validation.

Every knob of the trainer is a field of `Config`, with its help text and allowed range
in the field's metadata; the choices of `strategy`, `energy_loss` and `preset` are the
closed lists `Strategy`, `EnergyLoss` and `PRESETS` defined here (the maths' registries,
`mining.STRATEGIES` and `energy_loss.ENERGY_LOSSES`, are keyed by these members, so this
module stays torch-free: a search-space file's validation never loads torch). A dict of
explicit keys (a Tune trial, `--set key=value`, a JSON file) and a budget name become a
`Config` exactly once, through `make_config`: the defaults, then the budget
(`tune_ired.budgets`), then the preset the keys name, then the explicit keys, which win.
Every driver (train, the trainable, search-space validation) calls it, so a run and a sweep
trial of the same keys get the same config. An unknown key or an out-of-range value raises
`ConfigError` naming the key and what was expected.

    python -m tune_ired.train --list-keys     # every key, its default and range
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from tune_ired.budgets import BUDGETS


class Strategy(StrEnum):
    """How the energy loss's negatives are mined (docs/method.md §8; `tune_ired.ired.mining` implements each)."""

    NONE = "none"  # no energy-landscape term: pure denoising
    RANDOM = "random"  # the noisy start, rescaled and re-noised, no optimisation
    ADVERSARIAL = "adversarial"  # the reference: energy DEScent from the noisy start
    ASCENT = "ascent"  # true energy maximisation, uphill moves only
    MIXED = "mixed"  # a share mixed_ratio adversarial, the rest random
    LANGEVIN = "langevin"  # noisy descent (docs/method.md §9)


class EnergyLoss(StrEnum):
    """How the energy term compares a positive with its negative (`tune_ired.ired.energy_loss` implements each)."""

    NCE = "nce"  # the reference: cross-entropy of [-E_pos, -E_neg], i.e. softplus(E_pos - E_neg)
    CD = "cd"  # contrastive divergence: E_pos - E_neg


# DCD ablation presets (docs/method.md §9), chosen by the `preset` key. make_config applies
# them after the budget and before the explicit keys, so an explicit key always wins.
REFERENCE_NCE = dict(
    strategy="adversarial", opt_steps=2, ascent_lr=1.0, noise_scale=3.0, energy_weight=0.5
)
CD_LANGEVIN = dict(
    strategy="langevin", energy_loss="cd", langevin_steps=10, noise_scale=1.0, energy_weight=0.5
)
WITH_REPLAY = dict(
    CD_LANGEVIN, replay=True, replay_capacity=10_000, replay_prob=0.95, replay_per_t=True
)
PRESETS: dict[str, dict[str, Any]] = {
    "": {},
    "Q-201": REFERENCE_NCE,  # the reference: adversarial negatives, NCE loss
    "Q-202": CD_LANGEVIN,  # + CD loss on Langevin negatives
    "Q-203": WITH_REPLAY,  # + replay buffer (persistent chains)
    "Q-204": dict(  # all: + residual false-negative filter and a gentle, warmed-up energy weight on mid t
        WITH_REPLAY,
        filter_percentile=30.0,
        filter_weight=0.0,
        energy_weight=0.1,
        energy_warmup=0.2,
        energy_t_min=0.2,
        energy_t_max=0.8,
    ),
}


class ConfigError(ValueError):
    """A configuration key or value that the trainer cannot accept."""


def knob(default, help: str, *, low=None, high=None, choices=None, shapes: bool = False):
    """A config field with its help text and allowed range (inclusive bounds); `shapes`: the field
    changes how much a training step or an evaluation computes (what a time estimate calibrates)."""
    metadata = {"help": help, "low": low, "high": high, "choices": choices, "shapes": shapes}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """Everything that defines one IRED training run (docs/method.md)."""

    # --- problems (docs/method.md §1)
    n: int = knob(
        20,
        "matrix size: problems are n x n SPD matrices (the reference's --rank)",
        low=1,
        high=128,
        shapes=True,
    )
    train_lambda: float = knob(
        0.5, "diagonal shift lam of training and validation matrices", low=1e-6
    )
    ood_lambda: float = knob(
        0.1, "diagonal shift lam of the harder out-of-distribution test set", low=1e-6
    )
    val_size: int = knob(
        1024, "problems in the fixed validation set (and in the OOD set)", low=1, shapes=True
    )
    val_seed: int = knob(
        20240701, "seed of the fixed validation and OOD sets (never a training stream)", low=0
    )

    # --- energy model (docs/method.md §2)
    hidden: int = knob(512, "hidden width h of the energy MLP", low=1, shapes=True)
    time_dim: int = knob(
        128, "width of the sinusoidal time embedding and its MLP", low=2, shapes=True
    )

    # --- diffusion and energy descent (docs/method.md §3, 4, 6)
    diffusion_steps: int = knob(
        10, "diffusion steps T of the cosine schedule", low=1, high=1000, shapes=True
    )
    sample_opt_steps: int = knob(
        5, "energy-descent steps per diffusion step when sampling", low=0, shapes=True
    )
    clip_scale: float = knob(
        2.0, "y is clipped to clip_scale * sqrt(abar_t) (the continuous-task scale)", low=1e-6
    )
    ref_multiplier_overwrite: bool = knob(
        True,
        "reference quirk: every energy-descent step after the first uses multiplier clip_scale",
    )
    ref_first_t_clip: bool = knob(
        True, "reference quirk: clip a whole batch by the first problem's t"
    )
    ref_sample_shrink: bool = knob(
        True, "reference quirk: sampling returns sqrt(abar_0) * x0 instead of x0"
    )

    # --- negative mining and the energy loss (docs/method.md §5, 8)
    strategy: str = knob(
        "adversarial", "negative mining strategy", choices=tuple(Strategy), shapes=True
    )
    opt_steps: int = knob(
        2, "energy-descent (or ascent) steps that mine each negative", low=0, high=1000, shapes=True
    )
    ascent_lr: float = knob(1.0, "step multiplier sf of the first mining step", low=0.0)
    noise_scale: float = knob(3.0, "negatives start from q(y0, t, noise_scale * eps)", low=0.0)
    mixed_ratio: float = knob(
        0.3,
        "share of the batch with adversarial negatives (strategy 'mixed')",
        low=0.0,
        high=1.0,
        shapes=True,
    )
    energy_weight: float = knob(0.5, "weight of the energy-landscape loss in the total", low=0.0)
    preset: str = knob(
        "",
        "DCD ablation preset (docs/method.md §9), applied before explicit keys, which win (see PRESETS)",
        choices=tuple(PRESETS),
    )
    energy_loss: str = knob(
        "nce",
        "energy loss: nce (reference cross-entropy) or cd (mean E(pos) - mean E(neg))",
        choices=tuple(EnergyLoss),
    )
    langevin_steps: int = knob(
        10, "Langevin steps k of strategy 'langevin'", low=0, high=1000, shapes=True
    )
    langevin_step_scale: float = knob(
        1.0, "Langevin step size eta = langevin_step_scale * eta_t", low=0.0
    )
    langevin_sigma_scale: float = knob(
        1.0, "Langevin noise sigma = langevin_sigma_scale * sqrt(2 eta)", low=0.0
    )
    langevin_clamp: bool = knob(
        True, "keep Langevin iterates in the positives' range (see tune_ired.ired.langevin)"
    )
    replay: bool = knob(
        False,
        "start negatives from a replay buffer of earlier negatives (persistent chains)",
        shapes=True,
    )
    replay_capacity: int = knob(
        10_000,
        "negatives the replay buffer holds per seed (split among t buckets)",
        low=1,
        shapes=True,
    )
    replay_prob: float = knob(
        0.95, "p_replay: chance a negative starts from the buffer, else fresh", low=0.0, high=1.0
    )
    replay_per_t: bool = knob(
        True, "one FIFO bucket per diffusion step t (false: one global FIFO)", shapes=True
    )
    filter_percentile: float = knob(
        0.0,
        "false-negative filter: negatives below this percentile of ||A Y - I||_F (0: off)",
        low=0.0,
        high=100.0,
        shapes=True,
    )
    filter_per_t: bool = knob(
        True, "filter threshold per diffusion step t (false: per batch)", shapes=True
    )
    filter_weight: float = knob(
        0.0, "weight of filtered negatives in the energy loss (0: drop)", low=0.0, high=1.0
    )
    energy_warmup: float = knob(
        0.0, "energy weight ramps from 0 over this share of train_steps", low=0.0, high=1.0
    )
    energy_t_min: float = knob(0.0, "energy loss only for t >= energy_t_min * T", low=0.0, high=1.0)
    energy_t_max: float = knob(1.0, "energy loss only for t <= energy_t_max * T", low=0.0, high=1.0)
    energy_l2: float = knob(
        0.0, "add energy_l2 * (E_pos^2 + E_neg^2) to the energy loss (Du & Mordatch 2019)", low=0.0
    )

    # --- optimisation (docs/method.md §5)
    batch_size: int = knob(2048, "problems per training step", low=1, shapes=True)
    train_steps: int = knob(100_000, "optimiser steps of the whole run", low=1)
    lr: float = knob(1e-4, "Adam learning rate (peak, when a schedule is on)", low=0.0, high=1.0)
    adam_beta1: float = knob(0.9, "Adam beta1", low=0.0, high=1.0)
    adam_beta2: float = knob(0.99, "Adam beta2", low=0.0, high=1.0)
    grad_clip: float = knob(1.0, "clip each seed's gradient norm to this (0: no clipping)", low=0.0)
    lr_schedule: str = knob("constant", "learning-rate schedule", choices=("constant", "cosine"))
    cosine_start: int = knob(
        0, "step at which the cosine decay begins (constant lr before it)", low=0
    )
    lr_min_ratio: float = knob(0.0, "cosine decay ends at lr * lr_min_ratio", low=0.0, high=1.0)
    ema_decay: float = knob(0.995, "decay (beta) of the EMA of the weights", low=0.0, high=1.0)
    ema_update_every: int = knob(10, "update the EMA every this many steps", low=1)
    ema_update_after: int = knob(
        100, "EMA copies the weights until this step (ema-pytorch's warm-up)", low=0
    )

    # --- evaluation, stopping, checkpoints
    eval_every: int = knob(1000, "evaluate (and report) every this many steps", low=1)
    acc_tol: float = knob(
        0.05, "an element is accurate when within this of the true inverse", low=0.0
    )
    diverge_loss: float = knob(
        1e4, "a train/loss above this (or NaN/inf) ends the run as diverged", low=0.0
    )
    early_stop_patience: int = knob(
        0, "stop after this many evaluations without val/mse improving (0: never)", low=0
    )
    early_stop_min_delta: float = knob(
        0.0, "an improvement must lower val/mse by more than this", low=0.0
    )
    checkpoint_every: int = knob(
        0,
        "checkpoint every this many steps (0: every evaluation; sweep trials also space them >= 10 s)",
        low=0,
    )

    # --- runtime
    seed: int = knob(
        0, "seed of the run (the first seed when num_seeds > 1)", low=0, high=2**31 - 1
    )
    num_seeds: int = knob(
        1,
        "train seeds seed..seed+num_seeds-1 together as one batched computation",
        low=1,
        shapes=True,
    )
    device: str = knob(
        "cpu", "torch device: cpu, cuda, cuda:N or auto (cuda when available)", shapes=True
    )
    num_threads: int = knob(0, "torch CPU threads (0: leave torch's default)", low=0, shapes=True)
    compile: bool = knob(
        False,
        "torch.compile the training step's loss: fused element-wise kernels (tune_ired.training.speed)",
        shapes=True,
    )
    compile_mode: str = knob(
        "default",
        "torch.compile mode when compile=true: reduce-overhead replays CUDA graphs (GPU only)",
        choices=("default", "reduce-overhead", "max-autotune"),
        shapes=True,
    )
    precision: str = knob(
        "fp32",
        "training-step arithmetic: fp32, tf32 (CUDA matmuls on TF32 inputs) or bf16 (autocast; training.speed)",
        choices=("fp32", "tf32", "bf16"),
        shapes=True,
    )

    @property
    def seeds(self) -> list[int]:
        """The seeds this run trains, one model each."""
        return list(range(self.seed, self.seed + self.num_seeds))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Config)}
# how a run computes, not what: may change on resume
RUNTIME_KEYS = ("device", "num_threads", "compile", "compile_mode")


def check_key(key: str, *, source: str = "config") -> None:
    """Raise ConfigError if `key` is not a Config field, suggesting the closest key."""
    if key in FIELDS:
        return
    close = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(
        f"{source}: unknown key '{key}'.{hint} Known keys: {', '.join(FIELDS)} (python -m tune_ired.train --list-keys)."
    )


def describe_range(f: dataclasses.Field) -> str:
    """Human text for a field's allowed values."""
    md = f.metadata
    if md["choices"]:
        return "one of " + ", ".join(repr(str(c)) for c in md["choices"])
    kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}[
        f.type
    ]
    if md["low"] is not None and md["high"] is not None:
        return f"{kind} in [{md['low']}, {md['high']}]"
    if md["low"] is not None:
        return f"{kind} >= {md['low']}"
    return kind


def coerce_value(key: str, value: Any, *, source: str = "config") -> Any:
    """Convert `value` to the type of field `key` and check its range; raise ConfigError."""
    check_key(key, source=source)
    f = FIELDS[key]
    md = f.metadata
    bad = ConfigError(f"{source}: '{key}' = {value!r} is not valid; expected {describe_range(f)}.")
    if f.type == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise bad
    if f.type == "str":
        if not isinstance(value, str) or (md["choices"] and value not in md["choices"]):
            raise bad
        return value
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        raise bad
    if f.type == "int":
        if number != int(number):
            raise bad
        number = int(number)
    if (md["low"] is not None and number < md["low"]) or (
        md["high"] is not None and number > md["high"]
    ):
        raise bad
    return number


def check_device(device: str, *, source: str = "config") -> None:
    """Raise ConfigError unless `device` names cpu, auto, cuda or cuda:N."""
    tail = device.removeprefix("cuda:")
    if device in ("cpu", "auto", "cuda") or (device.startswith("cuda:") and tail.isdigit()):
        return
    raise ConfigError(
        f"{source}: 'device' = {device!r} is not valid; expected cpu, auto, cuda or cuda:N."
    )


def make_config(
    overrides: Mapping[str, Any] | None = None, *, budget: str | None = None, source: str = "config"
) -> Config:
    """Build a Config from the defaults, then a named budget, then its `preset`, then `overrides`."""
    values: dict[str, Any] = {}
    if budget is not None:
        if budget not in BUDGETS:
            raise ConfigError(
                f"{source}: unknown budget '{budget}'; expected one of {', '.join(BUDGETS)}."
            )
        values.update(BUDGETS[budget])
    overrides = overrides or {}
    values.update(PRESETS[coerce_value("preset", overrides.get("preset", ""), source=source)])
    values.update(overrides)
    typed = {key: coerce_value(key, value, source=source) for key, value in values.items()}
    check_device(typed.get("device", FIELDS["device"].default), source=source)
    cfg = Config(**typed)
    if cfg.cosine_start >= cfg.train_steps and cfg.lr_schedule == "cosine":
        raise ConfigError(
            f"{source}: 'cosine_start' = {cfg.cosine_start} must be below 'train_steps' = {cfg.train_steps}."
        )
    return cfg


Options = TypeVar("Options")


def options(kind: type[Options], cfg: Config) -> Options:
    """The option object `kind` of the maths (a frozen dataclass) filled from `cfg`.

    Each field takes the config key of its own name, and a field whose type is itself an
    option object is built the same way: a knob keeps its name from the command line to the
    line of maths that uses it, and its default lives once, in `Config`.
    """
    hints = typing.get_type_hints(kind)
    values = {
        f.name: options(hints[f.name], cfg)
        if dataclasses.is_dataclass(hints[f.name])
        else getattr(cfg, f.name)
        for f in dataclasses.fields(kind)
    }
    return kind(**values)


def parse_assignments(items: Iterable[str], *, source: str = "--set") -> dict[str, Any]:
    """Turn ['key=value', ...] into a dict, values typed by their fields."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"{source}: '{item}' is not of the form key=value.")
        out[key.strip()] = coerce_value(key.strip(), text.strip(), source=source)
    return out


def config_help() -> str:
    """A table of every key, its default and its allowed values."""
    lines = []
    for name, f in FIELDS.items():
        lines.append(
            f"  {name} (default {f.default!r}; {describe_range(f)})\n      {f.metadata['help']}"
        )
    return "\n".join(lines)
