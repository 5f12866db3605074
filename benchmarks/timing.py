"""Shared timing helpers of the benchmarks: interleaved repetitions, medians, phase timers.

On a shared machine absolute times drift with the load of other processes, so the
benchmarks time the implementations they compare in alternation (a, b, a, b, ...) and
report medians and the median of per-repetition ratios. On a GPU a timed call must wait
for the device (`synchronised`). Not run directly.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode


@dataclass(frozen=True)
class Timing:
    """Per-call seconds of one case over the repetitions: wall clock and process CPU time."""

    wall: list[float]
    cpu: list[float]

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def set_threads(threads: int) -> None:
    """Fix torch's intra-op threads (the figures state them)."""
    torch.set_num_threads(threads)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synchronised(fn: Callable[[], object], device: torch.device) -> Callable[[], None]:
    """fn, followed by waiting for `device`, so that a timed call includes its device work."""

    def call() -> None:
        fn()
        sync(device)

    return call


def time_calls(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per call of `calls` calls of fn."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def interleaved(
    cases: dict[str, Callable[[], object]], *, reps: int, calls: int, warmup: int
) -> dict[str, Timing]:
    """Time each case `reps` times, `calls` calls per repetition, the cases alternating within each repetition."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    walls: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    for _ in range(reps):
        for name, fn in cases.items():
            wall, cpu = time_calls(fn, calls)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {name: Timing(walls[name], cpus[name]) for name in cases}


def median_ratio(slow: Timing, fast: Timing, *, cpu: bool = False) -> float:
    """Median over repetitions of slow / fast: the speed-up of `fast`, robust to drifting load."""
    pairs = zip(slow.cpu, fast.cpu, strict=True) if cpu else zip(slow.wall, fast.wall, strict=True)
    return statistics.median(s / f for s, f in pairs)


class PhaseTimer:
    """Wall seconds per named phase; a phase entered inside another is counted in the outer one only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.active: str | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.active is not None:
            yield
            return
        self.active, start = name, time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.active = None

    def wrap(self, name: str, fn: Callable) -> Callable:
        """fn, timed as phase `name` (keeps fn's signature; use with unittest.mock.patch)."""

        def timed(*args, **kwargs):
            with self.phase(name):
                return fn(*args, **kwargs)

        return timed


# aten ops that multiply matrices (all reach here, autograd's too)
MATMULS = ("mm", "bmm", "addmm", "baddbmm")
COMPILED_GRAPH = "CompiledFxGraph"  # the profiler's event of a compiled graph: its self time is the fused kernels'
OPTIMISER_EVENTS = ("Optimizer.step", "Optimizer.zero_grad")
PROFILE_KINDS = (
    "matmuls",
    "fused kernels",
    "other aten ops",
    "optimiser",
    "framework events",
    "untraced Python",
)
US_PER_MS = MS_PER_S = 1e3
PROFILER_STEP = "ProfilerStep"  # "ProfilerStep#N" and, in key_averages, "ProfilerStep*"
PROFILER_WARMUP_STEPS = (
    1  # the profiler's start-up costs the first profiled step hundreds of ms: not counted
)


def profile_kind(event) -> str:
    """The kind of work of one profiler event's self time (see `op_profile`)."""
    node = event
    while node is not None:
        if node.name.startswith(OPTIMISER_EVENTS):
            return "optimiser"
        node = node.cpu_parent
    if event.name.removeprefix("aten::") in MATMULS:
        return "matmuls"
    if COMPILED_GRAPH in event.name:
        return "fused kernels"
    return "other aten ops" if event.name.startswith("aten::") else "framework events"


def op_profile(step: Callable[[], object], *, steps: int) -> dict[str, float]:
    """Milliseconds per step by kind of work: torch.profiler's self CPU times over `steps` real steps.

    Kinds: matmuls (aten mm/bmm/addmm/baddbmm, wherever called), fused kernels (inductor's:
    the self time of compiled graphs), other aten ops (element-wise work, data, clipping,
    EMA), optimiser (everything under Adam's step and zero_grad), framework events (autograd
    nodes, compiled-function wrappers, dynamo's guard checks, Python autograd functions), and
    the untraced rest of the wall time (Python between ops). Eager and compiled steps alike.
    """
    schedule = torch.profiler.schedule(wait=0, warmup=PROFILER_WARMUP_STEPS, active=steps, repeat=1)
    wall = 0.0
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], schedule=schedule
    ) as prof:
        for index in range(PROFILER_WARMUP_STEPS + steps):
            start = time.perf_counter()
            step()
            if index >= PROFILER_WARMUP_STEPS:
                wall += (time.perf_counter() - start) / steps
            prof.step()
    per_step = dict.fromkeys(PROFILE_KINDS, 0.0)
    for event in prof.events():
        if not event.name.startswith(
            PROFILER_STEP
        ):  # the schedule's own per-step event: its self time is untraced
            per_step[profile_kind(event)] += event.self_cpu_time_total / US_PER_MS / steps
    per_step["untraced Python"] = MS_PER_S * wall - sum(per_step.values())
    return per_step


class OpCensus(TorchDispatchMode):
    """Records every aten op a block runs: seconds per op, and each matmul's shape and FLOPs.

    Sits below autograd, so the backward's and double backward's ops are seen too.
    Matmul shapes are (batch, m, k, n); a matmul costs 2 * batch * m * k * n FLOPs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = defaultdict(float)
        self.matmul_shapes: Counter[tuple[int, int, int, int]] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in MATMULS:
            a, b = args[1:3] if name in ("addmm", "baddbmm") else args[:2]
            batch = a.shape[0] if a.dim() == 3 else 1
            self.matmul_shapes[(batch, *a.shape[-2:], b.shape[-1])] += 1
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.seconds[name] += time.perf_counter() - start
        return out

    @property
    def matmul_flops(self) -> int:
        return sum(2 * b * m * k * n * count for (b, m, k, n), count in self.matmul_shapes.items())

    @property
    def matmul_share(self) -> float:
        """Share of the recorded op time spent in matmuls."""
        return sum(self.seconds[name] for name in MATMULS) / sum(self.seconds.values())
