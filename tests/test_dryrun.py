"""`sweep --dry-run` (issue 14): the trials, resources and work of a sweep, printed without starting Ray."""

from __future__ import annotations

import ray

from tune_ired import sweep
from tune_ired.cli import ExitCode


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
    assert "6 trials:" in out and "estimated work: 6000 trial-steps" in out
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
