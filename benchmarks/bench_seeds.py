"""Seed-batched training throughput: S seeds in one batched computation vs S separate runs.

    python -m benchmarks.bench_seeds                  # tiny, quick and paper sizes, 2 threads (~5 min)
    python -m benchmarks.bench_seeds --sizes quick --threads 1 --steps 40
    MALLOC_MMAP_MAX_=0 python -m benchmarks.bench_seeds --sizes paper   # see below

For each size and S in 1, 2, 4, 8 it builds a trainer with num_seeds=S, warms each up,
then times training steps (no evaluation) in repetitions interleaved across S, so all see
the same machine load, and prints the median seed-steps/s. S separate runs, one after
another on the same threads, have the single-seed rate, so speedup = batched seed-steps/s
divided by single-seed steps/s. The last line is `seed_batch_speedup_s8_quick: X.XX`.

What to expect. On a CPU, batching pays where one seed's step is dominated by per-op
overhead (tiny); at quick size a single seed's 256 x 256 matmuls already run at the
machine's matmul rate and its element-wise work scales with S, so the gain is small; at
paper size each seed's activations are tens of MB, and glibc serves allocations above
32 MB with fresh mmap pages (page faults on every step): `MALLOC_MMAP_MAX_=0` keeps them
in the heap. On a GPU (device=cuda) a single seed at quick size leaves most of the device
idle, so expect the speedup to grow nearly linearly in S until the device saturates;
measure it there with `--device cuda` (timings synchronise the device before reading
the clock).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tune_ired.config import make_config
from tune_ired.trainer import Trainer

SEED_COUNTS = (1, 2, 4, 8)
STEPS = {"tiny": 100, "quick": 30, "paper": 2}  # timed steps per repetition: a few seconds each on 2 threads
WARMUP_STEPS = 3


def seconds_per_step(trainer: Trainer, steps: int) -> float:
    """Wall seconds per training step, device synchronised."""
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
    """Seed-steps/s per S, each the median over repetitions interleaved across S (same machine load)."""
    trainers = {s: Trainer(make_config({"num_seeds": s, "device": device}, budget=size)) for s in SEED_COUNTS}
    for trainer in trainers.values():
        seconds_per_step(trainer, WARMUP_STEPS)  # allocator and caches settle
    rates: dict[int, list[float]] = {s: [] for s in SEED_COUNTS}
    for _ in range(repeats):
        for s, trainer in trainers.items():
            rates[s].append(s / seconds_per_step(trainer, steps))
    return {s: statistics.median(r) for s, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "quick", "paper"], choices=["tiny", "quick", "paper"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, help="timed steps per repetition (default: per size)")
    parser.add_argument("--repeats", type=int, default=5)
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
