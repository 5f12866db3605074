"""The report's provenance block: which code, packages, device, host and command produced a sweep.

Read from sweep.json's "provenance" record (written by `tune_ired.sweep`) and the trials'
`run/host`, `run/device` and `run/code_version` columns; the distinct trial values are
listed when they differ from the sweep's (a resumed sweep on other nodes, other code).

    from tune_ired.analysis.provenance import provenance_lines
    for line in provenance_lines(study.provenance, study.trials): print(line)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

NOT_RECORDED = "provenance not recorded (sweep written by an older version)"
UNKNOWN = "not recorded"
COMMIT_CHARS = 12  # enough of a git commit id to find it
PACKAGES = ("torch", "ray", "optuna")  # named first; any others recorded follow
TRIAL_COLUMNS = {"run/host": "hosts", "run/device": "devices", "run/code_version": "code versions"}


def code_line(code: dict[str, Any]) -> str:
    commit = code.get("git_commit")
    dirty = code.get("git_dirty")
    state = "" if dirty is None else (" with uncommitted changes" if dirty else " (clean)")
    git = f"git {commit[:COMMIT_CHARS]}{state}" if commit else "git commit not recorded"
    return f"Code: tune_ired {code.get('version', UNKNOWN)}, {git}."


def environment_line(record: dict[str, Any]) -> str:
    packages = record.get("packages", {})
    names = [*[p for p in PACKAGES if p in packages], *sorted(set(packages) - set(PACKAGES))]
    device = record.get("device", {})
    cuda = f", CUDA {device['cuda']}" if device.get("cuda") else ""
    slurm = f", SLURM job {record['slurm_job_id']}" if record.get("slurm_job_id") else ""
    versions = (
        ", ".join(f"{name} {packages[name]}" for name in names) or "package versions not recorded"
    )
    device_text = f"{device.get('kind', UNKNOWN)} {device.get('name', '')}".rstrip() + cuda
    return (
        f"Environment: Python {record.get('python', UNKNOWN)}; {versions}; device {device_text}; "
        f"host {record.get('host', UNKNOWN)}{slurm}."
    )


def command_line(record: dict[str, Any]) -> str:
    ended = record.get("ended_at") or "not recorded (killed, or still running)"
    return f"Command: {record.get('command', UNKNOWN)}; started {record.get('started_at', UNKNOWN)}, ended {ended}."


def sweep_values(record: dict[str, Any]) -> dict[str, set[str]]:
    """What the sweep itself recorded for each trial column (a trial value outside it is listed)."""
    device = record.get("device", {})
    return {
        "run/host": {str(record.get("host"))},
        "run/device": {str(device.get(key)) for key in ("kind", "name") if device.get(key)},
        "run/code_version": {str(record.get("code", {}).get("version"))},
    }


def trial_lines(record: dict[str, Any] | None, trials: pd.DataFrame) -> list[str]:
    """'Trials ran on hosts: a, b.' per trial column whose values differ from the sweep's (or always, unrecorded)."""
    expected = sweep_values(record) if record else {}
    lines = []
    for column, what in TRIAL_COLUMNS.items():
        if column not in trials:
            continue
        values = sorted(trials[column].dropna().astype(str).unique())
        if values and (len(values) > 1 or not set(values) <= expected.get(column, set())):
            lines.append(f"Trials ran on {what}: {', '.join(values)}.")
    return lines


def provenance_lines(record: dict[str, Any] | None, trials: pd.DataFrame) -> list[str]:
    """A few sentences: code, environment, command and times, and the trials' own hosts/devices when they differ."""
    if not record:
        return [NOT_RECORDED[0].upper() + NOT_RECORDED[1:] + ".", *trial_lines(None, trials)]
    head = [code_line(record.get("code", {})), environment_line(record), command_line(record)]
    return head + trial_lines(record, trials)
