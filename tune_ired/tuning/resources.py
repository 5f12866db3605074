"""What the command line asks of the machine or cluster, checked before Ray starts (raises SpaceError).

The numeric flags and names (`check_flags`, `name_problem`), the storage (a real write test,
`check_storage`), this machine's CPUs and GPUs against a trial's request and its devices
(`check_local_resources`), a cluster address that answers (`check_address`), and, once a
cluster is joined, that one of its nodes can hold a trial (`check_cluster`).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
from pathlib import Path
from typing import Any

from tune_ired.record.files import write_problem
from tune_ired.tuning.validate import SpaceError, sample_values

ADDRESS_TIMEOUT_S = 5.0  # a cluster address must accept a connection within this


def check_address(address: str) -> None:
    """Raise SpaceError unless something accepts a TCP connection at the cluster address (HOST:PORT)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise SpaceError(
            f"--address '{address}': expected HOST:PORT of a Ray head, e.g. 10.0.0.1:6379."
        )
    try:
        socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT_S).close()
    except OSError as err:
        raise SpaceError(
            f"--address '{address}': nothing answers there ({err}). Start the cluster first, "
            "or omit --address to run on a private local Ray."
        ) from err


def check_flags(args: argparse.Namespace) -> None:
    """The numeric flags and their combinations (raises SpaceError)."""
    problems = []
    if args.cpus_per_trial < 1:
        problems.append(f"--cpus-per-trial {args.cpus_per_trial}: must be >= 1")
    if args.gpus_per_trial < 0 or not math.isfinite(args.gpus_per_trial):
        problems.append(
            f"--gpus-per-trial {args.gpus_per_trial}: must be >= 0 (fractions share a GPU)"
        )
    if args.max_concurrent < 0:
        problems.append(
            f"--max-concurrent {args.max_concurrent}: must be >= 0 (0: as many as resources allow)"
        )
    if args.num_samples is not None and args.num_samples < 1:
        problems.append(
            f"--num-samples {args.num_samples}: must be >= 1 (Ray Tune reads -1 as 'sample until stopped'; "
            "this command has no such mode: give the number of trials)"
        )
    if args.studies_at_once < 1:
        problems.append(f"--studies-at-once {args.studies_at_once}: must be >= 1")
    if args.name is not None and (problem := name_problem(args.name)):
        problems.append(f"--name {args.name!r}: {problem}")
    if args.resume and args.overwrite:
        problems.append(
            "--resume continues the folder's sweep and --overwrite deletes it: pass one of them"
        )
    if args.slurm and args.address:
        problems.append("--slurm submits a job that starts its own Ray cluster: drop --address")
    if problems:
        raise SpaceError("; ".join(problems) + ".")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a sweep's, a campaign's or a study's folder in --storage (None: it can)."""
    if name in ("", ".", ".."):
        return "not a folder name"
    if any(separator in name for separator in ("/", "\\", "\0")):
        return "a folder name in --storage, without a path separator"
    if name.startswith("."):
        return "must not start with '.' (the drivers' lock files do)"
    return None


def check_storage(folder: Path) -> None:
    """Raise SpaceError when the sweep folder cannot be written (a file, a read-only folder)."""
    problem = write_problem(folder)
    if problem:
        raise SpaceError(
            f"--storage: the sweep folder {folder} cannot be written: {problem}. Choose another --storage."
        )


def local_cpus() -> int:
    """The CPUs a private local Ray gets on this machine (Ray's own count, cgroup limits included)."""
    from ray._private.utils import get_num_cpus

    return int(get_num_cpus())


def local_gpus() -> int:
    """The CUDA GPUs torch can use on this machine (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def requested_devices(param_space: dict[str, Any]) -> set[str]:
    """Every `device` a trial of the space can be given."""
    value = param_space.get("device")
    return set(map(str, sample_values(value))) if value is not None else set()


def check_local_resources(param_space: dict[str, Any], resources: dict[str, float]) -> None:
    """Raise SpaceError when a trial asks more than this machine has (Ray would wait forever) or a missing GPU."""
    problems = []
    cpus = local_cpus()
    if resources["cpu"] > cpus:
        problems.append(
            f"--cpus-per-trial {resources['cpu']:g} is more than the {cpus} CPUs of this machine"
        )
    cuda = sorted(device for device in requested_devices(param_space) if device.startswith("cuda"))
    if resources["gpu"] > 0 or cuda:
        gpus = local_gpus()
        if resources["gpu"] > gpus:
            problems.append(
                f"--gpus-per-trial {resources['gpu']:g} asks for more GPUs than the {gpus} of this machine"
            )
        wanted = [
            d
            for d in cuda
            if (d == "cuda" and not gpus) or (d.startswith("cuda:") and int(d[5:]) >= gpus)
        ]
        if wanted:
            problems.append(
                f"device={wanted[0]} asks for a CUDA GPU this machine does not have ({gpus} found)"
            )
    if problems:
        raise SpaceError(
            "; ".join(problems)
            + ". Ray would wait for it forever, or every trial would fail: ask for less, "
            "use device=cpu (the default), or run on a cluster that has it (--address)."
        )


def check_cluster(
    nodes: list[dict[str, Any]], resources: dict[str, float], *, cuda: bool = False
) -> None:
    """Raise SpaceError unless one alive node of a cluster (`ray.nodes()`) has a trial's CPUs and GPUs
    (some GPU when a trial asks for device=cuda)."""
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive", True)]
    gpus = max(resources["gpu"], float(cuda))
    if any(node.get("CPU", 0) >= resources["cpu"] and node.get("GPU", 0) >= gpus for node in alive):
        return
    sizes = (
        ", ".join(f"{node.get('CPU', 0):g} CPUs and {node.get('GPU', 0):g} GPUs" for node in alive)
        or "none"
    )
    wants = f"--cpus-per-trial {resources['cpu']:g} and --gpus-per-trial {resources['gpu']:g}"
    raise SpaceError(
        f"{wants}{' with device=cuda' if cuda else ''}: no node of the cluster has that (its nodes: {sizes}); "
        "Ray would wait for it forever, or every trial would fail. Ask for less per trial, or use device=cpu."
    )


def trials_at_once(
    nodes: list[tuple[float, float]], resources: dict[str, float], *, trials: int, limit: int
) -> int:
    """How many trials run side by side on `nodes` ((CPUs, GPUs) each), given a trial's CPUs and GPUs,
    the number of trials and --max-concurrent (`limit`, 0: none)."""
    cpus, gpus = resources["cpu"], resources["gpu"]
    per_node = [
        min(node_cpus // cpus, node_gpus // gpus if gpus > 0 else math.inf)
        for node_cpus, node_gpus in nodes
    ]
    fit = int(sum(per_node))
    return max(1, min(fit, trials, limit or trials))


def local_nodes() -> list[tuple[float, float]]:
    """This machine as the one node of a private local Ray."""
    return [(float(local_cpus()), float(local_gpus()))]


def job_nodes() -> list[tuple[float, float]] | None:
    """The nodes of the SLURM job this process runs in (CPUs and GPUs SLURM gave each), None outside one."""
    nodes = os.environ.get("SLURM_JOB_NUM_NODES") or os.environ.get("SLURM_NNODES")
    cpus = os.environ.get("SLURM_CPUS_ON_NODE")
    if not nodes or not cpus:
        return None
    gpus = os.environ.get("SLURM_GPUS_ON_NODE") or os.environ.get("SLURM_GPUS_PER_NODE") or "0"
    count = gpus.rpartition(":")[2]  # a typed count, e.g. a100:4
    return [(float(cpus), float(count) if count.isdigit() else 0.0)] * int(nodes)
