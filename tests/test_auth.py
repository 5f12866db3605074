"""The local Ray's private token (issue 14): created 0600 in a 0700 folder, also over wider modes."""

from __future__ import annotations

import os
import stat

from tune_ired.tuning import auth

NO_SUCH_PID = 0x7FFFFFF0  # above Linux's largest pid_max (2**22): no process has it


def modes(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_token_file_and_folder_are_private_even_when_they_existed_wider(tmp_path):
    path = tmp_path / "tune_ired" / "local.token"
    path.parent.mkdir(mode=0o755)
    path.parent.chmod(0o755)
    path.write_text("old")
    path.chmod(0o644)
    auth.write_private_token(path)
    assert modes(path) == 0o600 and modes(path.parent) == 0o700
    assert len(path.read_text()) == 2 * auth.TOKEN_BYTES and path.read_text() != "old"


def test_private_token_is_given_to_ray_while_it_runs_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in auth.USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with auth.private_token(address=None) as path:
        assert path.parent == tmp_path / ".ray" / "tune_ired" and modes(path) == 0o600
        assert (
            os.environ["RAY_AUTH_TOKEN_PATH"] == str(path)
            and os.environ["RAY_AUTH_MODE"] == "token"
        )
    assert not path.exists() and "RAY_AUTH_TOKEN_PATH" not in os.environ


def test_a_users_own_token_and_a_cluster_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", "/elsewhere/token")
    with auth.private_token(address=None) as path:
        assert path is None and os.environ["RAY_AUTH_TOKEN_PATH"] == "/elsewhere/token"
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    with auth.private_token(address="10.0.0.1:6379") as path:
        assert path is None and not (tmp_path / ".ray").exists()


def test_a_killed_sweeps_token_of_this_host_is_removed_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in auth.USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    stale, alive = auth.token_path(NO_SUCH_PID), auth.token_path(os.getppid())
    other_host = auth.token_folder() / "local-elsewhere-1.token"
    for path in (stale, alive, other_host):
        auth.write_private_token(path)
    with auth.private_token(address=None) as path:
        assert path.exists() and alive.exists() and other_host.exists()
    assert not stale.exists()
