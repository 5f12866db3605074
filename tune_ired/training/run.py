"""One training run into a run folder, fresh or resumed: the single-run driver of the trainer.

    from tune_ired.training.run import run_to_dir
    rows = run_to_dir(Path("runs/quick"), make_config(budget="quick"), budget="quick")

The folder's record is written by the same loop as a sweep trial's
(`tune_ired.record.runfolder.recorded_run`); beside it `checkpoints/latest.pt` (and the one
before it, for a torn latest), `best.pt` by val/mse and `final.pt`. A progress bar (a plain
line in a log) shows the steps between evaluations (`tune_ired.training.progress`).
`python -m tune_ired.train` is its command line (`tune_ired.train`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tune_ired.ired.config import Config, ConfigError, make_config
from tune_ired.record import catalogue as K
from tune_ired.record.files import read_json
from tune_ired.record.runfolder import (
    CHECKPOINTS,
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
    BestCheckpoint,
    recorded_run,
)
from tune_ired.training.checkpoint import (
    load_first_valid,
    previous_of,
    save_keeping_previous,
    save_state,
)
from tune_ired.training.progress import LINE_PERIOD_S, StepProgress
from tune_ired.training.trainer import Trainer


def format_row(row: dict[str, Any], total_steps: int) -> str:
    """One progress line for an evaluation row."""
    parts = [f"step {row[K.STEP]:>7}/{total_steps}", f"loss {row[K.TRAIN_LOSS]:.4f}"]
    parts += [
        f"{key} {row[key]:.5f}" for key in (K.VAL_MSE, K.VAL_MSE_OOD, K.VAL_ELEM_ACC) if key in row
    ]
    parts.append(f"{row[K.PERF_STEPS_PER_S]:.1f} steps/s")
    if row[K.SEEDS_DIVERGED] and not row[K.DIVERGED]:
        parts.append(f"{row[K.SEEDS_DIVERGED]} seed(s) diverged")
    if row[K.DIVERGED]:
        parts.append("DIVERGED")
    if row[K.EARLY_STOPPED]:
        parts.append("early stop")
    return "  ".join(parts)


def prepare_run(out: Path, cfg: Config | None, *, resume: bool) -> Trainer:
    """A trainer for `out`, restored from its latest checkpoint when resuming."""
    from tune_ired.training.trainer import Trainer

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
    from tune_ired.record.runfolder import (
        CHECKPOINTS,
    )

    trainer = prepare_run(out, cfg, resume=resume)
    cfg = trainer.cfg
    if resume:
        budget = read_json(out / RUN_FILE).get("budget")
    ckpt_dir = out / CHECKPOINTS
    echo(f"run {out}: n={cfg.n} strategy={cfg.strategy} seeds={cfg.seeds} device={trainer.device}")
    echo(f"from step {trainer.step} of {cfg.train_steps}; metrics in {out / METRICS_FILE}")
    best = BestCheckpoint(
        K.VAL_MSE, K.Mode.MIN, save=lambda path: save_state(trainer.state_dict(), path)
    )
    progress = StepProgress(
        total=cfg.train_steps, initial=trainer.step, tty=tty, period_s=progress_period_s, echo=echo
    )
    rows = []
    try:
        for row in recorded_run(trainer, out, budget=budget, best=best, on_step=progress):
            if (
                cfg.checkpoint_every == 0
                or row[K.STEP] % cfg.checkpoint_every == 0
                or trainer.finished
            ):
                save_keeping_previous(trainer.state_dict(), ckpt_dir / "latest.pt")
            progress.write(format_row(row, cfg.train_steps))
            rows.append(row)
    finally:
        progress.close()
    save_state(trainer.state_dict(), ckpt_dir / "final.pt")
    return rows
