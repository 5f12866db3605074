"""Single-run command line: train one config (one or several seeds) into a run folder.

    python -m tune_ired.train --budget quick --out runs/quick
    python -m tune_ired.train --budget quick --set strategy=random --set seed=3 --out runs/r3
    python -m tune_ired.train --out runs/quick --resume      # continue from the latest checkpoint
    python -m tune_ired.train --list-keys                    # every config key and its range

A run folder holds `config.json`, `metrics.jsonl` (one JSON object per evaluation) and
`checkpoints/` (`latest.pt`, `best.pt` by val/mse, `final.pt`). Bad input exits with
code 2 and a message naming the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tune_ired.checkpoint import load_state, save_state
from tune_ired.config import Config, ConfigError, config_help, make_config, parse_assignments
from tune_ired.runlog import CONFIG_FILE, METRICS_FILE, append_row, restart_metrics, write_config
from tune_ired.trainer import Trainer

EXIT_BAD_INPUT = 2


def format_row(row: dict[str, Any], total_steps: int) -> str:
    """One progress line for an evaluation row."""
    parts = [f"step {row['step']:>7}/{total_steps}", f"loss {row['train/loss']:.4f}"]
    parts += [f"{key} {row[key]:.5f}" for key in ("val/mse", "val/mse_ood", "val/elem_acc") if key in row]
    parts.append(f"{row['perf/steps_per_s']:.1f} steps/s")
    if row["diverged"]:
        parts.append("DIVERGED")
    if row["early_stopped"]:
        parts.append("early stop")
    return "  ".join(parts)


def prepare_run(out: Path, cfg: Config | None, *, resume: bool) -> Trainer:
    """A trainer for `out`, restored from its latest checkpoint when resuming."""
    config_path, latest = out / CONFIG_FILE, out / "checkpoints" / "latest.pt"
    if resume:
        if not config_path.exists():
            raise ConfigError(f"--resume: {out} holds no run (no config.json); start it without --resume.")
        stored = make_config(json.loads(config_path.read_text()), source=str(config_path))
        if cfg is not None and cfg != stored:
            changed = sorted(k for k, v in cfg.to_dict().items() if stored.to_dict()[k] != v)
            raise ConfigError(f"--resume: the run in {out} has a different config ({', '.join(changed)}).")
        trainer = Trainer(stored)
        if latest.exists():
            trainer.load_state_dict(load_state(latest))
        return trainer
    if config_path.exists():
        raise ConfigError(f"--out: {out} already holds a run; pass --resume or choose another folder.")
    cfg = cfg or make_config()
    write_config(out, cfg.to_dict())
    return Trainer(cfg)


def run_to_dir(out: Path, cfg: Config | None, *, resume: bool = False, echo=print) -> list[dict[str, Any]]:
    """Train into run folder `out` (see the module docstring); returns the new metric rows."""
    trainer = prepare_run(out, cfg, resume=resume)
    cfg = trainer.cfg
    ckpt_dir = out / "checkpoints"
    restart_metrics(out, up_to_step=trainer.step)  # rows past the checkpoint were left by a killed run
    echo(f"run {out}: n={cfg.n} strategy={cfg.strategy} seeds={cfg.seeds} device={trainer.device}")
    echo(f"from step {trainer.step} of {cfg.train_steps}; metrics in {out / METRICS_FILE}")
    rows = []
    for row in trainer.run():
        append_row(out, row)
        state = trainer.state_dict()
        if cfg.checkpoint_every == 0 or row["step"] % cfg.checkpoint_every == 0 or trainer.finished:
            save_state(state, ckpt_dir / "latest.pt")
        if row["val/is_best"]:
            save_state(state, ckpt_dir / "best.pt")
        echo(format_row(row, cfg.train_steps))
        rows.append(row)
    save_state(trainer.state_dict(), ckpt_dir / "final.pt")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_ired.train",
        description="Train one IRED matrix-inversion config into a run folder.",
        epilog="Config keys: python -m tune_ired.train --list-keys",
    )
    parser.add_argument("--budget", help="named budget: tiny, quick or paper (defaults: the paper's config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--out", type=Path, help="run folder (config.json, metrics.jsonl, checkpoints/)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    parser.add_argument("--list-keys", action="store_true", help="print every config key with its range and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_keys:
        print(config_help())
        return 0
    try:
        if args.out is None:
            raise ConfigError("--out: a run folder is required (e.g. --out runs/quick).")
        given = args.budget is not None or args.set
        cfg = make_config(parse_assignments(args.set), budget=args.budget, source="--set") if given else None
        run_to_dir(args.out, cfg, resume=args.resume)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
