"""Seed-batched training throughput: S seeds in one batched computation vs S separate runs, eager and compiled.

    python -m benchmarks.bench_seeds                  # tiny and quick, eager and compiled, 2 threads (~5 min;
                                                      # compiling S = 1..8 from an empty cache adds minutes)
    python -m benchmarks.bench_seeds --sizes paper --variants eager
    python -m benchmarks.bench_seeds --sizes quick --threads 1 --steps 40
    python -m benchmarks.bench_seeds --sizes quick paper --device cuda --seeds 1 2 4 8 16 --steps 20
    MALLOC_MMAP_MAX_=0 python -m benchmarks.bench_seeds --sizes paper   # see below

For each size, each variant (eager; compiled: `compile=true`, `tune_ired.training.speed`) and each S
in --seeds it builds a trainer with num_seeds=S (a compiled one compiles in its warm-up,
whose time is printed and not counted), warms each up, then times training steps (no
evaluation) in repetitions interleaved across variants and S, so all see the same machine
load, and prints the median seed-steps/s by wall time (the headline) and by process CPU
time (steadier on a shared machine with one thread; with more, it counts waiting threads).
S separate runs, one after another on the same threads, have the single-seed rate of their
variant, so speedup = batched seed-steps/s
divided by the same variant's S = 1 steps/s; the compiled rows also give it against eager
S = 1 (what batching with compile gains over separate eager runs). The last lines are
`seed_batch_speedup_s8_quick_eager: X.XX` and `seed_batch_speedup_s8_quick: X.XX`, the
latter with compile on (when compiled runs; the eager figure otherwise).

What to expect. On a CPU, batching pays where one seed's step is dominated by per-op
overhead (tiny); at quick size a single seed's 256 x 256 matmuls already run at the
machine's matmul rate and its element-wise work scales with S, so the gain is small; at
paper size each seed's activations are tens of MB, and glibc serves allocations above
32 MB with fresh mmap pages (page faults on every step): `MALLOC_MMAP_MAX_=0` keeps them
in the heap. On a GPU (device=cuda) a single seed at quick size leaves most of the device
idle, so expect the speedup to grow nearly linearly in S until the device saturates
(timings synchronise the device before reading the clock).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.timing import sync
from tune_ired.ired.config import make_config
from tune_ired.training.trainer import Trainer

SEED_COUNTS = (1, 2, 4, 8)
# timed steps per repetition: a few seconds each on 2 threads
STEPS = {"tiny": 100, "quick": 30, "paper": 2}
WARMUP_STEPS = 3
VARIANTS = {"eager": False, "compiled": True}  # name -> compile
HEADLINE_SIZE, HEADLINE_SEEDS = "quick", 8


def seconds_per_step(trainer: Trainer, steps: int) -> tuple[float, float]:
    """Wall and process CPU seconds per training step, device synchronised."""
    sync(trainer.device)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.train_step()
    sync(trainer.device)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def measure(
    size: str, *, device: str, variants: list[str], seeds: list[int], steps: int, repeats: int
) -> dict[tuple[str, int], tuple[float, float]]:
    """Seed-steps/s per (variant, S) by wall and by CPU time, medians of repetitions interleaved across all."""
    trainers = {}
    for variant in variants:
        for s in seeds:
            config = {"num_seeds": s, "device": device, "compile": VARIANTS[variant]}
            trainer = trainers[(variant, s)] = Trainer(make_config(config, budget=size))
            if trainer.speed.compiled:
                print(
                    f"{size:>6} S={s:<3} compiled in {trainer.speed.compile_s:.1f} s (warm-up, not timed)"
                )
    for trainer in trainers.values():
        seconds_per_step(trainer, WARMUP_STEPS)  # allocator and caches settle
    rates: dict[tuple[str, int], list[tuple[float, float]]] = {key: [] for key in trainers}
    for _ in range(repeats):
        for (variant, s), trainer in trainers.items():
            wall, cpu = seconds_per_step(trainer, steps)
            rates[(variant, s)].append((s / wall, s / cpu))
    return {
        key: tuple(statistics.median(column) for column in zip(*r, strict=True))
        for key, r in rates.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", default=["tiny", "quick"], choices=["tiny", "quick", "paper"]
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=list(SEED_COUNTS), help="S values; 1 is always run"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, help="timed steps per repetition (default: per size)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = sorted({1, *args.seeds})
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}")
    speedups = {}
    header = f"{'size':>6} {'variant':>9} {'S':>3} {'seed-steps/s':>13} {'vs S separate runs':>19} {'vs eager S=1':>13}"
    header += f"  {'by CPU time: seed-steps/s':>26} {'vs S runs':>10}"
    for size in args.sizes:
        steps, repeats = args.steps or STEPS[size], args.repeats
        rates = measure(
            size,
            device=args.device,
            variants=args.variants,
            seeds=seeds,
            steps=steps,
            repeats=repeats,
        )
        print(header)
        for (variant, s), (rate, cpu_rate) in rates.items():
            speedups[(size, variant, s)] = rate / rates[(variant, 1)][0]
            versus_eager = (
                f"{rate / rates[('eager', 1)][0]:>12.2f}x" if ("eager", 1) in rates else f"{'':>13}"
            )
            by_cpu = f"{cpu_rate:>26.2f} {cpu_rate / rates[(variant, 1)][1]:>9.2f}x"
            by_wall = f"{rate:>13.2f} {speedups[(size, variant, s)]:>18.2f}x {versus_eager}"
            print(f"{size:>6} {variant:>9} {s:>3} {by_wall}  {by_cpu}")
    headline = {
        variant: speedups.get((HEADLINE_SIZE, variant, HEADLINE_SEEDS)) for variant in VARIANTS
    }
    if headline["eager"] is not None:
        print(f"seed_batch_speedup_s8_quick_eager: {headline['eager']:.2f}")
    best = headline["compiled"] if headline["compiled"] is not None else headline["eager"]
    if best is not None:
        print(f"seed_batch_speedup_s8_quick: {best:.2f}")


if __name__ == "__main__":
    main()
