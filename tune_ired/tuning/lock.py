"""One live driver per sweep (or campaign) folder: a lock file beside it, held while the driver runs.

    with driver_lock(folder) as lock:     # raises LockBusy (naming the holder) when a driver runs it
        print(lock.note)                  # "took over the lock of ..." after a driver that died
        ...plan, write and run the sweep...

The lock of `<storage>/<name>` is `<storage>/.<name>.lock`: a sibling, not inside the folder,
so it exists before the first byte of the sweep is written and survives `--overwrite` (which
deletes the folder). A campaign driver locks its campaign folder; each study's sweep process
locks its own study folder inside it. A dry run takes no lock (`holder_of` tells it whether a
driver runs the folder now).

The lock is `fcntl.flock` on that file (the kernel releases it when the process dies, SIGKILL
included) plus the holder's record in the file (host, pid, the process's start time, when,
SLURM job id, command), written once the flock is held. On this host the flock is the truth:
a record left by a process that is gone (or a reused pid: another start time) is stale and
taken over, saying so. A record naming another host (a shared file system whose flocks do
not span hosts) is live unless its SLURM job has ended (`squeue`) or is this process's own job
(a requeued job's earlier run, on another node); with no way to tell, the lock is refused with
how to take it over by hand. Release deletes the file, then closes it;
a driver that took the flock checks that the path still names the file it locked (else it
locked a deleted file, and tries again). Torch-free and Ray-free.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tune_ired.record import provenance

LOCK_SUFFIX = ".lock"
ATTEMPTS = 5  # a lock file deleted under us (its holder released it) is opened again this often
SQUEUE_TIMEOUT_S = 10.0
# squeue's states of a job that has not ended (its driver may still run)
LIVE_JOB_STATES = (
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
)


class LockBusy(Exception):
    """Another driver runs the folder (the message names it and what to do)."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock: the record in the lock file."""

    host: str
    pid: int
    start_ticks: int | None  # the process's start time (/proc/<pid>/stat), against pid reuse
    started_at: str
    slurm_job_id: str | None
    command: str

    def words(self) -> str:
        job = f" (SLURM job {self.slurm_job_id})" if self.slurm_job_id else ""
        return (
            f"pid {self.pid} on host {self.host} since {self.started_at}{job}, "
            f"command {self.command}"
        )


@dataclass
class Lock:
    """A held lock: release() deletes the file, then closes it (the flock ends with it)."""

    path: Path
    fd: int
    note: str | None  # said when a stale lock was taken over

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1


def lock_path(folder: Path) -> Path:
    """The lock file of a sweep or campaign folder: `<parent>/.<name>.lock`."""
    return folder.parent / f".{folder.name}{LOCK_SUFFIX}"


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22); None if unknown."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def me() -> Holder:
    """This process as a lock holder."""
    return Holder(
        host=socket.gethostname(),
        pid=os.getpid(),
        start_ticks=start_ticks(os.getpid()),
        started_at=provenance.now(),
        slurm_job_id=provenance.slurm_job(),
        command=provenance.command_line(),
    )


def read_holder(text: str) -> Holder | None:
    """The record of a lock file's text (None when empty or unreadable: a holder killed before writing it)."""
    try:
        data: dict[str, Any] = json.loads(text)
        return Holder(**data)
    except (ValueError, TypeError):
        return None


def job_alive(job: str) -> bool | None:
    """Whether a SLURM job has not ended (squeue), or None when squeue cannot tell."""
    if shutil.which("squeue") is None:
        return None
    try:
        done = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"],
            capture_output=True,
            text=True,
            timeout=SQUEUE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode == 0:
        return any(state in LIVE_JOB_STATES for state in done.stdout.split())
    # squeue forgets an ended job after MinJobAge and then calls its id invalid
    return False if "Invalid job id" in done.stderr else None


def is_live(holder: Holder, *, flocked: bool) -> bool | None:
    """Whether the holder may still run (None: cannot tell). `flocked`: its flock is held right now."""
    if holder.host != socket.gethostname():
        if holder.slurm_job_id is None:
            return None
        if holder.slurm_job_id == provenance.slurm_job():
            return False  # this very job on another host: its run before SLURM requeued it
        return job_alive(holder.slurm_job_id)
    if flocked:
        return True
    return start_ticks(holder.pid) is not None and start_ticks(holder.pid) == holder.start_ticks


def busy_message(folder: Path, holder: Holder | None, *, unknown: bool = False) -> str:
    """The one line of a refusal."""
    who = holder.words() if holder else "a driver that has not yet written its record"
    if unknown:
        return (
            f"{folder} may be run by {who}: that host's driver cannot be checked from here. If it "
            f"is gone (check there, or its SLURM job), remove {lock_path(folder)} and run this again."
        )
    return f"{folder} is being run by {who}; wait for it to end, or stop it."


def try_lock(folder: Path, holder: Holder) -> Lock | None:
    """Take the lock once: the held Lock, or None when the file was deleted under us (try again)."""
    path = lock_path(folder)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        previous = read_holder(os.pread(fd, 1 << 16, 0).decode(errors="replace"))
        os.close(fd)
        raise LockBusy(busy_message(folder, previous)) from None
    try:
        same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    previous = read_holder(os.pread(fd, 1 << 16, 0).decode(errors="replace"))
    note = None
    if previous is not None:
        live = is_live(previous, flocked=False)
        if live is not False:
            os.close(fd)
            raise LockBusy(busy_message(folder, previous, unknown=live is None))
        note = f"took over the lock of {previous.words()} (its process is gone)"
    data = json.dumps(asdict(holder)).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
    return Lock(path=path, fd=fd, note=note)


def acquire(folder: Path) -> Lock:
    """Take the lock of `folder` for this process (raises LockBusy naming the holder)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    holder = me()
    for _ in range(ATTEMPTS):
        lock = try_lock(folder, holder)
        if lock is not None:
            return lock
    raise LockBusy(f"{lock_path(folder)} keeps being replaced: another driver starts there now.")


@contextlib.contextmanager
def driver_lock(folder: Path) -> Iterator[Lock]:
    """Hold the lock of `folder` while the block runs (see the module docstring)."""
    lock = acquire(folder)
    try:
        yield lock
    finally:
        lock.release()


def holder_of(folder: Path) -> Holder | None:
    """The driver that runs `folder` now, as far as this host can tell (None: none), taking no lock."""
    path = lock_path(folder)
    try:
        holder = read_holder(path.read_text(errors="replace"))
    except OSError:
        return None
    if holder is None:
        return None
    return holder if is_live(holder, flocked=False) is not False else None
