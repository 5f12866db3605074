"""The benchmarks' reference-style step computes the same loss and gradients as tune_ired's.

`benchmarks/reference_style.py` is the baseline that `bench_train.py` times; this checks
it runs the same algorithm: with the same weights, problems and random draws, its loss
and every parameter gradient equal tune_ired's (float64).
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from tune_ired.ired.config import make_config, options
from tune_ired.ired.data import Problems
from tune_ired.ired.diffusion import Schedule
from tune_ired.ired.loss import LossOptions, training_loss
from tune_ired.ired.model import EnergyModel

REPO = Path(__file__).resolve().parents[1]


def load_reference_style():
    spec = importlib.util.spec_from_file_location(
        "reference_style", REPO / "benchmarks" / "reference_style.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layer_pairs(ours: EnergyModel, ref_model) -> list:
    """(stacked layer, nn.Linear) pairs of the same layer, in EnergyModel.layers() order."""
    time_mlp = [ref_model.time_mlp[0], ref_model.time_mlp[2]]
    body = [
        ref_model.film2,
        ref_model.film3,
        ref_model.fc1,
        ref_model.fc2,
        ref_model.fc3,
        ref_model.fc4,
    ]
    return list(zip(ours.layers(), time_mlp + body, strict=True))


def test_reference_style_loss_and_gradients_equal_ours(device):
    ref = load_reference_style()
    cfg = make_config({"opt_steps": 3}, budget="tiny")
    ours = EnergyModel(
        seeds=[cfg.seed],
        n=cfg.n,
        hidden=cfg.hidden,
        time_dim=cfg.time_dim,
        diffusion_steps=cfg.diffusion_steps,
    ).to(device, torch.float64)
    theirs = ref.ReferenceEnergyMLP(n=cfg.n, hidden=cfg.hidden, time_dim=cfg.time_dim).to(
        device, torch.float64
    )
    with torch.no_grad():
        for stacked, linear in layer_pairs(ours, theirs):
            linear.weight.copy_(stacked.weight[0].T)
            linear.bias.copy_(stacked.bias[0, 0])
    batch = ref.numpy_batch(np.random.default_rng(0), cfg.batch_size, cfg.n, cfg.train_lambda)
    x, y0 = (v.to(device, torch.float64) for v in batch)
    sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=device)

    generator = torch.Generator(device=device).manual_seed(5)
    loss_options = options(LossOptions, cfg)
    problems = Problems(x=x[None], y0=y0[None])
    miner = loss_options.mining.miner()
    ours_loss = training_loss(
        ours, sched, problems, generators=[generator], options=loss_options, miner=miner
    )
    ours_loss.loss.backward()
    ref_loss = ref.p_losses(
        theirs, sched, cfg, x=x, y0=y0, gen=torch.Generator(device=device).manual_seed(5)
    )
    ref_loss.backward()

    torch.testing.assert_close(ours_loss.loss, ref_loss)
    for stacked, linear in layer_pairs(ours, theirs):
        torch.testing.assert_close(stacked.weight.grad[0].T, linear.weight.grad)
        torch.testing.assert_close(stacked.bias.grad[0, 0], linear.bias.grad)
