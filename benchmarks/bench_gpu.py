"""What an accelerator gives the trainer: paper-size speed, precision parity, concurrent trials (run_gpu.sh's figures).

    python -m benchmarks.bench_gpu                                  # every stage, device cuda
    python -m benchmarks.bench_gpu --stages rates paper --reps 5    # some stages
    python -m benchmarks.bench_gpu --device cpu --stages parity     # the precision parity check on a CPU

Stages (each prints its table; `benchmarks/run_gpu.sh` collects them in one file):
- rates: the device's own matmul rate (torch.matmul, square, random data) in fp32, tf32 and
  bf16: the ceilings the step is measured against.
- paper: a paper-size training step (n = 20, batch 2048, adversarial mining) eager, compiled,
  compiled with CUDA graphs (`compile_mode=reduce-overhead`), eager in tf32, eager and
  compiled in bf16 (a variant that fails is reported and left out); interleaved
  repetitions, device synchronised. Per variant: compile time, steps/s, achieved TFLOP/s
  (the analytic matmul FLOPs of `bench_flops.step_flops` over the step time), the fraction of
  the device's matmul rate in that precision, and a 100k-step paper run extrapolated from
  the measured rate: compilation + 100k steps + 100 evaluations (one timed). Also the host
  synchronisations per step (CUDA's sync debug mode), which should be none.
- parity: the quick budget trained to its end with 4 seeds batched, once per precision:
  final val/mse per seed, and each precision's paired difference from fp32 in units of its
  standard error; parity when |difference| < 2 standard errors or < PARITY_RELATIVE of fp32's.
- concurrency: K = 1, 2, 4, 8 processes train the quick budget at once on the device (what
  K trials of `--gpus-per-trial 1/K` are), each timed over the same window after its warm-up:
  total steps/s per K, and the K where adding trials stops paying (< SATURATION_GAIN more).
The last line is `paper_100k_minutes: X.X` (the fastest variant's extrapolated run).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import multiprocessing
import queue
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from benchmarks.bench_flops import step_flops
from benchmarks.timing import interleaved, sync, synchronised
from tune_ired.ired.config import Config, make_config
from tune_ired.training.trainer import Trainer, resolve_device

TERA = 1e12
# square matmul edge: fills an H100/H200; seconds on a CPU
MATMUL_SIZE = {"cuda": 8192, "cpu": 2048}
MATMUL_CALLS = 10
PRECISION_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}
MATMUL_PRECISION = {"fp32": "highest", "tf32": "high", "bf16": "highest"}
PAPER_RUN_STEPS = 100_000
SYNC_CHECK_STEPS = 3
PARITY_SEEDS = 4
PARITY_SE = 2.0  # a precision is at parity with fp32 within this many standard errors of the paired difference
PARITY_RELATIVE = 0.05  # ... or within this share of fp32's val/mse
CONCURRENCY = (1, 2, 4, 8)
CONCURRENT_WARMUP_STEPS = 20
CONCURRENT_WINDOW_S = 5.0
CONCURRENT_START_TIMEOUT_S = (
    120.0  # every trial imports torch, builds its trainer and warms up before the window
)
SATURATION_GAIN = (
    1.1  # doubling the trials must raise total throughput by this factor to count as paying
)
# name -> config overrides of the paper-size variants
VARIANTS = {
    "eager": {},
    "compiled": {"compile": True},
    "compiled+cudagraphs": {"compile": True, "compile_mode": "reduce-overhead"},
    "eager tf32": {"precision": "tf32"},
    "eager bf16": {"precision": "bf16"},
    "compiled bf16": {"compile": True, "precision": "bf16"},
}


def timed_median(fn: Callable[[], object], device: torch.device, *, calls: int) -> float:
    """Median seconds of one call of fn over `calls` calls after one untimed call, device synchronised."""
    fn()
    sync(device)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_rates(device: torch.device) -> dict[str, float]:
    """TFLOP/s of a square torch.matmul on random data, per precision."""
    size = MATMUL_SIZE[device.type]
    rates = {}
    for precision, dtype in PRECISION_DTYPES.items():
        torch.set_float32_matmul_precision(MATMUL_PRECISION[precision])
        a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
        seconds = timed_median(lambda a=a, b=b: torch.matmul(a, b), device, calls=MATMUL_CALLS)
        rates[precision] = 2 * size**3 / seconds / TERA
    torch.set_float32_matmul_precision("highest")
    return rates


def host_syncs_per_step(trainer: Trainer) -> float:
    """Host synchronisations per training step, counted by CUDA's sync debug mode (0 on a CPU)."""
    if trainer.device.type != "cuda":
        return 0.0
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(SYNC_CHECK_STEPS):
                trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / SYNC_CHECK_STEPS


def working_trainers(base: Config, variants: dict[str, dict], *, warmup: int) -> dict[str, Trainer]:
    """A trainer per variant that builds (compiles) and runs `warmup` steps; a failing one is reported and left out."""
    trainers = {}
    for name, overrides in variants.items():
        try:
            trainer = Trainer(dataclasses.replace(base, **overrides))
            for _ in range(warmup):
                trainer.train_step()
            sync(trainer.device)
        except (
            Exception
        ) as err:  # one broken variant (CUDA graphs, say) must not cost the others their figures
            print(f"{name}: FAILED, left out ({type(err).__name__}: {err})")
            continue
        trainers[name] = trainer
    return trainers


def paper(args: argparse.Namespace, rates: dict[str, float]) -> float:
    """Print the paper-size variants' figures; return the fastest variant's extrapolated 100k-step minutes."""
    base = make_config(
        {"device": args.device, "strategy": "adversarial", "opt_steps": 2}, budget=args.budget
    )
    device = resolve_device(base.device)
    variants = {
        name: o for name, o in VARIANTS.items() if device.type == "cuda" or "cudagraphs" not in name
    }
    trainers = working_trainers(base, variants, warmup=args.warmup)
    cases = {name: synchronised(trainer.train_step, device) for name, trainer in trainers.items()}
    times = interleaved(cases, reps=args.reps, calls=args.calls, warmup=0)
    evaluate = synchronised(trainers["eager"].evaluate, device)
    evaluate()  # the first evaluation allocates its buffers: time the second
    start = time.perf_counter()
    evaluate()
    eval_s = time.perf_counter() - start
    evaluations = PAPER_RUN_STEPS // base.eval_every
    flops = sum(step_flops(base).values())
    shape = f"n={base.n}, batch {base.batch_size}, hidden {base.hidden}"
    print(f"{args.budget} size ({shape}): {flops / 1e9:.1f} GFLOP of matmuls per step")
    print(
        f"one evaluation (val + OOD + live, and mining diagnostics): {eval_s:.2f} s; {evaluations} per 100k steps"
    )
    header = f"{'variant':<22}{'compile s':>10}{'ms/step':>9}{'steps/s':>9}{'TFLOP/s':>9}{'of peak':>9}{'100k min':>10}"
    print(header)
    minutes = {}
    for name, trainer in trainers.items():
        seconds = times[name].median_wall
        precision = trainer.cfg.precision
        achieved = flops / seconds / TERA
        total_s = trainer.speed.compile_s + PAPER_RUN_STEPS * seconds + evaluations * eval_s
        minutes[name] = total_s / 60
        print(
            f"{name:<22}{trainer.speed.compile_s:>10.1f}{1e3 * seconds:>9.2f}{1 / seconds:>9.1f}{achieved:>9.2f}"
            f"{achieved / rates[precision]:>9.1%}{minutes[name]:>10.1f}"
        )
    syncs = ", ".join(
        f"{name} {host_syncs_per_step(trainer):.1f}" for name, trainer in trainers.items()
    )
    print(f"host synchronisations per step: {syncs}")
    fastest = min(minutes, key=minutes.get)
    print(
        f"fastest: {fastest}, a 100k-step {args.budget} run in {minutes[fastest]:.1f} min (paper target: <= 15)"
    )
    return minutes[fastest]


def final_mse(cfg: Config) -> list[float]:
    """Each seed's val/mse at the end of a run of `cfg`."""
    row = list(Trainer(cfg).run())[-1]
    return [row[f"seed/{seed}/val/mse"] for seed in cfg.seeds]


def parity(args: argparse.Namespace) -> None:
    """Print each precision's quick-budget val/mse against fp32's, paired by seed."""
    precisions = ["fp32", "tf32", "bf16"] if args.device != "cpu" else ["fp32", "bf16"]
    base = {"device": args.device, "num_seeds": PARITY_SEEDS, "compile": args.parity_compile}
    print(
        f"parity at budget {args.small_budget} ({PARITY_SEEDS} seeds batched, compile={args.parity_compile}):"
    )
    results = {
        p: final_mse(make_config(base | {"precision": p}, budget=args.small_budget))
        for p in precisions
    }
    reference = results["fp32"]
    for precision, values in results.items():
        line = f"  {precision:<5} {statistics.mean(values):.5f} +- {statistics.stdev(values):.5f} (seeds: "
        line += ", ".join(f"{v:.5f}" for v in values) + ")"
        if precision != "fp32":
            diffs = [v - r for v, r in zip(values, reference, strict=True)]
            se = statistics.stdev(diffs) / math.sqrt(len(diffs))
            mean = statistics.mean(diffs)
            relative = mean / statistics.mean(reference)
            at_parity = abs(mean) < PARITY_SE * se or abs(relative) < PARITY_RELATIVE
            line += f"; vs fp32 {mean:+.5f} ({relative:+.1%}, {mean / se:+.1f} se): "
            line += "parity" if at_parity else "NOT at parity"
        print(line)


def concurrent_trial(barrier, results, config: dict, budget: str) -> None:
    """One of K concurrent trials: warm up, wait for the others, count steps over the common window."""
    trainer = Trainer(make_config(config, budget=budget))
    for _ in range(CONCURRENT_WARMUP_STEPS):
        trainer.train_step()
    sync(trainer.device)
    barrier.wait(timeout=CONCURRENT_START_TIMEOUT_S)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < CONCURRENT_WINDOW_S:
        trainer.train_step()
        steps += 1
    sync(trainer.device)
    results.put(steps / (time.perf_counter() - start))


def concurrency(args: argparse.Namespace) -> None:
    """Print total quick-size steps/s of K concurrent trials on the device, and where it saturates."""
    context = multiprocessing.get_context("spawn")
    totals = {}
    config = {"device": args.device, "compile": args.concurrent_compile, "num_threads": 1}
    print(
        f"concurrent {args.small_budget}-size trials on one {args.device} (compile={args.concurrent_compile}):"
    )
    print(f"{'trials':>7}{'total steps/s':>15}{'per trial':>11}")
    for count in CONCURRENCY:
        barrier, results = context.Barrier(count), context.Queue()
        procs = [
            context.Process(
                target=concurrent_trial, args=(barrier, results, config, args.small_budget)
            )
            for _ in range(count)
        ]
        for proc in procs:
            proc.start()
        try:
            rates = [
                results.get(timeout=CONCURRENT_START_TIMEOUT_S + 2 * CONCURRENT_WINDOW_S)
                for _ in procs
            ]
        except queue.Empty:
            print(
                f"{count:>7}  FAILED: a trial did not report (see its traceback above); stopping here"
            )
            for proc in procs:
                proc.kill()
            break
        for proc in procs:
            proc.join()
        totals[count] = sum(rates)
        print(f"{count:>7}{totals[count]:>15.1f}{totals[count] / count:>11.1f}")
    saturated = CONCURRENCY[0]
    for previous, count in itertools.pairwise(CONCURRENCY):
        if count not in totals or totals[count] < SATURATION_GAIN * totals[previous]:
            break
        saturated = count
    print(
        f"trials that saturate the device: {saturated} (each doubling beyond adds < {SATURATION_GAIN - 1:.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stages", nargs="+", default=["rates", "paper", "parity", "concurrency"])
    parser.add_argument(
        "--budget", default="paper", help="size of the step stage (paper; tiny for a smoke test)"
    )
    parser.add_argument(
        "--small-budget", default="quick", help="size of the parity and concurrency stages"
    )
    parser.add_argument(
        "--reps", type=int, default=5, help="interleaved repetitions of the paper variants"
    )
    parser.add_argument("--calls", type=int, default=10, help="steps per repetition")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each variant first")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
    )
    parser.add_argument(
        "--parity-compile", action="store_true", help="train the parity runs compiled"
    )
    parser.add_argument(
        "--concurrent-compile", action="store_true", help="compile the concurrent trials"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, device {device} ({name})")
    rates = matmul_rates(device) if {"rates", "paper"} & set(args.stages) else {}
    if rates:
        print("matmul rate, TFLOP/s: " + ", ".join(f"{p} {r:.1f}" for p, r in rates.items()))
    minutes = paper(args, rates) if "paper" in args.stages else None
    if "parity" in args.stages:
        parity(args)
    if "concurrency" in args.stages:
        concurrency(args)
    if minutes is not None:
        print(f"paper_100k_minutes: {minutes:.1f}")


if __name__ == "__main__":
    main()
