"""cluster/: real SLURM jobs of cluster/ray_sweep.sbatch, and losing a Ray node mid-sweep.

The SLURM tests need the local SLURM of cluster/slurm_local.sh (partitions `solo`: one node
at 127.0.0.1, and `duo`: two nodes at 127.0.0.2 and 127.0.0.3); `.ci/run` starts it through
cluster/ci_system_setup.sh. Without it they are skipped. Each job runs a real tiny sweep
(`--budget tiny`) on a real Ray cluster started by the batch script, and afterwards no
process of the job may be left. The node-loss test needs only Ray (`ray.cluster_utils`).

    bash cluster/slurm_local.sh start && pytest tests/test_cluster.py
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pandas as pd
import pytest

from tune_ired.cli import ExitCode
from tune_ired.record.results import load_sweep
from tune_ired.record.runfolder import METRICS_FILE
from tune_ired.tuning.arguments import requeued_argv

REPO = Path(__file__).resolve().parents[1]
SBATCH_SCRIPT = REPO / "cluster" / "ray_sweep.sbatch"
JOB_TIMEOUT_S = 600  # a job on a busy 2-core machine: Ray start-up, the sweep, Ray shut down
FIRST_REPORT_TIMEOUT_S = 300
POLL_S = 0.5
SINFO_TIMEOUT_S = 5  # sinfo retries a slurmctld that is down; then the SLURM tests skip
# what ray_sweep.sbatch exits with after SLURM's time-limit warning signal or SIGTERM
EXIT_STOPPED = ExitCode.INTERRUPTED
EVAL_EVERY = 20  # tiny trials: an evaluation every 20 steps
# ~10 s trials, for tests that need a trial still running: when the time-limit signal lands, and
# while the other node's actor starts (Tune reuses a finished trial's actor for a pending trial,
# so a shorter trial may leave both trials on the first node)
LONG_EVALS, LONG_EVAL_EVERY = 15, 200
CHAIN_EVALS = 30  # trials still training through a time-limit stop, a resumed job and its scancel

SPACE = '''"""Cluster test sweep: {trials} arms of noise_scale at a tiny budget, no early stopping."""

from ray import tune

from tune_ired.space import Budget, SearchSpace

cluster_test = SearchSpace(
    space={{"noise_scale": tune.grid_search({values})}},
    scheduler=None,
    budgets={{"tiny": Budget(config={{"train_steps": {steps}, "eval_every": {eval_every}}})}},
)
'''


def slurm_partitions() -> set[str]:
    """The partitions of a running SLURM whose nodes are all up, or an empty set."""
    if shutil.which("sinfo") is None:
        return set()
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %T"],
            capture_output=True,
            text=True,
            timeout=SINFO_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    rows = [line.split() for line in out.stdout.splitlines() if out.returncode == 0]
    down = {
        p.rstrip("*")
        for p, avail, state in rows
        if avail != "up" or state not in ("idle", "mixed", "allocated")
    }
    return {p.rstrip("*") for p, _, _ in rows} - down


LOCAL_SLURM = {"solo", "duo"} <= slurm_partitions()
needs_slurm = pytest.mark.skipif(
    not LOCAL_SLURM,
    reason="no local SLURM with partitions solo and duo (start it: bash cluster/slurm_local.sh start)",
)


def write_space(
    folder: Path, *, values: list[float], steps: int, eval_every: int = EVAL_EVERY
) -> Path:
    path = folder / "cluster_test.py"
    path.write_text(
        SPACE.format(trials=len(values), values=values, steps=steps, eval_every=eval_every)
    )
    return path


def sbatch(folder: Path, sbatch_args: list[str], sweep_args: list[str]) -> str:
    """Submit ray_sweep.sbatch from the repository (as a user would); returns the job id."""
    out = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--output={folder}/job-%j.out",
            *sbatch_args,
            str(SBATCH_SCRIPT),
            *sweep_args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    job = out.stdout.strip().split(";")[0]
    SUBMITTED.append(job)
    return job


SUBMITTED: list[str] = []  # the jobs of the running test
LEFTOVER_TIMEOUT_S = 60  # cancelled jobs of an earlier run leave the queue (KillWait is 10 s)


@pytest.fixture(scope="module", autouse=True)
def empty_test_partitions():
    """Jobs an interrupted earlier run left on `solo` or `duo` are cancelled first.

    A pytest killed mid-test never cancels its job, and the local SLURM keeps it (a job of the
    time-limit test runs for 30 minutes): every job here would then wait behind it and time out.
    Only the test partitions of cluster/slurm_local.sh are touched.
    """
    left = queued() if LOCAL_SLURM else set()
    if left:
        left_ids = sorted(left, key=int)
        warnings.warn(f"cancelled jobs an earlier run left on solo/duo: {left_ids}", stacklevel=1)
        subprocess.run(["scancel", *left], check=False, capture_output=True)
        deadline = time.monotonic() + LEFTOVER_TIMEOUT_S
        while (still := queued()) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert not still, (
            f"jobs {sorted(still)} still on solo/duo {LEFTOVER_TIMEOUT_S} s after scancel"
        )
    yield


def queued() -> set[str]:
    """The ids of every job queued or running on the test partitions (solo, duo)."""
    out = subprocess.run(
        ["squeue", "-h", "-p", "solo,duo", "-o", "%i"], capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


@pytest.fixture(autouse=True)
def cancel_leftover_jobs():
    """A test that fails while its job runs cancels it, so the next test's job does not wait behind it."""
    yield
    if SUBMITTED:
        subprocess.run(["scancel", *SUBMITTED], check=False, capture_output=True)
        SUBMITTED.clear()


def job_fields(job: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, check=True
    )
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


def wait_job(job: str) -> dict[str, str]:
    """Wait until the job has ended; returns its scontrol fields (JobState, ExitCode, ...)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (fields := job_fields(job))["JobState"] in (
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
    ):
        if time.monotonic() > deadline:
            subprocess.run(["scancel", job], check=False)
            queue = subprocess.run(["squeue"], capture_output=True, text=True).stdout
            pytest.fail(
                f"job {job} still {fields['JobState']} ({fields.get('Reason')}) after "
                f"{JOB_TIMEOUT_S} s; the queue:\n{queue}"
            )
        time.sleep(POLL_S)
    return fields


def job_log(folder: Path, job: str) -> str:
    path = folder / f"job-{job}.out"
    return path.read_text(errors="replace") if path.exists() else ""


def process_table() -> dict[int, tuple[str, list[bytes]]]:
    """Every live (non-zombie) process: pid -> (command line, environment), read from /proc."""
    table = {}
    for proc in Path("/proc").iterdir():
        try:
            if (
                not proc.name.isdigit()
                or (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            ):
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            table[int(proc.name)] = (cmdline, (proc / "environ").read_bytes().split(b"\0"))
        except OSError:  # ended while we looked
            continue
    return table


def job_processes(job: str) -> list[str]:
    """Processes still alive that belong to the job: SLURM_JOB_ID in their environment, or Ray's temp dir."""
    marker, temp_dir = f"SLURM_JOB_ID={job}".encode(), f"/tmp/ray-{job}/"
    return [
        f"{pid} {cmdline[:120]}"
        for pid, (cmdline, environ) in process_table().items()
        if marker in environ or temp_dir in cmdline
    ]


def assert_ended_clean(job: str, folder: Path, *, state: str, exit_code: str) -> None:
    fields = wait_job(job)
    log = job_log(folder, job)
    assert (fields["JobState"], fields["ExitCode"]) == (state, exit_code), log[-4000:]
    assert job_processes(job) == [], log[-2000:]
    assert "Ray stopped" in log
    # Ray's node-local logs: kept by the job, not needed here
    shutil.rmtree(f"/tmp/ray-{job}", ignore_errors=True)


def assert_table_complete(
    sweep: Path, *, trials: int, steps: int, eval_every: int = EVAL_EVERY
) -> pd.DataFrame:
    """The tidy table has every trial, each completed with all its evaluations; CSV and Parquet agree."""
    table = pd.read_parquet(sweep / "trials.parquet")
    assert len(pd.read_csv(sweep / "trials.csv")) == len(table) == trials
    assert set(table["status"]) == {"completed"}
    assert (table["last_step"] == steps).all()
    assert (table["iterations"] == steps // eval_every).all()
    return table


def trial_lines(sweep: Path, filename: str) -> dict[str, list[dict]]:
    """Every line of each trial's JSON-lines file as it stands, by trial folder."""
    return {
        path.parent.name: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sweep.glob(f"trial_*/{filename}")
    }


def reports(sweep: Path) -> dict[str, list[dict]]:
    """Every trial's reports as Ray wrote them (result.json), by trial folder."""
    return trial_lines(sweep, "result.json")


@pytest.mark.slurm
@needs_slurm
def test_two_node_job_completes_with_trials_on_both_nodes(tmp_path):
    steps = LONG_EVALS * LONG_EVAL_EVERY
    space = write_space(tmp_path, values=[0.5, 1.0], steps=steps, eval_every=LONG_EVAL_EVERY)
    # each trial asks for a whole node (2 CPUs), so the two trials run on the two nodes at once
    args = [str(space), "--budget", "tiny", "--storage", str(tmp_path), "--cpus-per-trial", "2"]
    job = sbatch(
        tmp_path,
        ["--partition=duo", "--nodes=2", "--cpus-per-task=2"],
        [*args, "--set", "num_threads=1"],
    )
    assert_ended_clean(job, tmp_path, state="COMPLETED", exit_code="0:0")
    sweep = tmp_path / "cluster_test"
    assert_table_complete(sweep, trials=2, steps=steps, eval_every=LONG_EVAL_EVERY)
    node_ips = {row["node_ip"] for rows in reports(sweep).values() for row in rows}
    assert node_ips == {"127.0.0.2", "127.0.0.3"}
    assert "all 2 nodes joined" in job_log(tmp_path, job)


def own_rows(sweep: Path) -> dict[str, list[dict]]:
    """Every trial's rows as the trial wrote them (metrics.jsonl, each line as it stands), by trial folder."""
    return trial_lines(sweep, METRICS_FILE)


def wait_first_report(sweep: Path, job: str) -> None:
    """Wait until Tune has recorded a trial's first report (which carries a checkpoint) in storage."""
    deadline = time.monotonic() + FIRST_REPORT_TIMEOUT_S
    while not any(path.stat().st_size for path in sweep.glob("trial_*/result.json")):
        state = job_fields(job)["JobState"]
        assert state in ("PENDING", "RUNNING"), (
            f"the job ended ({state}) before any trial reported:\n{job_log(sweep.parent, job)[-4000:]}"
        )
        assert time.monotonic() < deadline, (
            f"no trial reported within {FIRST_REPORT_TIMEOUT_S} s (job {state}):\n"
            f"{job_log(sweep.parent, job)[-4000:]}"
        )
        time.sleep(POLL_S)


def check_security(log: str) -> None:
    """The token file is private; the dashboard listens on the head's address only and wants the token."""
    token_file = Path(re.search(r"its token: cat (\S+)", log).group(1))
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    dashboard = re.search(r"Ray dashboard: http://([\d.]+):(\d+)", log)
    host, port = dashboard.group(1), int(dashboard.group(2))
    listening = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    )
    assert [line.split()[3] for line in listening.stdout.splitlines()] == [f"{host}:{port}"]
    url = f"http://{host}:{port}/api/version"
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(url, timeout=10)
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token_file.read_text().strip()}"}
    )
    assert urllib.request.urlopen(request, timeout=10).status == 200


def checkpointed_trials(sweep: Path) -> list[str]:
    """The trials whose checkpoint Tune has recorded (a report naming a checkpoint)."""
    return [
        trial
        for trial, rows in reports(sweep).items()
        if any(r["checkpoint_dir_name"] for r in rows)
    ]


def assert_each_step_once(
    sweep: Path, *, steps: int, interrupted: dict[str, list[dict]], checkpointed: list[str]
) -> None:
    """A stopped and continued sweep: every trial has each evaluation's row once, and a trial that
    went on from its checkpoint kept its first row as written before the stop."""
    for trial, rows in own_rows(sweep).items():
        assert [row["step"] for row in rows] == list(
            range(LONG_EVAL_EVERY, steps + 1, LONG_EVAL_EVERY)
        ), trial
        if trial in checkpointed:
            assert rows[0] == interrupted[trial][0], f"{trial} restarted from step 0"


def printed_resubmission(folder: Path, job: str) -> str:
    """The `sbatch` line a stopped job printed to continue it; the sweep printed the same one."""
    log = job_log(folder, job)
    line = re.search(r"continue it with:\n\[ray_sweep [\d:]+\]   (.+)", log)
    assert line, log[-4000:]
    return line.group(1)


def resubmit(folder: Path, line: str) -> str:
    """Run a printed `cd ... && sbatch ...` line as printed (a shell line); the job id."""
    done = subprocess.run(line, shell=True, capture_output=True, text=True, check=True)
    job = re.fullmatch(r"Submitted batch job (\d+)\s*", done.stdout).group(1)
    SUBMITTED.append(job)
    return job


def wait_rows_past(sweep: Path, job: str, step: int) -> None:
    """Wait until a trial of the sweep has written a row past `step` (the resumed job trains)."""
    deadline = time.monotonic() + FIRST_REPORT_TIMEOUT_S
    while (
        max((row["step"] for rows in own_rows(sweep).values() for row in rows), default=0) <= step
    ):
        state = job_fields(job)["JobState"]
        assert state in ("PENDING", "RUNNING"), job_log(sweep.parent, job)[-4000:]
        assert time.monotonic() < deadline, job_log(sweep.parent, job)[-4000:]
        time.sleep(POLL_S)


@pytest.mark.slurm
@needs_slurm
def test_time_limit_and_scancel_stop_cleanly_and_the_printed_lines_resume(tmp_path):
    steps = CHAIN_EVALS * LONG_EVAL_EVERY
    space = write_space(tmp_path, values=[0.5, 1.0], steps=steps, eval_every=LONG_EVAL_EVERY)
    args = [str(space), "--budget", "tiny", "--storage", str(tmp_path)]
    sweep = tmp_path / "cluster_test"
    # a constraint, a generic resource and a licence (slurm_local.sh's), nodes asked for and left
    # out, and a whole node: the resubmission must carry them with the rest of the job's request
    options = ["--partition=solo", "--cpus-per-task=2", "--time=30", "-C", "local", "--gres=fake:1"]
    options += ["-w", "solo", "-x", "duo1", "-L", "fakelicence:1", "--exclusive"]
    job = sbatch(tmp_path, options, args)
    wait_first_report(sweep, job)
    check_security(job_log(tmp_path, job))
    # the signal SLURM sends before the time limit (#SBATCH --signal=B:USR1@300), sent now
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True)
    assert_ended_clean(job, tmp_path, state="FAILED", exit_code=f"{EXIT_STOPPED}:0")
    log = job_log(tmp_path, job)
    token_file = Path(re.search(r"its token: cat (\S+)", log).group(1))
    assert not token_file.exists()
    line = printed_resubmission(tmp_path, job)
    assert line == f"cd {REPO} && sbatch -N 1 -p solo -C local -w solo -x duo1 " \
        "-L fakelicence:1 --exclusive -c 2 --gres=fake:1 " \
        "--mem-per-cpu=512M -t 30:00 -J tune_ired -o " \
        f"{tmp_path}/job-%j.out {SBATCH_SCRIPT} {' '.join(args)} --resume"  # fmt: skip
    assert f"continue it with `{line}`" in log  # the sweep's own line: the same command
    interrupted = own_rows(sweep)
    assert interrupted and all(len(rows) < CHAIN_EVALS for rows in interrupted.values())
    # trials whose checkpoint Tune recorded before the stop; a trial that had only written its first
    # row (not yet reported) rightly starts again from step 0, keeping that row (not written twice)
    checkpointed = checkpointed_trials(sweep)
    assert checkpointed

    # the line as printed; then scancel (SIGTERM to every process of the job, SIGKILL KillWait later)
    resumed = resubmit(tmp_path, line)
    wait_rows_past(sweep, resumed, max(r["step"] for rows in interrupted.values() for r in rows))
    subprocess.run(["scancel", resumed], check=True)
    assert_ended_clean(resumed, tmp_path, state="CANCELLED", exit_code=f"{EXIT_STOPPED}:0")
    assert "SIGTERM (scancel, preemption or shutdown): stopping the sweep" in job_log(
        tmp_path, resumed
    )
    assert printed_resubmission(tmp_path, resumed) == line

    last = resubmit(tmp_path, line)
    assert_ended_clean(last, tmp_path, state="COMPLETED", exit_code="0:0")
    assert_table_complete(sweep, trials=2, steps=steps, eval_every=LONG_EVAL_EVERY)
    assert_each_step_once(sweep, steps=steps, interrupted=interrupted, checkpointed=checkpointed)


def release_requeued(job: str) -> None:
    """Wait until SLURM has put the requeued job back in the queue, then let it start now (SLURM
    holds a requeued job back for a while: Reason BeginTime)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while job_fields(job)["JobState"] != "PENDING":
        assert time.monotonic() < deadline, f"job {job} was not requeued: {job_fields(job)}"
        time.sleep(POLL_S)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)


@pytest.mark.slurm
@needs_slurm
def test_a_requeued_job_continues_its_sweep_by_itself(tmp_path):
    steps = CHAIN_EVALS * LONG_EVAL_EVERY
    space = write_space(tmp_path, values=[0.5, 1.0], steps=steps, eval_every=LONG_EVAL_EVERY)
    # --overwrite: the restart must continue what the first run did, not delete it
    args = [str(space), "--budget", "tiny", "--storage", str(tmp_path), "--overwrite"]
    sweep = tmp_path / "cluster_test"
    job = sbatch(tmp_path, ["--partition=solo", "--cpus-per-task=2", "--time=30"], args)
    wait_first_report(sweep, job)
    # what a preemption in REQUEUE mode or a failed node does: SIGTERM, then the same job again
    subprocess.run(["scontrol", "requeue", job], check=True)
    release_requeued(job)
    interrupted = own_rows(sweep)
    checkpointed = checkpointed_trials(sweep)
    assert checkpointed and all(len(rows) < CHAIN_EVALS for rows in interrupted.values())

    assert_ended_clean(job, tmp_path, state="COMPLETED", exit_code="0:0")
    log = job_log(tmp_path, job)  # both runs: the job's output is appended to
    assert "DUE TO JOB REQUEUE" in log
    assert "SLURM requeues this job: its restart continues the sweep by itself (--resume)" in log
    assert "requeued by SLURM (restart 1): continuing the sweep with --resume" in log
    assert_table_complete(sweep, trials=2, steps=steps, eval_every=LONG_EVAL_EVERY)
    assert_each_step_once(sweep, steps=steps, interrupted=interrupted, checkpointed=checkpointed)


@pytest.mark.slurm
@needs_slurm
def test_failing_sweep_fails_the_job_and_stops_ray(tmp_path):
    job = sbatch(tmp_path, ["--partition=solo"], [str(tmp_path / "missing.py"), "--budget", "tiny"])
    assert_ended_clean(job, tmp_path, state="FAILED", exit_code="2:0")
    assert "missing.py" in job_log(tmp_path, job)


# long enough that the doomed node's trial is mid-way when the node goes
NODE_LOSS_STEPS = 60 * EVAL_EVERY
# A Ray cluster of a head and one more node (ray.cluster_utils), held by its own process so that
# Ray's settings (token auth, temp dir) come from that process's environment. It prints the
# address and the extra node's raylet pid, removes that node when told, and shuts down at EOF.
CLUSTER_HOLDER = """
import sys
from ray._private import ray_constants
from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
doomed = cluster.add_node(num_cpus=1)  # one CPU per node: one trial on each
cluster.wait_for_nodes()
print(cluster.address, doomed.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid, flush=True)
sys.stdin.readline()
cluster.remove_node(doomed, allow_graceful=False)
print("removed", flush=True)
sys.stdin.readline()
cluster.shutdown()
"""


def parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def checkpointed_trial_under(raylet: int, sweep: Path, sweeper: subprocess.Popen) -> str:
    """The trial folder of a trial run by a worker of `raylet` that has written a checkpoint."""
    deadline = time.monotonic() + FIRST_REPORT_TIMEOUT_S
    while time.monotonic() < deadline and sweeper.poll() is None:
        for trial, rows in reports(sweep).items():
            if (
                rows
                and parent_pid(rows[0]["pid"]) == raylet
                and any((sweep / trial).glob("checkpoint_*"))
            ):
                return trial
        time.sleep(POLL_S / 5)
    pytest.fail("no trial checkpointed on the node to be removed")


def node_loss_env(tmp_path: Path, ray_tmp: Path) -> dict[str, str]:
    """Token auth on (a private token file) and Ray's files under `ray_tmp`."""
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    return {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_TMPDIR": str(ray_tmp),
    }


def test_node_loss_trials_resume_from_checkpoints_on_the_survivor(tmp_path):
    # short: Ray's Unix socket paths are limited
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray-nl-", dir="/tmp"))
    env = node_loss_env(tmp_path, ray_tmp)
    space = write_space(tmp_path, values=[0.5, 1.0], steps=NODE_LOSS_STEPS)
    sweep, log = tmp_path / "cluster_test", tmp_path / "sweep.log"
    holder = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    sweeper = None
    try:
        address, doomed_raylet = holder.stdout.readline().split()
        args = [str(space), "--budget", "tiny", "--storage", str(tmp_path), "--address", address]
        with log.open("w") as out:
            sweeper = subprocess.Popen(
                [sys.executable, "-m", "tune_ired.sweep", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        moved = checkpointed_trial_under(int(doomed_raylet), sweep, sweeper)
        holder.stdin.write("remove\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "removed"
        assert sweeper.wait(timeout=JOB_TIMEOUT_S) == 0, log.read_text()[-4000:]
    finally:
        if sweeper is not None and sweeper.poll() is None:
            sweeper.kill()
        holder.communicate(timeout=JOB_TIMEOUT_S)  # EOF: the holder shuts the cluster down
        leftovers = [
            f"{pid} {cmd[:120]}" for pid, (cmd, _) in process_table().items() if str(ray_tmp) in cmd
        ]
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert leftovers == []
    table = assert_table_complete(sweep, trials=2, steps=NODE_LOSS_STEPS).set_index("trial_id")
    rows = reports(sweep)[moved]
    assert table.loc[rows[0]["trial_id"], "num_failures"] >= 1
    assert [row["step"] for row in rows].count(
        EVAL_EVERY
    ) == 1  # went on from its checkpoint, not from step 0
    assert len({row["pid"] for row in rows}) > 1  # and in another process, on the surviving node


@pytest.mark.slurm
@needs_slurm
def test_a_campaign_is_one_job(tmp_path):
    first = write_space(tmp_path, values=[0.5], steps=40)
    second = first.with_name("second_study.py")
    second.write_text(first.read_text().replace("[0.5]", "[2.0]"))
    args = [
        str(first),
        str(second),
        "--budget",
        "tiny",
        "--storage",
        str(tmp_path),
        "--name",
        "plan",
    ]
    job = sbatch(tmp_path, ["--partition=solo", "--cpus-per-task=2"], args)
    assert_ended_clean(job, tmp_path, state="COMPLETED", exit_code="0:0")
    record = json.loads((tmp_path / "plan" / "campaign.json").read_text())
    assert [(s["name"], s["status"]) for s in record["studies"]] == [
        ("cluster_test", "finished"),
        ("second_study", "finished"),
    ]
    assert_table_complete(tmp_path / "plan" / "cluster_test", trials=1, steps=40)
    assert_table_complete(tmp_path / "plan" / "second_study", trials=1, steps=40)


def submit_sweep(tmp_path: Path, slurm: str, *extra: str) -> subprocess.CompletedProcess:
    """`python -m tune_ired.sweep FILE --slurm "..."` from the repository, as a user runs it."""
    space = write_space(tmp_path, values=[0.5, 1.0], steps=2 * EVAL_EVERY)
    cmd = [sys.executable, "-m", "tune_ired.sweep", str(space), "--budget", "tiny"]
    cmd += ["--storage", str(tmp_path / "results"), *extra, "--slurm", slurm]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    SUBMITTED.extend(re.findall(r"submitted job (\d+)", done.stdout))
    return done


@pytest.mark.slurm
@needs_slurm
def test_slurm_submit_checks_first_then_submits_and_the_job_runs_the_sweep(tmp_path):
    done = submit_sweep(tmp_path, f"-p solo -t 10 --output={tmp_path}/job-%j.out")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "estimate: 2 trials, 2 at once" in out and "time: fits -t 10 min" in out
    assert "sbatch line: sbatch -p solo -t 10" in out
    (job,) = re.findall(r"submitted job (\d+)", out)
    assert f"its output: {tmp_path}/job-{job}.out" in out
    assert "the sweep folder: " + str(tmp_path / "results" / "cluster_test") in out
    fields = wait_job(job)
    assert fields["JobState"] == "COMPLETED", job_log(tmp_path, job)[-3000:]
    trials = load_sweep(tmp_path / "results" / "cluster_test").trials
    assert list(trials["status"]) == ["completed", "completed"]


@pytest.mark.slurm
@needs_slurm
@pytest.mark.parametrize(
    "slurm, extra, needle",
    [
        ("-p solo -t 10", ["--set", "noise_scal=1"], "unknown key 'noise_scal'"),
        ("-p solo -t 10", ["--gpus-per-trial", "1"], "the job asks for no GPU"),
        ("-p solo -t 10 --gpus-per-node=2", [], "have no GPUs"),
        ("-p solo -c 8 -t 10", [], "have at most 2 CPUs"),
        ("-p solo -t 0:30", [], "more than -t 30 s"),
        ("-p solo -t 10", ["--dry-run"], None),
    ],
    ids=["bad key", "no gpu asked", "gpus the nodes lack", "cpus", "time too short", "dry run"],
)
def test_slurm_submit_refuses_before_anything_is_queued(tmp_path, slurm, extra, needle):
    before = queued()
    done = submit_sweep(tmp_path, slurm, *extra)
    if needle is None:
        assert done.returncode == 0 and "dry run: nothing submitted" in done.stdout, done.stderr
    else:
        assert done.returncode == ExitCode.BAD_INPUT, done.stdout + done.stderr
        assert needle in done.stderr and "\n" not in done.stderr.strip()
    assert queued() <= before  # nothing was queued


SCRIPTS = ("slurm_local.sh", "ci_system_setup.sh", "ray_node.sh", "ray_sweep.sbatch")


def run_script(name: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """bash cluster/NAME ARGS, with the local SLURM's files pointed into `tmp_path` (a start makes them)."""
    env = {**os.environ, "SLURM_CONF_FILE": str(tmp_path / "slurm.conf")}
    env |= {
        var: str(tmp_path / var) for var in ("SLURM_STATE_DIR", "SLURM_LOG_DIR", "SLURM_RUN_DIR")
    }
    return subprocess.run(
        ["bash", str(REPO / "cluster" / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("name", SCRIPTS)
def test_cluster_scripts_answer_help_and_do_nothing(name, tmp_path):
    for flag in ("--help", "-h"):
        done = run_script(name, flag, tmp_path=tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("usage: "), done.stderr
        assert not done.stderr and "installing" not in done.stdout
    assert list(tmp_path.iterdir()) == []  # no slurm.conf written, no daemon's folder made


@pytest.mark.parametrize("name", [n for n in SCRIPTS if n != "ci_system_setup.sh"])
def test_cluster_scripts_without_a_command_print_their_usage_and_exit_2(name, tmp_path):
    done = run_script(name, tmp_path=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("usage: ") and not done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["slurm_local.sh", "ci_system_setup.sh", "ray_node.sh"])
def test_cluster_scripts_refuse_an_unknown_argument(name, tmp_path):
    done = run_script(name, "--bogus", tmp_path=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("usage: ")
    assert list(tmp_path.iterdir()) == []


def test_a_requeued_jobs_arguments_continue_the_sweep_and_never_overwrite_it(tmp_path):
    """What cluster/ray_sweep.sbatch runs on a restart (the SLURM test runs it for real)."""
    space = write_space(tmp_path, values=[0.5], steps=EVAL_EVERY)
    argv = [str(space), "--budget", "tiny", "--overwrite", "--set", "seed=3", "--set", "lr=0.01"]
    assert requeued_argv(argv).split("\0") == [
        str(space),
        "--budget",
        "tiny",
        "--storage",
        str(Path.cwd() / "results"),
        "--set",
        "seed=3",
        "--set",
        "lr=0.01",
        "--resume",
    ]
    assert requeued_argv([str(space), "--resume"]).count("--resume") == 1
