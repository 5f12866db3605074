"""Sweep overhead at quick size: what Ray Tune costs on top of the trials' own training.

    python benchmarks/bench_sweep.py                                   # noise_scale at quick
    python benchmarks/bench_sweep.py --file search_spaces/opt_steps.py --budget tiny

Runs `python -m tune_ired.sweep FILE --budget B` in a subprocess (a fresh local Ray, as a
user would) and prints:
- wall time of the whole command (Ray start-up and shutdown included) and of Tune's
  tuning loop (first trial start to last report, from the trials' own timestamps);
- the trials' own time: every evaluation's training and evaluation seconds (from
  `perf/steps_per_s` and `perf/eval_s`), summed over trials and divided by concurrency;
- trial start-up: per trial, time to its first report minus that report's own time
  (actor, trainer and validation-set construction), mean and max;
- peak memory (RSS) of the sweep's whole process tree (driver, Ray and trial workers).
The last line is `sweep_overhead_quick: X.XX` = command wall time / (own time / concurrency);
the target is <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tune_ired.results import load_sweep

SAMPLE_PERIOD_S = 0.5  # how often the process tree's memory is sampled
BYTES_PER_MIB = 2**20
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def parent_pids() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc (Linux)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while listing
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def tree_rss(root: int) -> int:
    """Resident memory of process `root` and all its descendants, in bytes."""
    parents, tree, total = parent_pids(), {root}, 0
    grew = True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= new
        grew = bool(new)
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return total


def run_sweep(argv: list[str], log: Path) -> tuple[float, int]:
    """Run the sweep command; return its wall time and the peak RSS of its process tree."""
    start, peak = time.perf_counter(), 0
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(SAMPLE_PERIOD_S)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"sweep failed with code {proc.returncode}; see {log}")
    return wall, peak


def trial_times(folder: Path) -> dict[str, float]:
    """Own time, start-up and loop span of a finished sweep folder, from its curves table."""
    curves = load_sweep(folder).curves.copy()
    train_s = curves["step"].groupby(curves["trial_id"]).diff().fillna(curves["step"]) / curves["perf/steps_per_s"]
    curves["own_s"] = train_s + curves["perf/eval_s"]
    first = curves.sort_values("step").groupby("trial_id").first()
    startup = first["time_total_s"] - first["own_s"]
    ends = curves.groupby("trial_id")["time_total_s"].max()
    return {
        "own_s": curves["own_s"].sum(),
        "startup_mean_s": startup.mean(),
        "startup_max_s": startup.max(),
        "trials": len(ends),
        "evaluations": len(curves),
    }


def tuning_loop_s(folder: Path) -> float:
    """First trial start to last report, from result.json timestamps (seconds resolution)."""
    starts, ends = [], []
    for path in folder.glob("*/result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            starts.append(rows[0]["timestamp"] - rows[0]["time_total_s"])
            ends.append(rows[-1]["timestamp"])
    return max(ends) - min(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="search_spaces/noise_scale.py")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    args = parser.parse_args()
    concurrency = max(1, (os.cpu_count() or 1) // args.cpus_per_trial)
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        argv = [sys.executable, "-m", "tune_ired.sweep", args.file, "--budget", args.budget, "--storage", tmp]
        argv += ["--cpus-per-trial", str(args.cpus_per_trial), "--name", "bench"]
        wall, peak = run_sweep(argv, Path(tmp) / "sweep.log")
        times, loop = trial_times(Path(tmp) / "bench"), tuning_loop_s(Path(tmp) / "bench")
    ideal = times["own_s"] / concurrency
    print(f"sweep {args.file} at {args.budget}: {times['trials']} trials, {times['evaluations']} evaluations")
    print(f"concurrency: {concurrency} trials x {args.cpus_per_trial} CPU")
    print(f"wall time, whole command: {wall:.1f} s; tuning loop: {loop:.1f} s")
    print(f"trials' own time: {times['own_s']:.1f} s in total, {ideal:.1f} s / concurrency")
    print(f"trial start-up: mean {times['startup_mean_s']:.2f} s, max {times['startup_max_s']:.2f} s")
    print(f"peak memory of the sweep's process tree: {peak / BYTES_PER_MIB:.0f} MiB")
    print(f"tuning-loop overhead: {loop / ideal:.2f}")
    print(f"sweep_overhead_{args.budget}: {wall / ideal:.2f}")


if __name__ == "__main__":
    main()
