"""Where a sweep (or a campaign) stands, read from its folder alone: no Ray, no torch, also while it runs.

    python -m tune_ired.status results/noise_scale
    python -m tune_ired.status results/research_plan      # a campaign: each study, and its expected end

prints the sweep's file, budget and metric, the trials by status, one line per trial (its
id, status, searched keys, the step it has reached of its train_steps, its last and best
value of the sweep's metric), the best trial so far and, while it runs, its expected end
(from the estimate in sweep.json and the trials' observed speed). A running trial's step
comes from its `heartbeat.json` (rewritten every few seconds between evaluations), the rest
from its `metrics.jsonl` and Tune's experiment state (`tune_ired.record.sweepview`). The
sweep's live table (`tune_ired.tuning.console`) prints the same lines. For a campaign's
folder: each study's state and trials, and the campaign's expected end. A folder that is
neither exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_ired._lazy import lazy
from tune_ired.cli import ExitCode, add_version, fail, prog
from tune_ired.record.campaignfile import CAMPAIGN_FILE

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
    folder = args.sweep.resolve()
    if (folder / CAMPAIGN_FILE).exists():
        print(view.campaign_text(folder))
        return ExitCode.OK
    try:
        meta, views = view.sweep_views(folder)
    except results.NotASweepError as err:
        return fail(str(err))
    print(view.describe(folder, meta, views))
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
