"""The energy model: its noise prediction is dE/dy, and a seed-stacked model is S independent models."""

import torch

from tune_ired.ired.model import EnergyModel, energy_and_grad, sinusoidal_embedding


def model_for(seeds, device, n=3):
    return EnergyModel(seeds=list(seeds), n=n, hidden=32, time_dim=16, diffusion_steps=10).to(
        device
    )


def test_noise_prediction_is_the_energy_gradient(device):
    model = model_for([0], device).double()
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.randn(1, 4, 9, generator=gen).to(device, torch.float64) for _ in range(2))
    t = torch.tensor([[0, 3, 6, 9]], device=device)
    energy, grad = energy_and_grad(model, x, y, t)
    assert (energy >= 0).all()
    step = 1e-6
    for i in range(9):
        dy = torch.zeros_like(y)
        dy[..., i] = step
        with torch.no_grad():
            numeric = (model(x, y + dy, t) - model(x, y - dy, t)) / (2 * step)
        torch.testing.assert_close(grad[..., i], numeric, rtol=1e-5, atol=1e-7)


def test_create_graph_gradient_is_differentiable_in_the_weights(device):
    model = model_for([0], device)
    x, y = torch.randn(1, 4, 9, device=device), torch.randn(1, 4, 9, device=device)
    t = torch.zeros(1, 4, dtype=torch.long, device=device)
    _, grad = energy_and_grad(model, x, y, t, create_graph=True)
    grad.pow(2).sum().backward()
    assert model.l1.weight.grad is not None and model.l1.weight.grad.abs().sum() > 0


def test_stacked_seeds_are_independent_single_seed_models(device):
    stacked, single = model_for([3, 5], device), model_for([5], device)
    for a, b in zip(stacked.parameters(), single.parameters(), strict=True):
        torch.testing.assert_close(a[1:], b)
    x, y = torch.randn(2, 6, 9, device=device), torch.randn(2, 6, 9, device=device)
    t = torch.randint(10, (2, 6), device=device)
    with torch.no_grad():
        torch.testing.assert_close(stacked(x, y, t)[1:], single(x[1:], y[1:], t[1:]))
    assert not torch.allclose(stacked.l1.weight[0], stacked.l1.weight[1])


def test_time_embedding_is_half_sin_half_cos():
    emb = sinusoidal_embedding(torch.tensor([0, 2]), 128)
    assert emb.shape == (2, 128)
    torch.testing.assert_close(emb[0], torch.cat([torch.zeros(64), torch.ones(64)]))
    freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(64) / 63)
    torch.testing.assert_close(emb[1, :64], torch.sin(2 * freqs))
