"""The trainer for real at the tiny budget: it learns, is deterministic, and resumes exactly."""

import json

import pytest
import torch

from tune_ired.ired.config import make_config
from tune_ired.training.checkpoint import load_state, save_state
from tune_ired.training.trainer import Trainer, clip_grad_per_seed, get_lr


def without_perf(rows):
    return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in rows]


def short(device, **overrides):
    overrides = {
        "train_steps": 40,
        "eval_every": 20,
        "num_threads": 1,
        "device": device.type,
        **overrides,
    }
    return make_config(overrides, budget="tiny")


def test_tiny_run_learns(device):
    trainer = Trainer(make_config({"num_threads": 1, "device": device.type}, budget="tiny"))
    rows = list(trainer.run())
    y0 = trainer.val.y0
    mean_prediction_mse = (y0 - y0.mean(dim=0)).pow(2).mean().item()
    assert rows[-1]["step"] == 300
    assert rows[-1]["val/mse"] < 0.5 * mean_prediction_mse
    assert rows[-1]["val/mse"] < rows[0]["val/mse"]
    assert not rows[-1]["diverged"]


@pytest.mark.parametrize("compiled", [False, True])
def test_same_config_same_numbers(device, compiled):
    first, second = (without_perf(Trainer(short(device, compile=compiled)).run()) for _ in range(2))
    assert first == second
    other = without_perf(Trainer(short(device, compile=compiled, seed=1)).run())
    assert other[-1]["val/mse"] != first[-1]["val/mse"]


@pytest.mark.parametrize(
    # compiled: the tiny single-seed graphs test_speed compiles too (one compilation)
    ("overrides", "compiled"),
    [
        ({}, False),
        ({"lr_schedule": "cosine", "cosine_start": 10, "num_seeds": 2}, False),
        ({}, True),
    ],
)
def test_resumed_run_equals_uninterrupted_run(tmp_path, device, overrides, compiled):
    cfg = short(device, compile=compiled, **overrides)
    full = without_perf(Trainer(cfg).run())
    first = Trainer(cfg)
    rows = first.run()
    head = [next(rows)]
    save_state(first.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(cfg)
    resumed.load_state_dict(load_state(tmp_path / "state.pt"))
    tail = list(resumed.run())
    assert without_perf(head + tail) == full


def test_cosine_schedule_starts_late_and_ends_at_floor():
    cfg = make_config(
        {"lr_schedule": "cosine", "cosine_start": 100, "train_steps": 1100, "lr_min_ratio": 0.1}
    )
    assert get_lr(0, cfg) == get_lr(100, cfg) == cfg.lr
    assert get_lr(600, cfg) == pytest.approx(0.55 * cfg.lr)
    assert get_lr(1100, cfg) == pytest.approx(0.1 * cfg.lr)


def test_gradient_clipping_is_per_seed_and_matches_torch(device):
    grads = [torch.randn(2, 3, 4, device=device) * 10, torch.randn(2, 1, 4, device=device)]
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    norms = clip_grad_per_seed(params, 1.0)
    for s in range(2):
        single = [torch.nn.Parameter(torch.zeros_like(g[s])) for g in grads]
        for p, g in zip(single, grads, strict=True):
            p.grad = g[s].clone()
        expected = torch.nn.utils.clip_grad_norm_(single, 1.0)
        assert norms[s].item() == pytest.approx(expected.item(), rel=1e-5)
        for p, q in zip(params, single, strict=True):
            torch.testing.assert_close(p.grad[s], q.grad)


def test_diverging_run_stops_and_says_so(device):
    rows = list(
        Trainer(short(device, lr=1.0, grad_clip=0.0, energy_weight=50.0, train_steps=200)).run()
    )
    assert rows[-1]["diverged"] and not any(row["diverged"] for row in rows[:-1])
    assert rows[-1]["step"] < 200
    assert not rows[-1]["train/loss"] <= 1e4


def test_early_stopping_on_plateau(device):
    rows = list(
        Trainer(short(device, train_steps=400, eval_every=10, lr=0.0, early_stop_patience=2)).run()
    )
    assert rows[-1]["early_stopped"]
    assert rows[-1]["step"] == 30


def test_checkpoint_of_an_older_config_loads_and_a_changed_key_is_named(device):
    state = Trainer(short(device)).state_dict()
    older = json.loads(state["config"])
    # a key added to Config after the checkpoint was written: its default applies
    del older["energy_l2"]
    Trainer(short(device)).load_state_dict({**state, "config": json.dumps(older)})
    with pytest.raises(ValueError, match=r"different config \(energy_l2, lr\)"):
        Trainer(short(device, lr=0.5, energy_l2=0.1)).load_state_dict(state)
