"""What a researcher sees of a sweep (issue 14), on ONE real tiny sweep with every tracker on.

The sweep (ASHA over 4 learning rates: one completes, one diverges, ASHA stops the others)
runs as `python -m tune_ired.sweep` in a subprocess with HOME set to a fresh folder, so
the private Ray token and W&B's unconfigured (offline) mode are this test's own. While it
runs, the test records the token file's modes and a `status` command's output. Then:
the console (sweep folder, one trial id, statuses, rungs in the metric's sign, what next),
best.json and each trial's best.pt, and what each tracker logged, read back with its own
reader (MLflow's client, TensorBoard's event reader, W&B's offline run file through its
protobuf records).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from tune_ired.ired.config import make_config
from tune_ired.record.catalogue import DIVERGED_SENTINEL
from tune_ired.record.results import load_sweep
from tune_ired.record.runfolder import read_metrics

ROOT = Path(__file__).resolve().parents[1]
SPACE = """from ray import tune
from tune_ired.space import ASHA, Budget, SearchSpace

asha_grid = SearchSpace(
    space={"lr": tune.grid_search([3e-3, 1.0, 1e-3, 1e-4])},  # lr 1.0 diverges at its first evaluation
    scheduler=ASHA(grace_period=1, reduction_factor=2),
    budgets={"tiny": Budget(config={"train_steps": 80, "eval_every": 20})},
)
"""
TRAIN_STEPS = 80
SWEEP_TIMEOUT_S = 600  # a busy 2-core machine; the sweep takes about a minute
POLL_S = 0.1
TRACKERS = ("tensorboard", "mlflow", "wandb")


@dataclass
class Watched:
    folder: Path
    home: Path
    output: str
    code: int
    # (file mode, folder mode) seen while it ran
    token_modes: set[tuple[int, int]] = field(default_factory=set)
    live_status: str = ""  # `python -m tune_ired.status` while a trial ran


def watch(proc: subprocess.Popen, home: Path, folder: Path) -> tuple[set[tuple[int, int]], str]:
    """While the sweep runs: the token file's modes, and the status command's output once a trial has reported."""
    modes, live, deadline = set(), "", time.monotonic() + SWEEP_TIMEOUT_S
    token_folder = home / ".ray" / "tune_ired"
    while proc.poll() is None and time.monotonic() < deadline:
        for token in token_folder.glob("local-*.token"):
            try:
                modes.add(
                    (stat.S_IMODE(token.stat().st_mode), stat.S_IMODE(token_folder.stat().st_mode))
                )
            except FileNotFoundError:
                continue  # deleted as the sweep ended
        if not live and list(folder.glob("trial_*/metrics.jsonl")):
            done = subprocess.run(
                [sys.executable, "-m", "tune_ired.status", str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            live = done.stdout + done.stderr
        time.sleep(POLL_S)
    return modes, live


@pytest.fixture(scope="module")
def watched(tmp_path_factory) -> Watched:
    root = tmp_path_factory.mktemp("console")
    home, space, log = root / "home", root / "asha_grid.py", root / "sweep.log"
    home.mkdir()
    space.write_text(SPACE)
    trackers = [arg for name in TRACKERS for arg in ("--tracker", name)]
    args = [
        str(space),
        "--budget",
        "tiny",
        "--storage",
        str(root),
        "--max-concurrent",
        "2",
        *trackers,
    ]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WANDB_", "RAY_AUTH"))
    }
    env |= {"HOME": str(home), "PYTHONPATH": str(ROOT)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tune_ired.sweep", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        modes, live = watch(proc, home, root / "asha_grid")
        code = proc.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return Watched(root / "asha_grid", home, log.read_text(), code, modes, live)


def test_sweep_succeeds(watched):
    assert watched.code == 0, watched.output[-4000:]


def test_console_names_the_sweep_folder_and_one_id_per_trial(watched):
    out, trials = watched.output, load_sweep(watched.folder).trials
    assert f"sweep {watched.folder} (" in out  # every live table's header names the folder
    # and the second line of all
    assert f"python -m tune_ired.status {watched.folder}" in out.splitlines()[1]
    assert "Result logdir" not in out and "driver_artifacts" not in out
    assert "train_ired_" not in out
    for trial_id in trials["trial_id"]:
        # the tables' id is the console's
        assert re.search(rf"^{trial_id}\s", out, re.MULTILINE), trial_id
        assert (watched.folder / f"trial_{trial_id}").is_dir()


def closing_table(output: str) -> str:
    return output[output.rindex(": done ==") :]


def test_closing_summary_statuses_best_and_next_command(watched):
    closing, trials = (
        closing_table(watched.output),
        load_sweep(watched.folder).trials.set_index("trial_id"),
    )
    for trial_id, row in trials.iterrows():
        assert re.search(rf"^{trial_id}\s+{row['status'].upper()}\s", closing, re.MULTILINE), (
            trial_id,
            closing,
        )
    assert {"COMPLETED", "STOPPED", "DIVERGED"} <= set(re.findall(r"\b[A-Z_]{6,}\b", closing))
    assert f"{watched.folder / 'best.json'}" in closing
    assert f"python -m tune_ired.report {watched.folder}" in closing


def test_asha_rungs_print_in_the_metric_sign(watched):
    rungs = [
        line for line in watched.output.splitlines() if line.strip().startswith("rungs (to go on)")
    ]
    assert rungs, watched.output[-3000:]
    values = [float(v) for line in rungs for v in re.findall(r"val/mse <= (\S+)", line)]
    assert values and all(value > 0 for value in values)  # a minimised MSE: Tune stores it negated


def test_live_table_and_status_show_the_step_of_train_steps(watched):
    assert re.search(rf"\b\d+/{TRAIN_STEPS}\b", watched.live_status), watched.live_status
    # the estimate printed before Ray started, and the expected end while it ran
    assert "estimate: 4 trials, 2 at once" in watched.output
    assert "expected end: " in watched.live_status, watched.live_status
    assert "best so far:" in watched.live_status and str(watched.folder) in watched.live_status
    assert f"/{TRAIN_STEPS}" in watched.output[: watched.output.index(": done ==")]


def test_best_json_names_the_best_trial_its_config_and_best_checkpoint(watched):
    sweep = load_sweep(watched.folder)
    best = json.loads((watched.folder / "best.json").read_text())
    top = sweep.trials.loc[sweep.trials["best/val/mse"].idxmin()]
    assert best["trial_id"] == top["trial_id"] and best["value"] == top["best/val/mse"]
    assert best["step"] == top["best/step"] and best["best"]["val/mse"] == best["value"]
    assert set(best["config"]) == set(make_config().to_dict())  # the whole config
    assert best["searched"] == {"lr": top["config/lr"]}
    state = torch.load(best["checkpoint"], weights_only=True)
    assert state["step"] == best["step"]


def test_every_trial_keeps_its_best_checkpoint_beside_tunes(watched):
    for _, trial in load_sweep(watched.folder).trials.iterrows():
        folder = watched.folder / trial["trial_dir"]
        best = folder / "checkpoints" / "best.pt"
        if math.isnan(trial["best/val/mse"]):  # the diverged trial never had a finite value
            assert not best.exists()
            continue
        assert torch.load(best, weights_only=True)["step"] == trial["best/step"]
        assert list(folder.glob("checkpoint_*")), "Tune's own (latest) checkpoints stay for resume"


def test_local_ray_token_is_private_and_removed(watched):
    assert watched.token_modes == {(0o600, 0o700)}
    assert not list((watched.home / ".ray" / "tune_ired").glob("local-*.token"))
    assert not (
        watched.home / ".ray" / "auth_token"
    ).exists()  # Ray's world-readable default was never written
    assert f"cat {watched.home}/.ray/tune_ired/local-" in watched.output  # the start line names it


def reported_mse(rows: list[dict]) -> list[float]:
    """val/mse as Tune saw it: a diverged trial's NaN is the finite sentinel (tune_ired.tuning.trainable)."""
    return [row["val/mse"] if math.isfinite(row["val/mse"]) else DIVERGED_SENTINEL for row in rows]


def test_mlflow_logged_each_trial_with_its_config_and_metrics(watched):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{watched.folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(watched.folder.name)
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    trials = load_sweep(watched.folder).trials.set_index("trial_id")
    assert set(runs) == set(trials.index)
    for trial_id, run in runs.items():
        assert float(run.data.params["lr"]) == trials.loc[trial_id, "config/lr"]
        logged = [m.value for m in client.get_metric_history(run.info.run_id, "val/mse")]
        assert logged == pytest.approx(
            reported_mse(read_metrics(watched.folder / f"trial_{trial_id}"))
        )


def test_tensorboard_events_hold_metrics_and_config(watched):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    for trial_dir in watched.folder.glob("trial_*"):
        events = EventAccumulator(str(trial_dir))
        events.Reload()
        rows = read_metrics(trial_dir)
        logged = [event.value for event in events.Scalars("ray/tune/step")]
        assert logged == [row["step"] for row in rows]
        starts = [
            plugin_data_pb2.HParamsPluginData.FromString(raw).session_start_info
            for raw in events.PluginTagToContent("hparams").values()
        ]
        config = json.loads((trial_dir / "params.json").read_text())
        assert any(start.hparams["lr"].number_value == config["lr"] for start in starts)


# the .wandb file: a leveldb-style log of protobuf records
LOG_BLOCK, LOG_HEADER, FILE_HEADER = (32768, 7, 7)
FULL, LAST = 1, 4


def wandb_records(path: Path):
    """The protobuf records of a W&B offline run file (wandb 0.31 has no Python reader of its own left)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, parts = FILE_HEADER, b""
    while pos + LOG_HEADER <= len(data):
        room = LOG_BLOCK - pos % LOG_BLOCK
        _, length, kind = struct.unpack("<IHB", data[pos : pos + LOG_HEADER])
        if room < LOG_HEADER or (kind == 0 and length == 0):
            pos += room  # the rest of the block is padding
            continue
        parts += data[pos + LOG_HEADER : pos + LOG_HEADER + length]
        pos += LOG_HEADER + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def wandb_items(items) -> dict:
    """A W&B record's items (history row, config update) as {key: value}; nested keys joined by '/'."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def test_wandb_offline_runs_hold_metrics_and_config(watched):
    files = list(watched.folder.glob("trial_*/wandb/offline-run-*/run-*.wandb"))
    assert len(files) == len(list(watched.folder.glob("trial_*")))
    for path in files:
        trial_dir = path.parents[2]
        history, config = [], {}
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                history.append(wandb_items(record.history.item))
            elif kind == "config":
                config |= wandb_items(record.config.update)
            elif kind == "run":
                config |= wandb_items(record.run.config.update)
        rows = read_metrics(trial_dir)
        assert [row["step"] for row in history if "step" in row] == [row["step"] for row in rows]
        logged = [row["val/mse"] for row in history if "val/mse" in row]
        assert logged == pytest.approx(reported_mse(rows))
        assert config["lr"] == json.loads((trial_dir / "params.json").read_text())["lr"]
