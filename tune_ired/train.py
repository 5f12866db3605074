"""Single-run command line: train one config (one or several seeds) into a run folder.

    python -m tune_ired.train --budget quick --out runs/quick
    python -m tune_ired.train --budget quick --set strategy=random --set seed=3 --out runs/r3
    python -m tune_ired.train --out runs/quick --resume                        # continue from the latest checkpoint
    python -m tune_ired.train --config runs/quick/config.json --out runs/again  # repeat a run (or a sweep trial)
    python -m tune_ired.train --list-keys                                      # every config key and its range

A run folder holds `config.json` (every key), `run.json` (provenance, one session per start
or resume), `metrics.jsonl` (one JSON object per evaluation), `heartbeat.json` (the step
reached) and `checkpoints/` (`latest.pt`, `best.pt` by val/mse, `final.pt`). On a terminal
a progress bar shows steps/s and the ETA between evaluations (`tune_ired.training.progress`); in a
log, a plain progress line every 30 s. Bad input exits with code 2 and a message naming the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tune_ired._lazy import lazy
from tune_ired.budgets import BUDGETS, describe_budgets
from tune_ired.cli import ExitCode, add_version, fail, prog
from tune_ired.ired.config import ConfigError, config_help, make_config, parse_assignments
from tune_ired.record.files import is_disk_full, write_problem

training = lazy("tune_ired.training.run")  # torch loads once the arguments are parsed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog("train"),
        description="Train one IRED matrix-inversion config into a run folder.",
        epilog=f"budgets:\n{describe_budgets()}\n\nconfig keys: python -m tune_ired.train --list-keys",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--budget",
        choices=list(BUDGETS),
        help="named budget (default: none, i.e. the paper's config defaults)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a JSON file of config keys, e.g. RUN/config.json",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config key (after --config)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="run folder (config.json, metrics.jsonl, checkpoints/)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    parser.add_argument(
        "--list-keys", action="store_true", help="print every config key with its range and exit"
    )
    add_version(parser)
    return parser.parse_args(argv)


def explicit_keys(args: argparse.Namespace) -> dict[str, Any]:
    """The explicit config keys of the command line: --config's file, then --set (raises ConfigError)."""
    keys: dict[str, Any] = {}
    if args.config is not None:
        try:
            keys = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(
                f"--config {args.config}: not a readable JSON file of config keys ({err})."
            ) from err
        if not isinstance(keys, dict):
            raise ConfigError(f"--config {args.config}: expected a JSON object of config keys.")
    return keys | parse_assignments(args.set)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_keys:
        print(config_help())
        return ExitCode.OK
    try:
        if args.out is None:
            raise ConfigError("--out: a run folder is required (e.g. --out runs/quick).")
        if problem := write_problem(args.out):
            raise ConfigError(f"--out: the run folder {args.out} cannot be written: {problem}.")
        keys = explicit_keys(args)
        given = args.budget is not None or keys
        cfg = (
            make_config(keys, budget=args.budget, source=str(args.config or "--set"))
            if given
            else None
        )
        training.run_to_dir(args.out, cfg, budget=args.budget, resume=args.resume)
    except ConfigError as err:
        return fail(str(err))
    except OSError as err:
        if not is_disk_full(err):
            raise
        again = f"python -m tune_ired.train --out {args.out} --resume"
        return fail(
            f"--out: the disk of {args.out} is full ({err.strerror}); what is on disk stays readable. "
            f"Free space, then continue with `{again}`.",
            ExitCode.DISK_FULL,
        )
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
