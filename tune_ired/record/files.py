"""Files written so that no reader ever sees half of one: atomic replacement, JSON, a real write test.

Every file the package writes whole (configs, run.json, sweep.json, best.json, the tables,
checkpoints, Tune's kept snapshot) goes through `replace_atomically`: a sibling temporary file,
flushed to disk, then a rename, so a process killed at any moment, or a full disk, leaves the
previous file. Files whose content is often the same again (JSON records, the tables) skip
an identical write, so a re-run that changes nothing writes nothing. Torch-free and Ray-free.

    write_json(folder / "sweep.json", meta)      # False when the file held exactly this already
    problem = write_problem(folder)              # None, or why nothing can be written there
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def replace_atomically(
    path: Path, write: Callable[[Path], object], *, skip_same: bool = False
) -> bool:
    """Create `path` by `write(tmp)` on a sibling temporary file, flushed to disk, then a rename: never a torn file.

    With `skip_same`, content equal to what `path` holds already is not written again (the
    temporary file is removed, `path` keeps its bytes and times; not for checkpoints, whose
    bytes always change and would be read back for nothing). Returns whether `path` was
    replaced. A failed write (a full disk) removes the temporary file and leaves `path` as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # one per process: two writers never share it
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        if skip_same and same_bytes(tmp, path):
            tmp.unlink()
            return False
        with tmp.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def same_bytes(one: Path, other: Path) -> bool:
    """True when both files exist and hold the same bytes."""
    try:
        if one.stat().st_size != other.stat().st_size:
            return False
        return one.read_bytes() == other.read_bytes()
    except OSError:
        return False


def is_disk_full(err: BaseException) -> bool:
    """True for the OSError of a full disk or an exhausted quota."""
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


def write_problem(folder: Path) -> str | None:
    """Why files could not be written into `folder` (created when missing), or None.

    A real write test, not a permission check (which says yes to root on a read-only mount
    or in /proc): a uniquely named probe file is created in the nearest existing folder and
    removed at once. Nothing else is created.
    """
    for place in (folder, *folder.parents):
        if not place.exists():
            continue
        if not place.is_dir():
            return f"{place} is a file, not a folder"
        probe = place / f".write-probe-{os.getpid()}-{time.monotonic_ns()}"
        try:
            probe.open("x").close()
            probe.unlink()
        except OSError as err:
            return f"{place} is not writable ({err.strerror})"
        return None
    return f"{folder} has no existing parent folder"


def write_json(path: Path, data: dict[str, Any]) -> bool:
    """Write a JSON object atomically (sorted keys, indented); False when `path` held it already."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return replace_atomically(path, lambda tmp: tmp.write_text(text), skip_same=True)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when it is missing, torn or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
