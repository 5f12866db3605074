"""How close a training step comes to the machine's matmul rate: achieved GFLOP/s vs torch.matmul's.

    python -m benchmarks.bench_flops                 # paper size, 2 threads (~1-2 min)
    python -m benchmarks.bench_flops --budget quick --reps 15

The FLOPs of one step of tune_ired's trainer (adversarial mining) are counted
analytically (`tune_ired.tuning.costs.step_flops`, by phase; the time estimate's GPU model
uses the same count) and cross-checked against a census of the matmuls
the step really runs (every aten mm/bmm/addmm/baddbmm, autograd's included). The same
matmul shapes, replayed with plain `torch.matmul` on contiguous operands, give the
machine's matmul rate at the step's shapes. Step and replay alternate per repetition;
efficiency = replay time / step time (= achieved GFLOP/s / matmul GFLOP/s). The
reference-style step (`benchmarks.reference_style`) is measured the same way for
comparison. The last line is `step_matmul_efficiency: X.XX` (tune_ired's step).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch

from benchmarks.reference_style import ReferenceStyleTrainer
from benchmarks.timing import OpCensus, interleaved, set_threads
from tune_ired.ired.config import make_config
from tune_ired.training.trainer import Trainer
from tune_ired.tuning.costs import step_flops

GIGA = 1e9


def census(step: Callable[[], object]) -> OpCensus:
    """The matmuls one step runs."""
    with OpCensus() as counted:
        step()
    return counted


def matmul_replay(
    shapes: dict[tuple[int, int, int, int], int], generator: torch.Generator
) -> Callable[[], None]:
    """A function that runs plain torch.matmul at every (batch, m, k, n) shape, as often as the step does."""
    operands = []
    for (batch, m, k, n), count in shapes.items():
        lead = (batch,) if batch > 1 else ()
        a, b = (
            torch.randn(*lead, m, k, generator=generator),
            torch.randn(*lead, k, n, generator=generator),
        )
        operands.append((a, b, count))

    def replay() -> None:
        for a, b, count in operands:
            for _ in range(count):
                torch.matmul(a, b)

    return replay


def measure(name: str, step: Callable[[], object], args: argparse.Namespace) -> float:
    """Print one implementation's FLOPs, GFLOP/s and matmul efficiency; return the efficiency."""
    counted = census(step)
    replay = matmul_replay(dict(counted.matmul_shapes), torch.Generator().manual_seed(0))
    times = interleaved({"step": step, "replay": replay}, reps=args.reps, calls=1, warmup=1)
    ratios = [r / s for s, r in zip(times["step"].wall, times["replay"].wall, strict=True)]
    flops = counted.matmul_flops
    step_s, replay_s = times["step"].median_wall, times["replay"].median_wall
    print(
        f"  {name:<10} {flops / GIGA:7.1f} GFLOP/step counted, {step_s:7.3f} s/step -> "
        f"{flops / GIGA / step_s:6.1f} GFLOP/s; torch.matmul at the same shapes {flops / GIGA / replay_s:6.1f} GFLOP/s"
        f" -> efficiency {statistics.median(ratios):.2f}"
    )
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", default="paper", choices=["paper", "quick", "tiny"])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions (default 7)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-style step")
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = make_config({"strategy": "adversarial"}, budget=args.budget)
    analytic = step_flops(cfg)
    print(
        f"{args.budget}: n={cfg.n} batch={cfg.batch_size} hidden={cfg.hidden} opt_steps={cfg.opt_steps}, "
        f"{torch.get_num_threads()} threads, {args.reps} reps"
    )
    phases = ", ".join(f"{phase} {value / GIGA:.1f}" for phase, value in analytic.items())
    print(f"  analytic GFLOP per step: {sum(analytic.values()) / GIGA:.1f} ({phases})")
    ours = Trainer(cfg)
    efficiency = measure("ours", ours.train_step, args)
    if not args.no_reference:
        measure("reference", ReferenceStyleTrainer(cfg).train_step, args)
    print(f"step_matmul_efficiency: {efficiency:.2f}")


if __name__ == "__main__":
    main()
