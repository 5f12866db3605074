"""The driver lock (tune_ired.tuning.lock), real processes: a live holder refuses, a dead or stale one is taken over.

A holder is a real Python process that takes the lock and waits; it is killed with SIGKILL
where a test says so (the kernel then drops its flock, its record stays). Stale records are
written as a killed holder leaves them: a dead pid, a reused pid (another start time), or
another host (whose driver this host can judge only through SLURM).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from tune_ired.tuning.lock import (
    LockBusy,
    acquire,
    driver_lock,
    holder_of,
    lock_path,
    me,
    start_ticks,
)

HOLD = """
import sys, time
from pathlib import Path
from tune_ired.tuning.lock import acquire
acquire(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""
UNKNOWN_JOB = "999999999"  # a SLURM job id no squeue knows (an ended job, long forgotten)


def hold(folder: Path) -> subprocess.Popen:
    """A real process that takes the lock of `folder` and keeps it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def write_record(folder: Path, **changes) -> None:
    """A lock file as a holder that is gone left it (no flock held)."""
    lock_path(folder).write_text(json.dumps(asdict(replace(me(), **changes))))


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_live_holder_refuses_and_a_killed_one_is_taken_over(tmp_path):
    folder = tmp_path / "sweep"
    holder = hold(folder)
    try:
        with pytest.raises(LockBusy) as busy:
            acquire(folder)
        message = str(busy.value)
        assert (
            f"{folder} is being run by pid {holder.pid} on host {socket.gethostname()}" in message
        )
        assert "wait for it to end, or stop it" in message and "\n" not in message
        assert holder_of(folder).pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_path(folder).exists()  # a SIGKILL leaves the record; the kernel dropped the flock
    with driver_lock(folder) as lock:
        assert lock.note.startswith(f"took over the lock of pid {holder.pid} ")
        assert lock.note.endswith("(its process is gone)")
        assert json.loads(lock_path(folder).read_text())["pid"] == os.getpid()
    assert not lock_path(folder).exists() and holder_of(folder) is None


def test_a_record_of_a_dead_or_reused_pid_is_stale(tmp_path):
    folder = tmp_path / "sweep"
    write_record(folder, pid=dead_pid())
    with driver_lock(folder) as lock:
        assert "its process is gone" in lock.note
    # a live pid (this process) that started at another time: the pid was reused
    write_record(folder, start_ticks=start_ticks(os.getpid()) + 1)
    assert holder_of(folder) is None
    with driver_lock(folder) as lock:
        assert "its process is gone" in lock.note


def test_another_hosts_holder_needs_slurm_to_be_judged(tmp_path, monkeypatch):
    folder = tmp_path / "sweep"
    write_record(folder, host="elsewhere", slurm_job_id=None)
    with pytest.raises(LockBusy, match=f"cannot be checked from here.*remove {lock_path(folder)}"):
        acquire(folder)
    write_record(folder, host="elsewhere", slurm_job_id=UNKNOWN_JOB)
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue: cannot tell
    with pytest.raises(LockBusy, match="cannot be checked from here"):
        acquire(folder)


def test_this_jobs_own_earlier_run_on_another_host_is_stale(tmp_path, monkeypatch):
    """A requeued job restarts on another node: its first run's record names the same job id."""
    folder = tmp_path / "sweep"
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue: only the job id can tell
    write_record(folder, host="elsewhere", slurm_job_id="4242")
    with driver_lock(folder) as lock:
        assert "SLURM job 4242" in lock.note and "its process is gone" in lock.note
    write_record(folder, host="elsewhere", slurm_job_id="4243")  # another job: cannot tell
    with pytest.raises(LockBusy, match="cannot be checked from here"):
        acquire(folder)


def squeue_answers() -> bool:
    """True when a SLURM controller answers squeue (and forgets UNKNOWN_JOB)."""
    try:
        done = subprocess.run(["squeue", "-h", "-j", UNKNOWN_JOB], capture_output=True, text=True,
                              timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Invalid job id" in done.stderr


@pytest.mark.skipif(not squeue_answers(), reason="needs a SLURM (cluster/slurm_local.sh start)")
def test_another_hosts_holder_whose_slurm_job_ended_is_stale(tmp_path):
    folder = tmp_path / "sweep"
    write_record(folder, host="elsewhere", slurm_job_id=UNKNOWN_JOB)
    with driver_lock(folder) as lock:
        assert "SLURM job 999999999" in lock.note and "its process is gone" in lock.note
