"""Training steps/s: tune_ired's trainer, eager and compiled, vs the reference-style implementation, side by side.

    python -m benchmarks.bench_train                         # paper and quick size, 2 threads (~5 min)
    python -m benchmarks.bench_train --reps 15 --calls 3     # steadier medians, longer
    python -m benchmarks.bench_train --sizes quick --threads 1
    python -m benchmarks.bench_train --device cuda --precisions fp32 tf32 bf16 --calls 20 --no-breakdown

All implementations run the same algorithm (adversarial mining, 2 steps, T = 10) on the
same config: tune_ired's trainer eager and with `compile=true` (`tune_ired.training.speed`; its
compilation is timed apart, in the trainer's warm-up, and printed), for each precision
asked, and the reference-style step (float32); their repetitions alternate, so load from
other processes hits all alike. Per size it prints the median seconds per step (wall and
process CPU time), steps/s and the median of per-repetition speed-ups, then where the time
goes: a phase breakdown of eager training steps (data, denoise forward + gradient, mining,
energy pass, backward, optimiser + EMA), the matmul share of their aten-op time, and a
profile by kind of work (matmuls, inductor's fused kernels, other ops, optimiser,
framework) of the eager and the compiled step. The last lines are
`train_speedup_paper: X.XX` (eager vs reference-style) and `compiled_speedup_paper: X.XX`
(compiled vs eager; `_quick` when only quick runs).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Callable
from unittest import mock

import torch

import benchmarks.reference_style as ref
import tune_ired.training.trainer
from benchmarks.timing import (
    PROFILE_KINDS,
    OpCensus,
    PhaseTimer,
    interleaved,
    median_ratio,
    op_profile,
    set_threads,
    synchronised,
    time_calls,
)
from tune_ired.ired.config import Config, make_config
from tune_ired.ired.mining import STRATEGIES
from tune_ired.ired.model import EnergyModel
from tune_ired.training.trainer import Trainer, resolve_device

PHASES = ("data", "denoise", "mining", "energy pass", "backward", "optimiser+EMA", "other")
MS = 1e3
QUICK_CALLS_FACTOR = 10  # quick-size steps take milliseconds: time more of them per repetition


def bench_config(budget: str, device: str) -> Config:
    """The budget's training config (the reference algorithm of docs/method.md: adversarial, 2 mining steps)."""
    return make_config({"strategy": "adversarial", "opt_steps": 2, "device": device}, budget=budget)


def our_trainers(cfg: Config, precisions: list[str]) -> dict[str, Trainer]:
    """Eager and compiled trainers of `cfg` for each precision, named 'eager', 'compiled', 'eager bf16', ..."""
    trainers = {}
    for precision in precisions:
        suffix = "" if precision == "fp32" else f" {precision}"
        for name, compiled in (("eager", False), ("compiled", True)):
            trainers[name + suffix] = Trainer(
                dataclasses.replace(cfg, precision=precision, compile=compiled)
            )
    return trainers


def our_phases(trainer: Trainer, timer: PhaseTimer) -> contextlib.ExitStack:
    """Patches that time the phases of Trainer.train_step without changing what it computes."""
    stack = contextlib.ExitStack()
    name = trainer.cfg.strategy
    patches = [
        mock.patch.object(
            tune_ired.training.trainer,
            "draw_seed_batch",
            timer.wrap("data", tune_ired.training.trainer.draw_seed_batch),
        ),
        # the loss's conditioning and dE/dy are the denoising phase; inside mining, the mining phase
        mock.patch.object(EnergyModel, "condition", timer.wrap("denoise", EnergyModel.condition)),
        mock.patch.object(
            EnergyModel,
            "energy_and_grad_given",
            timer.wrap("denoise", EnergyModel.energy_and_grad_given),
        ),
        mock.patch.dict(STRATEGIES, {name: timer.wrap("mining", STRATEGIES[name])}),
        mock.patch.object(EnergyModel, "energy", timer.wrap("energy pass", EnergyModel.energy)),
        mock.patch.object(torch.Tensor, "backward", timer.wrap("backward", torch.Tensor.backward)),
        mock.patch.object(
            tune_ired.training.trainer,
            "clip_grad_per_seed",
            timer.wrap("optimiser+EMA", tune_ired.training.trainer.clip_grad_per_seed),
        ),
        mock.patch.object(
            trainer.optimizer, "step", timer.wrap("optimiser+EMA", trainer.optimizer.step)
        ),
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
        mock.patch.object(
            ref.ReferenceEnergyMLP,
            "forward",
            timer.wrap("energy pass", ref.ReferenceEnergyMLP.forward),
        ),
        mock.patch.object(torch.Tensor, "backward", timer.wrap("backward", torch.Tensor.backward)),
        mock.patch.object(
            torch.nn.utils,
            "clip_grad_norm_",
            timer.wrap("optimiser+EMA", torch.nn.utils.clip_grad_norm_),
        ),
        mock.patch.object(
            trainer.optimizer, "step", timer.wrap("optimiser+EMA", trainer.optimizer.step)
        ),
        mock.patch.object(trainer.ema, "update", timer.wrap("optimiser+EMA", trainer.ema.update)),
    ]
    for patch in patches:
        stack.enter_context(patch)
    return stack


def breakdown(
    step: Callable[[], object], patches: contextlib.ExitStack, timer: PhaseTimer, *, steps: int
) -> dict:
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


def print_profiles(eager: dict[str, float], compiled: dict[str, float]) -> None:
    """The eager and the compiled step's profiles by kind of work, in ms per step and share of the step."""
    total_eager, total_compiled = sum(eager.values()), sum(compiled.values())
    print(f"  {'kind':<20}{'eager ms':>10}{'share':>8}{'compiled ms':>13}{'share':>8}")
    for kind in PROFILE_KINDS:
        a, b = eager[kind], compiled[kind]
        print(f"  {kind:<20}{a:>10.1f}{a / total_eager:>8.0%}{b:>13.1f}{b / total_compiled:>8.0%}")
    print(f"  {'step (profiled)':<20}{total_eager:>10.1f}{'':>8}{total_compiled:>13.1f}")


def print_breakdown(ours: dict[str, float], reference: dict[str, float]) -> None:
    """The two phase breakdowns side by side, in ms per step and share of the step."""
    total_ours, total_ref = sum(ours.values()), sum(reference.values())
    print(f"  {'phase':<15}{'ours ms':>10}{'share':>8}{'ref ms':>10}{'share':>8}")
    for name in PHASES:
        a, b = ours[name], reference[name]
        print(f"  {name:<15}{a:>10.1f}{a / total_ours:>8.0%}{b:>10.1f}{b / total_ref:>8.0%}")
    print(f"  {'step':<15}{total_ours:>10.1f}{'':>8}{total_ref:>10.1f}")


def bench_size(budget: str, args: argparse.Namespace) -> dict[str, float]:
    """Time every implementation at a budget's size; print the figures; return the headline wall speed-ups."""
    cfg = bench_config(budget, args.device)
    device = resolve_device(cfg.device)
    trainers = our_trainers(cfg, args.precisions)
    reference = ref.ReferenceStyleTrainer(cfg, device)
    ours = trainers["eager"]
    factor = 1 if budget == "paper" else QUICK_CALLS_FACTOR
    calls, phase_steps = args.calls * factor, args.breakdown_steps * factor
    print(
        f"\n== {budget}: n={cfg.n} batch={cfg.batch_size} hidden={cfg.hidden} T={cfg.diffusion_steps} "
        f"strategy={cfg.strategy} opt_steps={cfg.opt_steps}, device {device}, {torch.get_num_threads()} threads, "
        f"{args.reps} reps x {calls} steps, interleaved"
    )
    for name, trainer in trainers.items():
        if trainer.speed.compiled:
            print(
                f"  {name}: compilation (warm-up, not timed below) {trainer.speed.compile_s:.1f} s"
            )
    cases = {name: synchronised(trainer.train_step, device) for name, trainer in trainers.items()}
    cases["reference"] = synchronised(reference.train_step, device)
    times = interleaved(cases, reps=args.reps, calls=calls, warmup=args.warmup)
    for name, timing in times.items():
        print(
            f"  {name:<14} {MS * timing.median_wall:9.2f} ms/step wall ({1 / timing.median_wall:8.2f} steps/s), "
            f"{MS * timing.median_cpu:9.2f} ms/step CPU, "
            f"{median_ratio(times['reference'], timing):5.2f}x reference-style, "
            f"{median_ratio(times['eager'], timing):5.2f}x eager (median of per-rep ratios, wall)"
        )
    speedups = {
        "train_speedup": median_ratio(times["reference"], times["eager"]),
        "compiled_speedup": median_ratio(times["eager"], times["compiled"]),
    }
    cpu_speedup = median_ratio(times["reference"], times["eager"], cpu=True)
    compiled_cpu = median_ratio(times["eager"], times["compiled"], cpu=True)
    print(
        f"  eager vs reference-style {speedups['train_speedup']:.2f}x wall, {cpu_speedup:.2f}x CPU time; "
        f"compiled vs eager {speedups['compiled_speedup']:.2f}x wall, {compiled_cpu:.2f}x CPU time"
    )
    if not args.no_breakdown:
        timer_ours, timer_ref = PhaseTimer(), PhaseTimer()
        print(
            "  where the time goes (phase timers on real steps; 'other': noise draws, q_sample, metrics):"
        )
        print_breakdown(
            breakdown(ours.train_step, our_phases(ours, timer_ours), timer_ours, steps=phase_steps),
            breakdown(
                reference.train_step,
                reference_phases(reference, timer_ref),
                timer_ref,
                steps=phase_steps,
            ),
        )
        print(
            f"  matmul share of aten-op time (one step): ours {matmul_share(ours.train_step):.0%}, "
            f"reference {matmul_share(reference.train_step):.0%}"
        )
        print("  profile by kind of work (torch.profiler self times; its own overhead included):")
        print_profiles(
            op_profile(ours.train_step, steps=phase_steps),
            op_profile(trainers["compiled"].train_step, steps=phase_steps),
        )
    return speedups


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", default=["paper", "quick"], choices=["paper", "quick", "tiny"]
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device of every implementation (default cpu)"
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32"],
        choices=["fp32", "tf32", "bf16"],
        help="ours, eager and compiled",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--reps", type=int, default=9, help="interleaved repetitions (default 9)")
    parser.add_argument(
        "--calls", type=int, default=1, help="steps per repetition at paper size (x10 at quick)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed steps of each implementation first"
    )
    parser.add_argument(
        "--breakdown-steps", type=int, default=2, help="steps timed by phase (x10 at quick)"
    )
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the phase breakdown and profiles (CPU)"
    )
    args = parser.parse_args()
    if "fp32" not in args.precisions:
        parser.error("--precisions must include fp32 (the eager and compiled baselines)")
    set_threads(args.threads)
    speedups = {budget: bench_size(budget, args) for budget in args.sizes}
    headline = "paper" if "paper" in speedups else args.sizes[0]
    for name, value in speedups[headline].items():
        print(f"{name}_{headline}: {value:.2f}")


if __name__ == "__main__":
    main()
