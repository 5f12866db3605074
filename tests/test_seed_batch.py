"""Seed-batched training: S seeds in one computation follow each seed's single-run trajectory."""

import pytest

from tune_ired.ired.config import make_config
from tune_ired.training.trainer import Trainer

PER_SEED_KEYS = (
    "train/loss",
    "train/loss_denoise",
    "train/loss_energy",
    "train/grad_norm",
    "val/mse",
    "val/mse_ood",
)


def rows(device, **overrides):
    overrides = {
        "train_steps": 60,
        "eval_every": 20,
        "num_threads": 1,
        "device": device.type,
        **overrides,
    }
    return list(Trainer(make_config(overrides, budget="tiny")).run())


@pytest.mark.parametrize("strategy", ["adversarial", "none"])
def test_each_seed_of_a_batch_equals_its_single_run(device, strategy):
    batched = rows(device, seed=4, num_seeds=3, strategy=strategy)
    for seed in (4, 5, 6):
        single = rows(device, seed=seed, strategy=strategy)
        for b, s in zip(batched, single, strict=True):
            for key in PER_SEED_KEYS:
                if key in s:
                    assert b[f"seed/{seed}/{key}"] == pytest.approx(s[key], rel=1e-4, abs=1e-6), (
                        seed,
                        key,
                    )
    first = batched[-1]
    assert first["val/mse"] == pytest.approx(sum(first[f"seed/{s}/val/mse"] for s in (4, 5, 6)) / 3)
    assert first["perf/seed_steps_per_s"] == pytest.approx(3 * first["perf/steps_per_s"])
