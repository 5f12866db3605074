"""A real sweep's records are complete, reproducible and honest about a seed that diverged on purpose.

The sweep trains two arms of four seeds each in one trial per arm: lr 3e-3 (the baseline)
and lr 0.05 without gradient clipping, under which seed 3 of seeds 2..5 diverges at step 12
while its siblings train on (tests/test_divergence.py shows the same in-process). Its folder must say
exactly what ran and where, repeat from a trial's own folder, and the report must count the
diverged seed in the verdict instead of dropping it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from test_sweep import run_cli

from tune_ired.ired.config import FIELDS

SPACE = """
diverging = SearchSpace(
    space={"lr": tune.grid_search([3e-3, 0.05])},
    base={"seed": 2, "num_seeds": 4, "grad_clip": 0.0},
    scheduler=None,
    budgets={"tiny": Budget(config={"train_steps": 60, "eval_every": 20})},
)
"""
BAD_ARM, BASELINE, BAD_SEED, BAD_STEP = "0.05", "0.003", 3, 12
REPORT_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    done = run_cli(tmp_path_factory.mktemp("records"), "diverging", SPACE)
    assert done.code == 0, done.output[-3000:]
    return done.folder


def trial_folder(folder, lr):
    return next(
        p for p in folder.glob("trial_*") if json.loads((p / "config.json").read_text())["lr"] == lr
    )


def test_every_trial_records_its_whole_config_and_provenance(diverging):
    meta = json.loads((diverging / "sweep.json").read_text())
    provenance = meta["provenance"]
    for key in (
        "code",
        "python",
        "packages",
        "device",
        "host",
        "slurm_job_id",
        "command",
        "started_at",
    ):
        assert key in provenance, key
    assert provenance["ended_at"] and "tune_ired.sweep" in provenance["command"]
    assert (
        provenance["packages"]["ray"]
        and provenance["packages"]["optuna"]
        and provenance["packages"]["torch"]
    )
    for trial in diverging.glob("trial_*"):
        assert set(json.loads((trial / "config.json").read_text())) == set(FIELDS)
        (session,) = json.loads((trial / "run.json").read_text())["sessions"]
        assert session["command"] == provenance["command"] and session["device"]["kind"] == "cpu"
        assert session["from_step"] == 0 and session["to_step"] == 60 and session["ended_at"]


def test_a_trial_repeats_from_its_folder(diverging, tmp_path):
    trial = trial_folder(diverging, 3e-3)
    again = tmp_path / "again"
    cmd = [
        sys.executable,
        "-m",
        "tune_ired.train",
        "--config",
        str(trial / "config.json"),
        "--out",
        str(again),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S)
    assert done.returncode == 0, done.stderr

    def rows(folder):
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return [
            {k: v for k, v in json.loads(line).items() if not k.startswith("perf/")}
            for line in lines
        ]

    assert rows(again) == rows(trial)


def test_the_tables_on_disk_count_the_diverged_seed(diverging):
    trials = pd.read_parquet(diverging / "trials.parquet").set_index("config/lr")
    assert trials.loc[0.05, "status"] == "completed" and trials.loc[0.05, "seeds_diverged"] == 1
    assert trials.loc[3e-3, "seeds_diverged"] == 0 and trials["config_complete"].all()
    seeds = pd.read_parquet(diverging / "seeds.parquet")
    bad = seeds[(seeds["config/lr"] == 0.05) & (seeds["seed"] == BAD_SEED)].iloc[0]
    assert bad["diverged"] and bad["diverged_step"] == BAD_STEP and pd.isna(bad["final/val/mse"])
    assert (
        seeds[(seeds["config/lr"] == 0.05) & (seeds["seed"] != BAD_SEED)]["final/val/mse"]
        .notna()
        .all()
    )


def test_the_verdict_counts_the_diverged_seed(diverging, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "tune_ired.report",
        str(diverging),
        "--baseline",
        BASELINE,
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    summary = (tmp_path / "summary.md").read_text()
    (line,) = [
        line
        for line in summary.splitlines()
        if f"{BAD_ARM} vs {BASELINE}" in line and "diverged" in line
    ]
    assert f"diverged: {BAD_ARM} 1/4, {BASELINE} 0/4" in line and line.startswith("- **MISSES**")
    assert "Best of all arms by mean final val/mse" in summary
    assert f"diverged seeds scored by the rule: {BAD_ARM} (" not in summary
