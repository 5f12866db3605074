"""How good the plan's time estimate is: estimate a quick sweep and a small campaign, run them, compare.

    python -m benchmarks.bench_estimate                        # ood.py, then strategies.py + ood.py, quick
    python -m benchmarks.bench_estimate --sweep search_spaces/matrix_size.py --budget quick

For each command, the estimate comes from the same code a dry run prints
(`tune_ired.tuning.costs`: each trial shape calibrated on this machine, cached), then the
command runs in a subprocess exactly as a user would run it (a fresh local Ray, into a
temporary storage folder), and its wall time is measured from start to exit. Prints, per
command, the estimate, the measured time, their ratio, and the trials' own time; the last
lines are `estimate_ratio_sweep: X.XX` and `estimate_ratio_campaign: X.XX` (estimated /
measured; the target is 0.75-1.33). Sweeps without a scheduler are used: under ASHA the
estimate is a range, whose ends are bounds, not predictions.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tune_ired.record.estimate import duration_text
from tune_ired.tuning import campaign, costs
from tune_ired.tuning.arguments import parse_args
from tune_ired.tuning.plan import plan_sweep

TARGET = (0.75, 1.33)


def estimated_s(argv: list[str]) -> float:
    """The estimate's wall time of a sweep or campaign command line, as a dry run computes it."""
    args = parse_args(argv)
    if campaign.is_campaign(args.files):
        planned = campaign.plan_studies(args)
        full, _ = campaign.campaign_total(
            campaign.study_estimates(args, planned), args.studies_at_once
        )
        return full
    return costs.plan_estimate(plan_sweep(args)).wall()


def measured_s(argv: list[str]) -> float:
    """Wall seconds of the command, run as a user runs it."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tune_ired.sweep", *argv], capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def compare(name: str, files: list[str], budget: str, storage: Path) -> float:
    """Estimate, run and print one command; its ratio."""
    argv = [*files, "--budget", budget, "--storage", str(storage)]
    estimate = estimated_s(argv)
    seconds = measured_s(argv)
    ratio = estimate / seconds
    print(
        f"{name}: {' '.join(Path(f).name for f in files)} at {budget}: estimated "
        f"{duration_text(estimate)} ({estimate:.0f} s), measured {duration_text(seconds)} "
        f"({seconds:.0f} s), ratio {ratio:.2f}",
        flush=True,
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="search_spaces/ood.py")
    parser.add_argument(
        "--campaign", nargs="+", default=["search_spaces/strategies.py", "search_spaces/ood.py"]
    )
    parser.add_argument("--budget", default="quick")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_estimate_") as tmp:
        sweep = compare("sweep", [args.sweep], args.budget, Path(tmp) / "sweep")
        runs = compare("campaign", args.campaign, args.budget, Path(tmp) / "campaign")
    inside = all(TARGET[0] <= r <= TARGET[1] for r in (sweep, runs))
    print(f"target {TARGET[0]}-{TARGET[1]}: {'met' if inside else 'missed'}")
    print(f"estimate_ratio_sweep: {sweep:.2f}")
    print(f"estimate_ratio_campaign: {runs:.2f}")


if __name__ == "__main__":
    main()
