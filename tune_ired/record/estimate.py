"""What a sweep is expected to cost, and when it is expected to end: the estimate a sweep records.

    estimate = Estimate(seconds=[...], first_rung=[...], step_s=[...], at_once=2, start_s=12.0,
                        units_per_trial=1.0, unit="CPU core", basis="calibrated on this CPU")
    estimate.wall()                 # seconds from the start to the last trial's end
    estimate.wall(first_rung=True)  # the same if ASHA stopped every trial at its first rung
    estimate.device_hours()         # GPU-hours or CPU-core-hours

A sweep's trials run `at_once` at a time, in order, each in the next free slot (Tune's grid
order; `makespan`). A trial costs its steps times its step's seconds, its evaluations and
its start-up (`tune_ired.tuning.costs` makes the estimate: a calibration of each distinct
trial shape on the plan's device, or a model where the device is not here). The estimate is
written into sweep.json when the sweep starts, so that `python -m tune_ired.status` and the
live console can say when the sweep will end from the folder alone (`expected_end`): running
trials finish at their observed rate, the others take their estimate scaled by how fast the
trials so far ran against theirs. Plain data and arithmetic: no torch, no Ray.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

HOUR_S = 3600.0


@dataclass(frozen=True)
class Estimate:
    """A sweep's expected cost: each trial's seconds (in the order Tune starts them), run `at_once`."""

    seconds: list[float]  # each trial, trained to its end
    first_rung: list[float]  # each trial, stopped at ASHA's first rung (= seconds without ASHA)
    step_s: list[
        float
    ]  # each trial's seconds per optimiser step (what a live rate is compared with)
    at_once: int | None  # trials side by side (None: not known here, e.g. a cluster not yet joined)
    start_s: float  # the sweep's own start and end: Ray, Tune, the final tables
    units_per_trial: float  # GPUs (or CPU cores) a trial holds
    unit: str  # "GPU" or "CPU core"
    basis: str  # how the step costs were found, in words
    notes: list[str] = field(default_factory=list)

    def wall(self, *, first_rung: bool = False) -> float | None:
        """Seconds from the start to the end (None when `at_once` is not known)."""
        if self.at_once is None:
            return None
        trials = self.first_rung if first_rung else self.seconds
        return self.start_s + makespan(trials, self.at_once)

    def device_hours(self, *, first_rung: bool = False) -> float:
        """The trials' device time: their seconds times the GPUs (or cores) each holds, in hours."""
        trials = self.first_rung if first_rung else self.seconds
        return sum(trials) * self.units_per_trial / HOUR_S

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Estimate | None:
        """The estimate a sweep.json holds (None for older sweeps, which recorded none)."""
        try:
            return cls(**data)
        except TypeError:
            return None


def makespan(durations: list[float], slots: int, *, busy: list[float] = ()) -> float:
    """When the last of `durations` ends, each started in order in the first free of `slots`
    (`busy`: the seconds until each already occupied slot frees up)."""
    slots = max(int(slots), 1)
    free = sorted([*busy, *[0.0] * max(slots - len(busy), 0)])
    heapq.heapify(free)
    end = max(free, default=0.0)
    for duration in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + duration)
        end = max(end, start + duration)
    return end


def duration_text(seconds: float | None) -> str:
    """'45 s', '12 min', '3.4 h', '2.1 days'."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * HOUR_S:
        return f"{seconds / HOUR_S:.1f} h"
    return f"{seconds / (24 * HOUR_S):.1f} days"


@dataclass(frozen=True)
class Progress:
    """One trial as far as its folder tells: its index in Tune's order, the step it has reached and its
    train_steps, and since its latest start (or resume) the step it started from and the seconds it has
    run (None: not started); whether it has ended."""

    index: int
    step: int
    train_steps: float
    from_step: int
    elapsed_s: float | None
    ended: bool

    @property
    def steps_run(self) -> int:
        return self.step - self.from_step


def speed_factor(estimate: Estimate, progress: list[Progress]) -> float:
    """Observed seconds per step over the estimate's, over the trials that have trained (1 when none has)."""
    observed, expected = 0.0, 0.0
    for trial in progress:
        if trial.elapsed_s and trial.steps_run > 0 and trial.index < len(estimate.step_s):
            observed += trial.elapsed_s
            expected += trial.steps_run * estimate.step_s[trial.index]
    return observed / expected if expected > 0 else 1.0


def remaining_s(estimate: Estimate, progress: list[Progress]) -> float | None:
    """Seconds until the sweep's last trial ends, from its trials' progress (None: `at_once` unknown)."""
    if estimate.at_once is None:
        return None
    factor = speed_factor(estimate, progress)
    by_index = {trial.index: trial for trial in progress}
    busy, waiting = [], []
    for index, seconds in enumerate(estimate.seconds):
        trial = by_index.get(index)
        if trial is not None and trial.ended:
            continue
        if trial is not None and trial.elapsed_s is not None and trial.step > 0:
            rate = trial.elapsed_s / trial.step
            busy.append(max(trial.train_steps - trial.step, 0) * rate)
        else:
            waiting.append(seconds * factor)
    return makespan(waiting, estimate.at_once, busy=busy)


def expected_end(estimate: Estimate, progress: list[Progress], *, now: datetime) -> str:
    """'expected end: 14:05 (in 12 min), from the trials' observed speed' (or why it cannot be said)."""
    left = remaining_s(estimate, progress)
    if left is None:
        return "expected end: unknown (the cluster's size was not known when the sweep started)"
    end = datetime.fromtimestamp(now.timestamp() + left).astimezone()
    when = end.strftime("%H:%M" if left < 20 * HOUR_S else "%Y-%m-%d %H:%M")
    return f"expected end: {when} (in {duration_text(left)}), from the trials' observed speed"
