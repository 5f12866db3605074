"""The model's fast paths equal autograd: hand-written dE/dy, its parameter gradients, shared conditionings."""

import torch

from tune_ired.ired.config import make_config, options
from tune_ired.ired.diffusion import DescentOptions, Schedule, opt_step
from tune_ired.ired.model import EnergyModel, SiluGrad, energy_and_grad

SEEDS, N, BATCH, STEPS = [0, 1], 3, 5, 10
REFERENCE = options(DescentOptions, make_config())  # the reference's descent (both quirks on)


def setup(device, dtype=torch.float64):
    model = EnergyModel(seeds=SEEDS, n=N, hidden=16, time_dim=8, diffusion_steps=STEPS).to(
        device, dtype
    )
    gen = torch.Generator().manual_seed(0)
    shape = (len(SEEDS), BATCH, N * N)
    x, y = (
        torch.randn(shape, generator=gen, dtype=dtype),
        torch.randn(shape, generator=gen, dtype=dtype),
    )
    t = torch.randint(STEPS, shape[:2], generator=gen)
    return model, x.to(device), y.to(device), t.to(device)


def autograd_energy_and_grad(model, x, y, t, *, create_graph):
    """The textbook way: autograd through the forward pass (and through that, for create_graph)."""
    y = y.detach().requires_grad_(True)
    energy = model(x, y, t)
    (grad,) = torch.autograd.grad(energy.sum(), y, create_graph=create_graph)
    return energy, grad


def test_hand_written_gradient_equals_autograd(device):
    model, x, y, t = setup(device)
    energy, grad = energy_and_grad(model, x, y, t)
    expected_energy, expected_grad = autograd_energy_and_grad(model, x, y, t, create_graph=False)
    torch.testing.assert_close(energy, expected_energy.detach())
    torch.testing.assert_close(grad, expected_grad)
    assert not grad.requires_grad and not energy.requires_grad


def test_denoising_loss_parameter_gradients_equal_autograd_of_autograd(device):
    model, x, y, t = setup(device)
    target = torch.randn_like(y)
    grads = []
    for fn in (energy_and_grad, autograd_energy_and_grad):
        model.zero_grad(set_to_none=True)
        _, eps_hat = fn(model, x, y, t, create_graph=True)
        (eps_hat - target).pow(2).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for fast, slow in zip(*grads, strict=True):
        torch.testing.assert_close(fast, slow)


def test_silu_grad_is_differentiable_in_both_inputs(device):
    gen = torch.Generator().manual_seed(1)
    grad, u = (
        torch.randn(4, 6, generator=gen, dtype=torch.float64).to(device).requires_grad_()
        for _ in range(2)
    )
    assert torch.autograd.gradcheck(SiluGrad.apply, (grad, u))


def test_float32_fast_path_matches_float64_autograd(device):
    model, x, y, t = setup(device, torch.float32)
    _, grad = energy_and_grad(model, x, y, t)
    _, expected = autograd_energy_and_grad(
        model.double(), x.double(), y.double(), t, create_graph=False
    )
    torch.testing.assert_close(grad, expected.float(), rtol=1e-4, atol=1e-5)


def test_descent_never_raises_the_energy_of_a_fresh_forward_pass(device):
    """opt_step conditions once; judged by fresh forward passes, its moves never raise the energy."""
    model, x, y, t = setup(device)
    sched = Schedule(STEPS, clip_scale=2.0, device=device)
    moved, stats = opt_step(model, sched, x, y, t, steps=3, multiplier=1.0, options=REFERENCE)
    assert moved.shape == y.shape and not moved.requires_grad
    with torch.no_grad():
        assert (model(x, moved, t) <= model(x, y, t) + 1e-12).all()
    assert ((stats.reject_share >= 0) & (stats.reject_share <= 1)).all()


def test_descent_accepts_a_precomputed_conditioning(device):
    model, x, y, t = setup(device)
    sched = Schedule(STEPS, clip_scale=2.0, device=device)
    kwargs = dict(steps=2, multiplier=1.0, options=REFERENCE)
    fresh, _ = opt_step(model, sched, x, y, t, **kwargs)
    shared, _ = opt_step(model, sched, x, y, t, cond=model.condition(x, t), **kwargs)
    torch.testing.assert_close(fresh, shared, rtol=0, atol=0)
    assert not shared.requires_grad
