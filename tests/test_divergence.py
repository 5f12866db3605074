"""Per-seed divergence in a batched run: the diverged seed is frozen, its siblings train on unchanged.

At the tiny size with lr 0.05 and no gradient clipping, seed 3 of seeds 2..5 diverges at
step 12 (its loss passes `diverge_loss`) while seeds 2, 4 and 5 train to the end: a real
divergence, made on purpose, found by scanning seeds once. The seeds are chosen far from the
edge: their losses end near 1 while seed 3's explodes within a few steps, so float rounding
(another CPU's kernels) cannot tip one over (seed 0, for one, diverged at step 54 on one
machine and not at all on another).
"""

from __future__ import annotations

import math

import pytest
import torch

from tune_ired.ired.config import make_config
from tune_ired.training.checkpoint import load_state, save_state
from tune_ired.training.divergence import seed_mean
from tune_ired.training.trainer import Trainer

DIVERGING = {"lr": 0.05, "grad_clip": 0.0, "train_steps": 60, "eval_every": 20, "num_threads": 1}
SEEDS, BAD_SEED, BAD_STEP = (2, 3, 4, 5), 3, 12
BAD_INDEX = SEEDS.index(BAD_SEED)  # its place on the seed axis of the batched tensors
PER_SEED_KEYS = ("train/loss", "train/loss_denoise", "val/mse", "val/mse_ood", "val/elem_acc")


def batched_config(**overrides):
    return make_config(
        {**DIVERGING, "seed": SEEDS[0], "num_seeds": len(SEEDS), **overrides}, budget="tiny"
    )


def without_perf(rows):
    return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in rows]


def same(a, b) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


@pytest.fixture(scope="module")
def batched():
    trainer = Trainer(batched_config())
    rows, frozen = [], []
    for row in trainer.run():
        rows.append(row)
        frozen.append({name: p[BAD_INDEX].clone() for name, p in trainer.seed_state().items()})
    return trainer, rows, frozen


def test_the_diverged_seed_is_marked_at_its_step_and_the_run_goes_on(batched):
    _, rows, _ = batched
    assert [row["step"] for row in rows] == [20, 40, 60]
    for row in rows:
        assert (
            row[f"seed/{BAD_SEED}/diverged"] and row[f"seed/{BAD_SEED}/diverged_step"] == BAD_STEP
        )
        assert row["seeds_diverged"] == 1 and not row["diverged"]
        assert not any(row[f"seed/{s}/diverged"] for s in SEEDS if s != BAD_SEED)
    # the row where it is marked: as measured
    assert not math.isnan(rows[0][f"seed/{BAD_SEED}/val/mse"])
    for row in rows[1:]:  # frozen: not evaluated any more
        assert math.isnan(row[f"seed/{BAD_SEED}/val/mse"]) and math.isnan(
            row[f"seed/{BAD_SEED}/train/loss"]
        )


def test_the_siblings_train_exactly_as_they_would_alone(batched):
    _, rows, _ = batched
    for seed in SEEDS:
        if seed == BAD_SEED:
            continue
        single = list(Trainer(make_config({**DIVERGING, "seed": seed}, budget="tiny")).run())
        assert not single[-1]["diverged"] and single[-1]["step"] == 60
        for b, s in zip(rows, single, strict=True):
            for key in PER_SEED_KEYS:
                assert b[f"seed/{seed}/{key}"] == pytest.approx(s[key], rel=1e-4, abs=1e-6), (
                    seed,
                    key,
                )


def test_the_diverged_seed_is_frozen_at_its_last_good_state(batched):
    _, _, frozen = batched
    # it diverged before the first evaluation: frozen at the start
    initial = Trainer(batched_config())
    for name, p in initial.seed_state().items():
        torch.testing.assert_close(frozen[0][name], p[BAD_INDEX], rtol=0, atol=0)
    adam = [name for name in frozen[0] if name.startswith("adam.")]
    # Adam's moments as before step 1
    assert adam and all(frozen[0][name].abs().max() == 0 for name in adam)
    for later in frozen[1:]:
        for name, value in later.items():
            assert torch.equal(value, frozen[0][name]), name


def test_what_the_scheduler_sees_is_never_better_than_the_survivors(batched):
    _, rows, _ = batched
    for row in rows:
        survivors = [row[f"seed/{s}/val/mse"] for s in SEEDS if s != BAD_SEED]
        assert math.isfinite(row["val/mse"])
        assert row["val/mse"] == pytest.approx((sum(survivors) + max(survivors)) / len(SEEDS))
        assert row["val/mse"] >= sum(survivors) / len(survivors)
    # higher is better
    accuracy = [rows[-1][f"seed/{s}/val/elem_acc"] for s in SEEDS if s != BAD_SEED]
    assert rows[-1]["val/elem_acc"] == pytest.approx((sum(accuracy) + min(accuracy)) / len(SEEDS))


def test_seed_mean_rules():
    values = torch.tensor([1.0, 2.0, float("nan")])
    assert seed_mean(values, key="val/mse", dead=[2]) == pytest.approx(5 / 3)  # (1 + 2 + 2) / 3
    # (1 + 2 + 1) / 3
    assert seed_mean(values, key="val/elem_acc", dead=[2]) == pytest.approx(4 / 3)
    # survivors' mean
    assert seed_mean(values, key="mine/energy_gap", dead=[2]) == pytest.approx(1.5)
    assert seed_mean(torch.tensor([1.0, 3.0]), key="val/mse", dead=[]) == 2.0
    # every seed gone: as measured
    assert math.isnan(seed_mean(values, key="val/mse", dead=[0, 1, 2]))


def test_resume_with_a_frozen_seed_is_exact(batched, tmp_path):
    _, rows, _ = batched
    first = Trainer(batched_config())
    running = first.run()
    head = [next(running), next(running)]
    save_state(first.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(batched_config())
    resumed.load_state_dict(load_state(tmp_path / "state.pt"))
    tail = list(resumed.run())
    for a, b in zip(without_perf(head + tail), without_perf(rows), strict=True):
        assert a.keys() == b.keys() and all(same(a[k], b[k]) for k in a), a["step"]


def test_a_run_ends_diverged_only_when_every_seed_has():
    rows = list(Trainer(batched_config(lr=1.0)).run())
    assert (
        rows[-1]["diverged"] and rows[-1]["seeds_diverged"] == len(SEEDS) and rows[-1]["step"] < 60
    )
    assert rows[-1]["diverged_step"] == max(rows[-1][f"seed/{s}/diverged_step"] for s in SEEDS)
