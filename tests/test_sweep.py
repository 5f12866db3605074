"""`python -m tune_ired.sweep` for real: a private local Ray, ASHA, Optuna, kill -9 and --resume, failures.

Every sweep here is tiny (3 x 3 matrices, tens of steps). Bad input is checked in-process
(exit code 2, no Ray started) and once through a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import flaky_trainable
import pytest
import ray

from tune_ired import sweep
from tune_ired.cli import ExitCode
from tune_ired.ired.config import make_config
from tune_ired.record.results import load_sweep
from tune_ired.record.runfolder import read_metrics
from tune_ired.training.trainer import Trainer
from tune_ired.tuning import driver, tuner
from tune_ired.tuning.plan import plan_sweep
from tune_ired.tuning.trainable import MIN_CHECKPOINT_INTERVAL_S, wants_checkpoint

HEADER = "from ray import tune\nfrom tune_ired.space import ASHA, Budget, SearchSpace\n"
EVAL_EVERY = 20
ASHA_SPACE = f"""
asha_grid = SearchSpace(
    space={{"lr": tune.grid_search([3e-3, 1.0, 1e-3, 1e-4])}},  # lr 1.0 diverges at its first evaluation
    scheduler=ASHA(grace_period=1, reduction_factor=2),
    budgets={{"tiny": Budget(config={{"train_steps": 80, "eval_every": {EVAL_EVERY}}})}},
)
"""
OPTUNA_SPACE = f"""
tpe = SearchSpace(
    space={{"noise_scale": tune.loguniform(0.01, 3.0), "lr": tune.loguniform(1e-4, 3e-3)}},
    searcher="optuna",
    num_samples=4,
    seed=7,
    scheduler=ASHA(grace_period=1, reduction_factor=2),
    budgets={{"tiny": Budget(config={{"train_steps": 60, "eval_every": {EVAL_EVERY}}})}},
)
"""
# ~5 s per trial on an idle machine: time to kill the driver mid-run
LONG_STEPS, LONG_EVAL_EVERY = 1500, 100
LONG_SPACE = f"""
long = SearchSpace(
    space={{"noise_scale": tune.grid_search([0.1, 1.0])}},
    scheduler=None,
    budgets={{"tiny": Budget(config={{"train_steps": {LONG_STEPS}, "eval_every": {LONG_EVAL_EVERY}}})}},
)
"""
SWEEP_TIMEOUT_S = 600  # a busy 2-core machine; a healthy tiny sweep takes well under a minute
KILL_AFTER_REPORTS = 3  # per trial: checkpoints exist, the trial is mid-run
# the experiment snapshot has caught up with the checkpoints
SNAPSHOT_WAIT_S = 2 * float(tuner.SNAPSHOT_PERIOD_S)


@dataclass(frozen=True)
class Finished:
    folder: Path
    output: str
    code: int


def write_space(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(HEADER + body)
    return path


def start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tune_ired.sweep", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can clean up the Ray it started
        )


def finish(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def run_cli(tmp: Path, name: str, body: str, *extra: str) -> Finished:
    space, log = write_space(tmp, name, body), tmp / f"{name}.log"
    code = finish(start([str(space), "--budget", "tiny", "--storage", str(tmp), *extra], log))
    return Finished(folder=tmp / name, output=log.read_text(), code=code)


@pytest.fixture(scope="module")
def asha_sweep(tmp_path_factory) -> Finished:
    return run_cli(
        tmp_path_factory.mktemp("asha"), "asha_grid", ASHA_SPACE, "--max-concurrent", "2"
    )


def test_tiny_sweep_completes_and_writes_the_tidy_table(asha_sweep):
    assert asha_sweep.code == 0, asha_sweep.output[-3000:]
    assert "Ray dashboard: http://127.0.0.1:" in asha_sweep.output
    assert "best config: " in asha_sweep.output
    for name in ("trials.parquet", "trials.csv", "sweep.json", "tuner.pkl"):
        assert (asha_sweep.folder / name).exists(), name
    trials = load_sweep(asha_sweep.folder).trials
    assert len(trials) == 4 and trials["trial_id"].is_unique
    assert sorted(trials["config/lr"]) == [1e-4, 1e-3, 3e-3, 1.0]


def test_statuses_asha_stopped_and_diverged(asha_sweep):
    trials = load_sweep(asha_sweep.folder).trials.set_index("config/lr")
    assert trials.loc[1.0, "status"] == "diverged" and trials.loc[1.0, "iterations"] == 1
    assert trials.loc[1.0, "final/diverged"]
    others = trials.drop(index=1.0)
    assert set(others["status"]) <= {"completed", "stopped"}
    assert (others["status"] == "stopped").sum() >= 1, "ASHA stopped no trial"
    assert (others["status"] == "completed").sum() >= 1
    completed = others[others["status"] == "completed"]
    assert (completed["last_step"] == 80).all() and (
        others.query("status == 'stopped'")["last_step"] < 80
    ).all()
    assert others["best/val/mse"].notna().all()


def test_diverged_trial_never_reported_nan(asha_sweep):
    folders = asha_sweep.folder.glob("trial_*")
    diverged = next(p for p in folders if json.loads((p / "config.json").read_text())["lr"] == 1)
    # what Tune saw
    (row,) = [json.loads(line) for line in (diverged / "result.json").read_text().splitlines()]
    assert row["diverged"] and row["val/mse"] > 1e6  # the finite sentinel, not NaN


def test_optuna_with_asha(tmp_path):
    done = run_cli(tmp_path, "tpe", OPTUNA_SPACE)
    assert done.code == 0, done.output[-3000:]
    trials = load_sweep(done.folder).trials
    assert len(trials) == 4 and set(trials["status"]) <= {"completed", "stopped"}
    assert (
        trials["config/noise_scale"].nunique() == 4
        and trials["config/noise_scale"].between(0.01, 3.0).all()
    )
    assert json.loads((done.folder / "sweep.json").read_text())["searcher"] == "optuna"


def reports_per_trial(folder: Path) -> dict[str, int]:
    return {p.parent.name: len(p.read_text().splitlines()) for p in folder.glob("*/metrics.jsonl")}


def test_kill_9_then_resume(tmp_path):
    space, log, folder = (
        write_space(tmp_path, "long", LONG_SPACE),
        tmp_path / "long.log",
        tmp_path / "long",
    )
    args = [str(space), "--budget", "tiny", "--storage", str(tmp_path)]
    first = start(args, log)
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while time.monotonic() < deadline and first.poll() is None:
        counts = reports_per_trial(folder)
        if len(counts) == 2 and min(counts.values()) >= KILL_AFTER_REPORTS:
            break
        time.sleep(0.1)
    time.sleep(SNAPSHOT_WAIT_S)
    assert first.poll() is None, "the sweep ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)  # the driver only, as a crash would
    first.wait()
    os.killpg(first.pid, signal.SIGKILL)  # then the Ray it had started, before resuming
    before = {name: read_metrics(folder / name) for name in reports_per_trial(folder)}
    assert all(0 < len(rows) < LONG_STEPS // LONG_EVAL_EVERY for rows in before.values()), before

    assert finish(start([*args, "--resume"], log)) == 0, log.read_text()[-3000:]
    # the killed driver's lock is stale: taken over, and said
    assert f"took over the lock of pid {first.pid} on host " in log.read_text()
    sweep_results = load_sweep(folder)
    assert set(sweep_results.trials["status"]) == {"completed"}
    expected = list(range(LONG_EVAL_EVERY, LONG_STEPS + 1, LONG_EVAL_EVERY))
    for _, curve in sweep_results.curves.groupby("trial_id"):
        assert curve["step"].tolist() == expected  # every evaluation exactly once
    for name, rows in before.items():
        after = [
            json.loads(line) for line in (folder / name / "metrics.jsonl").read_text().splitlines()
        ]
        assert [row["step"] for row in after] == expected  # on disk too, not only in the tables
        # the first evaluation, checkpointed before the kill, is kept as written then (its wall-clock
        # perf/ figures included): a trial restarted from step 0 would have computed it again
        assert after[0] == rows[0], f"{name} restarted from step 0"


def test_checkpoints_are_spaced_so_the_snapshot_never_names_a_deleted_one():
    cfg = make_config({"train_steps": 40, "eval_every": 20, "checkpoint_every": 40}, budget="tiny")
    trainer = Trainer(cfg)
    rows = trainer.run()
    first = next(rows)  # step 20: not due by checkpoint_every, but the first row since (re)start
    assert wants_checkpoint(cfg, first, trainer, since_last=None)
    assert not wants_checkpoint(cfg, first, trainer, since_last=10 * MIN_CHECKPOINT_INTERVAL_S)
    every_eval = make_config({"train_steps": 40, "eval_every": 20}, budget="tiny")
    assert not wants_checkpoint(
        every_eval, first, trainer, since_last=0.5 * MIN_CHECKPOINT_INTERVAL_S
    )
    assert wants_checkpoint(every_eval, first, trainer, since_last=MIN_CHECKPOINT_INTERVAL_S)
    last = next(rows)  # step 40: the run's end is always checkpointed
    assert trainer.finished and wants_checkpoint(cfg, last, trainer, since_last=0.0)


def test_trial_that_raises_once_is_retried_from_its_checkpoint(tmp_path, monkeypatch):
    for name in (
        "TUNE_GLOBAL_CHECKPOINT_S",
        "RAY_AIR_NEW_OUTPUT",
    ):  # run() sets them; restored afterwards
        monkeypatch.setenv(name, os.environ.get(name, ""))
    ray.cloudpickle.register_pickle_by_value(flaky_trainable)  # Ray's workers cannot import tests/
    space = write_space(tmp_path, "flaky", ASHA_SPACE.replace("[3e-3, 1.0, 1e-3, 1e-4]", "[3e-3]"))
    plan = plan_sweep(
        sweep.parse_args([str(space), "--budget", "tiny", "--storage", str(tmp_path)])
    )
    driver.run(plan, trainable=flaky_trainable.fail_once)
    (trial,) = load_sweep(plan.folder).trials.to_dict("records")
    assert trial["status"] == "completed" and trial["num_failures"] == 1
    assert "InjectedFailure" in trial["error"]
    raw = [
        json.loads(line)["step"]
        for line in next(plan.folder.glob("*/result.json")).read_text().splitlines()
    ]
    # the retry went on from the checkpoint at step 20, not from step 0
    assert raw == [20, 40, 60, 80]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BAD_INPUTS = {  # argv, what the message must say, whether it must name the file
    "missing file": (["missing.py"], "no such search-space file", True),
    "syntax error": (["broken.py"], "syntax error at line 3", True),
    "no space object": (["empty.py"], "exactly one SearchSpace", True),
    "unknown key in file": (
        ["typo.py"],
        "unknown key 'noise_scal'. Did you mean 'noise_scale'?",
        True,
    ),
    "unknown key in --set": (
        ["good.py", "--set", "lrr=0.1"],
        "unknown key 'lrr'. Did you mean 'lr'?",
        False,
    ),
    "bad value in --set": (["good.py", "--set", "lr=7"], "'lr' = '7' is not valid", False),
    "budget the file lacks": (
        ["good.py", "--budget", "paper"],
        "budget 'paper' is not supported",
        True,
    ),
    "unreachable address": (
        ["good.py", "--address", "127.0.0.1:PORT"],
        "nothing answers there",
        False,
    ),
}


@pytest.fixture
def bad_files(tmp_path) -> Path:
    (tmp_path / "broken.py").write_text(HEADER + "s = SearchSpace(space={")
    (tmp_path / "empty.py").write_text(HEADER + "x = 1\n")
    (tmp_path / "typo.py").write_text(
        HEADER + 's = SearchSpace(space={"noise_scal": tune.grid_search([1.0])})\n'
    )
    (tmp_path / "good.py").write_text(
        HEADER + 's = SearchSpace(space={}, budgets={"tiny": Budget()})\n'
    )
    return tmp_path


@pytest.mark.parametrize("argv, needle, names_file", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_exits_2_before_ray_starts(bad_files, capsys, argv, needle, names_file):
    argv = [str(bad_files / argv[0]), *(a.replace("PORT", str(closed_port())) for a in argv[1:])]
    assert sweep.main([*argv, "--storage", str(bad_files / "results")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert argv[0] in err or not names_file
    assert not ray.is_initialized()


def test_unknown_budget_and_busy_folder_exit_2(bad_files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sweep.main([str(bad_files / "good.py"), "--budget", "huge"])
    assert (
        exit_info.value.code == ExitCode.BAD_INPUT
        and "invalid choice: 'huge'" in capsys.readouterr().err
    )
    held = bad_files / "results" / "good"
    (held / "trial_x").mkdir(parents=True)  # a trial of another sweep has started there
    (held / "trial_x" / "config.json").write_text("{}")
    (held / "sweep.json").write_text(
        json.dumps({"file": str(bad_files / "typo.py"), "budget": "tiny"})
    )
    assert sweep.main([str(bad_files / "good.py"), "--storage", str(bad_files / "results")]) == 2
    err = capsys.readouterr().err
    assert (
        "holds another sweep" in err
        and "typo.py" in err
        and "good.py" in err
        and "--overwrite" in err
    )


def test_cli_subprocess_unreachable_address(tmp_path):
    space = write_space(tmp_path, "good", 's = SearchSpace(space={}, budgets={"tiny": Budget()})\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tune_ired.sweep",
            str(space),
            "--address",
            f"127.0.0.1:{closed_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=SWEEP_TIMEOUT_S,
    )
    assert done.returncode == 2 and "nothing answers there" in done.stderr
    assert "Ray dashboard" not in done.stdout and "Started a local Ray" not in done.stderr
