"""Faults, injected for real into tiny sweeps: kills, torn files, a full disk, and bad input that must not reach Ray.

Each sweep is a real `python -m tune_ired.sweep` process (its own process group, killed
with SIGKILL where a test says so); each fault is made on disk as a crash or a full disk
leaves it. Every case checks the exit code, the message, and that no finished or observed
result changed: finished trials' record files keep their bytes, and every row on disk
before a fault is still there, as written, after the resume.

- `asha_faults`: an ASHA grid with two Langevin + CD arms that diverge at once (lr 1.0)
  and two long reference arms, killed mid-run; before `--resume` its newest Tune snapshot
  is cut in half, a running trial's newest checkpoint and its metrics.jsonl are cut, and a
  finished trial's metrics.jsonl is cut; the resume is killed once every trial has ended
  (during the final writes), and the same command without --resume then reports it.
- `optuna_faults`: Optuna TPE with ASHA, killed mid-run and resumed.
- `startup_kill`: killed before any trial started (only sweep.json written); --resume
  starts afresh; a re-run reports it; a resume with another file is refused.
- disk full: the storage is a small tmpfs filled mid-sweep; the sweep stops with one
  message; after space is freed, --resume finishes it. At start-up (a 3 MiB tmpfs) it exits
  74, and its printed command, run as printed, runs the sweep once space is freed.
- two drivers: two identical sweeps started at once leave one sweep and one refusal; a
  --resume started beside the live driver is refused; each step stays once.
- SIGTERM: mid-run (one trial finished, one training) and in start-up, the sweep exits 75
  and the command it printed, run as printed, finishes it with nothing lost.
- a re-run of a finished sweep writes nothing; best.json says when its checkpoint is gone;
  a resume with an edited file or another --set is refused naming the first difference.
- bad input: rejected before Ray starts with exit code 2 and one paragraph.
The tmpfs cases need `mount` (root on a VM, as here and in CI) and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import flaky_trainable
import pytest
import ray

from tune_ired import sweep, train
from tune_ired.cli import ExitCode
from tune_ired.record.results import load_sweep
from tune_ired.record.runfolder import (
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
    UNRECORDED_DIR,
    checkpoint_rows,
    is_finished,
    read_metrics,
    read_rows,
)
from tune_ired.record.tunestate import KEPT_FILE, state_files
from tune_ired.tuning import driver, tuner
from tune_ired.tuning import folder as folder_state
from tune_ired.tuning.plan import Start, plan_sweep

HEADER = "from ray import tune\nfrom tune_ired.space import ASHA, Budget, SearchSpace\n"
RUN_TIMEOUT_S = (
    600  # one sweep process on a busy 2-core machine; healthy tiny sweeps take well under a minute
)
EVIDENCE_TIMEOUT_S = 300  # waiting for a state on disk (rows, checkpoints) before injecting a fault
POLL_S = 0.1
# Tune's snapshot (and the kept copy) catch up with the trials
SNAPSHOT_WAIT_S = 3 * float(tuner.SNAPSHOT_PERIOD_S)
# a checkpoint is in the snapshot, then kept
KEPT_LAG_S = 2 * float(tuner.SNAPSHOT_PERIOD_S) + tuner.KEEP_PERIOD_S
# a trial's own record: a resume must not rewrite a finished one
RECORD_FILES = (CONFIG_FILE, RUN_FILE, METRICS_FILE)
# a reference arm: ~20 s on an idle machine, two checkpoints (>= 10 s apart)
LONG_STEPS, LONG_EVAL_EVERY = (6000, 200)
# Langevin + CD at lr 1.0: diverged at its first evaluation
DIVERGE_STEPS, DIVERGE_EVAL_EVERY = (20, 10)

PRESETS = ["Q-202", "Q-201"]  # Langevin + CD (diverges at lr 1.0), the reference (trains)
ASHA_SPACE = f"""
faults = SearchSpace(
    space={{
        "preset": tune.grid_search({PRESETS}),
        "noise_scale": tune.grid_search([3.0, 0.5]),
        "lr": tune.sample_from(lambda spec: 1.0 if spec.config.preset == "Q-202" else 3e-3),
        "train_steps": tune.sample_from(
            lambda spec: {DIVERGE_STEPS} if spec.config.preset == "Q-202" else {LONG_STEPS}
        ),
        "eval_every": tune.sample_from(
            lambda spec: {DIVERGE_EVAL_EVERY} if spec.config.preset == "Q-202" else {LONG_EVAL_EVERY}
        ),
    }},
    scheduler=ASHA(grace_period=1, reduction_factor=2),
    budgets={{"tiny": Budget()}},
)
"""
OPTUNA_SPACE = """
tpe = SearchSpace(
    space={"noise_scale": tune.loguniform(0.01, 3.0), "lr": tune.loguniform(1e-3, 3e-3)},
    searcher="optuna",
    num_samples=4,
    seed=11,
    scheduler=ASHA(grace_period=3, reduction_factor=2),  # three rows each before ASHA may stop a trial
    budgets={"tiny": Budget(config={"train_steps": 3000, "eval_every": 100})},
)
"""
SHORT_SPACE = """
short = SearchSpace(
    space={"noise_scale": tune.grid_search([1.0])},
    scheduler=None,
    budgets={"tiny": Budget(config={"train_steps": 40, "eval_every": 20})},
)
"""
DISK_STEPS = (
    3000  # still training when the disk is filled (after two rows), and soon finished after
)
DISK_SPACE = f"""
disk = SearchSpace(
    space={{"noise_scale": tune.grid_search([0.5, 2.0])}},
    scheduler=None,
    budgets={{"tiny": Budget(config={{"train_steps": {DISK_STEPS}, "eval_every": {LONG_EVAL_EVERY}}})}},
)
"""
DISK_SIZE = (
    "64m"  # tmpfs for the disk-full sweep: its records (< 2 MiB) and the guard's 32 MiB reserve fit
)
FILL_CHUNK = 2**20


# --- helpers: real processes, evidence on disk


def write_space(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(HEADER + body)
    return path


def start(space: Path, storage: Path, log: Path, *extra: str) -> subprocess.Popen:
    with log.open("a") as out:
        out.write(f"\n=== sweep {' '.join(extra)}\n")
        out.flush()
        argv = [str(space), "--budget", "tiny", "--storage", str(storage), *extra]
        return subprocess.Popen(
            [sys.executable, "-m", "tune_ired.sweep", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill takes the Ray it started along
        )


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the driver, as a crash would, then the Ray it started (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            kill(proc)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # Ray processes a finished driver may leave behind


def wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen, what: str, *, may_end: bool = False
) -> None:
    """Wait until `condition()` holds (or, with `may_end`, the sweep has ended by itself)."""
    deadline = time.monotonic() + EVIDENCE_TIMEOUT_S
    while not condition():
        if proc.poll() is not None:
            assert may_end, f"the sweep ended (code {proc.returncode}) before {what}"
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


def trials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("trial_*") if (p / CONFIG_FILE).exists())


def config_of(trial: Path) -> dict:
    return json.loads((trial / CONFIG_FILE).read_text())


def rows_on_disk(trial: Path) -> dict[int, str]:
    """A trial's rows by step, each as its canonical JSON (NaN compares equal to NaN this way)."""
    return {
        step: json.dumps(row, sort_keys=True)
        for step, row in read_rows(trial / METRICS_FILE)[0].items()
    }


def finished(trial: Path) -> bool:
    return is_finished(read_metrics(trial), train_steps=config_of(trial)["train_steps"])


def checkpoints(trial: Path) -> list[Path]:
    return sorted(p for p in trial.glob("checkpoint_*") if (p / "state.pt").exists())


def record_bytes(trial: Path) -> dict[str, bytes]:
    return {name: (trial / name).read_bytes() for name in RECORD_FILES}


def cut(path: Path, *, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep])


def steps_once(trial: Path) -> list[int]:
    """The steps of a trial's metrics.jsonl, line by line (each must appear once)."""
    return [json.loads(line)["step"] for line in (trial / METRICS_FILE).read_text().splitlines()]


def without_timings(row: str) -> str:
    """A row (canonical JSON) without its wall-clock figures (perf/...), which a recomputation changes."""
    return json.dumps(
        {key: value for key, value in json.loads(row).items() if not key.startswith("perf/")}
    )


def file_hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder`, by relative path, with the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def printed_command(output: str) -> str:
    """The last "continue it with `...`" command an output printed."""
    found = re.findall(r"continue it with `([^`]+)`", output)
    assert found, f"no continue line in:\n{output[-3000:]}"
    return found[-1]


def run_printed(command: str, log: Path) -> int:
    """Run a printed command as printed (one shell line) to its end; its exit code."""
    with log.open("a") as out:
        out.write(f"\n=== {command}\n")
        out.flush()
        proc = subprocess.Popen(
            command, shell=True, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return finish(proc)


def home(folder: Path, name: str) -> Path:
    """Where a trial's folder is now: in the sweep folder, or set aside by a resume (unrecorded/)."""
    return folder / name if (folder / name).exists() else folder / UNRECORDED_DIR / name


def assert_rows_kept(before: dict[str, dict[int, str]], folder: Path) -> None:
    for name, rows in before.items():
        after = rows_on_disk(home(folder, name))
        lost = sorted(step for step in rows if after.get(step) != rows[step])
        assert not lost, f"{name}: rows of steps {lost} changed or vanished"


@dataclass
class Outcome:
    folder: Path
    log: Path
    before: dict[str, dict[int, str]]  # rows on disk at the fault, by trial
    finished_before: dict[str, dict[str, bytes]]  # record bytes of the trials finished at the fault
    codes: list[int]
    resume_s: float  # wall time of the (first) resume run
    configs: dict[str, dict] = field(default_factory=dict)  # trial configs at the fault
    left: list[str] = field(default_factory=list)  # what a start-up kill left in the folder
    # rows a fault destroyed, by trial
    recomputed: dict[str, dict[int, str]] = field(default_factory=dict)
    hashes: list[dict[str, str]] = field(default_factory=list)  # every file's hash, at some moments

    @property
    def output(self) -> str:
        return self.log.read_text()


# --- a killed ASHA grid, torn files, a kill during the final writes, a re-run


@pytest.fixture(scope="module")
def asha_faults(tmp_path_factory) -> Outcome:
    root = tmp_path_factory.mktemp("asha_faults")
    space, log, folder = (
        write_space(root, "faults", ASHA_SPACE),
        root / "sweep.log",
        root / "faults",
    )
    first = start(space, root, log)
    try:

        def ready() -> bool:
            by_preset = {
                preset: [t for t in trials(folder) if config_of(t)["preset"] == preset]
                for preset in PRESETS
            }
            diverging, long = by_preset["Q-202"], by_preset["Q-201"]
            return len(diverging) == 2 and all(map(finished, diverging)) and any(map(mid_run, long))

        wait_for(ready, first, "the diverging trials' end and a long trial with two checkpoints")
        running = next(t for t in trials(folder) if mid_run(t))
        newest = checkpoints(running)[-1]
        wait_for(
            lambda: kept_after(folder, newest),
            first,
            "a kept snapshot that names the newest checkpoint",
        )
    finally:
        kill(first)
    found = trials(folder)
    before = {t.name: rows_on_disk(t) for t in found}
    done = [t for t in found if finished(t)]
    finished_before = {t.name: record_bytes(t) for t in done}
    # the faults a crash or a full disk leaves:
    newest_state = state_files(folder)[-1]
    cut(newest_state, keep=newest_state.stat().st_size // 2)  # Tune's snapshot, cut mid-copy
    newest_checkpoint = newest / "state.pt"
    # the checkpoint a resume restores
    cut(newest_checkpoint, keep=newest_checkpoint.stat().st_size // 2)
    first_line = (running / METRICS_FILE).read_text().splitlines(keepends=True)[0]
    (running / METRICS_FILE).write_text(first_line)  # the record, cut before its checkpoint's step
    # what the cut left: the copies repair it
    held = {json.loads(first_line)["step"], *checkpoint_rows(running)}
    # the resume recomputes
    lost = {step: row for step, row in before[running.name].items() if step not in held}
    before[running.name] = {step: row for step, row in before[running.name].items() if step in held}
    # a finished record, cut
    cut(done[0] / METRICS_FILE, keep=len((done[0] / METRICS_FILE).read_bytes()) // 2)
    began = time.monotonic()
    resumed = start(space, root, log, "--resume")
    try:
        wait_for(
            lambda: all_ended(folder), resumed, "every trial to end after the resume", may_end=True
        )
    finally:
        kill(resumed)  # during its final writes (Tune's last snapshot, sweep.json, the tables)
    resume_s = time.monotonic() - began
    codes = [finish(start(space, root, log))]  # the same command, without --resume: reported
    if (
        codes[-1] == ExitCode.BAD_INPUT
    ):  # the kill cut Tune's last snapshot short: the folder says to --resume
        codes.append(finish(start(space, root, log, "--resume")))
    print(f"asha_faults: the resume ran {resume_s:.0f} s until every trial had ended")
    return Outcome(
        folder, log, before, finished_before, codes, resume_s, recomputed={running.name: lost}
    )


def kept_after(folder: Path, checkpoint: Path) -> bool:
    """The sweep's kept snapshot was taken long enough after `checkpoint` was written to name it."""
    kept = folder / KEPT_FILE
    written = (checkpoint / "state.pt").stat().st_mtime
    return kept.exists() and kept.stat().st_mtime > written + KEPT_LAG_S


def mid_run(trial: Path) -> bool:
    """A trial with two checkpoints (>= 10 s apart) and rows past the first, not finished."""
    return len(checkpoints(trial)) >= 2 and not finished(trial)


def all_ended(folder: Path) -> bool:
    """Every trial's record ends (completed or diverged), or ASHA stopped it: Tune's state says TERMINATED."""
    table = load_sweep(folder).trials
    return len(table) == 4 and not table["status"].isin(["running", "pending", "errored"]).any()


def test_asha_resume_restores_the_kept_snapshot_instead_of_the_torn_one(asha_faults):
    out = asha_faults.output
    assert "Tune's newest snapshot is damaged" in out and "restored the snapshot kept at" in out
    assert "Failed to restore the run state" not in out  # Tune never saw the torn file
    assert list(asha_faults.folder.glob("experiment_state-*.json.torn"))


def test_asha_resume_falls_back_from_a_torn_checkpoint(asha_faults):
    assert (
        "unreadable: restored from" in asha_faults.output
        and "PytorchStreamReader" in asha_faults.output
    )


def test_asha_resume_repairs_cut_records_and_rewrites_no_finished_trial(asha_faults):
    # the running and the finished trial
    assert asha_faults.output.count("restored from its checkpoints") >= 2
    assert asha_faults.finished_before, "no trial had finished before the kill"
    for name, files in asha_faults.finished_before.items():
        assert record_bytes(asha_faults.folder / name) == files, (
            f"{name}: a finished trial's record changed"
        )


def test_asha_resume_keeps_every_observed_row_and_each_step_once(asha_faults):
    assert_rows_kept(asha_faults.before, asha_faults.folder)
    for (
        name,
        lost,
    ) in asha_faults.recomputed.items():  # cut with no copy: recomputed, the same but for timings
        after = rows_on_disk(asha_faults.folder / name)
        assert {step: without_timings(after[step]) for step in lost if step in after} == {
            step: without_timings(row) for step, row in lost.items() if step in after
        }
    for trial in trials(asha_faults.folder):
        steps = steps_once(trial)
        assert len(steps) == len(set(steps)), f"{trial.name}: a step written twice"


def test_asha_statuses_diverged_arms_and_a_report_on_rerun(asha_faults):
    assert asha_faults.codes[-1] == ExitCode.OK, asha_faults.output[-3000:]
    if len(asha_faults.codes) == 1:
        assert "holds this sweep, finished" in asha_faults.output
    table = load_sweep(asha_faults.folder).trials.set_index("config/preset")
    # Langevin + CD at lr 1.0: diverged, not a crash
    assert set(table.loc["Q-202", "status"]) == {"diverged"}
    assert (table.loc["Q-202", "iterations"] == 1).all()
    assert set(table.loc["Q-201", "status"]) <= {"completed", "stopped"}
    assert (asha_faults.folder / "trials.parquet").stat().st_size > 0


# --- Optuna: a killed TPE search resumes with its searcher state


@pytest.fixture(scope="module")
def optuna_faults(tmp_path_factory) -> Outcome:
    root = tmp_path_factory.mktemp("optuna_faults")
    space, log, folder = write_space(root, "tpe", OPTUNA_SPACE), root / "sweep.log", root / "tpe"
    first = start(space, root, log, "--max-concurrent", "2")
    try:
        wait_for(
            lambda: (
                len(found := trials(folder)) >= 2 and all(len(read_metrics(t)) >= 3 for t in found)
            ),
            first,
            "two Optuna trials with three rows",
        )
        time.sleep(SNAPSHOT_WAIT_S)
    finally:
        kill(first)
    before = {t.name: rows_on_disk(t) for t in trials(folder)}
    configs = {t.name: config_of(t) for t in trials(folder)}
    began = time.monotonic()
    code = finish(start(space, root, log, "--resume"))
    outcome = Outcome(folder, log, before, {}, [code], time.monotonic() - began, configs=configs)
    print(f"optuna_faults: the resume took {outcome.resume_s:.0f} s")
    return outcome


def test_optuna_resume_finishes_the_search_without_restarting_it(optuna_faults):
    assert optuna_faults.codes == [ExitCode.OK], optuna_faults.output[-3000:]
    table = load_sweep(optuna_faults.folder).trials
    assert len(table) == 4 and set(table["status"]) <= {"completed", "stopped"}
    assert table["config/noise_scale"].nunique() == 4
    assert_rows_kept(optuna_faults.before, optuna_faults.folder)
    # the trials drawn before the kill kept their configs; one that began after Tune's last
    # snapshot was set aside (Tune drew it again), and the resume said so
    for name, config in optuna_faults.configs.items():
        assert config_of(home(optuna_faults.folder, name)) == config
        if not (optuna_faults.folder / name).exists():
            assert f"{name} started after Tune's last snapshot" in optuna_faults.output


def test_a_trial_tune_never_recorded_is_set_aside_on_resume(startup_kill, tmp_path, capsys):
    folder = tmp_path / "short"
    shutil.copytree(startup_kill.folder, folder)
    (recorded,) = trials(folder)
    # as if begun after Tune's last snapshot: one row written, then the kill
    unrecorded = folder / "trial_0000beef"
    shutil.copytree(recorded, unrecorded, ignore=shutil.ignore_patterns("checkpoint_*"))
    first_row = (unrecorded / METRICS_FILE).read_text().splitlines(keepends=True)[0]
    (unrecorded / METRICS_FILE).write_text(first_row)
    expected_rows = rows_on_disk(unrecorded)
    assert list(load_sweep(folder).trials["status"]) == ["running", "completed"]
    folder_state.set_aside_unrecorded(folder)
    assert [t.name for t in trials(folder)] == [recorded.name]
    assert rows_on_disk(folder / UNRECORDED_DIR / unrecorded.name) == expected_rows
    assert "trial_0000beef started after Tune's last snapshot" in capsys.readouterr().out
    assert list(load_sweep(folder).trials["status"]) == ["completed"]
    # a snapshot that lists no trial (or that this code cannot read) cannot tell: nothing moves
    for path in [*state_files(folder), folder / KEPT_FILE]:
        path.unlink(missing_ok=True)
    folder_state.set_aside_unrecorded(folder)
    assert [t.name for t in trials(folder)] == [recorded.name]


# --- killed in start-up; re-runs; a different file


@pytest.fixture(scope="module")
def startup_kill(tmp_path_factory) -> Outcome:
    root = tmp_path_factory.mktemp("startup_kill")
    space, log, folder = write_space(root, "short", SHORT_SPACE), root / "sweep.log", root / "short"
    first = start(space, root, log)
    try:
        wait_for(lambda: (folder / "sweep.json").exists(), first, "sweep.json")
    finally:
        kill(first)  # before Ray started: no trial, no Tune file
    left = sorted(p.name for p in folder.iterdir())
    began = time.monotonic()
    codes = [finish(start(space, root, log, "--resume"))]
    resume_s = time.monotonic() - began
    hashes = [file_hashes(folder)]
    codes.append(finish(start(space, root, log)))  # the README's set-up line, run again
    hashes.append(file_hashes(folder))
    print(f"startup_kill: the folder held {left}; the resume took {resume_s:.0f} s")
    return Outcome(folder, log, {}, {}, codes, resume_s, left=left, hashes=hashes)


def test_a_sweep_killed_in_start_up_resumes_as_a_fresh_start(startup_kill):
    assert startup_kill.left == ["sweep.json"]
    assert startup_kill.codes[0] == ExitCode.OK, startup_kill.output[-3000:]
    assert "stopped in its start-up (no trial had started): starting afresh" in startup_kill.output
    assert set(load_sweep(startup_kill.folder).trials["status"]) == {"completed"}


def test_running_a_finished_sweep_again_reports_it_and_writes_nothing(startup_kill):
    assert startup_kill.codes[1] == ExitCode.OK
    rerun = startup_kill.output.split("=== sweep")[-1]
    assert "holds this sweep, finished: nothing to run" in rerun and "wrote " not in rerun
    assert startup_kill.hashes[1] == startup_kill.hashes[0]  # every file, byte for byte


def test_best_json_says_when_its_checkpoint_is_gone(startup_kill, tmp_path, capsys):
    folder = tmp_path / "short"
    shutil.copytree(startup_kill.folder, folder)
    best = json.loads((folder / "best.json").read_text())
    assert Path(best["checkpoint"]).exists() and "checkpoint_missing" not in best
    shutil.rmtree(folder / Path(best["trial_dir"]).name / "checkpoints")
    argv = [str(startup_kill.folder.parent / "short.py"), "--storage", str(tmp_path)]
    for _ in range(2):  # the re-run that finds it gone, and one more
        assert sweep.main(argv) == ExitCode.OK
        out = capsys.readouterr().out
        assert out.count("warning: the best trial's checkpoint is gone") == 1, out
    best = json.loads((folder / "best.json").read_text())
    assert best["checkpoint"] is None
    assert best["checkpoint_missing"].endswith("best.pt (not found when best.json was written)")
    assert "wrote " not in out  # the second re-run found best.json saying so already


def test_resume_with_another_file_or_sample_count_names_both(startup_kill, capsys):
    other = write_space(startup_kill.folder.parent, "other", SHORT_SPACE.replace("1.0", "2.0"))
    argv = [str(other), "--storage", str(startup_kill.folder.parent), "--name", "short", "--resume"]
    assert sweep.main(argv) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "holds another sweep: file is " in err and "short.py" in err and "other.py" in err
    assert "--resume" in err and err.count("\n") == 1 and not ray.is_initialized()
    space = startup_kill.folder.parent / "short.py"
    storage = ["--storage", str(startup_kill.folder.parent)]
    assert sweep.main([str(space), *storage, "--num-samples", "2", "--resume"]) == 2
    assert "num_samples is 1 there, 2 in this command" in capsys.readouterr().err


def test_resume_refuses_an_edited_file_or_another_set_naming_the_item(startup_kill, capsys):
    space, storage = startup_kill.folder.parent / "short.py", startup_kill.folder.parent
    argv = [str(space), "--storage", str(storage), "--resume"]
    assert sweep.main([*argv, "--set", "lr=0.001"]) == ExitCode.BAD_INPUT
    assert "--set lr is absent there, 0.001 in this command" in capsys.readouterr().err
    written = space.read_text()
    try:
        space.write_text(written.replace("[1.0]", "[2.0]"))  # the grid edited since the start
        assert sweep.main(argv) == ExitCode.BAD_INPUT
        err = capsys.readouterr().err
        assert "space['noise_scale'] is grid_search([1.0]) there, grid_search([2.0]) in this" in err
        assert sweep.main(argv[:-1]) == ExitCode.BAD_INPUT  # a re-run: not "nothing to run"
        assert "holds another sweep: space['noise_scale']" in capsys.readouterr().err
    finally:
        space.write_text(written)
    assert not ray.is_initialized()


def test_unfinished_and_overwrite_are_planned_without_touching_the_folder(
    startup_kill, tmp_path, capsys
):
    space, storage = startup_kill.folder.parent / "short.py", startup_kill.folder.parent
    plan = plan_sweep(
        sweep.parse_args([str(space), "--budget", "tiny", "--storage", str(storage), "--overwrite"])
    )
    assert (
        plan.start is Start.FRESH and plan.clear and (startup_kill.folder / "sweep.json").exists()
    )
    named = plan_sweep(
        sweep.parse_args([str(space), "--budget", "tiny", "--storage", str(storage), "--name", "x"])
    )
    assert named.start is Start.FRESH and not named.clear
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a sweep")
    argv = [str(space), "--storage", str(tmp_path), "--name", "mine", "--overwrite"]
    assert sweep.main(argv) == ExitCode.BAD_INPUT
    assert "is not a sweep folder; it is left alone" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").exists()


# --- two drivers on one folder; SIGTERM; printed continue lines, run as printed

THREE_STEPS, THREE_EVAL_EVERY = 800, 100
THREE_SPACE = f"""
three = SearchSpace(
    space={{"noise_scale": tune.grid_search([0.5, 1.0, 2.0])}},
    scheduler=None,
    budgets={{"tiny": Budget(config={{"train_steps": {THREE_STEPS}, "eval_every": {THREE_EVAL_EVERY}}})}},
)
"""
# a trial that ends soon, and one still training when SIGTERM comes
TERM_STEPS, TERM_EVAL_EVERY = [200, 3000], 100
TERM_SPACE = f"""
term = SearchSpace(
    space={{"train_steps": tune.grid_search({TERM_STEPS})}},
    scheduler=None,
    budgets={{"tiny": Budget(config={{"eval_every": {TERM_EVAL_EVERY}}})}},
)
"""
TERM_LR = 0.002
STARTUP_DISK = "3m"  # too small for a sweep to start (it keeps 32 MiB free for its records)


def refusal(log: Path) -> str:
    """The one error line of a refused command."""
    lines = [line for line in log.read_text().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, log.read_text()[-3000:]
    return lines[0]


@dataclass
class TwoDrivers:
    folder: Path
    winner: subprocess.Popen
    logs: dict[str, Path]  # "winner", "refused", "resume"
    codes: dict[str, int]


@pytest.fixture(scope="module")
def two_drivers(tmp_path_factory) -> TwoDrivers:
    """Two identical sweeps started at the same moment; then a --resume beside the one that runs."""
    root = tmp_path_factory.mktemp("two_drivers")
    space, folder = write_space(root, "three", THREE_SPACE), root / "three"
    logs = [root / "first.log", root / "second.log"]
    pair = [start(space, root, logs[0]), start(space, root, logs[1])]
    try:
        deadline = time.monotonic() + EVIDENCE_TIMEOUT_S
        while all(proc.poll() is None for proc in pair):
            assert time.monotonic() < deadline, "neither of two identical starts was refused"
            time.sleep(POLL_S)
        refused = next(i for i, proc in enumerate(pair) if proc.poll() is not None)
        winner = pair[1 - refused]
        wait_for(lambda: any(len(read_metrics(t)) >= 2 for t in trials(folder)), winner, "rows")
        resume = finish(start(space, root, root / "resume.log", "--resume"))
        codes = {"refused": pair[refused].returncode, "resume": resume, "winner": finish(winner)}
    finally:
        for proc in pair:
            if proc.poll() is None:  # a failed wait above
                kill(proc)
    named = {"winner": logs[1 - refused], "refused": logs[refused], "resume": root / "resume.log"}
    return TwoDrivers(folder=folder, winner=winner, logs=named, codes=codes)


def test_two_identical_starts_leave_one_sweep_and_one_refusal(two_drivers):
    assert two_drivers.codes["winner"] == ExitCode.OK, two_drivers.logs["winner"].read_text()
    assert two_drivers.codes["refused"] == ExitCode.BAD_INPUT
    line = refusal(two_drivers.logs["refused"])
    assert f"is being run by pid {two_drivers.winner.pid} on host " in line
    assert "wait for it to end, or stop it" in line
    assert len(trials(two_drivers.folder)) == 3  # the grid's three trials, once
    assert not (two_drivers.folder / UNRECORDED_DIR).exists()


def test_a_resume_beside_the_live_driver_is_refused_and_each_step_stays_once(two_drivers):
    assert two_drivers.codes["resume"] == ExitCode.BAD_INPUT
    line = refusal(two_drivers.logs["resume"])
    assert f"is being run by pid {two_drivers.winner.pid}" in line and "wait for it to end" in line
    expected = list(range(THREE_EVAL_EVERY, THREE_STEPS + 1, THREE_EVAL_EVERY))
    for trial in trials(two_drivers.folder):
        assert steps_once(trial) == expected, f"{trial.name}: a step written twice, or lost"


@pytest.fixture(scope="module")
def sigterm_mid_run(tmp_path_factory) -> Outcome:
    """SIGTERM to the driver with one trial finished and one training; then the printed command."""
    root = tmp_path_factory.mktemp("sigterm")
    space, log, folder = write_space(root, "term", TERM_SPACE), root / "sweep.log", root / "term"
    first = start(space, root, log, "--set", f"lr={TERM_LR}")  # a resume may repeat its --set

    def ready() -> bool:
        found = trials(folder)
        running = [t for t in found if not finished(t) and len(read_metrics(t)) >= 3]
        return len(found) == 2 and any(map(finished, found)) and bool(running)

    try:
        wait_for(ready, first, "one trial finished and the other three rows in")
        time.sleep(SNAPSHOT_WAIT_S)
        os.kill(first.pid, signal.SIGTERM)  # the driver only, as `kill` (or SLURM) sends it
        code = first.wait(timeout=RUN_TIMEOUT_S)
    finally:
        finish(first)
    before = {t.name: rows_on_disk(t) for t in trials(folder)}
    done = {t.name: record_bytes(t) for t in trials(folder) if finished(t)}
    began = time.monotonic()
    codes = [code, run_printed(printed_command(log.read_text()), log)]
    return Outcome(folder, log, before, done, codes, time.monotonic() - began)


def test_sigterm_mid_run_exits_75_with_the_command_that_continues_it(sigterm_mid_run):
    out = sigterm_mid_run.output
    assert sigterm_mid_run.codes[0] == ExitCode.INTERRUPTED, out[-3000:]
    assert "SIGTERM: stopping the sweep (Tune saves its state)" in out
    assert "SIGTERM received" not in out and "Traceback" not in out
    assert "error: the sweep stopped with 1 of 2 trials unfinished, its state saved" in out
    assert f"--set lr={TERM_LR} --resume`" in out  # the printed command repeats --set
    assert sigterm_mid_run.codes[1] == ExitCode.OK, out[-3000:]


def test_the_printed_command_finishes_a_sigtermed_sweep_with_nothing_lost(sigterm_mid_run):
    folder = sigterm_mid_run.folder
    assert set(load_sweep(folder).trials["status"]) == {"completed"}
    assert_rows_kept(sigterm_mid_run.before, folder)
    assert sigterm_mid_run.finished_before, "no trial had finished before SIGTERM"
    for name, files in sigterm_mid_run.finished_before.items():
        assert record_bytes(folder / name) == files, f"{name}: a finished trial's record changed"
    for trial in trials(folder):
        steps = config_of(trial)["train_steps"]
        assert config_of(trial)["lr"] == TERM_LR
        assert steps_once(trial) == list(range(TERM_EVAL_EVERY, steps + 1, TERM_EVAL_EVERY))


def test_sigterm_in_start_up_exits_75_and_the_printed_command_runs_the_sweep(tmp_path):
    space, log, folder = (
        write_space(tmp_path, "short", SHORT_SPACE),
        tmp_path / "log",
        tmp_path / "short",
    )
    first = start(space, tmp_path, log)
    try:
        wait_for(lambda: "its state any time" in log.read_text(), first, "the sweep's first lines")
        os.kill(first.pid, signal.SIGTERM)  # while it prepares its folder or starts Ray
        code = first.wait(timeout=RUN_TIMEOUT_S)
    finally:
        finish(first)
    out = log.read_text()
    assert code == ExitCode.INTERRUPTED, out[-3000:]
    assert "SIGTERM: stopping the sweep" in out or "stopped before Tune started" in out
    assert "Traceback" not in out
    assert run_printed(printed_command(out), log) == ExitCode.OK, log.read_text()[-3000:]
    assert set(load_sweep(folder).trials["status"]) == {"completed"}


def test_a_sigterm_while_ray_starts_reaches_the_drivers_handler_and_ray_still_starts():
    """Ray's own SIGTERM handlers raise SystemExit wherever the main thread is: in CI one was lost in a
    fork hook (the sweep ran on and exited 0), and here one deadlocked ray.init; start_ray keeps them out."""
    seen = []

    def record(signum: int, frame) -> None:
        seen.append(signum)

    before = signal.signal(signal.SIGTERM, record)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))  # ray.init takes seconds
    try:
        timer.start()
        tuner.start_ray(None)
        kept = signal.getsignal(signal.SIGTERM)
        timer.join()
    finally:
        timer.cancel()
        tuner.stop_ray()
        signal.signal(signal.SIGTERM, before)
    assert kept is record and seen == [signal.SIGTERM]


# --- a trial that fails on its config fails the sweep


def test_a_sweep_whose_trial_errors_exits_1_with_its_message(tmp_path, monkeypatch, capsys):
    for name in (
        "TUNE_GLOBAL_CHECKPOINT_S",
        "RAY_AIR_NEW_OUTPUT",
    ):  # run() sets them; restored afterwards
        monkeypatch.setenv(name, os.environ.get(name, ""))
    ray.cloudpickle.register_pickle_by_value(flaky_trainable)  # Ray's workers cannot import tests/
    space = write_space(tmp_path, "short", SHORT_SPACE)
    plan = plan_sweep(
        sweep.parse_args([str(space), "--budget", "tiny", "--storage", str(tmp_path)])
    )
    assert driver.run(plan, trainable=flaky_trainable.fail_always) == ExitCode.FAILED
    err = capsys.readouterr().err.splitlines()[-1]  # Ray's own lines come first
    assert err.startswith("error: 1 of 1 trials errored: trial_") and "noise_scale=1.0" in err
    assert "ConfigFailure: this trial's config cannot train" in err and "--resume" in err


# --- a full disk


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (skips the test where mounting is not allowed); always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}): the test needs root on a VM"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * FILL_CHUNK)
            out.flush()
    return filler


def test_a_full_disk_stops_the_sweep_with_one_message_and_resume_finishes_it(tmp_path):
    with tmpfs(tmp_path / "disk", DISK_SIZE) as disk:
        space, log, folder = (
            write_space(tmp_path, "disk", DISK_SPACE),
            tmp_path / "sweep.log",
            disk / "disk",
        )
        proc = start(space, disk, log)
        try:
            wait_for(
                lambda: (
                    len(found := trials(folder)) == 2
                    and all(len(read_metrics(t)) >= 2 for t in found)
                ),
                proc,
                "two rows in each trial",
            )
            filler = fill(disk)
            code = proc.wait(timeout=RUN_TIMEOUT_S)
        finally:
            finish(proc)
        before = {t.name: rows_on_disk(t) for t in trials(folder)}
        out = log.read_text()
        assert code == ExitCode.DISK_FULL, out[-3000:]
        message = next(line for line in out.splitlines() if line.startswith("error: "))
        assert f"the storage of {folder} is full" in message and "needs at least" in message
        assert "--resume" in message and "stays readable" in message
        # what is on disk reads
        assert json.loads((folder / "sweep.json").read_text())["budget"] == "tiny"
        assert len(load_sweep(folder).trials) == 2
        for trial in trials(folder):
            assert config_of(trial)["noise_scale"] in (0.5, 2.0)
        filler.unlink()
        began = time.monotonic()
        assert finish(start(space, disk, log, "--resume")) == ExitCode.OK, log.read_text()[-3000:]
        print(f"disk full: the resume took {time.monotonic() - began:.0f} s")
        table = load_sweep(folder)
        assert set(table.trials["status"]) == {"completed"}
        assert_rows_kept(before, folder)
        expected = list(range(LONG_EVAL_EVERY, DISK_STEPS + 1, LONG_EVAL_EVERY))
        for trial in trials(folder):
            assert sorted(steps_once(trial)) == expected, (
                f"{trial.name}: steps lost or written twice"
            )


def test_a_full_disk_at_start_up_exits_74_and_the_printed_command_runs_the_sweep(tmp_path):
    with tmpfs(tmp_path / "disk", STARTUP_DISK) as disk:
        space, log, folder = (
            write_space(tmp_path, "short", SHORT_SPACE),
            tmp_path / "log",
            disk / "short",
        )
        assert finish(start(space, disk, log)) == ExitCode.DISK_FULL, log.read_text()[-3000:]
        message = refusal(log)
        assert f"the storage of {folder} is full" in message and "no trial had started" in message
        mounted = ["mount", "-o", f"remount,size={DISK_SIZE}", str(disk)]  # space freed
        subprocess.run(mounted, check=True)
        assert run_printed(printed_command(message), log) == ExitCode.OK, log.read_text()[-3000:]
        assert f"--resume: nothing had started in {folder}: starting it" in log.read_text()
        assert set(load_sweep(folder).trials["status"]) == {"completed"}


# --- bad input, rejected before Ray starts


ONE_TRIAL = 'budgets={"tiny": Budget(config={"train_steps": 40, "eval_every": 20})}'
CUSTOM_DOMAIN = f"""
from ray.tune.search.sample import Domain, Sampler


class Negative(Sampler):
    def sample(self, domain, config=None, size=1, random_state=None):
        return -0.5


class NegativeDomain(Domain):
    default_sampler_cls = Negative


s = SearchSpace(space={{"noise_scale": NegativeDomain()}}, {ONE_TRIAL})
"""
BAD_SPACES = {  # file body, what the message must say
    "ASHA grace_period 0": (
        f"s = SearchSpace(space={{}}, scheduler=ASHA(grace_period=0), {ONE_TRIAL})",
        "grace_period 0",
    ),
    "ASHA reduction_factor 1": (
        f"s = SearchSpace(space={{}}, scheduler=ASHA(reduction_factor=1), {ONE_TRIAL})",
        "reduction_factor 1 is not a number > 1",
    ),
    "ASHA brackets 0": (
        f"s = SearchSpace(space={{}}, scheduler=ASHA(brackets=0), {ONE_TRIAL})",
        "brackets 0",
    ),
    "ASHA grace beyond the trial": (
        f"s = SearchSpace(space={{}}, scheduler=ASHA(grace_period=3), {ONE_TRIAL})",
        "grace_period 3 is more than the 2 evaluations",
    ),
    "negative seed": (
        f"s = SearchSpace(space={{}}, seed=-1, {ONE_TRIAL})",
        "seed -1 is not an integer in [0, ",
    ),
    "zero-sample budget": (
        's = SearchSpace(space={}, budgets={"tiny": Budget(num_samples=0)})',
        "budgets['tiny'].num_samples 0 is not a positive integer",
    ),
    "sample_from out of range": (
        f's = SearchSpace(space={{"noise_scale": tune.sample_from(lambda _: -1.0)}}, {ONE_TRIAL})',
        "a drawn trial: 'noise_scale' = -1.0 is not valid",
    ),
    "unbounded normal for a bounded key": (
        f's = SearchSpace(space={{"lr": tune.randn(0.001, 0.01)}}, {ONE_TRIAL})',
        "'lr' = -inf is not valid",
    ),
    "custom domain out of range": (
        CUSTOM_DOMAIN,
        "a drawn trial: 'noise_scale' = -0.5 is not valid",
    ),
    "sample_from that raises": (
        f's = SearchSpace(space={{"lr": tune.sample_from(lambda _: 1 / 0)}}, {ONE_TRIAL})',
        "drawing a trial from the space raised ZeroDivisionError",
    ),
    "Optuna with sample_from": (
        f's = SearchSpace(space={{"lr": tune.sample_from(lambda _: 1e-3)}}, searcher="optuna", {ONE_TRIAL})',
        "Optuna cannot search this space",
    ),
    "device cuda without a GPU": (
        f's = SearchSpace(space={{}}, base={{"device": "cuda"}}, {ONE_TRIAL})',
        "device=cuda asks for a CUDA GPU this machine does not have",
    ),
}
BAD_FLAGS = {  # extra argv, what the message must say
    "--num-samples -1": (["--num-samples", "-1"], "--num-samples -1: must be >= 1"),
    "--num-samples 0": (["--num-samples", "0"], "--num-samples 0: must be >= 1"),
    "--cpus-per-trial beyond the machine": (
        ["--cpus-per-trial", "64"],
        "--cpus-per-trial 64 is more than the",
    ),
    "--gpus-per-trial without a GPU": (
        ["--gpus-per-trial", "0.5"],
        "--gpus-per-trial 0.5 asks for more GPUs",
    ),
    "--resume with --overwrite": (["--resume", "--overwrite"], "pass one of them"),
    "--studies-at-once 0": (["--studies-at-once", "0"], "--studies-at-once 0: must be >= 1"),
    "--studies-at-once -1": (["--studies-at-once", "-1"], "--studies-at-once -1: must be >= 1"),
    "--name out of --storage": (["--name", "../escape"], "without a path separator"),
    "--name with a folder": (["--name", "a/b"], "without a path separator"),
    "--name ..": (["--name", ".."], "not a folder name"),
    "--name hidden": (["--name", ".x"], "must not start with '.'"),
}
PLAIN = f"s = SearchSpace(space={{}}, {ONE_TRIAL})"


def assert_rejected(argv: list[str], needle: str, capsys) -> None:
    assert sweep.main(argv) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1, err
    assert not ray.is_initialized()


@pytest.mark.parametrize("body, needle", BAD_SPACES.values(), ids=BAD_SPACES.keys())
def test_bad_space_exits_2_before_ray(tmp_path, capsys, body, needle):
    if "cuda" in needle and tuner_has_gpu():
        pytest.skip("this machine has a CUDA GPU")
    space = write_space(tmp_path, "bad", body + "\n")
    assert_rejected(
        [str(space), "--budget", "tiny", "--storage", str(tmp_path / "results")], needle, capsys
    )


@pytest.mark.parametrize("extra, needle", BAD_FLAGS.values(), ids=BAD_FLAGS.keys())
def test_bad_flag_exits_2_before_ray(tmp_path, capsys, extra, needle):
    if "GPU" in needle and tuner_has_gpu():
        pytest.skip("this machine has a CUDA GPU")
    space = write_space(tmp_path, "plain", PLAIN + "\n")
    assert_rejected(
        [str(space), "--budget", "tiny", "--storage", str(tmp_path / "results"), *extra],
        needle,
        capsys,
    )


def tuner_has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def test_a_file_or_a_read_only_folder_as_storage_exits_2(tmp_path, capsys):
    space = write_space(tmp_path, "plain", PLAIN + "\n")
    (tmp_path / "a_file").write_text("")
    assert_rejected(
        [str(space), "--storage", str(tmp_path / "a_file")], "is a file, not a folder", capsys
    )
    # a real write test: root passes a permission check on /proc and on read-only mounts
    assert_rejected([str(space), "--storage", "/proc/tune_ired"], "/proc is not writable", capsys)
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as read_only:
        assert_rejected([str(space), "--storage", str(read_only)], "is not writable", capsys)
        assert (
            train.main(["--budget", "tiny", "--out", str(read_only / "run")]) == ExitCode.BAD_INPUT
        )
        assert "--out: the run folder" in capsys.readouterr().err
    assert train.main(["--budget", "tiny", "--out", str(tmp_path / "a_file")]) == ExitCode.BAD_INPUT
    assert "is a file, not a folder" in capsys.readouterr().err


def test_cluster_resources_are_checked_against_every_node():
    from tune_ired.tuning.resources import check_cluster
    from tune_ired.tuning.validate import SpaceError

    nodes = [
        {"Alive": True, "Resources": {"CPU": 4.0}},
        {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}},
    ]
    check_cluster(nodes, {"cpu": 2, "gpu": 0.5})
    check_cluster(nodes, {"cpu": 4, "gpu": 0.0})
    with pytest.raises(SpaceError, match="no node of the cluster has that"):
        check_cluster(nodes, {"cpu": 4, "gpu": 0.5})
    with pytest.raises(SpaceError, match="device=cuda"):
        check_cluster(nodes[:1], {"cpu": 1, "gpu": 0.0}, cuda=True)


def test_train_resume_falls_back_from_a_torn_latest_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "--budget",
        "tiny",
        "--set",
        "train_steps=60",
        "--set",
        "eval_every=20",
        "--out",
        str(out),
    ]
    assert train.main(args) == ExitCode.OK
    observed = (out / METRICS_FILE).read_bytes()
    latest = out / "checkpoints" / "latest.pt"
    cut(latest, keep=latest.stat().st_size // 2)
    capsys.readouterr()
    assert train.main(["--out", str(out), "--resume"]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "unreadable: restored from" in captured.err and "latest.pt.previous" in captured.err
    assert "from step 40 of 60" in captured.out  # the checkpoint before the torn one
    assert (
        out / METRICS_FILE
    ).read_bytes() == observed  # step 60, recomputed, is not written twice
