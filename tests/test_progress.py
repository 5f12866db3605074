"""A single run tells its progress between evaluations (issue 14): a bar on a terminal, lines in a log.

The trainer only counts steps into a callback; `train` turns them into a tqdm bar (rate,
ETA) when stderr is a terminal (here: a real pseudo-terminal) and into plain lines
otherwise. The same loop keeps checkpoints/best.pt (by val/mse) and heartbeat.json.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import struct
import subprocess
import sys
import termios

import torch

from tune_ired.ired.config import make_config
from tune_ired.record.runfolder import HEARTBEAT_FILE, read_metrics
from tune_ired.training.run import run_to_dir

TINY = {"train_steps": 60, "eval_every": 20, "num_threads": 1}
# a pseudo-terminal starts at 0 x 0; a real one has a size
TERMINAL_ROWS, TERMINAL_COLUMNS = (40, 120)


def test_log_lines_between_evaluations_and_best_checkpoint(tmp_path):
    lines: list[str] = []
    out = tmp_path / "run"
    run_to_dir(
        out, make_config(TINY, budget="tiny"), echo=lines.append, tty=False, progress_period_s=0.0
    )
    progress = [line for line in lines if "steps/s  elapsed" in line]
    # one per step here
    assert len(progress) >= TINY["train_steps"] - TINY["train_steps"] // TINY["eval_every"]
    assert all("ETA" in line and f"/{TINY['train_steps']} (" in line for line in progress)
    rows = read_metrics(out)
    best = min(
        (row for row in rows if math.isfinite(row["val/mse"])), key=lambda row: row["val/mse"]
    )
    assert torch.load(out / "checkpoints" / "best.pt", weights_only=True)["step"] == best["step"]
    assert json.loads((out / HEARTBEAT_FILE).read_text())["step"] == TINY["train_steps"]


def test_terminal_gets_a_bar_with_rate_and_eta(tmp_path):
    leader, follower = pty.openpty()
    fcntl.ioctl(
        follower, termios.TIOCSWINSZ, struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0)
    )
    args = [f"--set={key}={value}" for key, value in TINY.items()]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tune_ired.train",
            "--budget",
            "tiny",
            *args,
            "--out",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = proc.communicate()[0].decode()
    os.close(leader)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, terminal
    assert f"{TINY['train_steps']}/{TINY['train_steps']} [" in terminal and "step/s]" in terminal
    assert "<" in terminal  # tqdm's elapsed<remaining
    # evaluation lines stay on stdout
    assert f"step      {TINY['train_steps']}/{TINY['train_steps']}" in stdout
