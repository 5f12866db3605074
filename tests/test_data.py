"""Problem generation: SPD matrices with their inverses, seeded, and a fixed validation set."""

import torch

from tune_ired.ired.data import draw_problems, fixed_set, make_generator, residual


def test_problems_are_spd_with_their_inverse(device):
    p = draw_problems(16, 4, 0.5, generator=make_generator(device, 0, 2))
    a = p.x.reshape(16, 4, 4)
    torch.testing.assert_close(a, a.transpose(1, 2))
    assert (torch.linalg.eigvalsh(a) >= 0.5 - 1e-4).all()
    assert residual(p.x, p.y0).max() < 1e-3
    assert p.n == 4


def test_generation_is_seeded_and_streams_differ(device):
    one = draw_problems(8, 3, 0.5, generator=make_generator(device, 0, 2))
    again = draw_problems(8, 3, 0.5, generator=make_generator(device, 0, 2))
    other = draw_problems(8, 3, 0.5, generator=make_generator(device, 1, 2))
    torch.testing.assert_close(one.x, again.x)
    assert not torch.allclose(one.x, other.x)


def test_ood_set_is_worse_conditioned(device):
    val = fixed_set(64, 5, 0.5, seed=7, device=device)
    ood = fixed_set(64, 5, 0.1, seed=8, device=device)
    cond = [torch.linalg.cond(p.x.reshape(64, 5, 5)).median() for p in (val, ood)]
    assert cond[1] > cond[0]
