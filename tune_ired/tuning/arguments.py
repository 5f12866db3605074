"""The sweep command's arguments, and the command that continues what they started.

    args = parse_args(["search_spaces/noise_scale.py", "--budget", "quick"])
    resume_command(args)   # 'python -m tune_ired.sweep /abs/search_spaces/noise_scale.py --budget quick ... --resume'

`resume_command` makes every printed "continue it with" line: at start-up, mid-run, after a
time-out or a full disk, in the closing summary, for a campaign (its campaign's command) and
inside `cluster/ray_sweep.sbatch` (the job's own `sbatch` line, which the job prints through
`resume_line`). It repeats the command's options with absolute paths (a resume may repeat its
`--set`, `--budget` and `--num-samples`), drops `--overwrite` and `--dry-run`, and adds `--resume`.
A job that SLURM requeues runs the same arguments again (`requeued_argv`: the same continuation,
without a command in front).
Torch-free and Ray-free: `--help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from tune_ired.budgets import BUDGETS, describe_budgets
from tune_ired.cli import add_version, prog
from tune_ired.tuning.trackers import TRACKERS

# set by cluster/ray_sweep.sbatch: the `sbatch` line (with the job's options) that resubmits the job
SUBMIT_VARIABLE = "TUNE_IRED_SUBMIT"
# set by a campaign for its studies' sweep processes: the command that continues the campaign
CONTINUE_VARIABLE = "TUNE_IRED_CONTINUE"
NOT_REPEATED = {"files", "resume", "overwrite", "dry_run", "slurm"}  # options a continue line drops


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog("sweep"),
        description="Run a search-space file (search_spaces/*.py) as a Ray Tune sweep.",
        epilog=(
            f"budgets:\n{describe_budgets()}\n\n"
            "config keys: python -m tune_ired.train --list-keys\n"
            "a sweep's state, any time: python -m tune_ired.status <storage>/<name>"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a search-space file (search_spaces/noise_scale.py); several, or a campaign file, run as a campaign",
    )
    parser.add_argument(
        "--budget",
        choices=list(BUDGETS),
        help="named budget, listed below (default: the file's default_budget)",
    )
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="join this Ray cluster (default: start a private local Ray)",
    )
    parser.add_argument(
        "--slurm",
        metavar='"SBATCH OPTIONS"',
        help='check the plan against this SLURM request, then submit it as a job (e.g. "-N 2 -t 4:00:00")',
    )
    parser.add_argument(
        "--storage",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="storage folder (default: ./results)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="the sweep's (or campaign's) folder in DIR (default: the file's stem)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the sweep (or campaign) in <storage>/<name>"
    )
    parser.add_argument(
        "--cpus-per-trial",
        type=int,
        default=1,
        metavar="N",
        help="CPUs (and torch threads) per trial (default: 1)",
    )
    parser.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        metavar="F",
        help="GPUs per trial, fractions share (default: 0)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=0,
        metavar="N",
        help="trials at once (default: 0, as resources allow)",
    )
    parser.add_argument(
        "--num-samples", type=int, metavar="N", help="override the file's num_samples"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fix a config key (repeatable)",
    )
    # --- console and trackers (tune_ired.tuning.console, tune_ired.tuning.dryrun, tune_ired.tuning.trackers)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the trials, resources and estimated work; start nothing",
    )
    parser.add_argument(
        "--tracker",
        action="append",
        default=[],
        choices=list(TRACKERS),
        help="also log to this tracker (repeatable; pip install -e '.[trackers]')",
    )
    parser.add_argument(
        "--mlflow-uri",
        metavar="URI",
        help="MLflow tracking store or server (default: sqlite:///<storage>/<name>/mlflow.db)",
    )
    # --- the sweep folder (tune_ired.tuning.plan: re-running is safe)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the sweep folder <storage>/<name> first (asks nothing)",
    )
    # --- campaigns (tune_ired.tuning.campaign)
    parser.add_argument(
        "--studies-at-once",
        type=int,
        default=1,
        metavar="N",
        help="a campaign's studies side by side (default: 1)",
    )
    add_version(parser)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    args.file = args.files[0]
    return args


def option_tokens(args: argparse.Namespace, *, skip: set[str]) -> list[str]:
    """The options of `args` that differ from the parser's defaults, as command-line tokens (paths made
    absolute), but those whose destination is in `skip`; `--storage` always."""
    tokens: list[str] = []
    for action in build_parser()._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest in skip or action.default == argparse.SUPPRESS:
            continue  # a positional, a skipped option, or --help
        if value == action.default and action.dest != "storage":
            continue
        option = action.option_strings[-1]
        if action.nargs == 0:  # a flag (store_true)
            tokens.append(option)
            continue
        for one in value if isinstance(value, list) else [value]:
            tokens += [option, str(one.resolve() if isinstance(one, Path) else one)]
    return tokens


def resume_command(args: argparse.Namespace, *, file: Path | None = None) -> str:
    """The command that continues what `args` started: every printed "continue it with" line.

    It repeats the command's options (a resume may repeat its --set, --budget, --num-samples)
    with absolute paths, without --overwrite and --dry-run, and adds --resume. Inside
    cluster/ray_sweep.sbatch it is the job's own `sbatch` line (SUBMIT_VARIABLE, without the
    job's --address); inside a campaign, the campaign's command (CONTINUE_VARIABLE). With
    `file`: the command that continues the sweep of that file in the same folder (its
    recorded settings apply).
    """
    if os.environ.get(CONTINUE_VARIABLE):
        return os.environ[CONTINUE_VARIABLE]
    submit = os.environ.get(SUBMIT_VARIABLE)
    skip = NOT_REPEATED | ({"address"} if submit else set())
    if file is None:
        tokens = continuing_argv(args, skip=skip)
    else:
        name = args.name or args.file.stem
        tokens = [str(file), "--storage", str(args.storage.resolve()), "--name", name]
        tokens += ["--address", args.address] if args.address and not submit else []
        tokens.append("--resume")
    return f"{submit or 'python -m tune_ired.sweep'} {shlex.join(tokens)}"


def continuing_argv(args: argparse.Namespace, *, skip: set[str]) -> list[str]:
    """The arguments that continue what `args` started: its files and its options (absolute paths,
    none of `skip`), then --resume."""
    files = [str(path.resolve()) for path in args.files]
    return [*files, *option_tokens(args, skip=skip), "--resume"]


def resume_line(argv: list[str]) -> str:
    """resume_command of a command line (cluster/ray_sweep.sbatch prints it when the job stops)."""
    return resume_command(parse_args(argv))


def requeued_argv(argv: list[str]) -> str:
    """The sweep arguments of a job SLURM has requeued (cluster/ray_sweep.sbatch, on a restart): those
    it was given, continued (--resume; no --overwrite, which would delete what the first run did),
    NUL-separated for the script."""
    return "\0".join(continuing_argv(parse_args(argv), skip=NOT_REPEATED))
