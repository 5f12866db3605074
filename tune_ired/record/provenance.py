"""Where a result came from: code version, packages, device, host, job and command, with times.

Recorded by every run folder (`run.json`, one entry per start or resume) and by every sweep
(`sweep.json`), so a number in a table can be traced to the exact code and machine:

    collect(device="cpu")   # {"code": {...}, "python": ..., "packages": {...}, "device": {...}, ...}

The code version is the git commit of the checkout the package runs from (with a dirty flag),
else the installed package's version. Torch-free: the trainer describes its own device
(`tune_ired.training.trainer.describe_device`); a process that computes nothing records its CPU.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tune_ired", "torch", "ray", "optuna", "ema-pytorch", "numpy", "pandas")
GIT_TIMEOUT_S = 5.0  # a git call that hangs (a network file system) must not hold up a run
SLURM_JOB_VARS = ("SLURM_JOB_ID", "SLURM_JOBID")


def now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def git(*args: str, cwd: Path) -> str | None:
    """Output of a git command in `cwd`, or None when git or the checkout is unavailable."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """The package version, and the git commit and dirty flag when running from a checkout."""
    root = Path(__file__).resolve().parent.parent
    commit = git("rev-parse", "HEAD", cwd=root) if (root / ".git").exists() else None
    dirty = None
    if commit is not None:
        status = git("status", "--porcelain", cwd=root)
        dirty = None if status is None else bool(status)
    return {"version": package_version("tune_ired"), "git_commit": commit, "git_dirty": dirty}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def command_line() -> str:
    """This process's command line, as a user would type it (`python -m tune_ired.sweep ...`)."""
    argv = sys.argv
    if argv and argv[0].endswith(".py") and "tune_ired" in Path(argv[0]).parts:
        argv = ["-m", f"tune_ired.{Path(argv[0]).stem}", *argv[1:]]  # how runpy shows `python -m`
    return shlex.join(["python", *argv])


def cpu_device() -> dict[str, Any]:
    """The description of this machine's CPU as a device."""
    return {"kind": "cpu", "name": cpu_name(), "cuda": None}


def slurm_job() -> str | None:
    """The SLURM job this process runs in, if any."""
    return next((value for var in SLURM_JOB_VARS if (value := os.environ.get(var))), None)


def collect(*, device: dict[str, Any] | None = None, command: str | None = None) -> dict[str, Any]:
    """Everything that says where a result came from, with `started_at` now and `ended_at` open.

    `device` is {"kind", "name", "cuda"} (default: this CPU); `command` defaults to this
    process's command line (a sweep's trials pass the sweep's).
    """
    return {
        "code": code_version(),
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "device": device or cpu_device(),
        "host": socket.gethostname(),
        "slurm_job_id": slurm_job(),
        "command": command or command_line(),
        "started_at": now(),
        "ended_at": None,
    }


def is_running(pid: int | None) -> bool:
    """True when a process `pid` exists on this host (also one of another user's); False for None."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
