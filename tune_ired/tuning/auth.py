"""The private token of a sweep's local Ray: created 0600 in a 0700 folder before Ray is imported.

Ray 2.60 turns token authentication on for a local `ray.init()` and, by default, writes
the token to `~/.ray/auth_token` with the umask's modes (0644 in a 0755 folder: readable by
every user of a shared login node). `python -m tune_ired.sweep` instead makes a fresh
256-bit token per run in `~/.ray/tune_ired/local-<host>-<pid>.token` (file 0600, folder 0700,
the folder where `cluster/ray_sweep.sbatch` keeps its job tokens), hands it to Ray through
RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH, which Ray reads once per process (so this
runs before Ray is imported), and deletes it when the sweep ends. A token set-up of the
user's own (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or RAY_AUTH_MODE in the environment) and
a cluster's (`--address`) are left alone. A sweep killed with SIGKILL cannot delete its
token; the next sweep on the same host deletes the tokens of this host whose process is gone
(only this host's: a shared home also holds other login nodes' live tokens).

    with private_token(address=None) as path:   # path: the token file, or None when left alone
        ...start Ray and run the sweep...
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tune_ired.record.provenance import is_running

TOKEN_BYTES = 32  # 256 bits, as the SLURM job's token
PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600
# a token set-up of the user's own
USER_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")
SET_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")  # what private_token sets while it runs


def token_folder() -> Path:
    """~/.ray/tune_ired, read when called (HOME may differ from when the module was imported)."""
    return Path.home() / ".ray" / "tune_ired"


def token_path(pid: int) -> Path:
    """This host's token file of the sweep process `pid`."""
    return token_folder() / f"local-{socket.gethostname()}-{pid}.token"


def remove_stale_tokens() -> None:
    """Delete this host's tokens whose sweep process is gone (killed before it could delete them)."""
    prefix = token_path(0).name.removesuffix("0.token")
    for path in token_folder().glob(f"{prefix}*.token"):
        pid = path.name.removeprefix(prefix).removesuffix(".token")
        if pid.isdigit() and not is_running(int(pid)):
            path.unlink(missing_ok=True)


def write_private_token(path: Path) -> None:
    """A fresh random token in `path`: the file created 0600 (never wider), its folder made 0700."""
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    path.parent.chmod(PRIVATE_FOLDER)  # also when it existed with wider modes
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "w") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE)  # also when the file existed with wider modes
        out.write(secrets.token_hex(TOKEN_BYTES))


@contextmanager
def private_token(*, address: str | None) -> Iterator[Path | None]:
    """While the sweep runs: a private token for its local Ray, in the environment Ray reads."""
    if address or any(os.environ.get(name) for name in USER_VARIABLES):
        yield None
        return
    path = token_path(os.getpid())
    write_private_token(path)
    remove_stale_tokens()
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(path))
    try:
        yield path
    finally:
        for name in SET_VARIABLES:
            os.environ.pop(name, None)
        path.unlink(missing_ok=True)
