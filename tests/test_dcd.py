"""Every strategy and DCD preset trains for real at a tiny size, logs its diagnostics, and resumes exactly."""

import json
import math
import subprocess
import sys

import pytest

from tune_ired.ired.config import PRESETS, make_config
from tune_ired.training.checkpoint import load_state, save_state
from tune_ired.training.run import run_to_dir
from tune_ired.training.trainer import Trainer

SHORT = {"train_steps": 6, "eval_every": 3, "val_size": 16, "num_threads": 1, "langevin_steps": 3}
CHAIN_KEYS = ("mine/grad_norm", "mine/step_distance", "mine/reject_share")
ENERGY_KEYS = ("mine/energy_pos", "mine/energy_neg", "mine/energy_gap", "mine/false_negative_rate")
CONDITIONING_KEYS = (
    "mine/neg_log10_cond_q50",
    "mine/pos_smin_ay_q10",
    "mine/neg_smin_y_q90",
    "mine/neg_det_negative",
)


def rows_of(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def assert_finite(row):
    assert not row["diverged"]
    for key, value in row.items():
        if isinstance(value, float) and key.startswith(("train/", "val/mse", "mine/energy")):
            assert math.isfinite(value), key


@pytest.mark.parametrize(
    "strategy", ["none", "random", "adversarial", "ascent", "mixed", "langevin"]
)
def test_each_strategy_trains_and_logs_its_diagnostics(tmp_path, device, strategy):
    cfg = make_config({**SHORT, "strategy": strategy, "device": device.type}, budget="tiny")
    run_to_dir(tmp_path, cfg, echo=lambda _: None)
    rows = rows_of(tmp_path)
    assert [row["step"] for row in rows] == [3, 6]
    assert_finite(rows[-1])
    for key in ENERGY_KEYS + CONDITIONING_KEYS:
        assert (key in rows[-1]) == (strategy != "none"), key
    for key in CHAIN_KEYS:  # only strategies that run a mining chain
        assert (key in rows[-1]) == (strategy not in ("none", "random")), key


@pytest.mark.parametrize("preset", [name for name in PRESETS if name])
def test_each_preset_runs_from_the_command_line(tmp_path, device, preset):
    sets = [f"{key}={value}" for key, value in SHORT.items()] + [
        f"preset={preset}",
        "num_seeds=2",
        f"device={device}",
    ]
    command = [sys.executable, "-m", "tune_ired.train", "--budget", "tiny", "--out", str(tmp_path)]
    subprocess.run(
        command + [arg for item in sets for arg in ("--set", item)], check=True, capture_output=True
    )
    row = rows_of(tmp_path)[-1]
    assert json.loads((tmp_path / "config.json").read_text())["preset"] == preset
    assert_finite(row)
    for key in ENERGY_KEYS + CONDITIONING_KEYS + ("mine/filter_share", "mine/energy_weight"):
        assert key in row and "seed/1/" + key in row, key
    assert ("mine/replay_fill" in row) == make_config({"preset": preset}).replay


def without_perf(rows):
    return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in rows]


def test_resume_is_exact_with_the_replay_buffer_on(tmp_path, device):
    overrides = {
        **SHORT,
        "preset": "Q-204",
        "num_seeds": 2,
        "replay_capacity": 40,
        "device": device.type,
    }
    cfg = make_config(overrides, budget="tiny")
    full = without_perf(Trainer(cfg).run())
    first = Trainer(cfg)
    head = [next(first.run())]
    assert first.replay.fill.sum() > 0
    save_state(first.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(cfg)
    resumed.load_state_dict(load_state(tmp_path / "state.pt"))
    assert resumed.replay.state_dict()["states"].equal(first.replay.state_dict()["states"])
    assert without_perf(head + list(resumed.run())) == full
    assert full[-1]["mine/replay_reuse"] > 0
