"""How a sweep driver stops on a signal: SIGTERM (scancel, preemption, shutdown) as SIGINT (Ctrl-C).

    STOP.install()            # once the driver holds its lock
    ...
    if STOP.requested: ...    # a stop asked for before Tune ran: start nothing more

While Ray Tune runs (`Tuner.fit`) it handles SIGINT itself: it saves the experiment and
stops, the trials stay at their checkpoints, and the sweep exits 75 with the command that
continues it. `StopSignals` sends SIGTERM the same way, to Tune's handler, so that
`scancel`, a preemption or a node shutdown saves like Ctrl-C and SLURM's time-limit signal
do. Before Tune runs (start-up) a signal only records the request: the driver checks it
before it starts Ray and before it starts Tune, and then exits 75; one that lands while
Tune sets up is passed on at Tune's first step (`while_tune_runs`, called by the sweep's
Tune callback, which also counts a SIGINT Tune handled itself as a stop). Ray's `ray.init`
would install SIGTERM handlers of its own (the driver's and the head node's: each raises
SystemExit wherever the main thread is, which was seen to deadlock Ray's start-up, to be lost
in a fork hook, or to exit 1); `ray_start_keeps_handlers` keeps ours while Ray starts (the
one `ray.init` of `tune_ired.tuning.tuner.start_ray` runs inside it).
A second signal never cuts the save short (a job script and SLURM may both send one): it
is acknowledged and otherwise ignored; SIGKILL stops the driver at once.

Ray's core worker also installs a C++ handler of SIGTERM (the "*** SIGTERM received ***"
stack dump, then an abort) during `ray.init`; `import_ray_quietly` turns it off for the
driver process alone (RAY_DISABLE_FAILURE_SIGNAL_HANDLER, read once when Ray is imported,
and removed again so that the Ray processes the driver starts keep theirs).

`STOP` is the process's one instance (signal handlers are per process); nothing is
installed until a driver calls `install`. Torch-free; Ray is imported only by
`import_ray_quietly` and `ray_start_keeps_handlers`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RAY_FAILURE_HANDLER_OFF = (
    "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"  # ray._private.ray_constants reads it
)
UNSET = (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, None)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StopSignals:
    """The driver's handler of SIGTERM and SIGINT (see the module docstring)."""

    def __init__(self) -> None:
        self.installed = False
        self.requested = False  # a stop was asked for (by a signal, to us or to Tune)
        self.told_tune = False  # Tune's own handler has been called
        self.before: dict[int, object] = {}  # the handlers `install` replaced first

    def install(self) -> None:
        """Handle SIGTERM and SIGINT here (Tune replaces the SIGINT one while it runs, then restores it)."""
        for signum in STOP_SIGNALS:
            previous = signal.signal(signum, self.handle)
            self.before.setdefault(signum, previous)
        self.installed = True

    def uninstall(self) -> None:
        """Put back the handlers of before `install`, and forget any request (a driver run in-process ends)."""
        for signum, previous in self.before.items():
            signal.signal(signum, previous)
        self.before.clear()
        self.installed = self.requested = self.told_tune = False

    def tune_handler(self) -> Callable | None:
        """Tune's SIGINT handler while it runs (None when ours, or none, is installed)."""
        handler = signal.getsignal(signal.SIGINT)
        if handler in UNSET or handler == self.handle or not callable(handler):
            return None
        return getattr(handler, "tune", handler)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            say(f"{name}: already stopping; the state is being saved (SIGKILL stops at once)")
            return
        self.requested = True
        tune = self.tune_handler()
        if tune is None:
            say(f"{name}: stopping the sweep")
            return
        say(f"{name}: stopping the sweep (Tune saves its state)")
        self.tell_tune(tune, frame)

    def tell_tune(self, tune: Callable, frame: FrameType | None) -> None:
        self.told_tune = True
        tune(
            signal.SIGINT, frame
        )  # Tune's own: sets its stop event, restores the handler it replaced

    def while_tune_runs(self) -> None:
        """Called at every step of Tune's loop (on the driver's main thread): pass on a stop that came
        before Tune's handler was installed, and make a SIGINT that Tune handles itself count as a stop."""
        tune = self.tune_handler() if self.installed else None
        if tune is None:
            return
        if self.requested and not self.told_tune:
            self.tell_tune(tune, None)
            return
        if getattr(signal.getsignal(signal.SIGINT), "tune", None) is None:

            def counted(signum: int, frame: FrameType | None) -> None:
                self.requested = True
                self.tell_tune(tune, frame)

            counted.tune = tune  # type: ignore[attr-defined]
            signal.signal(signal.SIGINT, counted)


@contextlib.contextmanager
def ray_start_keeps_handlers() -> Iterator[None]:
    """Run `ray.init` inside: Ray installs no SIGTERM handler meanwhile (through the hook both of its
    handlers are installed with), so a SIGTERM that lands while Ray starts reaches the caller's handler."""
    import ray._private.utils as ray_utils

    install = ray_utils.set_sigterm_handler
    ray_utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = install


def import_ray_quietly() -> None:
    """Import Ray in this driver with the core worker's C++ SIGTERM handler off (before Ray is imported;
    a setting of the user's own is left as it is)."""
    if RAY_FAILURE_HANDLER_OFF in os.environ:
        return
    os.environ[RAY_FAILURE_HANDLER_OFF] = "1"
    try:
        import ray._private.ray_constants  # noqa: F401  (reads the setting once)
    finally:
        os.environ.pop(RAY_FAILURE_HANDLER_OFF)


STOP = StopSignals()
