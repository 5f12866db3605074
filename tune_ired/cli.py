"""What every command line of the package shares: exit codes and the one-paragraph error.

    from tune_ired.cli import ExitCode, fail
    return fail("--out: a run folder is required")     # prints 'error: ...', returns ExitCode.BAD_INPUT

Torch-free and Ray-free, so a command can parse its arguments (and answer --help) before it
imports anything heavy.
"""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses of `train`, `sweep`, `report`, `status` and `landscape`."""

    OK = 0
    FAILED = 1  # the work ran but did not succeed (e.g. a sweep whose trials errored)
    BAD_INPUT = 2  # rejected before any work started: the message names the file, flag or key
    DISK_FULL = 74  # the storage filled up (EX_IOERR); what is on disk stays readable: free space, then resume
    INTERRUPTED = 75  # stopped by a signal with its state saved (EX_TEMPFAIL): resume it


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> ExitCode:
    """Print `error: <message>` as one paragraph on stderr and return `code` for `sys.exit`."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return code
