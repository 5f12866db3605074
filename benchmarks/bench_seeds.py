"""Seed-batched training throughput: S seeds in one batched computation vs S separate runs.

    python benchmarks/bench_seeds.py                  # quick and paper sizes, 2 threads
    python benchmarks/bench_seeds.py --sizes quick --threads 1 --steps 40

For each size and S in 1, 2, 4, 8 it times training steps (no evaluation) of a trainer
with num_seeds=S, interleaving repetitions with the single-seed trainer so both see the
same machine load, and prints seed-steps/s. S separate runs, one after another on the
same threads, have the single-seed rate, so speedup = batched seed-steps/s divided by
single-seed steps/s. The last line is `seed_batch_speedup_s8_quick: X.XX`.

On a GPU (device=cuda) the single-seed step leaves most of the device idle at quick size,
so expect the speedup to grow nearly linearly in S until the device saturates; measure it
there with `--device cuda` (timings synchronise the device before reading the clock).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tune_ired.config import make_config
from tune_ired.trainer import Trainer

SEED_COUNTS = (1, 2, 4, 8)
STEPS = {"quick": 30, "paper": 2}  # timed steps per repetition: a few seconds each on 2 threads
WARMUP_STEPS = 2


def seconds_per_step(trainer: Trainer, steps: int) -> float:
    """Wall seconds per training step, after warm-up steps, device synchronised."""
    for _ in range(WARMUP_STEPS):
        trainer.train_step()
    sync(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(trainer.device)
    return (time.perf_counter() - start) / steps


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(size: str, *, device: str, steps: int, repeats: int) -> dict[int, float]:
    """Seed-steps/s per S, each the median over interleaved repetitions."""
    rates: dict[int, list[float]] = {s: [] for s in SEED_COUNTS}
    for _ in range(repeats):
        for s in SEED_COUNTS:
            trainer = Trainer(make_config({"num_seeds": s, "device": device}, budget=size))
            rates[s].append(s / seconds_per_step(trainer, steps))
    return {s: statistics.median(r) for s, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["quick", "paper"], choices=["tiny", "quick", "paper"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, help="timed steps per repetition (default: per size)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}")
    print(f"{'size':>6} {'S':>3} {'seed-steps/s':>13} {'speedup vs S separate runs':>27}")
    speedups = {}
    for size in args.sizes:
        rates = measure(size, device=args.device, steps=args.steps or STEPS.get(size, 20), repeats=args.repeats)
        for s, rate in rates.items():
            speedups[(size, s)] = rate / rates[1]
            print(f"{size:>6} {s:>3} {rate:>13.2f} {speedups[(size, s)]:>26.2f}x")
    if ("quick", 8) in speedups:
        print(f"seed_batch_speedup_s8_quick: {speedups[('quick', 8)]:.2f}")


if __name__ == "__main__":
    main()
