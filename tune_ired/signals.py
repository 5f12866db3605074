"""How a sweep driver stops on a signal: SIGTERM (scancel, preemption, shutdown) as SIGINT (Ctrl-C).

    stop = StopSignals()
    stop.install()            # once the driver holds its lock, and again after ray.init
    ...
    if stop.requested: ...    # a stop asked for before Tune ran: start nothing more

While Ray Tune runs (`Tuner.fit`) it handles SIGINT itself: it saves the experiment and
stops, the trials stay at their checkpoints, and the sweep exits 75 with the command that
continues it. `StopSignals` sends SIGTERM the same way, to Tune's handler, so that
`scancel`, a preemption or a node shutdown saves like Ctrl-C and SLURM's time-limit signal
do. Before Tune runs (start-up) a signal only records the request: the driver checks it
before it starts Ray and before it starts Tune, and then exits 75. Ray's `ray.init`
installs its own SIGTERM handler (a bare `sys.exit`): `install` is called again after it.
A second signal never cuts the save short (a job script and SLURM may both send one): it
is acknowledged and otherwise ignored; SIGKILL stops the driver at once. Torch-free and
Ray-free.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
UNSET = (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, None)


class StopSignals:
    """The driver's handler of SIGTERM and SIGINT (see the module docstring)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        """Handle SIGTERM and SIGINT here (Tune replaces the SIGINT one while it runs, then restores it)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        tune = signal.getsignal(signal.SIGINT)
        if tune not in UNSET and tune != self.handle and callable(tune):
            self.requested = True
            print(f"{name}: stopping the sweep (Tune saves its state)", file=sys.stderr, flush=True)
            tune(signal.SIGINT, frame)  # Tune's own: sets its stop event, restores this handler
            return
        if self.requested:
            print(
                f"{name}: already stopping; the state is being saved (SIGKILL stops at once)",
                file=sys.stderr,
                flush=True,
            )
            return
        self.requested = True
        print(f"{name}: stopping the sweep", file=sys.stderr, flush=True)
