"""Speed options (tune_ired.training.speed): the compiled loss equals the eager one, is cached; all precisions train."""

import pytest
import torch
from torch._dynamo.utils import counters

from tune_ired.ired.config import make_config, options
from tune_ired.ired.data import Problems, draw_seed_batch, make_generator
from tune_ired.ired.diffusion import Schedule
from tune_ired.ired.loss import LossOptions, training_loss
from tune_ired.ired.model import EnergyModel
from tune_ired.training.speed import StepSpeed
from tune_ired.training.trainer import Trainer

# Relative error ||compiled - eager|| / ||eager|| allowed per tensor (loss, metrics, every parameter gradient).
# float32: fused kernels round differently (observed <= 5e-6 on a gradient). float64: the time embedding is
# float32 whatever the model's dtype (model.sinusoidal_embedding), and inductor's vectorised sin/cos differ
# from eager's by an ulp (6e-8) there, which the float64 graph carries on (observed <= 3e-8).
TOLERANCE = {torch.float32: 2e-5, torch.float64: 2e-7}


def assert_relatively_close(
    actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str
) -> None:
    error = (actual - expected).norm() / expected.norm().clamp_min(torch.finfo(expected.dtype).tiny)
    assert error <= tol, f"{what}: relative error {error:.2e} > {tol:.0e}"


def loss_and_grads(loss_fn, cfg, model, device, dtype):
    """One loss (with metrics) and its parameter gradients, on fresh copies of the same problems and generators."""
    model.zero_grad(set_to_none=True)
    sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=device)
    drawn = draw_seed_batch(
        cfg.batch_size, cfg.n, cfg.train_lambda, [make_generator(device, s, 2) for s in cfg.seeds]
    )
    problems = Problems(x=drawn.x.to(dtype), y0=drawn.y0.to(dtype))
    generators = [make_generator(device, s, 3) for s in cfg.seeds]
    loss_options = options(LossOptions, cfg)
    out = loss_fn(
        model,
        sched,
        problems,
        generators=generators,
        options=loss_options,
        miner=loss_options.mining.miner(),
    )
    out.loss.backward()
    return out, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_loss_matches_eager(device, dtype):
    # the tiny trainer's: test_train reuses them
    cfg = make_config({"num_threads": 1, "compile": True}, budget="tiny")
    # as the trainer does: compiled graphs are specific to the thread count
    torch.set_num_threads(cfg.num_threads)
    model = EnergyModel.from_config(cfg).to(device, dtype)
    eager, eager_grads = loss_and_grads(training_loss, cfg, model, device, dtype)
    compiled, compiled_grads = loss_and_grads(
        StepSpeed.from_config(cfg, device).loss, cfg, model, device, dtype
    )
    tol = TOLERANCE[dtype]
    assert_relatively_close(compiled.loss, eager.loss, tol, "loss")
    assert compiled.metrics.keys() == eager.metrics.keys()
    for key, value in eager.metrics.items():
        assert_relatively_close(compiled.metrics[key], value, tol, key)
    for (name, _), a, b in zip(model.named_parameters(), compiled_grads, eager_grads, strict=True):
        assert_relatively_close(a, b, tol, f"gradient of {name}")


def test_a_later_trainer_reuses_the_compiled_graphs(device):
    """As the next trial in a Ray actor that Tune reuses: another seed and learning rate compile nothing new."""
    overrides = {"num_threads": 1, "compile": True, "device": device.type}
    first = Trainer(make_config(overrides, budget="tiny"))
    assert first.speed.compiled and first.speed.compile_s > 0
    graphs = counters["stats"]["unique_graphs"]
    later = Trainer(make_config(overrides | {"seed": 7, "lr": 1e-2}, budget="tiny"))
    later.train_step()
    assert counters["stats"]["unique_graphs"] == graphs


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_each_precision_trains(device, precision):
    cfg = make_config(
        {"num_threads": 1, "device": device.type, "precision": precision}, budget="tiny"
    )
    before = torch.get_float32_matmul_precision()
    try:
        # sets the process's matmul precision: put back for the tests that follow
        trainer = Trainer(cfg)
        rows = list(trainer.run())
    finally:
        torch.set_float32_matmul_precision(before)
    y0 = trainer.val.y0
    mean_prediction_mse = (y0 - y0.mean(dim=0)).pow(2).mean().item()
    assert rows[-1]["val/mse"] < 0.5 * mean_prediction_mse
    assert rows[-1]["perf/compile_s"] == 0.0
