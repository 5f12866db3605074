"""`sweep --dry-run` (issue 14): the trials, resources and work of a sweep, printed without starting Ray."""

from __future__ import annotations

import os
import socket

import ray

from tune_ired import sweep
from tune_ired.cli import ExitCode
from tune_ired.tuning.lock import driver_lock


def test_grid_dry_run_lists_every_trial_and_the_work(capsys, tmp_path):
    argv = [
        "search_spaces/noise_scale.py",
        "--budget",
        "quick",
        "--storage",
        str(tmp_path),
        "--dry-run",
    ]
    assert sweep.main(argv) == ExitCode.OK
    out = capsys.readouterr().out
    assert "6 trials:" in out and "work: 6000 trial-steps" in out
    assert "estimate: 6 trials, 2 at once; wall time" in out and "(ASHA stops every trial" in out
    for value in ("0.01", "0.1", "0.5", "1.0", "2.0", "3.0"):
        assert f"  {value} " in out
    assert "1 CPU and 0 GPU per trial" in out and "ASHA" in out and "Ray is not started" in out
    assert not ray.is_initialized() and not (tmp_path / "noise_scale").exists()


def test_sampled_dry_run_says_what_is_drawn_and_how_many(capsys, tmp_path):
    argv = [
        "search_spaces/optuna_mining.py",
        "--budget",
        "quick",
        "--storage",
        str(tmp_path),
        "--dry-run",
    ]
    assert sweep.main([*argv, "--num-samples", "5"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "5 trials, drawn by the optuna searcher" in out
    assert "noise_scale ~ loguniform(0.01, 3.0)" in out and "opt_steps ~ integers 1..20" in out
    assert "strategy ~ choice of ['adversarial', 'ascent', 'mixed']" in out
    assert not ray.is_initialized()


def test_a_dry_run_says_what_it_checked_and_what_it_did_not(capsys, tmp_path):
    with socket.socket() as listening:  # something that accepts connections, not a Ray head
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        address = f"127.0.0.1:{listening.getsockname()[1]}"
        argv = ["search_spaces/noise_scale.py", "--budget", "quick", "--storage", str(tmp_path)]
        assert sweep.main([*argv, "--address", address, "--dry-run"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"checked: something accepts connections at {address} (not that it is a Ray head)" in out
    assert "not checked: the cluster's per-node resources (checked when the sweep joins it)" in out
    assert "a probe file, created and removed" in out and list(tmp_path.iterdir()) == []
    assert "estimate: 6 trials, unknown (the cluster's size is known once joined) at once" in out
    with driver_lock(tmp_path / "noise_scale"):  # a driver runs the sweep now: said, not refused
        assert sweep.main([*argv, "--dry-run"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"a driver runs this sweep now: pid {os.getpid()} on host" in out
    assert "checked: this machine has the CPUs and GPUs a trial asks for" in out


def test_a_campaign_dry_run_prints_each_study_s_estimate_and_the_total(capsys, tmp_path):
    argv = ["search_spaces/research_plan.py", "--budget", "tiny", "--storage", str(tmp_path)]
    assert sweep.main([*argv, "--dry-run"]) == ExitCode.OK
    out = capsys.readouterr().out
    campaign = out[out.index("== campaign") :]
    for study in ("multiseed", "opt_steps", "dcd_ablation", "diffusion_steps"):
        assert f"study {study}: " in campaign and "at once; wall time" in campaign
    assert "campaign estimate: 9 studies to run, 1 at a time; wall time" in campaign
    assert "CPU core-hours at most" in campaign and not ray.is_initialized()
