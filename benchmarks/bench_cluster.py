"""Start-up and total time of a sweep submitted with `sbatch cluster/ray_sweep.sbatch`.

    bash cluster/slurm_local.sh start                       # a local SLURM (root; see docs/cluster.md)
    python -m benchmarks.bench_cluster                      # noise_scale.py, tiny budget, 1 node
    python -m benchmarks.bench_cluster --partition duo --nodes 2 --file search_spaces/strategies.py

Submits one real job into a temporary results folder, waits for it, and prints the times
from `sbatch` to the Ray cluster being up (the job log's dashboard line), to the first
trial starting and to its first report (from Ray's result.json), the job's total time
(SLURM's SubmitTime to EndTime), its final state, and the processes of the job still
alive afterwards (SLURM_JOB_ID in their environment). The last line is
`sbatch_to_first_trial_s: X.X`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLL_S = 0.5


def job_fields(job: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, check=True
    )
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


def slurm_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def first_trial(folder: Path) -> tuple[float, float]:
    """(start, first report) of the earliest trial, as Unix times, from Ray's result.json files."""
    files = [path for path in folder.glob("*/trial_*/result.json") if path.stat().st_size]
    firsts = [json.loads(path.read_text().splitlines()[0]) for path in files]
    first = min(firsts, key=lambda row: row["timestamp"] - row["time_total_s"])
    return first["timestamp"] - first["time_total_s"], first["timestamp"]


def leftovers(job: str) -> int:
    marker = f"SLURM_JOB_ID={job}".encode()
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            count += proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", default="search_spaces/noise_scale.py")
    parser.add_argument("--budget", default="tiny")
    parser.add_argument("--partition", default="solo")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs per node")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as tmp:
        submit = [
            f"--partition={args.partition}",
            f"--nodes={args.nodes}",
            f"--cpus-per-task={args.cpus}",
        ]
        sweep = [args.file, "--budget", args.budget, "--storage", tmp]
        job = subprocess.run(
            [
                "sbatch",
                "--parsable",
                f"--output={tmp}/job.out",
                *submit,
                "cluster/ray_sweep.sbatch",
                *sweep,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        while (fields := job_fields(job))["JobState"] in (
            "PENDING",
            "CONFIGURING",
            "RUNNING",
            "COMPLETING",
        ):
            time.sleep(POLL_S)
        log = Path(tmp, "job.out").read_text()
        submitted = slurm_time(fields["SubmitTime"])
        up = re.search(r"\[ray_sweep (\d\d:\d\d:\d\d)\] Ray dashboard", log)
        trial_start, first_report = first_trial(Path(tmp))
        print(
            f"job {job}: {fields['JobState']} exit {fields['ExitCode']} ({args.nodes} node(s), {args.file})"
        )
        if up:
            day = datetime.fromtimestamp(submitted).date().isoformat()
            print(
                f"sbatch -> Ray cluster up:  {slurm_time(f'{day}T{up.group(1)}') - submitted:6.1f} s"
            )
        print(f"sbatch -> first report:    {first_report - submitted:6.1f} s")
        print(f"job total (submit -> end): {slurm_time(fields['EndTime']) - submitted:6.1f} s")
        print(f"processes of the job left: {leftovers(job)}")
        # the job's Ray logs (its default RAY_TEMP_DIR)
        shutil.rmtree(f"/tmp/ray-{job}", ignore_errors=True)
        print(f"sbatch_to_first_trial_s: {trial_start - submitted:.1f}")


if __name__ == "__main__":
    main()
