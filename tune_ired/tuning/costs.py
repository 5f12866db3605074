"""What a planned sweep will cost: each trial's seconds from a calibration of its shape, or from a model.

    estimate = sweep_estimate(plan, at_once=2)        # a tune_ired.record.estimate.Estimate
    print("\\n".join(estimate_lines(estimate, asha=plan.spec.scheduler is not None)))

A trial costs its start-up, its steps times the step's seconds and its evaluations times an
evaluation's seconds. Those depend on the trial's shape (the config keys marked `shapes` in
`tune_ired.ired.config`: sizes, seeds, strategy and chain lengths, device, threads, compile,
precision) and the device, so each distinct shape is timed once (`calibrate`: a trainer of
that shape takes a few steps and one evaluation on a subset of the validation set, scaled to
the whole) and cached in `~/.cache/tune_ired/step-costs.json` per device, shape and code
version (a hash of the method's and the training loop's sources): a second dry run is instant.
Where the plan's device is not on this machine (planning a GPU sweep on a CPU login node), a
calibration cached on such a device is used (a shared home carries it from a GPU node), else
the step's matmul FLOPs (`step_flops`) at a share of a named GPU's peak rate
(`DEVICE_RATES`, `MODEL_EFFICIENCY`) stand in, and the estimate says so. Per-trial and per-sweep
overheads (`TRIAL_START_S`, `SWEEP_START_S`) were measured by benchmarks/bench_estimate.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_ired._lazy import lazy
from tune_ired.cli import fail
from tune_ired.ired.config import FIELDS, Config, Strategy
from tune_ired.record import provenance
from tune_ired.record.estimate import HOUR_S, Estimate, duration_text
from tune_ired.record.files import read_json, write_json
from tune_ired.tuning.arguments import CONTINUE_VARIABLE
from tune_ired.tuning.resources import job_nodes, local_nodes, trials_at_once
from tune_ired.tuning.validate import evaluations

if TYPE_CHECKING:
    from tune_ired.space import SearchSpace
    from tune_ired.tuning.plan import Plan

torch = lazy("torch")
training = lazy("tune_ired.training.trainer")

CACHE_VARIABLE = "TUNE_IRED_COST_CACHE"  # another cache file (tests, a shared cluster-wide one)
CALIBRATION_WARM_UP = 2  # steps before the clock starts: the first steps allocate and warm caches
CALIBRATION_MIN_S = 0.5  # time at least this long of steps...
CALIBRATION_STEPS = (3, 50)  # ...and at least 3, at most 50 of them
EVAL_PROBLEMS = 128  # an evaluation is timed on this many validation problems, scaled linearly
# measured by benchmarks/bench_estimate.py (2026-12-06, this project's 2-core CPU machine): Ray's start,
# Tune's set-up and the closing tables of a local sweep, and a trial's start in its actor (process,
# imports, Tune's bookkeeping and checkpoints) beyond the trainer's own build
SWEEP_START_S = 14.0
TRIAL_START_S = 2.5
# peak dense matmul rates, TFLOP/s, by precision (vendors' datasheets; H200 computes as the H100 SXM)
DEVICE_RATES = {
    "H100": {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0},
    "H200": {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0},
}
DEFAULT_GPU = "H100"  # the GPU a model assumes when nothing names one
MODEL_EFFICIENCY = (
    0.3  # share of the peak a step's small MLP matmuls reach (a guess until calibrated)
)
STEP_LAUNCH_S = 2e-3  # a step's fixed cost on a GPU (hundreds of kernel launches), eager
FLOPS_PER_MAC = 2
# a run left without --budget that would take longer than this here is not started unasked
LONG_RUN_S = HOUR_S


@dataclass(frozen=True)
class StepCost:
    """One trial shape on one device: seconds per optimiser step, per evaluation, and to build the trainer."""

    step_s: float
    eval_s: float
    build_s: float
    basis: str  # "calibrated on ...", or "modelled: ..."


def shape_of(cfg: Config) -> dict[str, Any]:
    """The config keys that decide how much a step and an evaluation compute (`shapes` in the config)."""
    return {name: getattr(cfg, name) for name, f in FIELDS.items() if f.metadata["shapes"]}


def code_version() -> str:
    """A hash of the method's and the training loop's sources: a calibration holds for this code."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*package.glob("ired/*.py"), *package.glob("training/*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_path() -> Path:
    default = Path.home() / ".cache" / "tune_ired" / "step-costs.json"
    return Path(os.environ.get(CACHE_VARIABLE) or default)


def device_label(cfg: Config) -> str | None:
    """The device a trial of `cfg` computes on, as this machine names it (None: a GPU it does not have)."""
    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return f"cpu {provenance.cpu_name()} x{cfg.num_threads} thread(s)"
    if not torch.cuda.is_available():
        return None
    index = int(cfg.device.partition(":")[2] or 0)
    return f"cuda {torch.cuda.get_device_name(index)}"


def calibrate(cfg: Config) -> StepCost:
    """Time `cfg`'s trainer here: its build, a few steps after a warm-up, and one evaluation (scaled)."""
    problems = min(cfg.val_size, EVAL_PROBLEMS)
    probe = dataclasses.replace(cfg, train_steps=10**9, eval_every=10**9, val_size=problems)
    started = time.perf_counter()
    trainer = training.Trainer(probe)
    build_s = time.perf_counter() - started
    for _ in range(CALIBRATION_WARM_UP):
        trainer.train_step()
    sync(trainer)
    steps, started = 0, time.perf_counter()
    while steps < CALIBRATION_STEPS[1] and (
        steps < CALIBRATION_STEPS[0] or time.perf_counter() - started < CALIBRATION_MIN_S
    ):
        trainer.train_step()
        steps += 1
    sync(trainer)
    step_s = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    trainer.evaluate()
    sync(trainer)
    eval_s = (time.perf_counter() - started) * cfg.val_size / problems
    return StepCost(step_s=step_s, eval_s=eval_s, build_s=build_s, basis="")


def sync(trainer) -> None:
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)


def step_flops(cfg: Config) -> dict[str, int]:
    """Matmul FLOPs of one training step, by phase (the MLP's; the rest is small beside it).

    Per problem, with d = n^2 and h = hidden: layer 1 is d x h on x (the conditioning, computed
    once per step and shared by every pass) plus d x h on y; layers 2, 3 are h x h; layer 4 is
    h x d. An energy pass costs `fwd` = (y half of layer 1) + layers 2-4, and the hand-written
    dE/dy the same again. The double backward of the denoising loss gives every forward matmul
    its weight gradient (and its input gradient where the input depends on the weights) and
    every gradient-path matmul two products; the x half's weight gradient is taken once. A
    descent (or ascent) chain of k moves costs (2k + 1) passes, a Langevin chain 2 per move;
    the energy term is two passes of B rows (positive and negative) and their backward.
    """
    d, h, td = cfg.n * cfg.n, cfg.hidden, cfg.time_dim
    x_half, fwd = d * h, d * h + 2 * h * h + h * d
    hidden_inputs = 2 * h * h + h * d  # layers 2-4, whose inputs depend on the weights
    descent = (2 * cfg.opt_steps + 1) * fwd if cfg.opt_steps > 0 else 0
    mining = {
        Strategy.NONE: 0,
        Strategy.RANDOM: 0,
        Strategy.ADVERSARIAL: descent,
        Strategy.ASCENT: descent,
        Strategy.MIXED: round(cfg.mixed_ratio * descent),
        Strategy.LANGEVIN: 2 * cfg.langevin_steps * fwd,
    }[Strategy(cfg.strategy)]
    energy = 0 if cfg.strategy == Strategy.NONE else 2 * (fwd + fwd + hidden_inputs)
    per_problem = {
        "denoise": x_half + fwd + fwd + (x_half + fwd) + hidden_inputs + 2 * fwd,
        "mining": mining,
        "energy pass": energy,
    }
    rows = cfg.num_seeds * cfg.batch_size
    flops = {phase: FLOPS_PER_MAC * rows * macs for phase, macs in per_problem.items()}
    time_mlp = cfg.diffusion_steps * (2 * td * td + 2 * td * 2 * h)
    flops["time MLP"] = FLOPS_PER_MAC * cfg.num_seeds * time_mlp * 3  # forward and backward
    return flops


def eval_flops(cfg: Config) -> int:
    """Matmul FLOPs of one evaluation: three sampler runs (EMA weights on the validation and OOD sets,
    live weights on the validation set), T steps of (1 + 2 x sample_opt_steps) passes of energy and
    gradient each."""
    d, h = cfg.n * cfg.n, cfg.hidden
    fwd = 2 * d * h + 2 * h * h + h * d
    passes = cfg.diffusion_steps * (1 + 2 * cfg.sample_opt_steps)
    return FLOPS_PER_MAC * 3 * cfg.num_seeds * cfg.val_size * passes * 2 * fwd


def model_gpu(name: str | None) -> str:
    """The DEVICE_RATES entry a GPU's name (or SLURM's GRES type, e.g. h100) stands for; DEFAULT_GPU
    when none matches."""
    return next((gpu for gpu in DEVICE_RATES if gpu.lower() in (name or "").lower()), DEFAULT_GPU)


def modelled(cfg: Config, gpu: str) -> StepCost:
    """A GPU's step and evaluation seconds from their FLOPs at MODEL_EFFICIENCY of its peak rate."""
    rate = DEVICE_RATES[gpu][cfg.precision] * 1e12 * MODEL_EFFICIENCY
    step_s = sum(step_flops(cfg).values()) / rate + STEP_LAUNCH_S
    basis = (
        f"modelled for an {gpu} (FLOPs at {MODEL_EFFICIENCY:.0%} of its {cfg.precision} peak; "
        "a dry run on a GPU node calibrates it)"
    )
    return StepCost(step_s=step_s, eval_s=eval_flops(cfg) / rate, build_s=0.0, basis=basis)


class Costs:
    """Step costs of trial shapes: from the cache, else calibrated here (and cached), else modelled."""

    def __init__(self, *, gpu: str | None = None, echo=print):
        self.path, self.version, self.gpu, self.echo = cache_path(), code_version(), gpu, echo
        self.entries: dict[str, Any] = read_json(self.path)
        self.changed = False

    def key(self, device: str, cfg: Config) -> str:
        return json.dumps([self.version, device, shape_of(cfg)], sort_keys=True)

    def cost(self, cfg: Config) -> StepCost:
        """The step cost of `cfg`'s shape on the device it names."""
        device = device_label(cfg)
        if device is None:
            return self.elsewhere(cfg)
        key = self.key(device, cfg)
        if key not in self.entries:
            self.echo(f"calibrating a trial shape on {device} ...", file=sys.stderr, flush=True)
            self.entries[key] = dataclasses.asdict(calibrate(cfg))
            self.changed = True
        return dataclasses.replace(StepCost(**self.entries[key]), basis=f"calibrated on {device}")

    def elsewhere(self, cfg: Config) -> StepCost:
        """A GPU this machine lacks: a calibration cached on one, else the model."""
        cached = [
            (json.loads(key)[1], value)
            for key, value in self.entries.items()
            if json.loads(key)[0] == self.version
            and json.loads(key)[1].startswith("cuda")
            and json.loads(key)[2] == shape_of(cfg)
        ]
        if cached:
            device, value = cached[0]
            return dataclasses.replace(
                StepCost(**value), basis=f"calibrated earlier on {device} (read from {self.path})"
            )
        return modelled(cfg, model_gpu(self.gpu))

    def save(self) -> None:
        if self.changed:
            write_json(self.path, self.entries)
            self.changed = False


def trial_seconds(cfg: Config, cost: StepCost, *, evaluated: int) -> tuple[float, float]:
    """(seconds to train `evaluated` evaluations, seconds per step) of one trial."""
    steps = min(cfg.train_steps, evaluated * cfg.eval_every)
    seconds = TRIAL_START_S + cost.build_s + steps * cost.step_s + evaluated * cost.eval_s
    return seconds, cost.step_s


def sweep_estimate(plan: Plan, *, at_once: int | None, gpu: str | None = None) -> Estimate:
    """The estimate of a planned sweep: each trial's seconds to its end and to ASHA's first rung."""
    own = Costs(gpu=gpu)
    seconds, first, per_step, bases = [], [], [], set()
    grace = plan.spec.scheduler.grace_period if plan.spec.scheduler is not None else None
    threads = int(plan.resources["cpu"])  # a trial's torch threads, unless its config sets them
    for trial in plan.trials.configs:
        cfg = dataclasses.replace(trial, num_threads=trial.num_threads or threads)
        cost = own.cost(cfg)
        full, step_s = trial_seconds(cfg, cost, evaluated=evaluations(cfg))
        seconds.append(full)
        rung = min(grace, evaluations(cfg)) if grace else evaluations(cfg)
        first.append(trial_seconds(cfg, cost, evaluated=rung)[0])
        per_step.append(step_s)
        bases.add(cost.basis)
    own.save()
    gpus = plan.resources["gpu"]
    return Estimate(
        seconds=seconds,
        first_rung=first,
        step_s=per_step,
        at_once=at_once,
        start_s=SWEEP_START_S,
        units_per_trial=gpus if gpus > 0 else plan.resources["cpu"],
        unit="GPU" if gpus > 0 else "CPU core",
        basis="; ".join(sorted(bases)),
    )


def plan_estimate(
    plan: Plan,
    *,
    nodes: list[tuple[float, float]] | None = None,
    share: int = 1,
    gpu: str | None = None,
) -> Estimate:
    """What `plan` costs on `nodes` ((CPUs, GPUs) each): by default this machine, or the SLURM job the
    process runs in when the plan joins a cluster (without one, trials at once are unknown before the
    cluster is joined). `share`: studies run side by side, each with that share of the trial slots.
    `gpu`: the GPU a model assumes where none is here (DEVICE_RATES' names; default DEFAULT_GPU)."""
    if nodes is None:
        nodes = job_nodes() if plan.address else local_nodes()
    at_once = None
    if nodes is not None:
        trials = len(plan.trials.configs)
        slots = trials_at_once(nodes, plan.resources, trials=trials, limit=plan.max_concurrent)
        at_once = max(1, slots // share)
    return sweep_estimate(plan, at_once=at_once, gpu=gpu)


def hours_text(hours: float, unit: str) -> str:
    return f"{hours:.2f} {unit}-hours" if hours < 10 else f"{hours:.0f} {unit}-hours"


def estimate_lines(estimate: Estimate, *, asha: bool) -> list[str]:
    """The estimate in words: trials at once, wall time (a range under ASHA), device-hours, its basis."""
    count = len(estimate.seconds)
    at_once = (
        "unknown (the cluster's size is known once joined)"
        if estimate.at_once is None
        else estimate.at_once
    )
    full, low = estimate.wall(), estimate.wall(first_rung=True)
    longest = duration_text(max(estimate.seconds, default=0))
    if full is None:
        wall = f"not estimated: {count} trials of at most {longest} each"
    elif asha and low < full:
        wall = (
            f"{duration_text(low)} (ASHA stops every trial at its first rung) to "
            f"{duration_text(full)} (none stopped)"
        )
    else:
        wall = duration_text(full)
    hours = hours_text(estimate.device_hours(), estimate.unit)
    if asha:
        hours = f"{hours_text(estimate.device_hours(first_rung=True), estimate.unit)} to {hours}"
    return [
        f"estimate: {count} trials, {at_once} at once; wall time {wall}; {hours}",
        f"  step costs {estimate.basis}",
        *(f"  {note}" for note in estimate.notes),
    ]


def unasked_long_run(
    args: argparse.Namespace, spec: SearchSpace, budget: str, wall: float, what: str
) -> bool:
    """True when a run without --budget would take more than LONG_RUN_S here and nobody said yes to it:
    on a terminal the question is asked; a batch job never waits, and is refused (said on stderr). A
    campaign's study is not asked again: its campaign was."""
    if args.budget is not None or args.resume or wall <= LONG_RUN_S:
        return False
    if os.environ.get(CONTINUE_VARIABLE):
        return False
    default = (
        "the file's default_budget" if spec.default_budget else "the largest the file supports"
    )
    question = (
        f"{what} runs at budget '{budget}' (no --budget given: {default}) and is estimated at "
        f"{duration_text(wall)} here"
    )
    if sys.stdin.isatty() and sys.stdout.isatty():
        answer = input(f"{question}. Run it? [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            return False
    fail(
        f"{question}: not started unasked. Pass --budget {budget} to run it (a batch job must), or "
        "--budget quick for a few minutes; --dry-run shows the plan."
    )
    return True
