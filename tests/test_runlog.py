"""A run folder's record (config.json, metrics.jsonl): torn lines, repairs from checkpoint copies, gaps,
atomic writes on a failing disk, and restarts that keep every observed row."""

from __future__ import annotations

import json
import math
import os

import pytest

from tune_ired.ired.config import make_config
from tune_ired.record.files import read_json, replace_atomically, write_problem
from tune_ired.record.runfolder import (
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
    BestCheckpoint,
    append_row,
    missing_steps,
    read_metrics,
    recorded_run,
    repair_record,
    write_config,
    write_rows,
)
from tune_ired.training.trainer import Trainer


def test_rows_round_trip_in_step_order_with_the_last_of_each_step(tmp_path):
    for step, mse in [(10, 0.5), (20, 0.4), (10, 0.3), (30, math.nan)]:
        append_row(tmp_path, {"step": step, "val/mse": mse})
    rows = read_metrics(tmp_path)
    assert [row["step"] for row in rows] == [10, 20, 30]
    # NaN is written and read back
    assert rows[0]["val/mse"] == 0.3 and math.isnan(rows[2]["val/mse"])


def test_a_torn_line_is_skipped_and_the_repair_rewrites_the_file_clean(tmp_path):
    for step in (10, 20, 30):
        append_row(tmp_path, {"step": step})
    with (tmp_path / METRICS_FILE).open("a") as out:
        out.write('{"step": 40, "val/m')  # a process killed mid-write
    assert [row["step"] for row in read_metrics(tmp_path)] == [10, 20, 30]
    rows, repaired = repair_record(tmp_path)
    assert sorted(rows) == [10, 20, 30] and repaired == []
    append_row(tmp_path, {"step": 40})  # would have joined the torn line without the repair
    assert [
        json.loads(line)["step"] for line in (tmp_path / METRICS_FILE).read_text().splitlines()
    ] == [10, 20, 30, 40]


def test_a_cut_record_is_repaired_from_the_checkpoints_copy_and_a_clean_one_is_left_alone(tmp_path):
    rows = [{"step": step, "val/mse": 1.0 / step} for step in (10, 20, 30, 40)]
    write_rows(tmp_path / "checkpoint_000001" / METRICS_FILE, rows[:3])
    write_rows(tmp_path / METRICS_FILE, rows)
    before = (tmp_path / METRICS_FILE).stat()
    assert repair_record(tmp_path)[1] == []
    assert (
        tmp_path / METRICS_FILE
    ).stat().st_mtime_ns == before.st_mtime_ns  # a clean record is not rewritten
    original = (tmp_path / METRICS_FILE).read_bytes()
    # cut inside the second row
    (tmp_path / METRICS_FILE).write_bytes(original[: len(original) // 3])
    assert repair_record(tmp_path)[1] == [20, 30]  # restored from the copy; step 40 had no copy
    assert [row["step"] for row in read_metrics(tmp_path)] == [10, 20, 30]
    assert missing_steps([10, 20, 40], train_steps=50, eval_every=10) == [30]
    assert missing_steps([10, 20, 30, 40, 45], train_steps=45, eval_every=10) == []


def test_a_restart_keeps_the_rows_past_its_checkpoint_and_marks_the_session(tmp_path):
    cfg = make_config({"train_steps": 60, "eval_every": 20}, budget="tiny")
    first = list(recorded_run(Trainer(cfg), tmp_path, budget="tiny"))
    observed = (tmp_path / METRICS_FILE).read_text()
    again = list(recorded_run(Trainer(cfg), tmp_path, budget="tiny"))  # restarted from step 0
    assert (tmp_path / METRICS_FILE).read_text() == observed  # each step once, as first observed
    assert again == first
    session = read_json(tmp_path / RUN_FILE)["sessions"][-1]
    assert (
        session["from_step"] == 0 and session["observed_to_step"] == 60 and session["to_step"] == 60
    )


def test_a_lost_row_before_the_restored_step_is_reported(tmp_path, capsys):
    cfg = make_config({"train_steps": 60, "eval_every": 20}, budget="tiny")
    trainer = Trainer(cfg)
    rows = trainer.run()
    next(rows), next(rows)  # the trainer is at step 40: a checkpoint there
    # the row of step 40 was cut off, with no copy
    write_rows(tmp_path / METRICS_FILE, [{"step": 20}])
    list(recorded_run(trainer, tmp_path, budget="tiny"))
    assert "steps [40] are lost" in capsys.readouterr().err
    assert read_json(tmp_path / RUN_FILE)["sessions"][-1]["missing_steps"] == [40]


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")

    def fail_midway(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        replace_atomically(target, fail_midway)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]


def test_write_problem_names_a_file_and_accepts_a_new_folder(tmp_path):
    (tmp_path / "file").write_text("")
    assert "is a file, not a folder" in write_problem(tmp_path / "file" / "sub")
    assert write_problem(tmp_path / "new" / "deeper") is None and not (tmp_path / "new").exists()


def test_config_is_written_whole_and_torn_or_missing_files_read_as_empty(tmp_path):
    write_config(tmp_path, {"lr": 1e-3, "strategy": "random"})
    assert read_json(tmp_path / CONFIG_FILE) == {"lr": 1e-3, "strategy": "random"}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "torn.json").write_text('{"lr": 0.0')
    assert read_json(tmp_path / "torn.json") == {} and read_json(tmp_path / "missing.json") == {}


def test_best_checkpoint_keeps_the_best_finite_row_and_knows_it_after_a_restart(tmp_path):
    saved = []
    best = BestCheckpoint("val/mse", "min", save=lambda path: saved.append(path))
    for step, mse in [(10, 0.5), (20, math.nan), (30, 0.7), (40, 0.4)]:
        best.offer(tmp_path, {"step": step, "val/mse": mse})
    assert len(saved) == 2 and best.value == 0.4 and saved[0].name == "best.pt"
    higher = BestCheckpoint("val/elem_acc", "max", save=lambda path: saved.append(path))
    assert higher.observe({"val/elem_acc": 0.2}) and not higher.observe({"val/elem_acc": 0.1})
