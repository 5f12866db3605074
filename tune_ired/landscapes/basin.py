"""Basin measures of an energy landscape along lines and on planes through a centre (issue 15, Q-010).

Everything here takes an *energy callable*, `energy(y) -> E` with candidates y of shape
(S, P, K, d) (seeds, problems, points per problem, n*n) and energies (S, P, K), so the
measures are exact functions of the landscape, testable on hand-set energies;
`tune_ired.landscapes.probe` wraps a trained `EnergyModel` in such a callable.

Along a unit direction u (Frobenius norm 1 in y space) from a centre c, the line energy is
e(alpha) = E(c + alpha u) for alpha on a grid of `points` values from -R to R (0 included),
and r(alpha) = e(alpha) - e(0) its rise. Per (seed, problem):

- `depth` = min(r(-R), r(R)): how far the window's two ends lie above the centre
  (negative: the centre is no basin along this line, at this radius).
- `width_fwd`, `width_back`: the distance from c along +u (towards the direction's target)
  and along -u at which r first reaches `WIDTH_RISE` (one nat; linear interpolation
  between grid points; +inf when it never does within R).
- `offset`: the alpha of the line's lowest grid point (the centre is the learned
  minimum along the line only when it is 0), and `excess` = -min r >= 0, how far the
  centre lies above that minimum.

A target point q on the line (a mined negative, the model's prediction) gets
`target_distance` = ||q - c|| and `target_rise` = E(q) - E(c), evaluated exactly at q.
`plane_rises` gives r on a square grid of the plane c + a u1 + b u2.

    from tune_ired.landscapes.basin import basin_measures, energy_along, line_grid
    line = energy_along(energy, centre, unit(target - centre), line_grid(radius=2.0, points=41))
    basin_measures(line)["width_fwd"]   # (S, P)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

EnergyFn = Callable[[torch.Tensor], torch.Tensor]  # candidates (S, P, K, d) -> energies (S, P, K)

# One nat: the NCE loss compares a positive with a negative through the logits -E, so a
# candidate one energy unit above the true inverse is e times less likely to it.
WIDTH_RISE = 1.0


@dataclass(frozen=True)
class Line:
    """Energy rises along one line per (seed, problem) through a centre."""

    # (K,) signed distances from the centre along the direction, 0 in the middle
    alphas: torch.Tensor
    rises: torch.Tensor  # (S, P, K) E(c + alpha u) - E(c)
    centre_energy: torch.Tensor  # (S, P) E(c)


def line_grid(*, radius: float, points: int) -> torch.Tensor:
    """`points` evenly spaced distances from -radius to radius; `points` is odd, so 0 is on the grid."""
    if points < 3 or points % 2 == 0:
        raise ValueError(
            f"points = {points}: a line grid needs an odd number >= 3 of points (0 in the middle)"
        )
    half = points // 2
    return torch.arange(-half, half + 1, dtype=torch.float64) * (radius / half)


def unit(v: torch.Tensor) -> torch.Tensor:
    """v / ||v|| along the last axis; a zero vector gives NaN (no direction), never a silent zero."""
    norm = v.norm(dim=-1, keepdim=True)
    return v / torch.where(norm > 0, norm, torch.nan)


def orthonormal(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The unit vector of v's part orthogonal to unit vector u (Gram-Schmidt), NaN when v is parallel to u."""
    return unit(v - (v * u).sum(dim=-1, keepdim=True) * u)


def energy_at(energy: EnergyFn, points: torch.Tensor) -> torch.Tensor:
    """Energies (S, P) of one point (S, P, d) per problem."""
    return energy(points[:, :, None])[:, :, 0]


def energy_along(
    energy: EnergyFn, centre: torch.Tensor, direction: torch.Tensor, alphas: torch.Tensor
) -> Line:
    """The line through centre (S, P, d) along unit direction (S, P, d), at distances `alphas` (K,)."""
    steps = alphas.to(centre.dtype)[:, None]  # (K, 1)
    points = centre[:, :, None] + steps * direction[:, :, None]  # (S, P, K, d)
    centre_energy = energy_at(energy, centre)
    return Line(
        alphas=alphas, rises=energy(points) - centre_energy[..., None], centre_energy=centre_energy
    )


def first_crossing(distances: torch.Tensor, rises: torch.Tensor, level: float) -> torch.Tensor:
    """The distance (S, P) at which rises (S, P, K) along increasing `distances` (K,) first reach `level`.

    Linear interpolation between the grid points around the crossing; +inf when never reached.
    """
    reached = rises >= level
    index = reached.int().argmax(dim=-1)  # the first True (0 when none: masked below)
    before = (index - 1).clamp(min=0)
    d0, d1 = distances[before], distances[index]
    r0, r1 = rises.gather(-1, before[..., None])[..., 0], rises.gather(-1, index[..., None])[..., 0]
    share = torch.where(index > 0, (level - r0) / (r1 - r0), torch.zeros_like(r0))
    crossing = d0 + share * (d1 - d0).to(share.dtype)
    return torch.where(reached.any(dim=-1), crossing, torch.inf)


def basin_measures(line: Line, *, rise: float = WIDTH_RISE) -> dict[str, torch.Tensor]:
    """Depth, widths, offset and excess (see the module docstring), each (S, P); NaN for a non-finite line."""
    mid = len(line.alphas) // 2
    r = line.rises
    lowest = r.argmin(dim=-1)
    measures = {
        "depth": torch.minimum(r[..., 0], r[..., -1]),
        "width_back": first_crossing(
            -line.alphas[: mid + 1].flip(0), r[..., : mid + 1].flip(-1), rise
        ),
        "width_fwd": first_crossing(line.alphas[mid:], r[..., mid:], rise),
        "offset": line.alphas.to(r.dtype)[lowest],
        "excess": -r.gather(-1, lowest[..., None])[..., 0],
    }
    finite = torch.isfinite(r).all(dim=-1) & torch.isfinite(line.centre_energy)
    return {
        key: torch.where(finite, value.to(r.dtype), math.nan) for key, value in measures.items()
    }


def target_measures(
    energy: EnergyFn, centre: torch.Tensor, target: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Distance ||q - c|| and energy rise E(q) - E(c) of target points q (S, P, d), each (S, P)."""
    return {
        "target_distance": (target - centre).norm(dim=-1),
        "target_rise": energy_at(energy, target) - energy_at(energy, centre),
    }


def plane_rises(
    energy: EnergyFn,
    centre: torch.Tensor,
    axes: tuple[torch.Tensor, torch.Tensor],
    coords: torch.Tensor,
) -> torch.Tensor:
    """Rises E(c + a u1 + b u2) - E(c), shape (S, P, A, B), for a, b in `coords` and orthonormal axes (u1, u2)."""
    u1, u2 = (axis[:, :, None, None] for axis in axes)  # (S, P, 1, 1, d)
    c = coords.to(centre.dtype)
    grid = (c[:, None, None] * u1 + c[None, :, None] * u2).flatten(2, 3)  # (S, P, A*B, d), a major
    rises = energy(centre[:, :, None] + grid) - energy_at(energy, centre)[..., None]
    return rises.unflatten(-1, (len(coords), len(coords)))
