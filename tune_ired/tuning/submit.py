"""A sweep (or a campaign) submitted as a SLURM job, checked before anything is queued.

    python -m tune_ired.sweep search_spaces/multiseed.py --budget paper --gpus-per-trial 0.5 \\
        --slurm "-N 2 -c 32 --gpus-per-node=4 -t 24:00:00 -p gpu"
    python -m tune_ired.sweep search_spaces/research_plan.py --budget quick --slurm "-t 30" --dry-run

Everything a local start validates is validated (the file, every trial's config at every
budget, the storage, the names), then the request itself: the job's nodes against the
partition's (`sinfo`), a trial's CPUs and GPUs against what each node of the job gets
(`-c`, `--gpus-per-node`, `--gres=gpu:N`, `-G`), the time limit (`-t`) against the plan's
estimate on the job's nodes with a margin (`TIME_MARGIN`, plus the job's own start,
`JOB_START_S`): a sweep that cannot finish in it is refused; a campaign that cannot is
submitted with its resubmission plan (it saves and exits 75 at the limit, and the job prints
the exact `sbatch` line that continues it). Then the plan and the `sbatch` line are printed,
the job is submitted (`cluster/ray_sweep.sbatch`, from this checkout) and its id, output file
and sweep folder are printed; with `--dry-run` nothing is submitted. Options the job does
not set take the script's `#SBATCH` defaults.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tune_ired.cli import ExitCode, fail
from tune_ired.ired.config import ConfigError
from tune_ired.record.estimate import duration_text
from tune_ired.tuning import campaign, costs
from tune_ired.tuning import plan as planning
from tune_ired.tuning.arguments import option_tokens
from tune_ired.tuning.lock import holder_of
from tune_ired.tuning.validate import SpaceError

SCRIPT = Path(__file__).resolve().parents[2] / "cluster" / "ray_sweep.sbatch"
SINFO_TIMEOUT_S = 10.0
TIME_MARGIN = (
    1.25  # a plan must fit the time limit with a quarter to spare (estimates are estimates)
)
JOB_START_S = 120.0  # a job's own start and end: the Ray cluster up on every node, then down
NOT_PASSED = {"files", "slurm", "dry_run"}  # the sweep's options the job is not given
# the sbatch options read here, by their long names (short ones map to them)
SHORT = {"-N": "--nodes", "-c": "--cpus-per-task", "-t": "--time", "-p": "--partition"}
SHORT |= {"-G": "--gpus", "-o": "--output", "-J": "--job-name"}


@dataclass(frozen=True)
class Request:
    """What the job asks SLURM for (the script's #SBATCH defaults where the options say nothing)."""

    options: list[str]  # as given, passed to sbatch unchanged
    nodes: int
    cpus: int  # per node (one task per node: --cpus-per-task)
    gpus: int  # per node
    gpu_type: str | None  # from --gpus-per-node=h100:4 or --gres=gpu:h100:4
    time_s: float | None
    partition: str | None
    output: str
    values: dict[str, str] = field(default_factory=dict)


def script_defaults() -> dict[str, str]:
    """The job script's own `#SBATCH --key=value` lines."""
    pairs = re.findall(r"^#SBATCH (--[a-z-]+)=(\S+)", SCRIPT.read_text(), flags=re.MULTILINE)
    return dict(pairs)


def parse_time(text: str) -> float:
    """SLURM's time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in seconds (raises SpaceError)."""
    days, dash, clock = text.partition("-") if "-" in text else ("0", "", text)
    fields = clock.split(":")
    if not days.isdigit() or not all(f.isdigit() for f in fields) or len(fields) > 3:
        raise SpaceError(f"--slurm: -t {text!r} is not a SLURM time (e.g. 90, 4:00:00, 1-12)")
    numbers = [int(f) for f in fields]
    if dash:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = [*numbers, 0, 0][:3]
    else:  # M, M:S, H:M:S
        hours, minutes, seconds = {1: (0, numbers[0], 0), 2: (0, *numbers)}.get(
            len(numbers), tuple(numbers)
        )
    return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds


def option_values(options: list[str]) -> dict[str, str]:
    """`--key value`, `--key=value`, `-k value` and `-kvalue` by long key."""
    values, i = {}, 0
    while i < len(options):
        token = options[i]
        key, eq, value = token.partition("=")
        if token[:2] in SHORT and not eq:
            key, value = SHORT[token[:2]], token[2:]
        elif key in SHORT:
            key = SHORT[key]
        if key.startswith("--") and not eq and not value and i + 1 < len(options):
            value = options[i + 1]
            i += 1
        values[key] = value
        i += 1
    return values


def gpu_count(text: str) -> tuple[int, str | None]:
    """'4', 'h100:4' or 'gpu:h100:4' as (count, type)."""
    parts = [part for part in text.split(":") if part and part != "gpu"]
    if not parts or not parts[-1].isdigit():
        raise SpaceError(f"--slurm: GPU request {text!r} is not a count (e.g. 4 or h100:4)")
    return int(parts[-1]), (parts[0] if len(parts) > 1 else None)


def parse_request(text: str) -> Request:
    """The job's request from the `--slurm` string (raises SpaceError)."""
    options = shlex.split(text)
    values = script_defaults() | option_values(options)
    nodes = int(values.get("--nodes", "1").partition("-")[0])
    gpus, gpu_type = 0, None
    if "--gpus-per-node" in values:
        gpus, gpu_type = gpu_count(values["--gpus-per-node"])
    elif "--gres" in values and "gpu" in values["--gres"]:
        gpus, gpu_type = gpu_count(values["--gres"])
    elif "--gpus" in values:
        total, gpu_type = gpu_count(values["--gpus"])
        gpus = math.ceil(total / nodes)
    return Request(
        options=options,
        nodes=nodes,
        cpus=int(values.get("--cpus-per-task", "1")),
        gpus=gpus,
        gpu_type=gpu_type,
        time_s=parse_time(values["--time"]) if "--time" in values else None,
        partition=values.get("--partition"),
        output=values.get("--output", "slurm-%j.out"),
        values=values,
    )


def partition_nodes(partition: str | None) -> list[tuple[int, int, str | None]]:
    """(CPUs, GPUs, GPU type) of each node of the partition (the default one when None), from sinfo."""
    if shutil.which("sinfo") is None:
        raise SpaceError("--slurm: no sinfo here; submit from a login node of the cluster")
    command = ["sinfo", "-h", "-N", "-o", "%c %G %P"] + (["-p", partition] if partition else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=SINFO_TIMEOUT_S)
    nodes = []
    for line in done.stdout.splitlines():
        cpus, gres, name = line.split()
        if partition is None and not name.endswith("*"):
            continue  # not the default partition
        gpu = next((part for part in gres.split(",") if part.startswith("gpu")), None)
        count, kind = gpu_count(gpu.partition("(")[0]) if gpu else (0, None)
        nodes.append((int(cpus), count, kind))
    if not nodes:
        raise SpaceError(f"--slurm: sinfo shows no node of partition {partition or '(default)'}")
    return nodes


def check_request(request: Request, resources: dict[str, float]) -> None:
    """The job against its partition's nodes, and a trial against what each node of the job gets."""
    nodes = partition_nodes(request.partition)
    where = f"partition {request.partition or '(default)'}"
    problems = []
    if request.nodes > len(nodes):
        problems.append(f"-N {request.nodes}: {where} has {len(nodes)} node(s)")
    if request.cpus > max(cpus for cpus, _, _ in nodes):
        problems.append(
            f"-c {request.cpus}: the nodes of {where} have at most {max(c for c, _, _ in nodes)} CPUs"
        )
    if request.gpus > max(gpus for _, gpus, _ in nodes):
        most = max(gpus for _, gpus, _ in nodes)
        problems.append(
            f"{request.gpus} GPU(s) per node: the nodes of {where} have {most or 'no'} GPUs"
        )
    if resources["cpu"] > request.cpus:
        problems.append(
            f"--cpus-per-trial {resources['cpu']:g}: the job gives each node {request.cpus} CPUs (-c)"
        )
    if resources["gpu"] > 0 and request.gpus == 0:
        problems.append(
            f"--gpus-per-trial {resources['gpu']:g}: the job asks for no GPU (add --gpus-per-node=N)"
        )
    elif resources["gpu"] > request.gpus:
        problems.append(
            f"--gpus-per-trial {resources['gpu']:g}: the job gives each node {request.gpus} GPUs"
        )
    if problems:
        raise SpaceError("--slurm: " + "; ".join(problems) + ". Nothing was submitted.")


def job_nodes(request: Request) -> list[tuple[float, float]]:
    """(CPUs, GPUs) of each node of the job."""
    return [(float(request.cpus), float(request.gpus))] * request.nodes


def time_words(request: Request, wall: float | None, *, campaign: bool) -> list[str]:
    """The estimate against the time limit: nothing to say, a resubmission plan, or a refusal (raised)."""
    if request.time_s is None or wall is None:
        return []
    needed = wall * TIME_MARGIN + JOB_START_S
    if needed <= request.time_s:
        return [
            f"time: fits -t {duration_text(request.time_s)} (needs about {duration_text(needed)} with a margin)"
        ]
    if not campaign:
        raise SpaceError(
            f"--slurm: the sweep needs about {duration_text(needed)} with a {TIME_MARGIN:g}x margin and "
            f"the job's start, more than -t {duration_text(request.time_s)}: ask for more time, more nodes "
            "or fewer trials. Nothing was submitted."
        )
    jobs = math.ceil(needed / max(request.time_s - JOB_START_S, 1.0))
    return [
        f"time: the campaign needs about {duration_text(needed)}, more than -t {duration_text(request.time_s)}: "
        f"about {jobs} jobs. At the limit a job saves, exits 75 and prints the sbatch line that continues it "
        "(with --resume); submit it when the job ends, or chain them now with "
        "sbatch --dependency=afterany:<job id> <that line's options>"
    ]


def sbatch_line(request: Request, args: argparse.Namespace) -> list[str]:
    """The sbatch command: the request, the job script, the files and the sweep's other options."""
    files = [str(path.resolve()) for path in args.files]
    return ["sbatch", *request.options, str(SCRIPT), *files, *option_tokens(args, skip=NOT_PASSED)]


def submit(line: list[str]) -> str:
    """Submit; the job id (raises ConfigError with sbatch's words when it refuses)."""
    env = os.environ | {"TUNE_IRED_DIR": str(SCRIPT.parents[1])}
    done = subprocess.run(line, capture_output=True, text=True, env=env)
    match = re.search(r"Submitted batch job (\d+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise ConfigError(
            f"--slurm: sbatch refused the job: {(done.stderr or done.stdout).strip()}"
        )
    return match.group(1)


def planned_estimate(
    args: argparse.Namespace, request: Request
) -> tuple[Path, float | None, list[str]]:
    """Plan the sweep or campaign as a local start would (raises ConfigError), on the job's nodes: its
    folder, its wall time there, and the estimate in words."""
    nodes, gpu = job_nodes(request), request.gpu_type or partition_gpu(request.partition)
    if campaign.is_campaign(args.files):
        planned = campaign.plan_studies(args)
        estimates = campaign.study_estimates(args, planned, nodes=nodes, gpu=gpu)
        full, _ = campaign.campaign_total(estimates, args.studies_at_once)
        return (
            planned.folder,
            full,
            campaign.estimate_words(planned, estimates, args.studies_at_once),
        )
    plan = planning.plan_sweep(args)
    estimate = costs.plan_estimate(plan, nodes=nodes, gpu=gpu)
    return (
        plan.folder,
        estimate.wall(),
        costs.estimate_lines(estimate, asha=plan.spec.scheduler is not None),
    )


def partition_gpu(partition: str | None) -> str | None:
    """The GPU type the partition's nodes name in their GRES (None: none named)."""
    return next((kind for _, _, kind in partition_nodes(partition) if kind), None)


def main(args: argparse.Namespace) -> int:
    """Check the sweep (or campaign) and its request, print the plan and the sbatch line, and submit it
    (not with --dry-run); the exit code."""
    try:
        request = parse_request(args.slurm)
        check_request(request, {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial})
        folder, wall, lines = planned_estimate(args, request)
        if (holder := holder_of(folder)) is not None:
            raise SpaceError(f"--slurm: {folder} is being run now by {holder.words()}")
        lines += time_words(request, wall, campaign=campaign.is_campaign(args.files))
        if args.gpus_per_trial == 0:
            lines.append(
                "  (CPU step costs were timed on this machine: the job's nodes may differ)"
            )
    except (ConfigError, subprocess.SubprocessError, OSError) as err:
        return fail(str(err))
    line = sbatch_line(request, args)
    print("\n".join([*lines, "sbatch line: " + shlex.join(line)]), flush=True)
    if args.dry_run:
        print("dry run: nothing submitted", flush=True)
        return ExitCode.OK
    try:
        job = submit(line)
    except ConfigError as err:
        return fail(str(err))
    name = request.values.get("--job-name", "tune_ired")
    output = Path(request.output.replace("%j", job).replace("%x", name)).resolve()
    print(f"submitted job {job}; its output: {output}; the sweep folder: {folder}")
    print(f"  where it stands: python -m tune_ired.status {folder}")
    return ExitCode.OK
