"""Mining strategies, the energy loss and the replay buffer, with a fixed tiny model.

The reference setting is checked against an independent, straightforward implementation
of docs/method.md §5 written here (cross-entropy, energy descent with both reference
quirks). When this test was written, `training_loss` also matched the previous commit's
loss (14c03db) bit for bit for every strategy, on the same model, batch and generators.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tune_ired.ired.config import make_config, options
from tune_ired.ired.data import draw_seed_batch, make_generator
from tune_ired.ired.diffusion import Schedule, q_sample
from tune_ired.ired.energy_loss import (
    EnergyLossOptions,
    below_percentile,
    cd_loss,
    energy_term,
    energy_weight_at,
    in_t_range,
)
from tune_ired.ired.langevin import LangevinOptions, langevin_chain
from tune_ired.ired.loss import LossOptions, training_loss
from tune_ired.ired.mining import MiningOptions, mine
from tune_ired.ired.model import EnergyModel, energy_and_grad
from tune_ired.ired.replay import ReplayBuffer

BATCH = 48


def tiny(**overrides):
    return make_config(
        {"n": 3, "hidden": 32, "time_dim": 16, "batch_size": BATCH, "num_seeds": 2, **overrides}
    )


def setup(cfg, device):
    model = EnergyModel(
        seeds=cfg.seeds, n=cfg.n, hidden=cfg.hidden, time_dim=cfg.time_dim, diffusion_steps=10
    )
    sched = Schedule(cfg.diffusion_steps, clip_scale=cfg.clip_scale, device=device)
    problems = draw_seed_batch(
        BATCH, cfg.n, cfg.train_lambda, [make_generator(device, s, 2) for s in cfg.seeds]
    )
    return model.to(device), sched, problems


def noise(cfg, device):
    return [make_generator(device, s, 3) for s in cfg.seeds]


def mine_for(cfg, device, *, replay=None):
    """A mining batch of the fixed model and the strategy's negatives."""
    model, sched, problems = setup(cfg, device)
    gens = noise(cfg, device)
    t = torch.stack(
        [torch.randint(sched.steps, (BATCH,), generator=g, device=device) for g in gens]
    )
    eps = torch.stack([torch.randn(BATCH, cfg.n**2, generator=g, device=device) for g in gens])
    mining = options(MiningOptions, cfg)
    batch, negatives, _ = mine(
        model,
        sched,
        problems,
        t=t,
        eps=eps,
        generators=gens,
        options=mining,
        miner=mining.miner(),
        replay=replay,
        # with its graph, as in training: energy_term back-propagates into it
        cond=model.condition(problems.x, t),
    )
    return batch, negatives


def loss_of(model, sched, cfg, problems, gens, *, replay=None):
    """tune_ired's training loss of a batch under a config."""
    loss_options = options(LossOptions, cfg)
    miner = loss_options.mining.miner()
    return training_loss(
        model, sched, problems, generators=gens, options=loss_options, miner=miner, replay=replay
    )


def energy_options(cfg):
    return options(EnergyLossOptions, cfg)


def spec_opt_step(model, sched, x, y, t, *, steps, multiplier):
    """Spec section 4 with both quirks: later steps use multiplier 2.0, the clamp bound is c_{t[0]}."""
    bound = (2.0 * sched.sqrt_alphas_cumprod[t[:, :1]])[..., None]
    eta = sched.step_sizes[t][..., None]
    for k in range(steps):
        sf = multiplier if k == 0 else 2.0
        energy, grad = energy_and_grad(model, x, y, t)
        proposal = torch.clamp(y - sf * eta * grad, -bound, bound)
        with torch.no_grad():
            rejected = model(x, proposal, t) > energy
        y = torch.where(rejected[..., None], y, proposal).detach()
    return y


def spec_loss(model, sched, problems, gens):
    """Spec section 5, written out: denoising MSE + 0.5 * cross-entropy against adversarial negatives."""
    x, y0 = problems.x, problems.y0
    t = torch.stack(
        [torch.randint(sched.steps, (BATCH,), generator=g, device=g.device) for g in gens]
    )
    eps = torch.stack(
        [torch.randn(BATCH, y0.shape[-1], generator=g, device=g.device) for g in gens]
    )
    abar = sched.alphas_cumprod[t][..., None]
    _, eps_hat = energy_and_grad(
        model, x, abar.sqrt() * y0 + (1 - abar).sqrt() * eps, t, create_graph=True
    )
    l_mse = (eps_hat - eps).pow(2).mean(dim=-1)
    eps2 = torch.stack(
        [torch.randn(BATCH, y0.shape[-1], generator=g, device=g.device) for g in gens]
    )
    y_pos = abar.sqrt() * y0 + (1 - abar).sqrt() * eps2
    y_neg = abar.sqrt() * y0 + (1 - abar).sqrt() * 3.0 * eps2
    y_neg = spec_opt_step(model, sched, x, y_neg, t, steps=2, multiplier=1.0)
    n0 = torch.clamp(y_neg / abar.sqrt(), -2, 2)
    y_neg = abar.sqrt() * n0 + (1 - abar).sqrt() * eps2
    e_pos, e_neg = model(
        torch.cat([x, x], 1), torch.cat([y_pos, y_neg], 1), torch.cat([t, t], 1)
    ).split(BATCH, 1)
    logits = torch.stack([-e_pos, -e_neg], dim=-1)
    l_energy = F.cross_entropy(
        logits.flatten(0, 1), torch.zeros_like(t).flatten(), reduction="none"
    ).view_as(t)
    return (l_mse + 0.5 * l_energy).mean(dim=-1).sum()


def loss_and_grads(model, compute):
    model.zero_grad()
    loss = compute()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def test_reference_setting_reproduces_spec_section_5(device):
    cfg = tiny(preset="Q-201")
    assert dataclasses.replace(cfg, preset="") == tiny(), "Q-201 is the default"
    model, sched, problems = setup(cfg, device)
    ours, our_grads = loss_and_grads(
        model, lambda: loss_of(model, sched, cfg, problems, noise(cfg, device)).loss
    )
    spec, spec_grads = loss_and_grads(
        model, lambda: spec_loss(model, sched, problems, noise(cfg, device))
    )
    torch.testing.assert_close(ours, spec, rtol=1e-6, atol=1e-6)
    for a, b in zip(our_grads, spec_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("strategy", "sign"), [("adversarial", 1), ("ascent", -1)])
def test_descent_lowers_and_ascent_raises_the_energy(device, strategy, sign):
    batch, mined = mine_for(tiny(strategy=strategy), device)
    with torch.no_grad():
        start = batch.model(batch.x, batch.start, batch.t)
        end = batch.model(batch.x, mined.chain, batch.t)
    assert (sign * (start - end) >= 0).all()
    assert (sign * (start - end)).mean() > 0


def test_mixed_ratio_zero_and_one_are_random_and_adversarial(device):
    for ratio, pure in ((0.0, "random"), (1.0, "adversarial")):
        _, mixed = mine_for(tiny(strategy="mixed", mixed_ratio=ratio), device)
        _, reference = mine_for(tiny(strategy=pure), device)
        assert torch.equal(mixed.y, reference.y)


def test_langevin_without_noise_is_gradient_descent(device):
    cfg = tiny(strategy="langevin")
    batch, _ = mine_for(cfg, device)
    chain = LangevinOptions(
        langevin_steps=1, langevin_step_scale=0.5, langevin_sigma_scale=0.0, langevin_clamp=False
    )
    y, _ = langevin_chain(
        batch.model,
        batch.sched,
        batch.cond,
        batch.start,
        batch.t,
        options=chain,
        generators=batch.generators,
    )
    _, grad = energy_and_grad(batch.model, batch.x, batch.start, batch.t)
    torch.testing.assert_close(
        y, batch.start - 0.5 * batch.sched.step_sizes[batch.t][..., None] * grad
    )


def test_langevin_noise_follows_sigma_and_the_seed(device):
    _, first = mine_for(tiny(strategy="langevin", langevin_steps=3), device)
    _, again = mine_for(tiny(strategy="langevin", langevin_steps=3), device)
    _, quiet = mine_for(
        tiny(strategy="langevin", langevin_steps=3, langevin_sigma_scale=0.0), device
    )
    assert torch.equal(first.y, again.y)
    assert not torch.allclose(first.y, quiet.y)


def numbered(count, device, dim=2, *, offset=0):
    """States (1, count, dim) whose entries are their index: easy to trace through the buffer."""
    return (torch.arange(count, dtype=torch.float32, device=device) + offset)[None, :, None].expand(
        1, count, dim
    )


def test_replay_buffer_is_fifo_with_capacity(device):
    buffer = ReplayBuffer(seeds=1, buckets=1, capacity=5, dim=2, device=device)
    zeros = torch.zeros(1, 4, dtype=torch.long, device=device)
    buffer.push(numbered(3, device), zeros[:, :3])
    buffer.push(numbered(4, device, offset=3), zeros)
    assert buffer.fill.item() == 5
    assert sorted(buffer.states[0, 0, :, 0].tolist()) == [2, 3, 4, 5, 6]  # 0 and 1 were the oldest
    # > capacity
    buffer.push(numbered(7, device, offset=10), torch.zeros(1, 7, dtype=torch.long, device=device))
    assert sorted(buffer.states[0, 0, :, 0].tolist()) == [12, 13, 14, 15, 16]
    assert buffer.fill_share().item() == 1.0


def test_replay_reuses_at_the_configured_rate_from_the_right_bucket(device):
    steps, draws = 4, 4000
    buffer = ReplayBuffer(seeds=1, buckets=steps, capacity=40, dim=2, device=device)
    t_push = torch.arange(steps, device=device).repeat(3)[None]
    buffer.push(t_push[..., None].float().expand(1, -1, 2), t_push)
    gens = [make_generator(device, 0, 9)]
    t = torch.randint(steps, (1, draws), generator=gens[0], device=device)
    start = torch.full((1, draws, 2), -1.0, device=device)
    y, reused = buffer.draw(start, t, prob=0.7, generators=gens)
    assert reused.float().mean().item() == pytest.approx(0.7, abs=0.03)
    # a state from the negative's own t bucket
    assert torch.equal(y[..., 0][reused], t[reused].float())
    assert (y[~reused] == -1).all()
    empty = ReplayBuffer(seeds=1, buckets=steps, capacity=40, dim=2, device=device)
    _, none_reused = empty.draw(start, t, prob=1.0, generators=gens)
    assert not none_reused.any()


def test_replay_in_training_fills_and_is_reused(device):
    cfg = tiny(preset="Q-203", langevin_steps=2, replay_capacity=200)
    model, sched, problems = setup(cfg, device)
    buffer, gens = ReplayBuffer.from_config(cfg, device=device), noise(cfg, device)
    first = loss_of(model, sched, cfg, problems, gens, replay=buffer).metrics
    second = loss_of(model, sched, cfg, problems, gens, replay=buffer).metrics
    assert (first["mine/replay_reuse"] == 0).all() and (first["mine/replay_fill"] == 0).all()
    assert (second["mine/replay_fill"] == BATCH / 200).all()
    assert (second["mine/replay_reuse"] > 0.8).all()


def test_residual_filter_drops_the_configured_share(device):
    values = torch.rand(2, 1000, generator=make_generator(device, 0, 8), device=device)
    t = torch.randint(10, (2, 1000), generator=make_generator(device, 1, 8), device=device)
    share = below_percentile(values, t, percentile=30.0).float().mean(dim=-1)
    torch.testing.assert_close(share, torch.full((2,), 0.3, device=device), atol=1e-3, rtol=0)
    caught = below_percentile(values, t, percentile=30.0, steps=10)
    for k in range(10):
        group = caught[t == k].float().mean().item()
        assert group == pytest.approx(0.3, abs=0.02)
    cfg = tiny(filter_percentile=25.0, filter_per_t=False)
    batch, mined = mine_for(cfg, device)
    term, metrics = energy_term(batch, mined, step=0, options=energy_options(cfg))
    torch.testing.assert_close(
        metrics["mine/filter_share"], torch.full((2,), 12 / BATCH, device=device)
    )
    assert (term == 0).sum().item() == 2 * 12


def test_energy_weight_warms_up_and_t_range_masks():
    cfg = energy_options(
        make_config({"energy_weight": 0.1, "energy_warmup": 0.2, "train_steps": 1000})
    )
    assert [energy_weight_at(s, cfg) for s in (0, 100, 200, 900)] == pytest.approx(
        [0.0, 0.05, 0.1, 0.1]
    )
    assert energy_weight_at(0, energy_options(make_config())) == 0.5
    ranged = energy_options(make_config({"energy_t_min": 0.2, "energy_t_max": 0.8}))
    assert in_t_range(torch.arange(10)[None], ranged).tolist() == [
        [False, False] + [True] * 7 + [False]
    ]


def test_cd_loss_is_the_energy_difference_and_raises_the_gap(device):
    e_pos, e_neg = torch.tensor([[1.0, 3.0]]), torch.tensor([[2.0, 6.0]])
    assert cd_loss(e_pos, e_neg).mean().item() == e_pos.mean().item() - e_neg.mean().item()
    cfg = tiny(energy_loss="cd")
    batch, mined = mine_for(cfg, device)
    optimizer = torch.optim.SGD(batch.model.parameters(), lr=1e-3)
    y_pos = q_sample(batch.sched, batch.y0, batch.t, batch.eps)

    def gap():
        with torch.no_grad():
            return (
                batch.model(batch.x, mined.y, batch.t) - batch.model(batch.x, y_pos, batch.t)
            ).mean()

    before = gap()
    term, _ = energy_term(batch, mined, step=0, options=energy_options(cfg))
    term.mean(dim=-1).sum().backward()
    optimizer.step()
    assert gap() > before


def test_energy_l2_adds_the_magnitude_penalty(device):
    batch, mined = mine_for(tiny(energy_loss="cd"), device)
    plain, _ = energy_term(batch, mined, step=0, options=energy_options(tiny(energy_loss="cd")))
    penalised, _ = energy_term(
        batch, mined, step=0, options=energy_options(tiny(energy_loss="cd", energy_l2=0.01))
    )
    with torch.no_grad():
        e_pos = batch.model(batch.x, q_sample(batch.sched, batch.y0, batch.t, batch.eps), batch.t)
        e_neg = batch.model(batch.x, mined.y, batch.t)
    torch.testing.assert_close(
        penalised - plain, 0.5 * 0.01 * (e_pos.pow(2) + e_neg.pow(2)), rtol=1e-4, atol=1e-5
    )
