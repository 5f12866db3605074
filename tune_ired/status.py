"""Where a sweep stands, read from its folder alone: no Ray, no torch, also while it runs or after a kill.

    python -m tune_ired.status results/noise_scale

prints the sweep's file, budget and metric, the trials by status, one line per trial (its
id, status, searched keys, the step it has reached of its train_steps, its last and best
value of the sweep's metric) and the best trial so far. A running trial's step comes from
its `heartbeat.json` (rewritten every few seconds between evaluations), the rest from its
`metrics.jsonl` and Tune's experiment state (`tune_ired.record.results`). The sweep's live table
(`tune_ired.tuning.console`) prints the same lines. A folder that is not a sweep exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_ired._lazy import lazy
from tune_ired.cli import ExitCode, add_version, fail, prog

view = lazy("tune_ired.record.sweepview")  # pandas loads after the arguments are parsed
results = lazy("tune_ired.record.results")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog("status"),
        description="Print where a sweep stands (live, partial or finished), from its folder alone.",
    )
    add_version(parser)
    parser.add_argument(
        "sweep", type=Path, metavar="SWEEP_DIR", help="a sweep folder, e.g. results/noise_scale"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        meta, views = view.sweep_views(args.sweep.resolve())
    except results.NotASweepError as err:
        return fail(str(err))
    print(view.describe(args.sweep.resolve(), meta, views))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
