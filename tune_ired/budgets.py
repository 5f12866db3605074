"""Named budgets: the sizes a run or a sweep is made at, as overrides of the config defaults.

`tiny` is seconds (tests), `quick` about a minute on a laptop CPU, `paper` the research scale
(the config defaults are the paper's). `tune_ired.ired.config.make_config(..., budget=name)` applies
one; this module is plain data so command lines can offer the names before importing torch.
"""

from __future__ import annotations

from typing import Any

BUDGETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        n=3,
        hidden=64,
        time_dim=16,
        batch_size=64,
        train_steps=300,
        eval_every=100,
        val_size=64,
        lr=3e-3,
    ),
    "quick": dict(
        n=5, hidden=256, batch_size=256, train_steps=1000, eval_every=100, val_size=256, lr=1e-3
    ),
    "paper": dict(
        n=20, hidden=512, batch_size=2048, train_steps=100_000, eval_every=1000, val_size=1024
    ),
}
BUDGET_PURPOSE = {
    "tiny": "seconds, for tests",
    "quick": "about a minute on a laptop CPU",
    "paper": "the research scale",
}


def describe_budgets() -> str:
    """One line per budget: its name, purpose and the keys it sets (for --help)."""
    return "\n".join(
        f"  {name}: {BUDGET_PURPOSE[name]} ({', '.join(f'{k}={v}' for k, v in keys.items())})"
        for name, keys in BUDGETS.items()
    )
