"""A sweep folder's state before Ray starts, and the repairs a resume makes to it.

`read_stored` says what a folder holds (sweep.json, Tune's files, trial records), from which
the plan decides how to start (`Start`); `prepare_folder` then clears it (`--overwrite`, a
start-up's leftovers) or makes it ready to resume: the kept snapshot back in place of a torn
one (`tune_ired.record.tunestate`), trial folders Tune's snapshot never recorded set aside, and
every trial's record completed from its checkpoints' copies (`tune_ired.record.runfolder`).
Torch-free and Ray-free.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tune_ired.record import results, sweepfile, tunestate
from tune_ired.record.runfolder import (
    CONFIG_FILE,
    METRICS_FILE,
    TRIAL_PREFIX,
    UNRECORDED_DIR,
    repair_record,
)


class Start(StrEnum):
    """What the sweep command does with its folder."""

    FRESH = "fresh"  # start a new sweep (after clearing the folder when `Plan.clear`)
    RESUME = "resume"  # continue the folder's sweep from Tune's snapshot
    REPORT = "report"  # the folder holds this sweep, finished: report it, run nothing


@dataclass(frozen=True)
class Stored:
    """What a sweep folder holds already."""

    meta: dict[str, Any]  # its sweep.json ({} when none, or unreadable)
    tune_files: bool  # Tune's tuner.pkl or experiment state
    records: list[str]  # trial folders holding a run record (a trial started in them)

    @property
    def anything(self) -> bool:
        return bool(self.meta or self.tune_files or self.records)


def read_stored(folder: Path) -> Stored:
    """What `folder` holds (nothing when it does not exist)."""
    if not folder.is_dir():
        return Stored(meta={}, tune_files=False, records=[])
    tune_files = (folder / tunestate.TUNER_FILE).exists() or bool(tunestate.state_files(folder))
    records = sorted(
        trial.name
        for trial in folder.glob(f"{TRIAL_PREFIX}*")
        if (trial / CONFIG_FILE).exists() or (trial / METRICS_FILE).exists()
    )
    return Stored(meta=sweepfile.read_meta(folder), tune_files=tune_files, records=records)


def prepare_folder(plan) -> None:
    """Clear the folder (--overwrite, a start-up's leftovers), or make it ready to resume: the kept snapshot
    back in place of a torn one, and every trial's record completed from its checkpoints' copies."""
    if plan.clear:
        shutil.rmtree(plan.folder)
    if plan.restore_kept:
        print(tunestate.restore_kept(plan.folder), flush=True)
    if plan.resume:
        set_aside_unrecorded(plan.folder)
        for trial in results.trial_folders(plan.folder):
            _, repaired = repair_record(trial)
            if repaired:
                print(
                    f"repaired {trial / METRICS_FILE}: steps {repaired} restored from its checkpoints",
                    flush=True,
                )


def set_aside_unrecorded(folder: Path) -> None:
    """Move the trial folders Tune's snapshot does not hold into UNRECORDED_DIR, saying so.

    A trial that started after Tune's last snapshot (a kill soon after it began) is unknown to
    the restored experiment and its searcher: Tune draws it again as a new trial. Left in
    place, its folder would count as a trial that never ends; moved, its rows are kept. A
    snapshot that lists no trial at all (or whose format this code cannot read) moves nothing.
    """
    recorded = results.read_states(folder)
    if not recorded:
        return
    for trial in results.trial_folders(folder):
        if trial.name in recorded:
            continue
        (folder / UNRECORDED_DIR).mkdir(exist_ok=True)
        trial.rename(folder / UNRECORDED_DIR / trial.name)
        print(
            f"{trial.name} started after Tune's last snapshot, so Tune draws it again as a new trial: "
            f"its folder moved to {folder / UNRECORDED_DIR / trial.name}",
            flush=True,
        )
