"""The tidy tables from a sweep folder's files: statuses, deduplicated reports, per-seed rows, bad folders.

The folder is written here as a sweep leaves it: each trial's own config.json and
metrics.jsonl (tune_ired.record.runfolder), Tune's error.txt and experiment_state-*.json, so every
status and edge case is covered in milliseconds; tests/test_sweep.py reads folders
written by real sweeps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tune_ired.record.catalogue import TrialStatus
from tune_ired.record.results import NotASweepError, load_sweep, write_tables

TRAIN_STEPS, EVAL_EVERY = 60, 20


def report(step: int, mse: float, **extra) -> dict:
    return {
        "step": step,
        "val/mse": mse,
        "train/loss": 1.0,
        "diverged": False,
        "early_stopped": False,
        **extra,
    }


def write_trial(
    folder: Path, trial_id: str, rows: list[dict], *, status: str, error: str = "", **params
) -> None:
    trial = folder / f"trial_{trial_id}"
    trial.mkdir(parents=True)
    (trial / "config.json").write_text(
        json.dumps({"train_steps": TRAIN_STEPS, "eval_every": EVAL_EVERY, **params})
    )
    (trial / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if error:
        (trial / "error.txt").write_text(f"Failure # 1\nTraceback ...\n{error}\n")
    state = json.loads((folder / "experiment_state-x.json").read_text())
    trial_json = {"trial_id": trial_id, "status": status, "relative_logdir": trial.name}
    state["trial_data"].append(
        [json.dumps(trial_json), json.dumps({"num_failures": 1 if error else 0})]
    )
    (folder / "experiment_state-x.json").write_text(json.dumps(state))


@pytest.fixture
def sweep_folder(tmp_path) -> Path:
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "experiment_state-x.json").write_text(json.dumps({"trial_data": []}))
    (folder / "sweep.json").write_text(
        json.dumps({"metric": "val/mse", "mode": "min", "budget": "tiny"})
    )
    # step 40 repeated by a retry
    full = [report(20, 0.5), report(40, 0.3), report(40, 0.2), report(60, 0.25)]
    write_trial(folder, "a", full, status="TERMINATED", noise_scale=0.1)
    # stopped by ASHA
    write_trial(folder, "b", [report(20, 0.6)], status="TERMINATED", noise_scale=1.0)
    nan_row = report(40, math.nan, diverged=True, **{"train/loss": math.nan})
    write_trial(folder, "c", [report(20, 0.4), nan_row], status="TERMINATED", noise_scale=9.0)
    write_trial(folder, "d", [], status="ERROR", error="RuntimeError: boom", noise_scale=2.0)
    write_trial(
        folder, "e", [report(20, 0.7, early_stopped=True)], status="TERMINATED", noise_scale=3.0
    )
    write_trial(folder, "f", [report(20, 0.7)], status="RUNNING", noise_scale=4.0)
    seeds = {f"seed/{s}/val/mse": 0.1 * (s + 1) for s in (5, 6)}
    write_trial(
        folder,
        "g",
        [report(20, 0.15, **seeds), report(60, 0.15, **seeds)],
        status="TERMINATED",
        num_seeds=2,
    )
    with (folder / "trial_g" / "metrics.jsonl").open("a") as torn:
        torn.write('{"step": 80, "val/ms')  # a line cut short by a killed worker
    pending = folder / "trial_h"  # not started yet: only Tune's params.json
    pending.mkdir()
    (pending / "params.json").write_text(json.dumps({"noise_scale": 5.0}))
    state = json.loads((folder / "experiment_state-x.json").read_text())
    state["trial_data"].append(
        [json.dumps({"trial_id": "h", "status": "PENDING", "relative_logdir": "trial_h"}), "{}"]
    )
    (folder / "experiment_state-x.json").write_text(json.dumps(state))
    return folder


def test_statuses_final_best_and_dedup(sweep_folder):
    sweep = load_sweep(sweep_folder)
    trials = sweep.trials.set_index("trial_id")
    assert trials["status"].to_dict() == {
        "a": "completed",
        "b": "stopped",
        "c": "diverged",
        "d": "errored",
        "e": "early_stopped",
        "f": "running",
        "g": "completed",
        "h": "pending",
    }
    assert set(trials["status"]) <= set(TrialStatus)
    assert trials.loc["a", "iterations"] == 3 and trials.loc["a", "final/val/mse"] == 0.25
    assert trials.loc["a", "best/val/mse"] == 0.2 and trials.loc["a", "best/step"] == 40
    assert math.isnan(trials.loc["c", "final/val/mse"]) and math.isnan(
        trials.loc["c", "final/train/loss"]
    )
    assert trials.loc["c", "best/val/mse"] == 0.4
    assert trials.loc["d", "error"] == "RuntimeError: boom" and trials.loc["d", "num_failures"] == 1
    assert (
        trials.loc["a", "config/noise_scale"] == 0.1
        and trials.loc["h", "config/noise_scale"] == 5.0
    )
    assert not any(c.startswith(("final/seed/", "best/seed/")) for c in trials.columns)
    curves = sweep.curves
    assert not curves.duplicated(["trial_id", "step"]).any()
    assert curves.query("trial_id == 'a'")["val/mse"].tolist() == [0.5, 0.2, 0.25]


def test_seed_table_has_one_row_per_seed(sweep_folder):
    seeds = load_sweep(sweep_folder).seeds
    assert seeds.query("trial_id == 'g'")["seed"].tolist() == [5, 6]
    assert seeds.query("trial_id == 'g'")["final/val/mse"].tolist() == pytest.approx([0.6, 0.7])
    single = seeds.query("trial_id == 'a'")
    assert single["seed"].tolist() == [0] and single["best/val/mse"].tolist() == [0.2]
    assert len(seeds) == 7 + 2


def test_write_tables(sweep_folder):
    trials_parquet, trials_csv, seeds_parquet, seeds_csv = write_tables(sweep_folder)
    assert len(pd.read_parquet(trials_parquet)) == 8 and len(pd.read_csv(trials_csv)) == 8
    assert len(pd.read_parquet(seeds_parquet)) == 9 and len(pd.read_csv(seeds_csv)) == 9
    assert not list(sweep_folder.glob("*.tmp"))


def test_not_a_sweep_names_the_folder_and_the_sweeps_inside(tmp_path, sweep_folder):
    with pytest.raises(NotASweepError, match=r"is not a sweep folder.*fake"):
        load_sweep(sweep_folder.parent)
    with pytest.raises(NotASweepError, match="no such folder"):
        load_sweep(tmp_path / "missing")


def test_old_partial_configs_are_flagged_not_filled(sweep_folder):
    trials = load_sweep(sweep_folder).trials.set_index("trial_id")
    assert not trials[
        "config_complete"
    ].any()  # written before configs were recorded whole (no run.json)
    assert "config/lr" not in trials  # no trial recorded lr: no column with today's default in it
    assert trials.loc["a", "config/train_steps"] == TRAIN_STEPS


def test_seed_divergence_columns(sweep_folder):
    seeds = load_sweep(sweep_folder).seeds.set_index(["trial_id", "seed"])
    assert seeds.loc[("c", 0), "diverged"] and math.isnan(seeds.loc[("c", 0), "final/val/mse"])
    assert not seeds.loc[("a", 0), "diverged"]


def test_a_seed_diverged_inside_a_batched_trial(tmp_path):
    folder = tmp_path / "batched"
    folder.mkdir()
    (folder / "experiment_state-x.json").write_text(json.dumps({"trial_data": []}))
    seeds = {
        "seed/0/val/mse": 0.2,
        "seed/1/val/mse": math.nan,
        "seed/0/diverged": False,
        "seed/1/diverged": True,
    }
    steps = {"seed/0/diverged_step": None, "seed/1/diverged_step": 7}
    rows = [
        report(20, 0.2, seeds_diverged=1, **seeds, **steps),
        report(60, 0.2, seeds_diverged=1, **seeds, **steps),
    ]
    write_trial(folder, "s", rows, status="TERMINATED", num_seeds=2)
    (folder / "trial_s" / "run.json").write_text(
        json.dumps(
            {
                "budget": "tiny",
                "sessions": [{"host": "h", "device": {"name": "cpu"}, "code": {"version": "1"}}],
            }
        )
    )
    sweep = load_sweep(folder)
    (trial,) = sweep.trials.to_dict("records")
    assert (
        trial["status"] == "completed" and trial["seeds_diverged"] == 1 and trial["num_seeds"] == 2
    )
    assert (
        trial["config_complete"] and trial["run/host"] == "h" and trial["run/code_version"] == "1"
    )
    table = sweep.seeds.set_index("seed")
    assert (
        table.loc[1, "diverged"]
        and table.loc[1, "diverged_step"] == 7
        and math.isnan(table.loc[1, "final/val/mse"])
    )
    assert not table.loc[0, "diverged"] and table.loc[0, "final/val/mse"] == 0.2


def test_a_cut_record_reads_whole_from_its_checkpoint_copy_and_an_unrepairable_one_is_not_stopped(
    tmp_path,
):
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "experiment_state-x.json").write_text(json.dumps({"trial_data": []}))
    (folder / "sweep.json").write_text(
        json.dumps({"metric": "val/mse", "mode": "min", "scheduler": None})
    )
    rows = [report(20, 0.5), report(40, 0.4), report(60, 0.3)]
    write_trial(folder, "r", rows, status="TERMINATED")
    copy = folder / "trial_r" / "checkpoint_000002"
    copy.mkdir()
    (copy / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    # cut
    (folder / "trial_r" / "metrics.jsonl").write_text(
        json.dumps(rows[0]) + "\n" + '{"step": 40, "val'
    )
    # cut to one row, and no copy: nothing repairs it
    write_trial(folder, "u", rows[:1], status="TERMINATED")
    trials = load_sweep(folder).trials.set_index("trial_id")
    assert trials.loc["r", "status"] == "completed" and trials.loc["r", "final/val/mse"] == 0.3
    assert trials.loc["r", "missing_steps"] == 0
    # no scheduler could have stopped it: not 'stopped'
    assert trials.loc["u", "status"] == "errored"
    assert "its record ends at step 20 of 60" in trials.loc["u", "error"]


def test_statuses_survive_a_torn_experiment_state_through_the_kept_copy(sweep_folder):
    from tune_ired.record.tunestate import keep_snapshot, snapshot_problems

    (sweep_folder / "tuner.pkl").write_bytes(b"\x80\x04N.")  # a whole pickle (None)
    state = sweep_folder / "experiment_state-x.json"
    assert snapshot_problems(sweep_folder) == [] and keep_snapshot(sweep_folder, last={})
    state.write_text(state.read_text()[:100])  # cut mid-copy
    assert snapshot_problems(sweep_folder) == [f"{state.name} is torn (100 bytes)"]
    assert load_sweep(sweep_folder).trials.set_index("trial_id").loc["h", "status"] == "pending"


def test_a_trial_that_diverged_or_errored_is_never_named_best(tmp_path):
    from tune_ired.record.sweepview import best_view, sweep_views

    folder = tmp_path / "best"
    folder.mkdir()
    (folder / "experiment_state-x.json").write_text(json.dumps({"trial_data": []}))
    (folder / "sweep.json").write_text(
        json.dumps({"metric": "val/mse", "mode": "min", "budget": "tiny"})
    )
    diverged = [report(20, 0.01), report(40, math.nan, diverged=True)]  # the best value, then a NaN
    write_trial(folder, "x", diverged, status="TERMINATED", noise_scale=1.0)
    write_trial(
        folder, "y", [report(20, 0.3), report(40, 0.2), report(60, 0.1)], status="TERMINATED"
    )
    meta, views = sweep_views(folder)
    assert best_view(views, meta["mode"]).trial_id == "y"
    assert best_view([v for v in views if v.trial_id == "x"], meta["mode"]) is None
