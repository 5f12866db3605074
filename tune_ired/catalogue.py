"""The closed vocabularies of a run's record: metric keys, optimisation modes and trial statuses.

Every key the trainer writes into a metrics row is declared here once, with its group (the
part before the first '/'), whether it is measured per seed (then a batched run also
writes `seed/<s>/<key>`), its direction (lower or higher is better; None for quantities
that are not a quality, such as an energy or a rate) and whether a sweep may optimise
it. The trainer, the search-space validation, the tables and the report all read this
module; nothing else spells a metric key out. Torch-free, so the analysis side imports it.

    from tune_ired.catalogue import METRICS, VAL_MSE, Mode
    METRICS[VAL_MSE].direction        # Mode.MIN
    sweepable_metrics()               # what a search-space file may name as its metric
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """Which way a metric improves: Tune's `mode`."""

    MIN = "min"
    MAX = "max"


class TrialStatus(StrEnum):
    """How a trial of a sweep ended (or where it stands), as the tables and the console name it."""

    COMPLETED = "completed"  # trained its whole budget
    STOPPED = "stopped"  # stopped early by the scheduler (ASHA)
    EARLY_STOPPED = "early_stopped"  # its own plateau rule (early_stop_patience) ended it
    DIVERGED = "diverged"  # every seed diverged (NaN/inf or a loss above diverge_loss)
    ERRORED = "errored"  # raised, and its retries ran out
    RUNNING = "running"
    PENDING = "pending"


@dataclass(frozen=True)
class MetricInfo:
    """What one metric key means."""

    key: str
    help: str
    direction: Mode | None = None  # None: not a quality (energies, rates, timings, flags)
    per_seed: bool = True  # measured per seed: batched runs also write seed/<s>/<key>
    sweepable: bool = False  # a search-space file may optimise it

    @property
    def group(self) -> str:
        """The part before the first '/' (train, val, mine, perf), or 'run' for the row's bookkeeping."""
        head, sep, _ = self.key.partition("/")
        return head if sep else "run"


METRICS: dict[str, MetricInfo] = {}


def declare(key: str, help: str, **info) -> str:
    """Add `key` to METRICS (once) and return it, so producers write `row[VAL_MSE]`, never the literal."""
    if key in METRICS:
        raise ValueError(f"metric key {key!r} declared twice")
    METRICS[key] = MetricInfo(key=key, help=help, **info)
    return key


# --- the row's own bookkeeping (no group prefix)
STEP = declare("step", "optimiser steps done when the row was written", per_seed=False)
DIVERGED = declare("diverged", "every seed of the run has diverged: the run ends", per_seed=False)
SEED_DIVERGED = declare(
    "seed_diverged", "this seed diverged (NaN/inf, or a loss above diverge_loss); frozen since"
)
DIVERGED_STEP = declare("diverged_step", "step at which this seed diverged (null while it trains)")
SEEDS_DIVERGED = declare(
    "seeds_diverged", "how many of the run's seeds have diverged", per_seed=False
)
EARLY_STOPPED = declare(
    "early_stopped", "the plateau rule (early_stop_patience) ended the run", per_seed=False
)

# --- training, averaged over the steps since the last evaluation
TRAIN_LOSS = declare("train/loss", "total training loss", direction=Mode.MIN, sweepable=True)
TRAIN_LOSS_DENOISE = declare(
    "train/loss_denoise", "denoising loss L_mse", direction=Mode.MIN, sweepable=True
)
TRAIN_LOSS_ENERGY = declare("train/loss_energy", "weighted energy-landscape term (NCE or CD)")
TRAIN_GRAD_NORM = declare("train/grad_norm", "gradient norm before clipping")
TRAIN_LR = declare("train/lr", "learning rate in force")

# --- evaluation on the fixed sets (EMA weights unless noted)
VAL_MSE = declare(
    "val/mse", "MSE of sampled inverses, validation set", direction=Mode.MIN, sweepable=True
)
VAL_MSE_LIVE = declare(
    "val/mse_live", "val/mse of the live (non-EMA) weights", direction=Mode.MIN, sweepable=True
)
VAL_MSE_OOD = declare(
    "val/mse_ood", "MSE on the out-of-distribution set", direction=Mode.MIN, sweepable=True
)
VAL_RESIDUAL = declare("val/residual", "mean ||A Y - I||_F", direction=Mode.MIN, sweepable=True)
VAL_RESIDUAL_NORM = declare(
    "val/residual_norm", "val/residual divided by n", direction=Mode.MIN, sweepable=True
)
VAL_RESIDUAL_OOD = declare(
    "val/residual_ood", "residual on the OOD set", direction=Mode.MIN, sweepable=True
)
VAL_ELEM_ACC = declare(
    "val/elem_acc", "share of elements within acc_tol", direction=Mode.MAX, sweepable=True
)
VAL_BEST_MSE = declare(
    "val/best_mse", "best val/mse so far", direction=Mode.MIN, per_seed=False, sweepable=True
)
VAL_IS_BEST = declare("val/is_best", "this evaluation set a new best val/mse", per_seed=False)

# --- negative mining, averaged since the last evaluation (spec section 10)
MINE_ENERGY_POS = declare("mine/energy_pos", "mean energy of the positives")
MINE_ENERGY_NEG = declare("mine/energy_neg", "mean energy of the negatives")
MINE_ENERGY_GAP = declare("mine/energy_gap", "mean E(neg) - E(pos)")
MINE_FALSE_NEGATIVE_RATE = declare(
    "mine/false_negative_rate", "share of negatives within MSE 0.01 of the positive"
)
MINE_FILTER_SHARE = declare("mine/filter_share", "share of negatives the residual filter caught")
MINE_ENERGY_WEIGHT = declare("mine/energy_weight", "energy weight in force (warm-up schedule)")
MINE_GRAD_NORM = declare("mine/grad_norm", "mean ||dE/dy|| along the mining chain")
MINE_STEP_DISTANCE = declare(
    "mine/step_distance", "mean distance between consecutive chain iterates"
)
MINE_REJECT_SHARE = declare("mine/reject_share", "share of chain moves rejected")
MINE_REPLAY_REUSE = declare("mine/replay_reuse", "share of chains started from the replay buffer")
MINE_REPLAY_FILL = declare("mine/replay_fill", "share of the replay buffer in use")

# --- conditioning of positives vs negatives at evaluation (spec section 10), quantiles over problems
CONDITIONING_ROLES = ("pos", "neg")
CONDITIONING_STATS = ("logabsdet", "log10_cond", "smin_y", "smin_ay")  # quantiles of each
CONDITIONING_QUANTILES = {"q10": 0.1, "q50": 0.5, "q90": 0.9}


def conditioning_key(role: str, stat: str, quantile: str | None = None) -> str:
    """`mine/<role>_<stat>[_<quantile>]`, e.g. mine/neg_log10_cond_q50 (declared below)."""
    return f"mine/{role}_{stat}" + (f"_{quantile}" if quantile else "")


for _role in CONDITIONING_ROLES:
    declare(
        conditioning_key(_role, "det_negative"), f"share of {_role} candidates Y with det Y < 0"
    )
    for _stat in CONDITIONING_STATS:
        for _q in CONDITIONING_QUANTILES:
            declare(
                conditioning_key(_role, _stat, _q),
                f"{_q} over problems of {_stat} of the {_role} candidates",
            )

# --- speed
PERF_STEPS_PER_S = declare(
    "perf/steps_per_s", "optimiser steps per second since the last evaluation", per_seed=False
)
PERF_SEED_STEPS_PER_S = declare(
    "perf/seed_steps_per_s", "steps per second times seeds", per_seed=False
)
PERF_EVAL_S = declare("perf/eval_s", "seconds the evaluation took", per_seed=False)
PERF_COMPILE_S = declare(
    "perf/compile_s", "seconds torch.compile took before the first step (0: eager)", per_seed=False
)

SEED_KEY = re.compile(r"^seed/(\d+)/(.+)$")
DIVERGED_SENTINEL = (
    1e12  # reported to Tune in place of a non-finite sweep metric: worse than any real value
)


def seed_key(seed: int, key: str) -> str:
    """The per-seed form of a metric key: seed/<s>/<key>."""
    return f"seed/{seed}/{key}"


def sweepable_metrics() -> list[str]:
    """The keys a search-space file may name as its metric."""
    return [key for key, info in METRICS.items() if info.sweepable]


def direction_of(key: str) -> Mode | None:
    """The direction of a key (also of its per-seed form), None when it is not a quality or unknown."""
    match = SEED_KEY.match(key)
    info = METRICS.get(match.group(2) if match else key)
    return info.direction if info else None


def worst(mode: Mode | str) -> float:
    """The sentinel a non-finite metric is reported as, signed for `mode` so it always ranks last."""
    return DIVERGED_SENTINEL if Mode(mode) is Mode.MIN else -DIVERGED_SENTINEL
