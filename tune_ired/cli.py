"""What every command line of the package shares: the commands, exit codes, `--version` and the one-paragraph error.

    tune-ired sweep search_spaces/noise_scale.py --budget quick   # = python -m tune_ired.sweep ...
    python -m tune_ired                                           # lists the commands
    from tune_ired.cli import ExitCode, fail
    return fail("--out: a run folder is required")     # prints 'error: ...', returns ExitCode.BAD_INPUT

Torch-free and Ray-free, so a command can parse its arguments (and answer --help) before it
imports anything heavy.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from enum import IntEnum
from pathlib import Path

from tune_ired import __version__

SCRIPT = "tune-ired"  # the console script (pyproject.toml [project.scripts])
COMMANDS = {  # command -> what it does; each is `python -m tune_ired.<command>` and `tune-ired <command>`
    "train": "train one config (one or several seeds) into a run folder",
    "sweep": "run a search-space file, or a campaign of them, as a Ray Tune sweep",
    "status": "where a sweep stands, read from its folder alone",
    "report": "verdicts, tables and figures of a sweep, or an index of a campaign",
    "landscape": "energy landscapes of a trained run or of every trial of a sweep",
}


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


def warn(message: str) -> None:
    """A one-line warning on stderr (a sweep trial's stderr reaches the sweep's console)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def prog(command: str) -> str:
    """A command's name in its usage line: as the console script or `python -m` started it."""
    if Path(sys.argv[0]).name == SCRIPT:
        return f"{SCRIPT} {command}"
    return f"python -m tune_ired.{command}"


def add_version(parser: argparse.ArgumentParser) -> None:
    """`--version`: the package's version, then exit."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def usage() -> str:
    """The commands, one line each."""
    width = max(map(len, COMMANDS))
    lines = [f"usage: {SCRIPT} COMMAND [ARGS]   (or: python -m tune_ired.COMMAND [ARGS])", ""]
    lines += [f"  {name.ljust(width)}  {what}" for name, what in COMMANDS.items()]
    lines += [
        "",
        f"{SCRIPT} COMMAND --help: the command's options; --version: tune_ired {__version__}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`tune-ired COMMAND ARGS` and `python -m tune_ired COMMAND ARGS`: run the command; no command lists them."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return ExitCode.OK
    if argv[0] == "--version":
        print(f"tune_ired {__version__}")
        return ExitCode.OK
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return fail(
            f"unknown command '{command}'; the commands are {', '.join(COMMANDS)} ({SCRIPT} --help)."
        )
    return importlib.import_module(f"tune_ired.{command}").main(rest)
