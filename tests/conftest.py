"""Shared fixtures, and the order the tests run in.

Order: fast in-process tests first (so `pytest` shows progress from its first seconds),
then the slow ones (Ray sweeps, trainings in subprocesses, notebooks, Chromium: marked
`slow` here), the SLURM ones (`slurm`) last. Each module stays in one piece, so a
module-scoped fixture (one shared sweep) is built once. For development:
`pytest -m "not slow and not slurm"` (about a minute) or one file.

`device`: every test whose maths can run on an accelerator takes its device from this one
fixture: cpu, plus cuda where torch sees a GPU, so the same suite runs unchanged on a GPU
machine (`pytest -k cuda` runs just the GPU half).

`analysis_sweep`: one REAL tiny multi-seed sweep (2 arms x 3 seeds trained together, through
`python -m tune_ired.sweep`), killed with SIGKILL after its first report and finished with
`--resume`, so the analysis, report and notebook tests all read a resumed sweep folder. The
resumed run prints to a pseudo-terminal (util-linux `script`, where installed), as at a
user's terminal, where colour codes would show.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ANALYSIS_SPACE = '''"""Two mining strategies x 3 seeds trained together: the analysis tests' sweep."""

from ray import tune

from tune_ired.space import Budget, SearchSpace

two_arms = SearchSpace(
    space={"strategy": tune.grid_search(["none", "adversarial"])},
    base={"num_seeds": 3},
    scheduler=None,
    budgets={"tiny": Budget(config={"train_steps": ANALYSIS_STEPS, "eval_every": ANALYSIS_EVAL_EVERY})},
    default_budget="tiny",
)
'''
# three evaluations per trial: enough for curves, seconds to train
ANALYSIS_STEPS, ANALYSIS_EVAL_EVERY = (60, 20)
ANALYSIS_ARMS, ANALYSIS_SEEDS = ("adversarial", "none"), 3
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
FIRST_REPORT_TIMEOUT_S = 180  # Ray start-up plus the first evaluation, on a busy 2-core machine
SWEEP_TIMEOUT_S = 600
SLOW_MODULES = {  # tests that start Ray, subprocesses, kernels or a browser: seconds to minutes each
    "test_sweep",
    "test_faults",
    "test_speed",
    "test_console",
    "test_trackers",
    "test_train_cli",
    "test_progress",
    "test_notebooks",
    "test_report",
    "test_landscape",
    "test_campaign",
    "test_sweep_records",
    "test_divergence",
    "test_dcd",
    "test_seed_batch",
    "test_cluster",
    "test_docs",
}


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """The device a test computes on: cpu, and cuda when available."""
    return torch.device(request.param)


@dataclass(frozen=True)
class AnalysisSweep:
    folder: Path  # the sweep folder (<storage>/<name>)
    log: str  # both runs' output
    killed_after_reports: int  # metrics.jsonl lines on disk when the first run was killed
    terminal: bool  # the resumed run printed to a pseudo-terminal


def result_lines(folder: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.glob("*/metrics.jsonl"))


TERMINAL = shutil.which("script")  # util-linux: runs a command on a pseudo-terminal


def start_sweep(args: list[str], log: Path, *, terminal: bool = False) -> subprocess.Popen:
    """The sweep as a process of its own; with `terminal` its output goes through a pseudo-terminal."""
    cmd = [sys.executable, "-m", "tune_ired.sweep", *args]
    if terminal:
        cmd = [TERMINAL, "--quiet", "--return", "--command", shlex.join(cmd), os.devnull]
    with log.open("a") as out:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill takes the Ray it started along
        )


def kill_after_first_report(proc: subprocess.Popen, folder: Path) -> int:
    """SIGKILL the sweep's process group once a trial has reported; returns the reports on disk then."""
    deadline = time.monotonic() + FIRST_REPORT_TIMEOUT_S
    while result_lines(folder) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    reports = result_lines(folder)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return reports


@pytest.fixture(scope="session")
def analysis_sweep(tmp_path_factory) -> AnalysisSweep:
    root = tmp_path_factory.mktemp("analysis_sweep")
    space = root / "two_arms.py"
    space.write_text(
        ANALYSIS_SPACE.replace("ANALYSIS_STEPS", str(ANALYSIS_STEPS)).replace(
            "ANALYSIS_EVAL_EVERY", str(ANALYSIS_EVAL_EVERY)
        )
    )
    args, log, folder = (
        [str(space), "--budget", "tiny", "--storage", str(root)],
        root / "sweep.log",
        root / "two_arms",
    )
    killed_after = kill_after_first_report(start_sweep(args, log), folder)
    resumed = start_sweep([*args, "--resume"], log, terminal=bool(TERMINAL))
    try:
        code = resumed.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    assert code == 0, log.read_text()[-3000:]
    return AnalysisSweep(
        folder=folder,
        log=log.read_text(),
        killed_after_reports=killed_after,
        terminal=bool(TERMINAL),
    )


def run_rank(item: pytest.Item) -> int:
    """0: fast, 1: slow (Ray, subprocesses, kernels, browser), 2: needs SLURM."""
    if item.get_closest_marker("slurm"):
        return 2
    return 1 if item.module.__name__.rpartition(".")[2] in SLOW_MODULES else 0


@pytest.hookimpl(tryfirst=True)  # before -m selects on the `slow` marker added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast tests first, SLURM last; each module's tests stay together, in their own order."""
    module_rank: dict[str, int] = {}
    for item in items:
        rank = run_rank(item)
        if rank:
            item.add_marker(pytest.mark.slow)
        module_rank[item.module.__name__] = max(module_rank.get(item.module.__name__, 0), rank)
    first_seen = {
        name: index
        for index, name in reversed(list(enumerate(item.module.__name__ for item in items)))
    }
    items.sort(
        key=lambda item: (module_rank[item.module.__name__], first_seen[item.module.__name__])
    )
