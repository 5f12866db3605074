"""Progress of one training run between its evaluations: a bar on a terminal, plain lines in a log.

`python -m tune_ired.train` passes a `StepProgress` as the trainer's per-step callback
(through `tune_ired.record.runfolder.recorded_run`). On a terminal it draws a tqdm bar on stderr
(steps done of train_steps, steps/s, elapsed and ETA) and prints the evaluation lines
above it; when stderr is not a terminal (a log file, a batch job) it prints instead a
plain line every `LINE_PERIOD_S`:

    step    4500/100000 (4.5%)  3.02 steps/s  elapsed 0:24:51  ETA 8:47:03

Nothing here touches the trainer's tensors: the callback receives a plain step count.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

LINE_PERIOD_S = (
    30.0  # a plain progress line at most this often (logs stay short, yet never minutes silent)
)
BAR_UNIT = "step"


def duration(seconds: float) -> str:
    """Seconds as h:mm:ss ('?' when unknown)."""
    if seconds != seconds or seconds == float("inf"):  # NaN or infinite
        return "?"
    return str(timedelta(seconds=round(seconds)))


class StepProgress:
    """The trainer's `on_step` callback for a run from `initial` to `total` steps, and its evaluation lines."""

    def __init__(
        self,
        *,
        total: int,
        initial: int = 0,
        tty: bool | None = None,
        period_s: float = LINE_PERIOD_S,
        stream: TextIO | None = None,
        echo: Callable[[str], None] = print,
    ):
        self.total, self.initial, self.period_s, self.echo = total, initial, period_s, echo
        stream = stream or sys.stderr
        self.bar = None
        if stream.isatty() if tty is None else tty:
            from tqdm import tqdm  # only a terminal needs it

            self.bar = tqdm(
                total=total, initial=initial, unit=BAR_UNIT, file=stream, dynamic_ncols=True
            )
        self.start = self.last_line = time.monotonic()
        self.step = initial

    def __call__(self, step: int) -> None:
        """One optimiser step done: `step` steps in all."""
        if self.bar is not None:
            self.bar.update(step - self.step)
            self.step = step
            return
        self.step = step
        now = time.monotonic()
        if now - self.last_line >= self.period_s:
            self.last_line = now
            self.echo(self.line(now))

    def line(self, now: float) -> str:
        """The plain progress line at time `now` (time.monotonic())."""
        elapsed = now - self.start
        rate = (self.step - self.initial) / elapsed if elapsed > 0 else float("nan")
        eta = (self.total - self.step) / rate if rate > 0 else float("nan")
        share = 100 * self.step / self.total if self.total else 100.0
        return (
            f"step {self.step:>7}/{self.total} ({share:.1f}%)  {rate:.2f} steps/s  "
            f"elapsed {duration(elapsed)}  ETA {duration(eta)}"
        )

    def write(self, text: str) -> None:
        """Print an evaluation line (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            self.echo(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
