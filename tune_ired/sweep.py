"""Sweep command line: run a search-space file on a local private Ray, or on a cluster, with Ray Tune.

    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick
    python -m tune_ired.sweep search_spaces/multiseed.py --address 10.0.0.1:6379 --gpus-per-trial 0.25
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --resume   # continue a killed sweep
    python -m tune_ired.sweep search_spaces/noise_scale.py --budget quick --dry-run  # the trials, without Ray
    python -m tune_ired.sweep search_spaces/noise_scale.py --tracker tensorboard --tracker mlflow
    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick          # a campaign of studies

With no --address a private local Ray is started (its dashboard on 127.0.0.1, address
printed); with one, the sweep joins that cluster. The sweep is written to
`<storage>/<name>/` (default `./results/<file stem>/`): Ray Tune's own files, our
`sweep.json`, and at the end the tidy table `trials.parquet` / `trials.csv`
(`tune_ired.record.results`) and `best.json` (`tune_ired.tuning.summary`). The live table is
`tune_ired.tuning.console`'s; `python -m tune_ired.status FOLDER` prints it from the folder alone.
Several files, or one campaign file, run as a campaign on one Ray (`tune_ired.tuning.campaign`).
Bad input (file, key, value, budget, scheduler, seed, resources, devices, storage, address,
tracker) exits with code 2 before Ray starts.

Running it again is safe (`tune_ired.tuning.plan`): a finished sweep of the same file, budget and
name is reported (writing nothing), an unfinished one says to `--resume`, a start-up's
leftovers start afresh, and `--name` or `--overwrite` start a new one. One driver runs a
folder at a time (`tune_ired.tuning.lock`: a second one exits 2 naming it). SIGTERM stops a sweep
as Ctrl-C does (`tune_ired.tuning.signals`). Every "continue it with" line is `resume_command`'s.
Exit codes (`tune_ired.cli.ExitCode`): 0 every trial ended (completed, stopped,
early-stopped or diverged); 1 a trial errored (the message says why); 2 bad input, or a
folder another driver runs; 74 the storage filled up (free space, then `--resume`); 75
stopped before its end (a signal) with its state saved (`--resume`).
"""

from __future__ import annotations

import sys

from tune_ired.tuning.arguments import parse_args


def main(argv: list[str] | None = None) -> int:
    """Parse the command line (answering --help before anything heavy loads), then run it."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from tune_ired.tuning.driver import start

    return start(args)


if __name__ == "__main__":
    sys.exit(main())
