"""Sweep command line: run a search-space file on a local private Ray, or on a cluster, with Ray Tune.

    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick
    python -m tune_ired.sweep search_spaces/multiseed.py --address 10.0.0.1:6379 --gpus-per-trial 0.25
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --resume   # continue a killed sweep
    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick          # a campaign of studies

With no --address a private local Ray is started (its dashboard on 127.0.0.1, address
printed); with one, the sweep joins that cluster. The sweep is written to
`<storage>/<name>/` (default `./results/<file stem>/`): Ray Tune's own files, our
`sweep.json`, and at the end the tidy table `trials.parquet` / `trials.csv`
(`tune_ired.results`). Several files, or one campaign file, run as a campaign on one Ray
(`tune_ired.campaign`). Bad input (file, key, value, budget, address) exits with code 2
before Ray starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_ired.budgets import BUDGETS
from tune_ired.cli import ExitCode, fail


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.sweep",
        description="Run a search-space file (search_spaces/*.py) as a Ray Tune sweep.",
        epilog="Config keys: python -m tune_ired.train --list-keys",
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a search-space file (search_spaces/noise_scale.py); several, or a campaign file, run as a campaign",
    )
    parser.add_argument("--budget", choices=list(BUDGETS), help="named budget (default: the file's default_budget)")
    parser.add_argument("--address", help="join the Ray cluster at HOST:PORT (default: start a private local Ray)")
    parser.add_argument("--storage", type=Path, default=Path("results"), help="storage folder (default: ./results)")
    parser.add_argument("--name", help="experiment name (default: the file's stem; a campaign's: its file's stem)")
    parser.add_argument("--resume", action="store_true", help="continue the sweep (or campaign) in <storage>/<name>")
    parser.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs (and torch threads) per trial")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, fractions allowed")
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: as resources allow)")
    parser.add_argument("--num-samples", type=int, help="override the file's num_samples")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fix a config key")
    parser.add_argument(
        "--studies-at-once", type=int, default=1, metavar="N", help="a campaign's studies run side by side (default: 1)"
    )
    args = parser.parse_args(argv)
    args.file = args.files[0]
    return args


def run(plan, trainable=None) -> None:
    """Record the sweep, run it on Ray, and summarize it (`trainable`: tests pass their own)."""
    from tune_ired.plan import close_meta, write_meta
    from tune_ired.summary import summarize
    from tune_ired.trainable import train_ired
    from tune_ired.tuner import run_tuner

    write_meta(plan)
    run_tuner(plan, trainable or train_ired)
    close_meta(plan)
    summarize(plan)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from tune_ired import campaign
    from tune_ired.config import ConfigError
    from tune_ired.plan import plan_sweep

    try:
        if campaign.is_campaign(args.files):
            return campaign.main(args, argv)
        plan = plan_sweep(args)
    except ConfigError as err:
        return fail(str(err))
    campaign.watch_campaign()
    print(f"sweep {plan.file} at budget '{plan.budget}' into {plan.folder}", flush=True)
    run(plan)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
