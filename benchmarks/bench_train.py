"""Training steps/s: tune_ired's trainer vs the reference-style implementation, side by side.

    python -m benchmarks.bench_train                         # paper and quick size, 2 threads (~2-3 min)
    python -m benchmarks.bench_train --reps 15 --calls 3     # steadier medians, longer
    python -m benchmarks.bench_train --sizes quick --threads 1

Both implementations run the same algorithm (adversarial mining, 2 steps, T = 10) on the
same config; their repetitions alternate, so load from other processes hits both alike.
Per size it prints the median seconds per step (wall and process CPU time), steps/s and
the median of per-repetition speed-ups, then where the time goes: a phase breakdown of
real training steps (data, denoise forward + gradient, mining, energy pass, backward,
optimiser + EMA) and the matmul share of the step's aten-op time. The last line is
`train_speedup_paper: X.XX` (or `train_speedup_quick` when only quick runs).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from unittest import mock

import torch

import benchmarks.reference_style as ref
import tune_ired.trainer
from benchmarks.timing import OpCensus, PhaseTimer, interleaved, median_ratio, set_threads, time_calls
from tune_ired.config import Config, make_config
from tune_ired.mining import STRATEGIES
from tune_ired.model import EnergyModel
from tune_ired.trainer import Trainer

PHASES = ("data", "denoise", "mining", "energy pass", "backward", "optimiser+EMA", "other")
MS = 1e3
QUICK_CALLS_FACTOR = 10  # quick-size steps take milliseconds: time more of them per repetition


def bench_config(budget: str) -> Config:
    """The budget's training config (the spec's reference algorithm: adversarial, 2 mining steps)."""
    return make_config({"strategy": "adversarial", "opt_steps": 2}, budget=budget)


def our_phases(trainer: Trainer, timer: PhaseTimer) -> contextlib.ExitStack:
    """Patches that time the phases of Trainer.train_step without changing what it computes."""
    stack = contextlib.ExitStack()
    name = trainer.cfg.strategy
    patches = [
        mock.patch.object(tune_ired.trainer, "draw_seed_batch", timer.wrap("data", tune_ired.trainer.draw_seed_batch)),
        # the loss's conditioning and dE/dy are the denoising phase; inside mining, the mining phase
        mock.patch.object(EnergyModel, "condition", timer.wrap("denoise", EnergyModel.condition)),
        mock.patch.object(
            EnergyModel, "energy_and_grad_given", timer.wrap("denoise", EnergyModel.energy_and_grad_given)
        ),
        mock.patch.dict(STRATEGIES, {name: timer.wrap("mining", STRATEGIES[name])}),
        mock.patch.object(EnergyModel, "energy", timer.wrap("energy pass", EnergyModel.energy)),
        mock.patch.object(torch.Tensor, "backward", timer.wrap("backward", torch.Tensor.backward)),
        mock.patch.object(
            tune_ired.trainer, "clip_grad_per_seed", timer.wrap("optimiser+EMA", tune_ired.trainer.clip_grad_per_seed)
        ),
        mock.patch.object(trainer.optimizer, "step", timer.wrap("optimiser+EMA", trainer.optimizer.step)),
        mock.patch.object(trainer.ema, "update", timer.wrap("optimiser+EMA", trainer.ema.update)),
    ]
    for patch in patches:
        stack.enter_context(patch)
    return stack


def reference_phases(trainer: ref.ReferenceStyleTrainer, timer: PhaseTimer) -> contextlib.ExitStack:
    """Patches that time the phases of ReferenceStyleTrainer.train_step."""
    stack = contextlib.ExitStack()
    patches = [
        mock.patch.object(trainer, "draw", timer.wrap("data", trainer.draw)),
        mock.patch.object(ref, "opt_step", timer.wrap("mining", ref.opt_step)),
        mock.patch.object(ref, "energy_and_grad", timer.wrap("denoise", ref.energy_and_grad)),
        mock.patch.object(ref.ReferenceEnergyMLP, "forward", timer.wrap("energy pass", ref.ReferenceEnergyMLP.forward)),
        mock.patch.object(torch.Tensor, "backward", timer.wrap("backward", torch.Tensor.backward)),
        mock.patch.object(
            torch.nn.utils, "clip_grad_norm_", timer.wrap("optimiser+EMA", torch.nn.utils.clip_grad_norm_)
        ),
        mock.patch.object(trainer.optimizer, "step", timer.wrap("optimiser+EMA", trainer.optimizer.step)),
        mock.patch.object(trainer.ema, "update", timer.wrap("optimiser+EMA", trainer.ema.update)),
    ]
    for patch in patches:
        stack.enter_context(patch)
    return stack


def breakdown(step: Callable[[], object], patches: contextlib.ExitStack, timer: PhaseTimer, *, steps: int) -> dict:
    """Milliseconds per step in each phase over `steps` real steps ('other': the untimed rest)."""
    with patches:
        total, _ = time_calls(step, steps)
    per_step = {name: MS * timer.seconds.get(name, 0.0) / steps for name in PHASES[:-1]}
    per_step["other"] = MS * total - sum(per_step.values())
    return per_step


def matmul_share(step: Callable[[], object]) -> float:
    """Share of one step's op time spent in matrix multiplications."""
    with OpCensus() as census:
        step()
    return census.matmul_share


def print_breakdown(ours: dict[str, float], reference: dict[str, float]) -> None:
    """The two phase breakdowns side by side, in ms per step and share of the step."""
    total_ours, total_ref = sum(ours.values()), sum(reference.values())
    print(f"  {'phase':<15}{'ours ms':>10}{'share':>8}{'ref ms':>10}{'share':>8}")
    for name in PHASES:
        a, b = ours[name], reference[name]
        print(f"  {name:<15}{a:>10.1f}{a / total_ours:>8.0%}{b:>10.1f}{b / total_ref:>8.0%}")
    print(f"  {'step':<15}{total_ours:>10.1f}{'':>8}{total_ref:>10.1f}")


def bench_size(budget: str, args: argparse.Namespace) -> float:
    """Time both implementations at a budget's size; print the figures; return the wall speed-up."""
    cfg = bench_config(budget)
    ours, reference = Trainer(cfg), ref.ReferenceStyleTrainer(cfg)
    factor = 1 if budget == "paper" else QUICK_CALLS_FACTOR
    calls, phase_steps = args.calls * factor, args.breakdown_steps * factor
    print(
        f"\n== {budget}: n={cfg.n} batch={cfg.batch_size} hidden={cfg.hidden} T={cfg.diffusion_steps} "
        f"strategy={cfg.strategy} opt_steps={cfg.opt_steps}, {torch.get_num_threads()} threads, "
        f"{args.reps} reps x {calls} steps, interleaved"
    )
    times = interleaved(
        {"ours": ours.train_step, "reference": reference.train_step}, reps=args.reps, calls=calls, warmup=args.warmup
    )
    for name, timing in times.items():
        print(
            f"  {name:<10} {MS * timing.median_wall:9.1f} ms/step wall ({1 / timing.median_wall:7.2f} steps/s), "
            f"{MS * timing.median_cpu:9.1f} ms/step CPU"
        )
    speedup = median_ratio(times["reference"], times["ours"])
    cpu_speedup = median_ratio(times["reference"], times["ours"], cpu=True)
    print(f"  speed-up (median of per-rep ratios): {speedup:.2f}x wall, {cpu_speedup:.2f}x CPU time")
    if not args.no_breakdown:
        timer_ours, timer_ref = PhaseTimer(), PhaseTimer()
        print("  where the time goes (phase timers on real steps; 'other': noise draws, q_sample, metrics):")
        print_breakdown(
            breakdown(ours.train_step, our_phases(ours, timer_ours), timer_ours, steps=phase_steps),
            breakdown(reference.train_step, reference_phases(reference, timer_ref), timer_ref, steps=phase_steps),
        )
        print(
            f"  matmul share of aten-op time (one step): ours {matmul_share(ours.train_step):.0%}, "
            f"reference {matmul_share(reference.train_step):.0%}"
        )
    return speedup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["paper", "quick"], choices=["paper", "quick", "tiny"])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--reps", type=int, default=9, help="interleaved repetitions (default 9)")
    parser.add_argument("--calls", type=int, default=1, help="steps per repetition at paper size (x10 at quick)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each implementation first")
    parser.add_argument("--breakdown-steps", type=int, default=2, help="steps timed by phase (x10 at quick)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the phase breakdown and profile")
    args = parser.parse_args()
    set_threads(args.threads)
    speedups = {budget: bench_size(budget, args) for budget in args.sizes}
    headline = "paper" if "paper" in speedups else args.sizes[0]
    print(f"train_speedup_{headline}: {speedups[headline]:.2f}")


if __name__ == "__main__":
    main()
