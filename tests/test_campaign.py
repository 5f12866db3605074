"""Campaigns for real: three tiny studies with one command on one Ray, killed with SIGKILL, resumed, indexed.

The campaign process is killed with its process group (itself and the Ray it started);
its studies' sweep processes, in their own groups, notice and stop by themselves. `--resume`
skips the finished study, resumes the stopped one and starts the one that never ran, and
`python -m tune_ired.report` on the campaign folder indexes every study in every state.
A campaign started with `--set` and stopped by SIGTERM in its second study exits 75, and
the command it printed, run as printed, trains every study at the same settings (its
options are recorded once; a resume that changes them is refused).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tune_ired.cli import ExitCode
from tune_ired.record.runfolder import read_metrics

HEADER = "from ray import tune\nfrom tune_ired.space import Budget, SearchSpace\n"
QUICK = 's = SearchSpace(space={{"strategy": tune.grid_search({arms})}}, scheduler=None, description="{what}", ' \
    'budgets={{"tiny": Budget(config={{"train_steps": {steps}, "eval_every": {every}}})}})\n'  # fmt: skip
STUDIES = {  # name -> (arms, train_steps, eval_every): "slow" runs long enough to be killed mid-way
    "first": (["none"], 40, 20),
    "slow": (["none", "random"], 600, 100),
    "last": (["random"], 40, 20),
}
CAMPAIGN = 'from tune_ired.space import Campaign\nplan = Campaign(studies=["first.py", "slow.py", "last.py"], ' \
    'description="three tiny studies")\n'  # fmt: skip
TIMEOUT_S = 600
KILL_AFTER_ROWS = 3  # rows of a "slow" trial on disk when the campaign is killed


def write_files(folder: Path) -> Path:
    for name, (arms, steps, every) in STUDIES.items():
        body = QUICK.format(arms=json.dumps(arms), steps=steps, every=every, what=f"study {name}")
        (folder / f"{name}.py").write_text(HEADER + body)
    (folder / "plan.py").write_text(CAMPAIGN)
    return folder / "plan.py"


def start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        command = [sys.executable, "-m", "tune_ired.sweep", *args]
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def run_sweep(*args: str) -> subprocess.CompletedProcess:
    """`python -m tune_ired.sweep ARGS` to its end, its output captured."""
    command = [sys.executable, "-m", "tune_ired.sweep", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)


def wait_until(condition, *, timeout_s: float = TIMEOUT_S, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def record(folder: Path) -> dict:
    path = folder / "campaign.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def slow_rows(folder: Path) -> int:
    return min((len(read_metrics(t)) for t in (folder / "slow").glob("trial_*")), default=0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    plan, log, folder = write_files(root), root / "campaign.log", root / "results" / "plan"
    args = [str(plan), "--budget", "tiny", "--storage", str(root / "results")]
    started = time.monotonic()
    first = start(args, log)
    wait_until(
        lambda: slow_rows(folder) >= KILL_AFTER_ROWS or first.poll() is not None,
        what="the slow study",
    )
    assert first.poll() is None, log.read_text()[-3000:]
    live = subprocess.run(
        [sys.executable, "-m", "tune_ired.status", str(folder)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    studies = {s["name"]: s for s in record(folder)["studies"]}
    os.killpg(first.pid, signal.SIGKILL)  # the campaign and the Ray it started, as a crash would
    first.wait()
    killed = time.monotonic()
    child = studies["slow"]["pid"]
    wait_until(lambda: not alive(child), timeout_s=180, what="the orphaned study to stop itself")
    print(
        f"campaign killed after {killed - started:.0f} s; its study stopped {time.monotonic() - killed:.0f} s later"
    )
    killed_report = subprocess.run(
        [sys.executable, "-m", "tune_ired.report", str(folder)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    before = {t.name: read_metrics(t) for t in (folder / "slow").glob("trial_*")}
    finished = [p for p in (folder / "first").rglob("*") if p.is_file() and "report" not in p.parts]
    finished_bytes = {p: p.read_bytes() for p in finished}
    resumed_at = time.monotonic()
    resumed = start([*args, "--resume"], log)
    code = resumed.wait(timeout=TIMEOUT_S)
    print(f"the resumed campaign took {time.monotonic() - resumed_at:.0f} s")
    assert code == ExitCode.OK, log.read_text()[-4000:]
    return folder, log.read_text(), studies, killed_report, before, finished_bytes, live


def test_the_first_run_recorded_each_study(killed_and_resumed):
    _, _, studies, _, _, _, _ = killed_and_resumed
    assert studies["first"]["status"] == "finished" and studies["first"]["exit_code"] == 0
    assert studies["slow"]["status"] == "running" and studies["last"]["status"] == "pending"


def test_status_of_the_running_campaign_shows_each_study_and_its_expected_end(killed_and_resumed):
    folder, _, _, _, _, _, live = killed_and_resumed
    assert live.returncode == 0, live.stderr
    lines = live.stdout.splitlines()
    assert lines[0] == f"campaign {folder}: 3 studies"
    assert lines[1].strip().startswith("first: finished, 1 COMPLETED")
    assert lines[2].strip().startswith("slow: running, ") and "expected end: " in lines[2]
    assert lines[3].strip() == "last: pending" and lines[4].startswith("campaign expected end: ")


def test_the_index_of_the_killed_campaign_says_where_each_study_stood(killed_and_resumed):
    _, _, _, report, _, _, _ = killed_and_resumed
    assert report.returncode == 0, report.stderr
    rows = {
        line.split("|")[1].strip(): line
        for line in report.stdout.splitlines()
        if line.startswith("| ")
    }
    assert (
        "| finished |" in rows["first"]
        and "| killed |" in rows["slow"]
        and "| not started |" in rows["last"]
    )


def test_resume_skips_the_finished_study_and_completes_the_others(killed_and_resumed):
    folder, log, _, _, before, finished_bytes, _ = killed_and_resumed
    assert "study first finished before, skipped" in log
    for path, data in finished_bytes.items():
        assert path.read_bytes() == data, f"{path} of the finished study changed"
    assert {s["name"]: s["status"] for s in record(folder)["studies"]} == dict.fromkeys(
        STUDIES, "finished"
    )
    for trial in (folder / "slow").glob("trial_*"):
        steps = [row["step"] for row in read_metrics(trial)]
        assert steps == list(range(100, 601, 100))  # every evaluation once
        assert read_metrics(trial)[0] == before[trial.name][0]  # resumed, not restarted


def test_the_campaign_report_indexes_every_study_with_links(killed_and_resumed):
    folder, _, _, _, _, _, _ = killed_and_resumed
    done = subprocess.run(
        [sys.executable, "-m", "tune_ired.report", str(folder)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    index = (folder / "report" / "index.md").read_text()
    for name in STUDIES:
        assert f"| {name} | finished | study {name} |" in index
        assert (folder / name / "report" / "report.html").exists()
        assert f"(../{name}/report/report.html)" in index
    assert "three tiny studies" in index and (folder / "report" / "index.html").exists()


SET_STEPS = 400  # the campaign's --set, on every study; the files say otherwise (40 and 600)


@pytest.fixture(scope="module")
def sigtermed_with_set(tmp_path_factory):
    """A campaign started with --set, stopped by SIGTERM in its second study, resumed with the command
    it printed."""
    root = tmp_path_factory.mktemp("campaign_set")
    write_files(root)
    files = [str(root / "first.py"), str(root / "slow.py")]
    log, folder = root / "campaign.log", root / "results" / "two"
    args = [*files, "--budget", "tiny", "--set", f"train_steps={SET_STEPS}", "--set",
            "eval_every=100", "--storage", str(root / "results"), "--name", "two"]  # fmt: skip
    first = start(args, log)
    try:
        wait_until(lambda: slow_rows(folder) >= 1 or first.poll() is not None, what="slow study")
        recorded = record(folder)["options"]
        first.send_signal(signal.SIGTERM)  # the campaign process, as `kill` or SLURM sends it
        code = first.wait(timeout=TIMEOUT_S)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    output = log.read_text()
    command = re.findall(r"continue it with `([^`]+)`", output)[-1]
    resumed = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=TIMEOUT_S)
    return folder, code, output, recorded, command, resumed


def test_a_campaign_under_sigterm_exits_75_and_prints_its_command(sigtermed_with_set):
    _, code, output, _, command, _ = sigtermed_with_set
    assert code == ExitCode.INTERRUPTED, output[-4000:]
    assert "campaign: SIGTERM: stopping the running studies" in output
    assert "study slow interrupted (exit 75)" in output and "SIGTERM received" not in output
    assert command.startswith("python -m tune_ired.sweep ") and command.endswith(" --resume")
    assert f"--set train_steps={SET_STEPS}" in command


def test_the_printed_command_resumes_every_study_at_the_campaigns_settings(sigtermed_with_set):
    folder, _, _, recorded, _, resumed = sigtermed_with_set
    assert resumed.returncode == ExitCode.OK, resumed.stdout[-4000:] + resumed.stderr[-2000:]
    assert "study first finished before, skipped" in resumed.stdout
    meta = record(folder)
    assert meta["options"] == recorded  # recorded once, never rewritten
    assert {s["name"]: s["status"] for s in meta["studies"]} == {
        "first": "finished",
        "slow": "finished",
    }
    trials = list(folder.glob("*/trial_*"))
    assert len(trials) == 3  # first: 1 arm, slow: 2 arms
    for trial in trials:
        assert json.loads((trial / "config.json").read_text())["train_steps"] == SET_STEPS
        assert [row["step"] for row in read_metrics(trial)] == list(range(100, SET_STEPS + 1, 100))


def test_a_resume_that_changes_the_campaigns_set_or_budget_is_refused(sigtermed_with_set):
    folder = sigtermed_with_set[0]
    files = [str(folder.parent.parent / "first.py"), str(folder.parent.parent / "slow.py")]
    base = [*files, "--storage", str(folder.parent), "--name", "two", "--resume"]
    done = run_sweep(*base, "--set", "train_steps=40")
    assert done.returncode == ExitCode.BAD_INPUT
    assert f"--set train_steps is {SET_STEPS} there, 40 in this command" in done.stderr
    done = run_sweep(*base, "--budget", "quick")
    assert done.returncode == ExitCode.BAD_INPUT and "--budget is tiny there, quick" in done.stderr


def test_bad_campaign_values_exit_2_before_ray(tmp_path):
    plan = write_files(tmp_path)
    storage = ["--storage", str(tmp_path / "r"), "--budget", "tiny"]
    for extra, needle in (
        (["--studies-at-once", "0"], "--studies-at-once 0: must be >= 1"),
        (["--name", "../x", "--dry-run"], "--name '../x': a folder name in --storage"),
    ):
        done = run_sweep(str(plan), *storage, *extra)
        assert done.returncode == ExitCode.BAD_INPUT and needle in done.stderr, done.stderr
        assert "Ray dashboard" not in done.stdout and not (tmp_path / "x").exists()


def test_a_bad_study_fails_the_campaign_before_ray_starts(tmp_path):
    plan = write_files(tmp_path)
    (tmp_path / "last.py").write_text(
        HEADER + 's = SearchSpace(space={"noise_scal": tune.grid_search([1.0])})\n'
    )
    done = run_sweep(str(plan), "--budget", "tiny", "--storage", str(tmp_path / "r"))
    assert (
        done.returncode == ExitCode.BAD_INPUT
        and "last.py" in done.stderr
        and "noise_scal" in done.stderr
    )
    assert "Ray dashboard" not in done.stdout


def test_running_a_finished_campaign_again_runs_nothing(killed_and_resumed):
    folder, _, _, _, _, _, _ = killed_and_resumed
    plan = folder.parent.parent / "plan.py"
    done = run_sweep(str(plan), "--budget", "tiny", "--storage", str(folder.parent))
    assert done.returncode == ExitCode.OK, done.stderr
    assert (
        "every study finished before, nothing to run" in done.stdout
        and "Ray dashboard" not in done.stdout
    )
