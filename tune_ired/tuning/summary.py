"""The end of a sweep: the tidy tables and best.json on disk; statuses, the best trials and what next on the console.

    python -m tune_ired.sweep ...      # calls summarize(plan) when the Tuner returns

`best.json` (in the sweep folder, written atomically) names the best trial by the sweep's
metric (its best finite evaluation, as the tables' `best/<metric>`): its id, status and
folder, its whole config, the searched keys, the metric values of that evaluation and of
its last one, and the path of its best checkpoint (`trial_<id>/checkpoints/best.pt`, the
state at that evaluation). A checkpoint that is not there (deleted since, or never kept) is
`"checkpoint": null` with `"checkpoint_missing"` naming the path, and the console warns
once. No trial with a finite value: no best.json, and the console says so. Files that
already hold what would be written are left alone, so a re-run of a finished sweep writes
nothing (`summarize` returns what it wrote).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tune_ired.record import results, sweepfile, sweepview
from tune_ired.record.catalogue import SEED_KEY, STEP, UNFINISHED, TrialStatus
from tune_ired.record.files import read_json, write_json
from tune_ired.record.runfolder import (
    BEST_CHECKPOINT,
    CHECKPOINTS,
    CONFIG_FILE,
    read_metrics,
    trial_dirname,
)
from tune_ired.tuning.plan import Plan

BEST_FILE = "best.json"
MISSING_WHY = "not found when best.json was written"
ERROR_FILE = "error.txt"  # Tune's record of a failed trial's exception
TOP_TRIALS = 5  # trials listed in the closing table, best first


def plain_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """A row's metric keys without the per-seed ones (results.metrics_of: NaN for non-finite values)."""
    return {key: value for key, value in results.metrics_of(row).items() if not SEED_KEY.match(key)}


def best_record(folder: Path, meta: dict[str, Any], top: sweepview.TrialView) -> dict[str, Any]:
    """What best.json holds for the best trial `top`."""
    own = folder / trial_dirname(top.trial_id)
    rows = read_metrics(own)
    best_row = next(row for row in rows if row[STEP] == top.best_step)
    checkpoint = own / CHECKPOINTS / BEST_CHECKPOINT
    missing = {} if checkpoint.exists() else {"checkpoint_missing": f"{checkpoint} ({MISSING_WHY})"}
    return {
        "sweep": str(folder),
        "metric": sweepfile.metric_of(meta),
        "mode": sweepfile.mode_of(meta),
        "trial_id": top.trial_id,
        "status": top.status.value,
        "trial_dir": str(own),
        "value": top.best,
        "step": top.best_step,
        "checkpoint": str(checkpoint) if checkpoint.exists() else None,
        "searched": {key: top.params.get(key) for key in meta.get("searched", [])},
        "config": read_json(own / CONFIG_FILE) or top.params,
        "best": plain_metrics(best_row),
        "final": plain_metrics(rows[-1]),
        **missing,
    }


def write_best(
    folder: Path, meta: dict[str, Any], views: list[sweepview.TrialView]
) -> tuple[Path | None, bool]:
    """Write best.json for the best trial so far: its path (None when no trial has a finite value: nothing
    written), and whether the file changed."""
    top = sweepview.best_view(views, sweepfile.mode_of(meta))
    if top is None:
        return None, False
    path = folder / BEST_FILE
    return path, write_json(path, best_record(folder, meta, top))


def closing_text(plan: Plan, views: list[sweepview.TrialView], *, best: Path | None) -> list[str]:
    """The closing lines: statuses, the best trials, best.json, errors, and the next commands."""
    metric, mode = plan.spec.metric, plan.spec.mode
    ranked = sorted(
        views, key=lambda view: (view.best != view.best, view.best if mode == "min" else -view.best)
    )
    lines = [
        f"== sweep {plan.folder}: done ==",
        f"trials: {sweepview.status_counts(views)}",
        f"best {min(TOP_TRIALS, len(ranked))} of {len(ranked)} by {metric} ({mode}):",
        sweepview.trials_table(ranked[:TOP_TRIALS], searched=plan.searched, metric=metric),
        sweepview.best_line(views, metric=metric, mode=mode, searched=plan.searched, label="best"),
    ]
    if best is not None:
        record = read_json(best)
        lines.append("best config: " + json.dumps(record["searched"]))
        lines.append(f"best trial, config, metrics and checkpoint: {best}")
        if record.get("checkpoint_missing"):
            lines.append(
                f"warning: the best trial's checkpoint is gone: {record['checkpoint_missing']}"
            )
    else:
        lines.append(f"no trial reported a finite {metric}: no {BEST_FILE} written")
    lines += [
        f"{view.trial_id} errored: see {plan.folder / trial_dirname(view.trial_id) / ERROR_FILE}"
        for view in views
        if view.status is TrialStatus.ERRORED
    ]
    if any(view.status in UNFINISHED for view in views):
        lines.append(f"the sweep did not finish; continue it with: {plan.again}")
    lines.append(f"status any time: python -m tune_ired.status {plan.folder}")
    lines.append(f"next, the report: python -m tune_ired.report {plan.folder}")
    return lines


def summarize(plan: Plan) -> list[Path]:
    """Write the tidy tables and best.json into the sweep folder (each only when its content changed), then
    print the closing summary; returns the files written."""
    written = results.write_tables(plan.folder)
    meta, views = sweepview.sweep_views(plan.folder)
    best, changed = write_best(plan.folder, meta, views)
    written += [best] if changed else []
    for path in written:
        print(f"wrote {path}")
    print("\n".join(closing_text(plan, views, best=best)), flush=True)
    return written
