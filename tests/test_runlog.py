"""A run folder's record (config.json, metrics.jsonl): restart cuts, torn lines, torn or missing files."""

from __future__ import annotations

import json
import math

from tune_ired.runlog import (
    CONFIG_FILE,
    METRICS_FILE,
    BestCheckpoint,
    append_row,
    read_json,
    read_metrics,
    restart_metrics,
    write_config,
)


def test_rows_round_trip_in_step_order_with_the_last_of_each_step(tmp_path):
    for step, mse in [(10, 0.5), (20, 0.4), (10, 0.3), (30, math.nan)]:
        append_row(tmp_path, {"step": step, "val/mse": mse})
    rows = read_metrics(tmp_path)
    assert [row["step"] for row in rows] == [10, 20, 30]
    assert rows[0]["val/mse"] == 0.3 and math.isnan(rows[2]["val/mse"])  # NaN is written and read back


def test_restart_keeps_rows_up_to_the_checkpoint_and_drops_a_torn_line(tmp_path):
    for step in (10, 20, 30):
        append_row(tmp_path, {"step": step})
    with (tmp_path / METRICS_FILE).open("a") as out:
        out.write('{"step": 40, "val/m')  # a process killed mid-write
    assert [row["step"] for row in read_metrics(tmp_path)] == [10, 20, 30]
    restart_metrics(tmp_path, up_to_step=20)
    append_row(tmp_path, {"step": 30, "again": True})
    lines = (tmp_path / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20, 30]  # on disk, each step once
    assert json.loads(lines[-1])["again"]


def test_restart_of_a_new_folder_starts_an_empty_record(tmp_path):
    restart_metrics(tmp_path / "new", up_to_step=0)
    assert (tmp_path / "new" / METRICS_FILE).read_text() == "" and read_metrics(tmp_path / "new") == []


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
