"""Single-run command line: train one config (one or several seeds) into a run folder.

    python -m tune_ired.train --budget quick --out runs/quick
    python -m tune_ired.train --budget quick --set strategy=random --set seed=3 --out runs/r3
    python -m tune_ired.train --out runs/quick --resume                        # continue from the latest checkpoint
    python -m tune_ired.train --config runs/quick/config.json --out runs/again  # repeat a run (or a sweep trial)
    python -m tune_ired.train --list-keys                                      # every config key and its range

A run folder holds `config.json` (every key), `run.json` (provenance, one session per start
or resume), `metrics.jsonl` (one JSON object per evaluation), `heartbeat.json` (the step
reached) and `checkpoints/` (`latest.pt`, `best.pt` by val/mse, `final.pt`). On a terminal
a progress bar shows steps/s and the ETA between evaluations (`tune_ired.progress`); in a
log, a plain progress line every 30 s. Bad input exits with code 2 and a message naming the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_ired.budgets import BUDGETS, describe_budgets
from tune_ired.cli import ExitCode, fail
from tune_ired.progress import LINE_PERIOD_S, StepProgress

if TYPE_CHECKING:
    from tune_ired.config import Config
    from tune_ired.trainer import Trainer


def format_row(row: dict[str, Any], total_steps: int) -> str:
    """One progress line for an evaluation row."""
    parts = [f"step {row['step']:>7}/{total_steps}", f"loss {row['train/loss']:.4f}"]
    parts += [
        f"{key} {row[key]:.5f}" for key in ("val/mse", "val/mse_ood", "val/elem_acc") if key in row
    ]
    parts.append(f"{row['perf/steps_per_s']:.1f} steps/s")
    if row["seeds_diverged"] and not row["diverged"]:
        parts.append(f"{row['seeds_diverged']} seed(s) diverged")
    if row["diverged"]:
        parts.append("DIVERGED")
    if row["early_stopped"]:
        parts.append("early stop")
    return "  ".join(parts)


def prepare_run(out: Path, cfg: Config | None, *, resume: bool) -> Trainer:
    """A trainer for `out`, restored from its latest checkpoint when resuming."""
    from tune_ired.checkpoint import load_first_valid, previous_of
    from tune_ired.config import ConfigError, make_config
    from tune_ired.runlog import CHECKPOINTS, CONFIG_FILE
    from tune_ired.trainer import Trainer

    config_path, latest = out / CONFIG_FILE, out / CHECKPOINTS / "latest.pt"
    if resume:
        if not config_path.exists():
            raise ConfigError(
                f"--resume: {out} holds no run (no config.json); start it without --resume."
            )
        stored = make_config(json.loads(config_path.read_text()), source=str(config_path))
        if cfg is not None and cfg != stored:
            changed = sorted(k for k, v in cfg.to_dict().items() if stored.to_dict()[k] != v)
            raise ConfigError(
                f"--resume: the run in {out} has a different config ({', '.join(changed)})."
            )
        trainer = Trainer(stored)
        # a torn latest.pt: the one before it
        loaded = load_first_valid([latest, previous_of(latest)])
        if loaded is not None:
            trainer.load_state_dict(loaded[0])
        return trainer
    if config_path.exists():
        raise ConfigError(
            f"--out: {out} already holds a run; pass --resume or choose another folder."
        )
    return Trainer(cfg or make_config())


def run_to_dir(
    out: Path,
    cfg: Config | None,
    *,
    budget: str | None = None,
    resume: bool = False,
    echo=print,
    tty: bool | None = None,
    progress_period_s: float = LINE_PERIOD_S,
) -> list[dict[str, Any]]:
    """Train into run folder `out` (see the module docstring); returns the new metric rows.

    `tty` forces the progress bar on or off (default: whether stderr is a terminal);
    without the bar a progress line is echoed every `progress_period_s`.
    """
    from tune_ired.catalogue import VAL_MSE, Mode
    from tune_ired.checkpoint import save_keeping_previous, save_state
    from tune_ired.runlog import (
        CHECKPOINTS,
        METRICS_FILE,
        RUN_FILE,
        BestCheckpoint,
        read_json,
        recorded_run,
    )

    trainer = prepare_run(out, cfg, resume=resume)
    cfg = trainer.cfg
    if resume:
        budget = read_json(out / RUN_FILE).get("budget")
    ckpt_dir = out / CHECKPOINTS
    echo(f"run {out}: n={cfg.n} strategy={cfg.strategy} seeds={cfg.seeds} device={trainer.device}")
    echo(f"from step {trainer.step} of {cfg.train_steps}; metrics in {out / METRICS_FILE}")
    best = BestCheckpoint(
        VAL_MSE, Mode.MIN, save=lambda path: save_state(trainer.state_dict(), path)
    )
    progress = StepProgress(
        total=cfg.train_steps, initial=trainer.step, tty=tty, period_s=progress_period_s, echo=echo
    )
    rows = []
    try:
        for row in recorded_run(trainer, out, budget=budget, best=best, on_step=progress):
            if (
                cfg.checkpoint_every == 0
                or row["step"] % cfg.checkpoint_every == 0
                or trainer.finished
            ):
                save_keeping_previous(trainer.state_dict(), ckpt_dir / "latest.pt")
            progress.write(format_row(row, cfg.train_steps))
            rows.append(row)
    finally:
        progress.close()
    save_state(trainer.state_dict(), ckpt_dir / "final.pt")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.train",
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
    return parser.parse_args(argv)


def explicit_keys(args: argparse.Namespace) -> dict[str, Any]:
    """The explicit config keys of the command line: --config's file, then --set (raises ConfigError)."""
    from tune_ired.config import ConfigError, parse_assignments

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
    from tune_ired.config import ConfigError, config_help, make_config

    if args.list_keys:
        print(config_help())
        return ExitCode.OK
    from tune_ired.runlog import is_disk_full, write_problem

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
        run_to_dir(args.out, cfg, budget=args.budget, resume=args.resume)
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
