"""The end of a sweep: the tidy tables on disk, the statuses and the best trial on the console.

python -m tune_ired.sweep ...      # calls summarize(plan) when the Tuner returns
"""

from __future__ import annotations

import json

from tune_ired import results
from tune_ired.plan import Plan


def summarize(plan: Plan) -> None:
    """Print the trials' statuses and the best config; write the tidy table into the sweep folder."""
    sweep = results.load_sweep(plan.folder)
    trials, best = sweep.trials, f"best/{plan.spec.metric}"
    print("trials: " + ", ".join(f"{n} {status}" for status, n in trials["status"].value_counts().items()))
    if best in trials and trials[best].notna().any():
        top = trials.loc[trials[best].idxmin() if plan.spec.mode == "min" else trials[best].idxmax()]
        config = {key.removeprefix("config/"): top[key] for key in trials if key.startswith("config/")}
        print(f"best trial {top['trial_id']}: {best} = {top[best]:.6g} at step {top['best/step']:.0f}")
        searched = {key: config[key] for key in plan.searched if key in config}
        print("best config: " + json.dumps(searched, default=lambda value: value.item()))  # numpy scalars
    for path in results.write_tables(plan.folder):
        print(f"wrote {path}")
    if trials["status"].isin(["running", "pending"]).any():
        again = f"{plan.file} --storage {plan.folder.parent} --name {plan.folder.name} --resume"
        print(f"the sweep did not finish; continue it with: python -m tune_ired.sweep {again}")
