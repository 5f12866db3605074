"""Shared timing helpers of the benchmarks: interleaved repetitions, medians, phase timers.

On a shared machine absolute times drift with the load of other processes, so the
benchmarks time the implementations they compare in alternation (a, b, a, b, ...) and
report medians and the median of per-repetition ratios. Not run directly.
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


def time_calls(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per call of `calls` calls of fn."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def interleaved(cases: dict[str, Callable[[], object]], *, reps: int, calls: int, warmup: int) -> dict[str, Timing]:
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


MATMULS = ("mm", "bmm", "addmm", "baddbmm")  # aten ops that multiply matrices (all reach here, autograd's too)


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
