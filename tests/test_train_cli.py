"""`python -m tune_ired.train` end to end in real subprocesses: outputs, kill -9 and resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tune_ired.ired.config import make_config
from tune_ired.training.trainer import Trainer

TINY = ["--budget", "tiny", "--set", "num_threads=1"]
KILL_TIMEOUT_S = 120


def train(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "tune_ired.train", *args], capture_output=True, text=True, **kwargs
    )


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_perf(rows):
    return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in rows]


def test_cli_writes_config_metrics_and_safe_checkpoints(tmp_path):
    out = tmp_path / "run"
    done = train(*TINY, "--set", "train_steps=40", "--set", "eval_every=20", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "step      40/40" in done.stdout
    assert json.loads((out / "config.json").read_text())["train_steps"] == 40
    rows = rows_of(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [20, 40]
    for key in (
        "train/loss",
        "train/loss_denoise",
        "train/loss_energy",
        "val/mse",
        "val/mse_ood",
        "val/residual",
    ):
        assert key in rows[0]
    for name in ("latest", "best", "final"):
        state = torch.load(out / "checkpoints" / f"{name}.pt", weights_only=True)
        assert state["step"] == (40 if name != "best" else state["step"])


def test_killed_run_resumes_exactly(tmp_path):
    out = tmp_path / "run"
    settings = ["--set", "train_steps=200", "--set", "eval_every=20"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tune_ired.train", *TINY, *settings, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + KILL_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(metrics.read_text().splitlines())
    assert killed_at < 10
    resumed = train("--resume", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "from step 0 " not in resumed.stdout
    cfg = make_config({"train_steps": 200, "eval_every": 20, "num_threads": 1}, budget="tiny")
    assert without_perf(rows_of(metrics)) == without_perf(Trainer(cfg).run())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "nn=3"], "unknown key 'nn'. Did you mean 'n'?"),
        (["--set", "lr=-1"], "'lr' = '-1' is not valid; expected a number in [0.0, 1.0]"),
        (["--set", "strategy=greedy"], "expected one of 'none', 'random', 'adversarial'"),
        (["--set", "device=tpu"], "'device' = 'tpu' is not valid"),
        (["--set", "n"], "'n' is not of the form key=value"),
        (["--budget", "huge"], "argument --budget: invalid choice: 'huge'"),
        (["--config", "missing.json"], "--config missing.json: not a readable JSON file"),
        (["--resume"], "holds no run (no config.json)"),
    ],
)
def test_bad_input_exits_2_naming_the_key(tmp_path, args, message):
    done = train(*args, "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_existing_run_folder_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(make_config(budget="tiny").to_json())
    done = train(*TINY, "--out", str(out))
    assert done.returncode == 2 and "already holds a run" in done.stderr


def test_list_keys_documents_every_key():
    done = train("--list-keys")
    assert done.returncode == 0
    for key in ("n (default 20", "batch_size", "noise_scale", "energy_weight", "device"):
        assert key in done.stdout


def test_a_run_repeats_from_its_folder_and_records_where_it_ran(tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    done = train(
        *TINY,
        "--set",
        "train_steps=40",
        "--set",
        "eval_every=20",
        "--set",
        "seed=2",
        "--out",
        str(first),
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((first / "config.json").read_text())
    assert set(config) == set(make_config().to_dict())  # every key, not only the ones given
    run = json.loads((first / "run.json").read_text())
    assert run["budget"] == "tiny"
    (session,) = run["sessions"]
    assert session["packages"]["torch"] == torch.__version__ and session["device"]["kind"] == "cpu"
    assert (
        session["code"]["version"]
        and session["host"]
        and session["started_at"] <= session["ended_at"]
    )
    assert "--out" in session["command"] and session["from_step"] == 0 and session["to_step"] == 40
    # no budget, no --set
    repeated = train("--config", str(first / "config.json"), "--out", str(again))
    assert repeated.returncode == 0, repeated.stderr
    assert json.loads((again / "config.json").read_text()) == config
    assert without_perf(rows_of(again / "metrics.jsonl")) == without_perf(
        rows_of(first / "metrics.jsonl")
    )
