"""Sweep overhead at quick size: what Ray Tune costs on top of the trials' own training.

    python benchmarks/bench_sweep.py                                   # noise_scale at quick
    python benchmarks/bench_sweep.py --file search_spaces/opt_steps.py --budget tiny

Runs `python -m tune_ired.sweep FILE --budget B` in a subprocess (a fresh local Ray, as a
user would) and prints:
- wall time of the whole command (Ray start-up and shutdown included) and of Tune's
  tuning loop (first trial start to last report, from Tune's own result.json timestamps);
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

import pandas as pd

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


def tune_reports(folder: Path) -> pd.DataFrame:
    """Every report as Ray Tune recorded it (each trial's result.json), with Tune's timing columns."""
    rows = [
        {"trial": path.parent.name, **json.loads(line)}
        for path in folder.glob("*/result.json")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return pd.DataFrame(rows)


def trial_times(reports: pd.DataFrame) -> dict[str, float]:
    """Own time, start-up and trial counts of a finished sweep, from Tune's reports."""
    reports = reports.sort_values(["trial", "step"])
    steps = reports.groupby("trial")["step"]
    train_s = steps.diff().fillna(reports["step"]) / reports["perf/steps_per_s"]
    own_s = train_s + reports["perf/eval_s"]
    first = reports.groupby("trial").head(1)
    startup = first["time_total_s"] - own_s[first.index]
    return {
        "own_s": own_s.sum(),
        "startup_mean_s": startup.mean(),
        "startup_max_s": startup.max(),
        "trials": reports["trial"].nunique(),
        "evaluations": len(reports),
    }


def tuning_loop_s(reports: pd.DataFrame) -> float:
    """First trial start to last report, from Tune's timestamps (seconds resolution)."""
    return reports["timestamp"].max() - (reports["timestamp"] - reports["time_total_s"]).min()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="search_spaces/noise_scale.py")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--cpus-per-trial", type=int, default=1)
    args = parser.parse_args()
    concurrency = max(1, (os.cpu_count() or 1) // args.cpus_per_trial)
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        argv = [
            sys.executable,
            "-m",
            "tune_ired.sweep",
            args.file,
            "--budget",
            args.budget,
            "--storage",
            tmp,
        ]
        argv += ["--cpus-per-trial", str(args.cpus_per_trial), "--name", "bench"]
        wall, peak = run_sweep(argv, Path(tmp) / "sweep.log")
        reports = tune_reports(Path(tmp) / "bench")
        times, loop = trial_times(reports), tuning_loop_s(reports)
    ideal = times["own_s"] / concurrency
    print(
        f"sweep {args.file} at {args.budget}: {times['trials']} trials, {times['evaluations']} evaluations"
    )
    print(f"concurrency: {concurrency} trials x {args.cpus_per_trial} CPU")
    print(f"wall time, whole command: {wall:.1f} s; tuning loop: {loop:.1f} s")
    print(f"trials' own time: {times['own_s']:.1f} s in total, {ideal:.1f} s / concurrency")
    print(
        f"trial start-up: mean {times['startup_mean_s']:.2f} s, max {times['startup_max_s']:.2f} s"
    )
    print(f"peak memory of the sweep's process tree: {peak / BYTES_PER_MIB:.0f} MiB")
    print(f"tuning-loop overhead: {loop / ideal:.2f}")
    print(f"sweep_overhead_{args.budget}: {wall / ideal:.2f}")


if __name__ == "__main__":
    main()
