"""A sweep's trials as the live console and `python -m tune_ired.status` show them: one table, one reader.

    meta, views = sweep_views(Path("results/noise_scale"))   # sweep.json and a TrialView per trial
    print(describe(folder, meta, views))                     # the status command's text

Each trial's id, status (`tune_ired.record.catalogue.TrialStatus`), searched keys, the step it
has reached of its train_steps (live between evaluations, from its `heartbeat.json`), its last
and best value of the sweep's metric, and the best trial so far (never one that diverged or
errored), and while it runs its expected end (from the estimate in sweep.json and the trials'
observed speed: `tune_ired.record.estimate`). Read from the folder alone
(`tune_ired.record.results`): no Ray, no torch, also while the sweep runs or after a kill. The
sweep's console (`tune_ired.tuning.console`) and its
closing summary (`tune_ired.tuning.summary`) print the same lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tune_ired.record import results, sweepfile
from tune_ired.record.campaignfile import StudyStatus, read_campaign
from tune_ired.record.catalogue import DIVERGED_SENTINEL, STEP, UNFINISHED, TrialStatus
from tune_ired.record.estimate import (
    Estimate,
    Progress,
    duration_text,
    expected_end,
    makespan,
    remaining_s,
    speed_factor,
)
from tune_ired.record.files import read_json
from tune_ired.record.provenance import is_running
from tune_ired.record.results import TrialFiles, train_steps
from tune_ired.record.runfolder import HEARTBEAT_FILE, is_better

MISSING = "-"  # a value a trial has not reported (yet)
COLUMN_GAP = "  "
VALUE_DIGITS = 4  # significant digits of metric values in the tables
STATUS_ORDER = list(TrialStatus)  # the order of the per-status counts


@dataclass
class TrialView:
    """One trial as the console and the status command show it."""

    trial_id: str
    status: TrialStatus
    params: dict[str, Any]
    step: int  # optimiser steps reached (heartbeat while it runs, else its last report)
    train_steps: float
    last: float  # the sweep metric of its last report (NaN: none, or not finite)
    best: float  # its best finite value of the sweep metric (NaN: none)
    best_step: int | None
    from_step: int = 0  # where its latest start or resume began
    elapsed_s: float | None = (
        None  # seconds from that start to its latest heartbeat (None: not started)
    )


def metric_value(row: dict[str, Any], metric: str) -> float:
    """A row's metric as a float; NaN when missing, not finite or Tune's diverged sentinel."""
    value = row.get(metric)
    if (
        not isinstance(value, (int, float))
        or not math.isfinite(value)
        or abs(value) >= DIVERGED_SENTINEL
    ):
        return math.nan
    return float(value)


def view_of(
    trial: TrialFiles, status: TrialStatus, *, metric: str, mode: str, budget: str | None
) -> TrialView:
    """The view of one trial from its files (`trial.rows`: its metrics.jsonl rows)."""
    best, best_step = math.nan, None
    for row in trial.rows:
        if is_better(metric_value(row, metric), best, mode):
            best, best_step = metric_value(row, metric), row[STEP]
    step = trial.rows[-1][STEP] if trial.rows else 0
    beat = read_json(trial.folder / HEARTBEAT_FILE)
    if status is TrialStatus.RUNNING:
        step = max(step, beat.get(STEP, 0))
    session = (trial.sessions or [{}])[-1]
    return TrialView(
        trial_id=trial.trial_id,
        status=status,
        params=trial.params,
        step=step,
        train_steps=train_steps(trial, budget),
        last=metric_value(trial.rows[-1], metric) if trial.rows else math.nan,
        best=best,
        best_step=best_step,
        from_step=session.get("from_step", 0),
        elapsed_s=seconds_between(session.get("started_at"), beat.get("at")),
    )


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO times (None when either is missing)."""
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def trial_index(trial_id: str) -> int:
    """A trial's place in Tune's order: the number its id ends with (ffbef_00003: 3)."""
    tail = trial_id.rpartition("_")[2]
    return int(tail) if tail.isdigit() else -1


def progress_of(views: list[TrialView]) -> list[Progress]:
    """Each trial's progress, for an expected end."""
    return [
        Progress(
            index=trial_index(view.trial_id),
            step=view.step,
            train_steps=view.train_steps,
            from_step=view.from_step,
            elapsed_s=view.elapsed_s,
            ended=view.status not in UNFINISHED,
        )
        for view in views
    ]


def expected_end_line(meta: dict[str, Any], views: list[TrialView]) -> str | None:
    """When the sweep will end, from the estimate in its sweep.json and its trials' progress (None: the
    sweep recorded no estimate, or it has ended)."""
    estimate = Estimate.from_json(meta.get("estimate") or {})
    if estimate is None or not any(view.status in UNFINISHED for view in views):
        return None
    return expected_end(estimate, progress_of(views), now=datetime.now().astimezone())


def study_line(folder: Path, record: dict[str, Any]) -> tuple[str, float | None, float]:
    """A campaign study's line (its state, its trials, its expected end), the seconds it still needs
    when it runs (None otherwise) and how fast it runs against its estimate."""
    name, state = record["name"], record["status"]
    if state == StudyStatus.RUNNING and not is_running(record.get("pid")):
        state = "killed (its process is gone)"
    if not results.is_sweep(folder / name):
        return f"{name}: {state}", None, 1.0
    meta, views = sweep_views(folder / name)
    line = f"{name}: {state}, {status_counts(views)}"
    estimate = Estimate.from_json(meta.get("estimate") or {})
    if state != StudyStatus.RUNNING or estimate is None:
        return line, None, 1.0
    progress = progress_of(views)
    left = remaining_s(estimate, progress)
    return f"{line}; {expected_end_line(meta, views)}", left, speed_factor(estimate, progress)


def campaign_lines(folder: Path) -> tuple[list[str], str | None]:
    """Each study's line, and the campaign's expected end (None when nothing is left to run): studies not
    yet run take their estimate, scaled by how fast the running one goes against its own."""
    meta = read_campaign(folder)
    studies = meta.get("studies", [])
    lines, busy, factor = [], [], 1.0
    for record in studies:
        line, left, speed = study_line(folder, record)
        lines.append(line)
        if left is not None:
            busy.append(left)
            factor = speed
    waiting = [
        record["estimate_s"] * factor
        for record in studies
        if record["status"] in (StudyStatus.PENDING, StudyStatus.INTERRUPTED)
        and record.get("estimate_s") is not None
    ]
    if not busy and not waiting:
        return lines, None
    left = makespan(waiting, meta.get("at_once", 1), busy=busy)
    end = datetime.fromtimestamp(datetime.now().astimezone().timestamp() + left).astimezone()
    return lines, f"campaign expected end: {end:%Y-%m-%d %H:%M} (in {duration_text(left)})"


def campaign_text(folder: Path) -> str:
    """Where a campaign stands: each study's state, trials and expected end, and the campaign's."""
    lines, end = campaign_lines(folder)
    head = f"campaign {folder}: {len(lines)} studies"
    return "\n".join([head, *(f"  {line}" for line in lines), *([end] if end else [])])


def sweep_views(folder: Path) -> tuple[dict[str, Any], list[TrialView]]:
    """The sweep's sweep.json and a view of every trial with a folder (raises NotASweepError)."""
    results.check_sweep(folder)
    meta = sweepfile.read_meta(folder)
    metric, mode = sweepfile.metric_of(meta), sweepfile.mode_of(meta)
    budget = meta.get("budget")
    views = [
        view_of(trial, results.classify(trial, budget), metric=metric, mode=mode, budget=budget)
        for trial in results.read_trials(folder)
    ]
    return meta, views


def number(value: float) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.{VALUE_DIGITS}g}"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, two spaces apart, a dashed line under the header."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join(
        COLUMN_GAP.join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def trials_table(views: list[TrialView], *, searched: list[str], metric: str) -> str:
    """One line per trial: id, status, searched keys, step of train_steps, last and best metric (step)."""
    header = ["trial", "status", *searched, "step", metric, f"best {metric}"]
    rows = []
    for view in views:
        total = MISSING if math.isinf(view.train_steps) else f"{view.train_steps:.0f}"
        best = number(view.best) + ("" if view.best_step is None else f" @{view.best_step}")
        params = [str(view.params.get(key, MISSING)) for key in searched]
        rows.append(
            [
                view.trial_id,
                view.status.name,
                *params,
                f"{view.step}/{total}",
                number(view.last),
                best,
            ]
        )
    return format_table(header, rows)


def status_counts(views: list[TrialView]) -> str:
    """'2 RUNNING, 1 COMPLETED, 1 STOPPED' (statuses in catalogue order)."""
    counts = {status: sum(view.status is status for view in views) for status in STATUS_ORDER}
    return ", ".join(f"{n} {status.name}" for status, n in counts.items() if n) or "no trials yet"


# never named best: a good value before a failure is no result
FAILED = (TrialStatus.DIVERGED, TrialStatus.ERRORED)


def best_view(views: list[TrialView], mode: str) -> TrialView | None:
    """The trial with the best finite value of the metric so far, among trials that neither diverged nor
    errored (None when none has one)."""
    best = None
    for view in views:
        if view.status in FAILED:
            continue
        if is_better(view.best, math.nan if best is None else best.best, mode):
            best = view
    return best


def best_line(
    views: list[TrialView],
    *,
    metric: str,
    mode: str,
    searched: list[str],
    label: str = "best so far",
) -> str:
    """'best so far: <id> val/mse = 0.0209 at step 600 (lr=0.003)', or that no trial has a finite value."""
    top = best_view(views, mode)
    if top is None:
        return f"{label}: no trial has reported a finite {metric}"
    keys = " ".join(f"{key}={top.params.get(key, MISSING)}" for key in searched)
    return f"{label}: {top.trial_id} {metric} = {number(top.best)} at step {top.best_step}" + (
        f" ({keys})" if keys else ""
    )


def describe(folder: Path, meta: dict[str, Any], views: list[TrialView]) -> str:
    """The whole status text of a sweep folder."""
    metric, mode = sweepfile.metric_of(meta), sweepfile.mode_of(meta)
    searched = meta.get("searched", [])
    head = f"sweep {folder}"
    if meta:
        head += (
            f": {meta.get('file', '?')} at budget '{meta.get('budget', '?')}', {metric} ({mode})"
        )
    lines = [
        head,
        f"trials: {status_counts(views)}",
        trials_table(views, searched=searched, metric=metric),
        best_line(views, metric=metric, mode=mode, searched=searched),
        expected_end_line(meta, views),
    ]
    return "\n".join(line for line in lines if line)
