"""Conventional, fast command lines (issue 14): --help imports nothing heavy, budgets are choices, errors name the flag.

Times are not asserted (the machine is shared); what makes --help slow is: importing torch,
Ray or the analysis stack before the arguments are parsed. Each command runs in a fresh
interpreter and reports which of those modules --help loaded.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tune_ired import sweep
from tune_ired.cli import ExitCode

COMMANDS = ("sweep", "train", "report", "status")
HEAVY = ("torch", "ray", "pandas", "plotly", "scipy", "optuna")
PROBE = """
import sys
from tune_ired import {command}
try:
    {command}.main(["--help"])
except SystemExit as done:
    assert done.code == 0
print("HEAVY:", sorted({{name.split(".")[0] for name in sys.modules}} & set({heavy!r})))
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_answers_before_anything_heavy_is_imported(command):
    done = run_python(PROBE.format(command=command, heavy=HEAVY))
    assert done.returncode == 0, done.stderr
    assert "HEAVY: []" in done.stdout, done.stdout[-400:]
    assert "usage: python -m tune_ired." in done.stdout


def test_sweep_help_lists_budgets_trackers_defaults_and_plain_metavars():
    done = run_python(PROBE.format(command="sweep", heavy=HEAVY))
    text = done.stdout
    for needle in (
        "tiny:",
        "quick:",
        "paper:",
        "{tensorboard,mlflow,wandb}",
        "--dry-run",
        "(default: 1)",
    ):
        assert needle in text, needle
    assert "--cpus-per-trial N" in text and "--storage DIR" in text and "CPUS_PER_TRIAL" not in text


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--budget", "qick"], "argument --budget: invalid choice: 'qick'"),
        (["--tracker", "neptune"], "argument --tracker: invalid choice: 'neptune'"),
        (["--cpus-per-trial", "two"], "argument --cpus-per-trial: invalid int value: 'two'"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(argv, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(["search_spaces/noise_scale.py", *argv])
    assert exit_info.value.code == ExitCode.BAD_INPUT and needle in capsys.readouterr().err
