"""Test-only trainables: `train_ired` whose first attempt raises right after its first checkpointed report
(`fail_once`), and one that always raises (`fail_always`).

The injected failure lives here, not in the package: the sweep is given this function
as its trainable (`tune_ired.tuning.driver.run(plan, trainable=fail_once)`). A marker file in
the trial's own folder makes the failure happen once per trial, across processes.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from ray import tune

from tune_ired.tuning.trainable import train_ired

MARKER = "injected_failure"


class InjectedFailure(RuntimeError):
    """The failure a retried trial must survive."""


def fail_once(config: dict, **params) -> None:
    marker = Path(tune.get_context().get_trial_dir()) / MARKER
    if marker.exists():
        return train_ired(config, **params)
    real_report = tune.report

    def report_then_raise(metrics, *, checkpoint=None):
        real_report(metrics, checkpoint=checkpoint)
        if checkpoint is not None:
            marker.touch()
            raise InjectedFailure(f"injected after step {metrics['step']}")

    with mock.patch.object(tune, "report", report_then_raise):
        return train_ired(config, **params)


class ConfigFailure(ValueError):
    """What a trial whose config cannot train raises, every time."""


def fail_always(config: dict, **params) -> None:
    raise ConfigFailure(
        f"this trial's config cannot train (noise_scale={config.get('noise_scale')})"
    )
