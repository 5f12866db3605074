"""A campaign folder's own record, `campaign.json`: its studies in order, where each stands, its options.

Written by the campaign driver (`tune_ired.tuning.campaign`) whenever a study starts or ends;
read by the next start (which resumes with the recorded options, never rewriting them) and
by the report's campaign index (`tune_ired.analysis.report`). What it holds: `description`
(the campaign file's), `options` (the options every study runs with, recorded once),
`provenance`, and `studies`: one record per study (name, pid while it runs, file, folder,
`status` (a `StudyStatus`), exit code, start and end). Torch-free and Ray-free.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from tune_ired.record.files import read_json

CAMPAIGN_FILE = "campaign.json"


class StudyStatus(StrEnum):
    """Where a study of a campaign stands, as campaign.json records it."""

    PENDING = "pending"  # not started yet
    RUNNING = "running"  # its sweep process runs (or ran, when the campaign was killed)
    FINISHED = "finished"  # its sweep exited 0
    INTERRUPTED = "interrupted"  # stopped by a signal, resumable
    FAILED = "failed"  # its sweep exited non-zero


def read_campaign(folder: Path) -> dict[str, Any]:
    """The campaign's campaign.json ({} when absent or unreadable)."""
    return read_json(folder / CAMPAIGN_FILE)
