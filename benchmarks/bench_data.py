"""Problem generation: tune_ired's batched torch draw vs per-problem numpy with collation.

    python -m benchmarks.bench_data                    # n = 20, batch 2048, 2 threads (~20 s)
    python -m benchmarks.bench_data --n 5 --batch 256 --reps 31

Ours (`tune_ired.ired.data.draw_problems`): one batched float32 draw, Cholesky factorisation
and solve on the device. The reference's way (`benchmarks.reference_style.numpy_batch`):
each problem drawn and inverted in float64 numpy, then collated into tensors, as a
DataLoader without workers does. Repetitions alternate; medians are reported. The last
line is `data_speedup: X.XX` (median of per-repetition ratios).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.reference_style import numpy_batch
from benchmarks.timing import interleaved, median_ratio, set_threads
from tune_ired.ired.config import make_config
from tune_ired.ired.data import draw_problems

MS = 1e3


def main() -> None:
    paper = make_config(budget="paper")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=paper.n, help="matrix size (default: the paper budget's)"
    )
    parser.add_argument(
        "--batch", type=int, default=paper.batch_size, help="problems per batch (default: paper's)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions (default 15)")
    parser.add_argument("--calls", type=int, default=3, help="batches per repetition (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    lam = paper.train_lambda
    generator = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cases = {
        "ours: batched torch": lambda: draw_problems(args.batch, args.n, lam, generator=generator),
        "per-problem numpy": lambda: numpy_batch(rng, args.batch, args.n, lam),
    }
    times = interleaved(cases, reps=args.reps, calls=args.calls, warmup=1)
    print(
        f"problem generation, n={args.n} batch={args.batch}, {torch.get_num_threads()} threads, "
        f"{args.reps} reps x {args.calls} batches, interleaved"
    )
    for name, timing in times.items():
        print(
            f"  {name:<22}{MS * timing.median_wall:8.2f} ms/batch wall, {MS * timing.median_cpu:8.2f} ms/batch CPU"
        )
    ours, numpy_way = times.values()
    print(
        f"  speed-up: {median_ratio(numpy_way, ours):.2f}x wall, {median_ratio(numpy_way, ours, cpu=True):.2f}x CPU"
    )
    print(f"data_speedup: {median_ratio(numpy_way, ours):.2f}")


if __name__ == "__main__":
    main()
