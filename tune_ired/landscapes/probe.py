"""Probe one trained model's energy landscape around the true inverses: the tables behind the landscape figures.

`probe(snapshot, steps=[0, 5, 9], problems=32)` measures, per seed, at each diffusion step
t, on the first `problems` validation problems (x = vec(A), true inverse y0):
- The centre c = sqrt(abar_t) y0, the noise-free positive: the model sees candidates at
  that scale at step t (positives are q(y0, t, eps)). c is usually NOT the learned
  energy's minimum; each line's `offset` and `excess` say how far it lies from it.
- Three unit directions (Frobenius norm 1 in y space) per problem: `negative`, towards a
  negative mined by the trial's own strategy and knobs (`tune_ired.ired.mining`, with the
  checkpoint's replay buffer; for strategy `none`, which mines nothing, the reference
  `adversarial` miner with the trial's knobs), placed at c + (y_neg - y_pos), its offset
  from the positive it is compared with in the loss; `random`, a Gaussian direction;
  `prediction`, towards sqrt(abar_t) y_hat, the model's own sampled candidate (the
  evaluation's sampler and starting noise, x0 without the reference's final shrink).
- Along each, the energies at LINE_POINTS points of [-R, R], R = RADIUS_NOISE_NORMS
  noise norms sqrt(1 - abar_t) n (the typical distance of a positive from c), and the
  measures of `tune_ired.landscapes.basin` (depth, widths at a rise of one nat, offset, excess, the
  target's distance and rise), each the median over problems; and a 2-D slice on the
  plane of the negative and prediction directions (Gram-Schmidt), the median rise over
  problems at SLICE_POINTS x SLICE_POINTS points of [-R, R]^2.
Random draws (the random directions first, then the mining noise, Langevin and replay
choices) come from generators keyed (seed, Stream.LANDSCAPE, t): an arm's numbers at one
step do not depend on the other steps asked for, and every arm gets the same random
directions for the same seed.

Tables (long, one row per ...): `basin` (arm, trial, seed, train_step, t, direction, with
problems, noise_norm, radius, energy_centre and MEASURES), `profiles` (... direction,
alpha, quantiles q25/q50/q75 of the rise over problems), `slices` (arm, trial, t, seed, a,
b, rise) and `plane_targets` (arm, trial, t, seed, target, a, b).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from tune_ired.ired.config import Config, options
from tune_ired.ired.data import Problems, Stream, fixed_set, make_generator
from tune_ired.ired.diffusion import Schedule, q_sample
from tune_ired.ired.evaluate import EvalOptions, sample_candidates
from tune_ired.ired.mining import MiningOptions, mine
from tune_ired.ired.model import EnergyModel
from tune_ired.ired.noise import seed_randn
from tune_ired.landscapes.basin import (
    WIDTH_RISE,
    EnergyFn,
    basin_measures,
    energy_along,
    line_grid,
    orthonormal,
    plane_rises,
    target_measures,
    unit,
)
from tune_ired.landscapes.snapshots import Snapshot

LINE_POINTS = 41  # odd, so the centre is on the grid; a step of R/20
SLICE_POINTS = 21  # per axis of a 2-D slice
RADIUS_NOISE_NORMS = (
    4.0  # window half-width: beyond the negatives' starts at the reference noise_scale 3
)
MAX_ROWS = 16_384  # candidates per model call (all seeds): bounds memory at paper size
REFERENCE_MINER = "adversarial"  # what a `none` arm's "mined negative" direction uses
DIRECTIONS = ("negative", "random", "prediction")
MEASURES = (
    "depth",
    "width_back",
    "width_fwd",
    "offset",
    "excess",
    "target_distance",
    "target_rise",
)
# of a line's rise over problems, for the figures
QUANTILES = {"q25": 0.25, "q50": 0.5, "q75": 0.75}


@dataclass
class Landscape:
    """The long tables of one run or sweep (see `probe` for their columns) and what they were read from."""

    basin: pd.DataFrame
    profiles: pd.DataFrame
    slices: pd.DataFrame
    plane_targets: pd.DataFrame
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    width_rise: float = WIDTH_RISE  # the rise that defines the basin's width

    @staticmethod
    def table_names() -> tuple[str, ...]:
        return ("basin", "profiles", "slices", "plane_targets")


def model_energy(
    model: EnergyModel, x: torch.Tensor, t: torch.Tensor, *, max_rows: int = MAX_ROWS
) -> EnergyFn:
    """E(x, ., t) as an energy callable: candidates (S, P, K, d) -> (S, P, K), at most max_rows per model call."""
    seeds, problems, dim = x.shape

    def energy(y: torch.Tensor) -> torch.Tensor:
        chunk = max(1, max_rows // (seeds * problems))
        parts = []
        for part in y.split(chunk, dim=2):
            k = part.shape[2]
            xx = x[:, :, None].expand(-1, -1, k, -1).reshape(seeds, problems * k, dim)
            tt = t[:, :, None].expand(-1, -1, k).reshape(seeds, problems * k)
            with torch.no_grad():
                parts.append(
                    model(xx, part.reshape(seeds, problems * k, dim).to(x.dtype), tt).view(
                        seeds, problems, k
                    )
                )
        return torch.cat(parts, dim=2)

    return energy


def mining_config(cfg: Config) -> Config:
    """The config whose miner defines the `negative` direction: the trial's own, or the reference for `none`."""
    return dataclasses.replace(cfg, strategy=REFERENCE_MINER) if cfg.strategy == "none" else cfg


def mined_targets(
    snap: Snapshot,
    sched: Schedule,
    problems: Problems,
    t: torch.Tensor,
    generators: list[torch.Generator],
) -> torch.Tensor:
    """Mined negatives placed at c + (y_neg - y_pos), (S, P, d), from the seeds' generators (eps drawn first)."""
    mining = options(MiningOptions, mining_config(snap.cfg))
    eps = seed_randn(generators, tuple(problems.y0.shape[1:]))
    _, mined, _ = mine(
        snap.model,
        sched,
        problems,
        t=t,
        eps=eps,
        generators=generators,
        options=mining,
        miner=mining.miner(),
        replay=snap.replay,
    )
    y_pos = q_sample(sched, problems.y0, t, eps)
    return sched.sqrt_alphas_cumprod[t][..., None] * problems.y0 + (mined.y - y_pos)


def predictions(snap: Snapshot, sched: Schedule, problems: Problems) -> torch.Tensor:
    """The model's sampled clean candidates (S, P, d) for problems (P, d): the evaluation's sampler, no shrink."""
    unshrunk = dataclasses.replace(options(EvalOptions, snap.cfg), ref_sample_shrink=False)
    return sample_candidates(snap.model, sched, problems, options=unshrunk)


def over_problems(values: torch.Tensor, q: float | None = None) -> np.ndarray:
    """The median (or q-quantile) over problems (axis 1) of values (S, P, ...), NaN problems ignored: (S, ...).

    Medians keep +inf (a width never reached) when the upper middle value is +inf.
    """
    array = values.double().numpy()
    with warnings.catch_warnings():
        # all problems NaN (a diverged seed): NaN, said in the table
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(array, axis=1) if q is None else np.nanquantile(array, q, axis=1)


@dataclass(frozen=True)
class StepFrame:
    """What one step t of one snapshot shares: problems and centre on the seed axis, energy, grids."""

    t: int
    steps: torch.Tensor  # (S, P), all t
    problems: Problems  # (S, P, d)
    centre: torch.Tensor  # (S, P, d)
    energy: EnergyFn
    alphas: torch.Tensor  # (K,) the line grid
    coords: torch.Tensor  # (A,) each axis of the slice grid
    noise_norm: float


def step_frame(snap: Snapshot, sched: Schedule, problems: Problems, t: int) -> StepFrame:
    """The centre c = sqrt(abar_t) y0, the energy at step t and the grids, for every seed."""
    seeds = snap.cfg.num_seeds
    stacked = Problems(x=problems.x.expand(seeds, -1, -1), y0=problems.y0.expand(seeds, -1, -1))
    steps = torch.full(stacked.x.shape[:2], t, dtype=torch.long)
    noise_norm = float(sched.sqrt_one_minus_alphas_cumprod[t]) * problems.x.shape[-1] ** 0.5
    radius = RADIUS_NOISE_NORMS * noise_norm
    return StepFrame(
        t=t,
        steps=steps,
        problems=stacked,
        centre=sched.sqrt_alphas_cumprod[t] * stacked.y0,
        energy=model_energy(snap.model, stacked.x, steps),
        alphas=line_grid(radius=radius, points=LINE_POINTS),
        coords=line_grid(radius=radius, points=SLICE_POINTS),
        noise_norm=noise_norm,
    )


def targets(
    snap: Snapshot, sched: Schedule, frame: StepFrame, predicted: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Each direction's target point (S, P, d); the random one, c + a Gaussian draw, first (alike for every arm)."""
    generators = [
        make_generator(torch.device("cpu"), seed, Stream.LANDSCAPE, frame.t)
        for seed in snap.cfg.seeds
    ]
    random = frame.centre + seed_randn(generators, tuple(frame.centre.shape[1:]))
    return {
        "negative": mined_targets(snap, sched, frame.problems, frame.steps, generators),
        "random": random,
        "prediction": sched.sqrt_alphas_cumprod[frame.t] * predicted,
    }


def line_tables(
    snap: Snapshot, frame: StepFrame, name: str, target: torch.Tensor
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One direction's basin rows (one per seed) and profile rows (per seed and grid point)."""
    line = energy_along(frame.energy, frame.centre, unit(target - frame.centre), frame.alphas)
    measures = basin_measures(line)
    if name != "random":
        measures |= target_measures(frame.energy, frame.centre, target)
    seeds = snap.cfg.seeds
    basin = pd.DataFrame(
        {
            "arm": snap.source.label,
            "trial": snap.source.trial,
            "seed": seeds,
            "train_step": snap.step,
            "t": frame.t,
            "direction": name,
            "problems": frame.centre.shape[1],
            "noise_norm": frame.noise_norm,
            "radius": float(frame.alphas[-1]),
            "energy_centre": over_problems(line.centre_energy),
            **{
                key: over_problems(measures[key]) if key in measures else np.nan for key in MEASURES
            },
        }
    )
    grid = len(frame.alphas)
    profiles = pd.DataFrame(
        {
            "arm": snap.source.label,
            "trial": snap.source.trial,
            "seed": np.repeat(seeds, grid),
            "t": frame.t,
            "direction": name,
            "alpha": np.tile(frame.alphas.numpy(), len(seeds)),
            **{key: over_problems(line.rises, q).ravel() for key, q in QUANTILES.items()},
        }
    )
    return basin, profiles


def plane_tables(
    snap: Snapshot, frame: StepFrame, points: dict[str, torch.Tensor]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The slice on the plane of the negative and prediction directions (median rise over problems, per seed),
    and where the negative and the prediction lie on it (medians over problems)."""
    to_negative, to_prediction = (
        points["negative"] - frame.centre,
        points["prediction"] - frame.centre,
    )
    u1 = unit(to_negative)
    u2 = orthonormal(u1, to_prediction)
    # (S, A, B)
    rises = over_problems(plane_rises(frame.energy, frame.centre, (u1, u2), frame.coords))
    seeds, size = snap.cfg.seeds, len(frame.coords)
    coords = frame.coords.numpy()
    common = {"arm": snap.source.label, "trial": snap.source.trial, "t": frame.t}
    slices = pd.DataFrame(
        {
            **common,
            "seed": np.repeat(seeds, size * size),
            "a": np.tile(np.repeat(coords, size), len(seeds)),
            "b": np.tile(coords, size * len(seeds)),
            "rise": rises.ravel(),
        }
    )
    where = {
        "negative": (to_negative.norm(dim=-1), torch.zeros_like(u1[..., 0])),
        "prediction": ((to_prediction * u1).sum(dim=-1), (to_prediction * u2).sum(dim=-1)),
    }
    marks = pd.concat(
        [
            pd.DataFrame(
                {
                    **common,
                    "seed": seeds,
                    "target": name,
                    "a": over_problems(a),
                    "b": over_problems(b),
                }
            )
            for name, (a, b) in where.items()
        ],
        ignore_index=True,
    )
    return slices, marks


def probe(snap: Snapshot, *, steps: list[int], problems: int) -> Landscape:
    """The landscape tables of one snapshot at diffusion steps `steps` on its first `problems` validation problems."""
    cfg = snap.cfg
    sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=torch.device("cpu"))
    fixed = fixed_set(
        cfg.val_size, cfg.n, cfg.train_lambda, seed=cfg.val_seed, device=torch.device("cpu")
    )
    chosen = Problems(x=fixed.x[:problems], y0=fixed.y0[:problems])
    predicted = predictions(snap, sched, chosen)
    parts: dict[str, list[pd.DataFrame]] = {key: [] for key in Landscape.table_names()}
    for t in steps:
        frame = step_frame(snap, sched, chosen, t)
        points = targets(snap, sched, frame, predicted)
        for name in DIRECTIONS:
            basin, profiles = line_tables(snap, frame, name, points[name])
            parts["basin"].append(basin)
            parts["profiles"].append(profiles)
        slices, marks = plane_tables(snap, frame, points)
        parts["slices"].append(slices)
        parts["plane_targets"].append(marks)
    source = snap.source
    return Landscape(
        **{key: pd.concat(frames, ignore_index=True) for key, frames in parts.items()},
        sources=[
            f"{source.label}: {source.checkpoint} (training step {snap.step}, {snap.weights} weights)"
        ],
    )


def default_steps(diffusion_steps: int) -> list[int]:
    """The first, middle and last diffusion step."""
    return sorted({0, diffusion_steps // 2, diffusion_steps - 1})
