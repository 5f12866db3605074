"""Shared fixtures.

`device`: every test whose maths can run on an accelerator takes its device from this one
fixture: cpu, plus cuda where torch sees a GPU, so the same suite runs unchanged on a GPU
machine (`pytest -k cuda` runs just the GPU half).

`analysis_sweep`: one REAL tiny multi-seed sweep (2 arms x 3 seeds trained together, through
`python -m tune_ired.sweep`), killed with SIGKILL after its first report and finished with
`--resume`, so the analysis, report and notebook tests all read a resumed sweep folder.
"""

from __future__ import annotations

import os
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
ANALYSIS_STEPS, ANALYSIS_EVAL_EVERY = 60, 20  # three evaluations per trial: enough for curves, seconds to train
ANALYSIS_ARMS, ANALYSIS_SEEDS = ("adversarial", "none"), 3
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
FIRST_REPORT_TIMEOUT_S = 180  # Ray start-up plus the first evaluation, on a busy 2-core machine
SWEEP_TIMEOUT_S = 600


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """The device a test computes on: cpu, and cuda when available."""
    return torch.device(request.param)


@dataclass(frozen=True)
class AnalysisSweep:
    folder: Path  # the sweep folder (<storage>/<name>)
    log: str  # both runs' output
    killed_after_reports: int  # metrics.jsonl lines on disk when the first run was killed


def result_lines(folder: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.glob("*/metrics.jsonl"))


def start_sweep(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tune_ired.sweep", *args],
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
    args, log, folder = [str(space), "--budget", "tiny", "--storage", str(root)], root / "sweep.log", root / "two_arms"
    killed_after = kill_after_first_report(start_sweep(args, log), folder)
    resumed = start_sweep([*args, "--resume"], log)
    try:
        code = resumed.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    assert code == 0, log.read_text()[-3000:]
    return AnalysisSweep(folder=folder, log=log.read_text(), killed_after_reports=killed_after)
