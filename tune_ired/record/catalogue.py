"""The closed vocabularies of a run's record: metric keys, optimisation modes and trial statuses.

Every key the trainer writes into a metrics row is declared here once, with its group (the
part before the first '/'), whether it is measured per seed (then a batched run also
writes `seed/<s>/<key>`), its direction (lower or higher is better; None for quantities
that are not a quality, such as an energy or a rate) and whether a sweep may optimise
it. A sweepable metric also declares its valid range (an MSE is never negative, an accuracy
lies in [0, 1]) and what the trivial predictor (predicting zero) scores on it
(`trivial_score`: the floor a diverged seed is scored at, tune_ired.analysis.divergence).
The trainer, the search-space validation, the tables and the report all read this
module; nothing else spells a metric key out. Torch-free, so the analysis side imports it.

    from tune_ired.record.catalogue import METRICS, VAL_MSE, Mode, as_mode, trivial_score
    METRICS[VAL_MSE].direction        # Mode.MIN
    as_mode("MIN")                    # Mode.MIN (any case; ValueError naming min, max otherwise)
    sweepable_metrics()               # what a search-space file may name as its metric
    trivial_score(VAL_MSE, {"n": 5, "train_lambda": 0.5})   # about 0.163: the MSE of predicting zero
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Mode(StrEnum):
    """Which way a metric improves: Tune's `mode`."""

    MIN = "min"
    MAX = "max"


def as_mode(value: Mode | str) -> Mode:
    """`value` as a Mode, in any case ('MIN', 'Max', Mode.MIN); ValueError naming the allowed values."""
    try:
        return Mode(str(value).lower())
    except ValueError:
        raise ValueError(
            f"mode must be one of {', '.join(Mode)} (any case), not {value!r}"
        ) from None


class TrialStatus(StrEnum):
    """How a trial of a sweep ended (or where it stands), as the tables and the console name it."""

    COMPLETED = "completed"  # trained its whole budget
    STOPPED = "stopped"  # stopped early by the scheduler (ASHA)
    EARLY_STOPPED = "early_stopped"  # its own plateau rule (early_stop_patience) ended it
    DIVERGED = "diverged"  # every seed diverged (NaN/inf or a loss above diverge_loss)
    ERRORED = "errored"  # raised, and its retries ran out
    RUNNING = "running"
    PENDING = "pending"


UNFINISHED = (TrialStatus.RUNNING, TrialStatus.PENDING)  # where a trial still has to train


class Trivial(StrEnum):
    """What the trivial predictor (Y = 0, or zero noise) scores on a metric, by kind of metric."""

    ZERO_INVERSE = "zero_inverse"  # MSE of Y = 0: E[mean(y0^2)], y0 = A^-1, on the set's problems
    IDENTITY_RESIDUAL = "identity_residual"  # ||A 0 - I||_F = sqrt(n)
    IDENTITY_RESIDUAL_NORM = "identity_residual_norm"  # sqrt(n) / n
    FLOOR = "floor"  # a share's floor: 0 (no element within tolerance)
    UNIT_NOISE = "unit_noise"  # the denoiser predicting zero noise: E[eps^2] = 1


ANY_VALUE = (-math.inf, math.inf)
NON_NEGATIVE = (0.0, math.inf)
SHARE = (0.0, 1.0)
# config keys the trivial predictor's score depends on (fields of tune_ired.ired.config.Config)
MATRIX_SIZE_KEY = "n"
TRAIN_LAMBDA_KEY, OOD_LAMBDA_KEY = "train_lambda", "ood_lambda"
TRIVIAL_SEED = 20261206  # the Monte Carlo's own seed: the same config always gives the same score
TRIVIAL_PROBLEMS = 65536  # the Monte Carlo's problems at most: relative standard error <= 0.3%
TRIVIAL_WORK = 2**27  # and about this many multiply-adds at most (n^3 a problem): fewer for n > 12
TRIVIAL_CHUNK = 4096  # problems drawn and inverted at a time


@dataclass(frozen=True)
class MetricInfo:
    """What one metric key means."""

    key: str
    help: str
    direction: Mode | None = None  # None: not a quality (energies, rates, timings, flags)
    per_seed: bool = True  # measured per seed: batched runs also write seed/<s>/<key>
    sweepable: bool = False  # a search-space file may optimise it
    valid: tuple[float, float] = ANY_VALUE  # the values it can take (inclusive); others are errors
    trivial: Trivial | None = None  # what predicting zero scores on it (None: no such floor)
    lam: str | None = None  # the config key of the diagonal shift of the set it is measured on

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
# the energy term of contrastive divergence is unbounded below: any value
TRAIN_LOSS = declare(
    "train/loss", "total training loss", direction=Mode.MIN, sweepable=True, valid=ANY_VALUE
)
TRAIN_LOSS_DENOISE = declare(
    "train/loss_denoise",
    "denoising loss L_mse",
    direction=Mode.MIN,
    sweepable=True,
    valid=NON_NEGATIVE,
    trivial=Trivial.UNIT_NOISE,
)
TRAIN_LOSS_ENERGY = declare("train/loss_energy", "weighted energy-landscape term (NCE or CD)")
TRAIN_GRAD_NORM = declare("train/grad_norm", "gradient norm before clipping")
TRAIN_LR = declare("train/lr", "learning rate in force")

# --- evaluation on the fixed sets (EMA weights unless noted)
ERROR_METRIC = dict(direction=Mode.MIN, sweepable=True, valid=NON_NEGATIVE)  # an error: 0 at best
MSE_METRIC = dict(ERROR_METRIC, trivial=Trivial.ZERO_INVERSE, lam=TRAIN_LAMBDA_KEY)
ON_OOD_SET = dict(lam=OOD_LAMBDA_KEY)
VAL_MSE = declare("val/mse", "MSE of sampled inverses, validation set", **MSE_METRIC)
VAL_MSE_LIVE = declare("val/mse_live", "val/mse of the live (non-EMA) weights", **MSE_METRIC)
VAL_MSE_OOD = declare(
    "val/mse_ood", "MSE on the out-of-distribution set", **(MSE_METRIC | ON_OOD_SET)
)
VAL_RESIDUAL = declare(
    "val/residual", "mean ||A Y - I||_F", **ERROR_METRIC, trivial=Trivial.IDENTITY_RESIDUAL
)
VAL_RESIDUAL_NORM = declare(
    "val/residual_norm",
    "val/residual divided by n",
    **ERROR_METRIC,
    trivial=Trivial.IDENTITY_RESIDUAL_NORM,
)
VAL_RESIDUAL_OOD = declare(
    "val/residual_ood", "residual on the OOD set", **ERROR_METRIC, trivial=Trivial.IDENTITY_RESIDUAL
)
VAL_ELEM_ACC = declare(
    "val/elem_acc",
    "share of elements within acc_tol",
    direction=Mode.MAX,
    sweepable=True,
    valid=SHARE,
    trivial=Trivial.FLOOR,
)
VAL_BEST_MSE = declare("val/best_mse", "best val/mse so far", **MSE_METRIC, per_seed=False)
VAL_IS_BEST = declare("val/is_best", "this evaluation set a new best val/mse", per_seed=False)

# --- negative mining, averaged since the last evaluation (docs/method.md §10)
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

# --- conditioning of positives vs negatives at evaluation (docs/method.md §10), quantiles over problems
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
    info = metric_info(key)
    return info.direction if info else None


def worst(mode: Mode | str) -> float:
    """The sentinel a non-finite metric is reported as, signed for `mode` so it always ranks last."""
    return DIVERGED_SENTINEL if Mode(mode) is Mode.MIN else -DIVERGED_SENTINEL


def metric_info(key: str) -> MetricInfo | None:
    """The declaration of a key (also of its per-seed form seed/<s>/<key>), None when unknown."""
    match = SEED_KEY.match(key)
    return METRICS.get(match.group(2) if match else key)


@lru_cache(maxsize=64)
def zero_inverse_mse(n: int, lam: float) -> float:
    """E[mean(y0^2)] for y0 = A^-1, A = 2 R R^T + lam I, R ~ U(-1, 1)^{n x n}: the MSE of predicting Y = 0.

    A seeded Monte Carlo over up to TRIVIAL_PROBLEMS problems of the problem distribution
    of tune_ired.ired.data, in float64 numpy; cached per (n, lam).
    """
    import numpy as np  # here, not at the top: command lines read this module before --help answers

    problems = max(256, min(TRIVIAL_PROBLEMS, TRIVIAL_WORK // n**3))
    rng = np.random.default_rng([TRIVIAL_SEED, n])
    total = 0.0
    for start in range(0, problems, TRIVIAL_CHUNK):
        r = rng.uniform(-1.0, 1.0, size=(min(TRIVIAL_CHUNK, problems - start), n, n))
        total += float((np.linalg.inv(2 * r @ r.transpose(0, 2, 1) + lam * np.eye(n)) ** 2).sum())
    return total / (problems * n * n)


def trivial_score(key: str, config: Mapping[str, object]) -> float:
    """What the trivial predictor scores on metric `key` under a run's `config` (NaN: no such floor, or
    a config key it needs is missing, as in an older folder's partial config)."""
    info = metric_info(key)
    kind = info.trivial if info else None
    if kind is None:
        return math.nan
    if kind is Trivial.FLOOR:
        return float(info.valid[0])
    if kind is Trivial.UNIT_NOISE:
        return 1.0
    n = config.get(MATRIX_SIZE_KEY)
    if not isinstance(n, (int, float)) or not math.isfinite(n):
        return math.nan
    if kind is Trivial.IDENTITY_RESIDUAL:
        return math.sqrt(n)
    if kind is Trivial.IDENTITY_RESIDUAL_NORM:
        return math.sqrt(n) / n
    lam = config.get(info.lam)
    if not isinstance(lam, (int, float)) or not math.isfinite(lam):
        return math.nan
    return zero_inverse_mse(int(n), float(lam))
