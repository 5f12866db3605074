"""The sweep's live console: our own Tune progress reporter and an ASHA that prints rungs in the metric's sign.

`tune_ired.tuning.tuner` hands `SweepReporter` to Tune (`RunConfig(progress_reporter=...)`). Every
`PROGRESS_PERIOD_S` it prints the sweep folder, the trials by status, one line per trial
and the best trial so far, in the words of `python -m tune_ired.status` (whose table it
reuses): one trial id (Tune's, e.g. `ffbef_00001`; its folder is `trial_<id>`), statuses
from `tune_ired.record.catalogue.TrialStatus` (COMPLETED, STOPPED by ASHA, EARLY_STOPPED,
DIVERGED, ERRORED, RUNNING, PENDING), each trial's step of its train_steps (live, from
its heartbeat), its last and best value of the sweep's metric, and the sweep's expected end
(from the estimate in sweep.json and the trials' observed speed); at the end, the
scheduler's last word (ASHA's final rungs). Tune's own table said `Result logdir:
/tmp/ray/session_.../driver_artifacts`, which is not where results go.

`SignedASHA` is Tune's ASHA scheduler whose status line gives the rung cut-offs in the
metric's own sign and in evaluations (Tune stores a minimised metric negated).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ray.tune import ProgressReporter
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler

from tune_ired.record import results, sweepfile, sweepview
from tune_ired.record.catalogue import Mode
from tune_ired.record.files import read_json
from tune_ired.record.runfolder import CONFIG_FILE, read_metrics, trial_dirname

PROGRESS_PERIOD_S = 15.0  # the live table is printed at most this often
RULE = "=" * 24


class SignedASHA(ASHAScheduler):
    """ASHA whose status line reads 'rung at evaluation k: go on with val/mse <= x', x in the metric's sign."""

    def debug_string(self) -> str:
        if not self._metric_op:
            return super().debug_string()
        better = "<=" if self._metric_op < 0 else ">="
        lines = [f"ASHA: {self._num_stopped} trial(s) stopped early"]
        for bracket in self._brackets:
            rungs = []
            for milestone, recorded in reversed(bracket._rungs):
                cutoff = bracket.cutoff(recorded)
                shown = (
                    "no cut-off yet"
                    if cutoff is None
                    else f"{self._metric} {better} {cutoff * self._metric_op:.4g}"
                )
                rungs.append(f"evaluation {milestone:.0f}: {shown}")
            lines.append("  rungs (to go on): " + " | ".join(rungs))
        return "\n".join(lines)


def tune_trial_files(trial: Trial, folder: Path) -> results.TrialFiles:
    """A live Tune trial as `results.TrialFiles`: its folder's rows and config, Tune's sweepview."""
    own = folder / trial_dirname(trial.trial_id)
    params = read_json(own / CONFIG_FILE) or dict(trial.config)
    return results.TrialFiles(
        trial_id=trial.trial_id,
        folder=own,
        params=params,
        rows=read_metrics(own),
        state={"status": trial.status},
    )


class SweepReporter(ProgressReporter):
    """Tune's progress reporter for a sweep: the status command's table, with the sweep folder on top."""

    def __init__(
        self,
        *,
        folder: Path,
        metric: str,
        mode: str,
        searched: list[str],
        budget: str,
        period_s: float = PROGRESS_PERIOD_S,
    ):
        self.folder, self.metric, self.mode, self.searched, self.budget = (
            folder,
            metric,
            Mode(mode),
            searched,
            budget,
        )
        self.period_s = period_s
        self.last_report = -math.inf
        self.start = time.monotonic()

    def setup(self, *args: Any, **kwargs: Any) -> None:
        """Called by Tune at every start and resume: elapsed time counts from now."""
        self.start, self.last_report = time.monotonic(), -math.inf

    def should_report(self, trials: list[Trial], done: bool = False) -> bool:
        """Every period_s, and once at the end (the scheduler's last word; the summary prints the trials)."""
        if not done and time.monotonic() - self.last_report < self.period_s:
            return False
        self.last_report = time.monotonic()
        return True

    def views(self, trials: list[Trial]) -> list[sweepview.TrialView]:
        views = []
        for trial in trials:
            files = tune_trial_files(trial, self.folder)
            state = results.classify(files, self.budget)
            views.append(
                sweepview.view_of(
                    files, state, metric=self.metric, mode=self.mode, budget=self.budget
                )
            )
        return views

    def text(self, trials: list[Trial], *sys_info: str) -> str:
        """The table Tune prints: folder, elapsed time, scheduler and resources, trials, best so far."""
        views = self.views(trials)
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - self.start))
        lines = [
            f"{RULE} sweep {self.folder} ({elapsed}) {RULE}",
            *(info for info in sys_info if info),
            f"trials: {sweepview.status_counts(views)}",
            sweepview.trials_table(views, searched=self.searched, metric=self.metric),
            sweepview.best_line(views, metric=self.metric, mode=self.mode, searched=self.searched),
            sweepview.expected_end_line(sweepfile.read_meta(self.folder), views),
        ]
        return "\n".join(line for line in lines if line) + "\n"

    def report(self, trials: list[Trial], done: bool, *sys_info: Any) -> None:
        """The live table; at the end only the scheduler's and resources' lines (ASHA's final rungs)."""
        if done:
            print("\n".join(str(info) for info in sys_info if info), flush=True)
            return
        print(self.text(trials, *sys_info), flush=True)
