"""The replay buffer of negatives (docs/method.md §9, "persistent chains").

Each seed has its own FIFO ring of earlier mining-chain end states, either one bucket per
diffusion step t (a negative at t restarts from a state mined at the same t) or one
global bucket; `replay_capacity` is split equally among the buckets. A negative starts
from a uniformly chosen stored state with probability `replay_prob` (when its bucket is
not empty), else from its fresh start. States are stored without their problems: a
replayed state starts the chain for the current problem, as in image EBMs' buffers.

The choices come from the seeds' noise generators, two uniform draws per negative
whatever the buffer holds, so the random streams do not depend on the buffer's fill;
`state_dict()` holds the contents, so a resumed run continues exactly.

    python -m tune_ired.train --budget tiny --set preset=Q-203 --out /tmp/q203   # Langevin + CD + replay
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from tune_ired.ired.noise import seed_rand

if TYPE_CHECKING:
    from tune_ired.ired.config import Config


class ReplayBuffer:
    """Per-seed FIFO buckets of negatives: states (S, K, C, d), fill and write head (S, K)."""

    def __init__(self, *, seeds: int, buckets: int, capacity: int, dim: int, device: torch.device):
        per_bucket = max(capacity // buckets, 1)
        self.states = torch.zeros(seeds, buckets, per_bucket, dim, device=device)
        self.fill = torch.zeros(seeds, buckets, dtype=torch.long, device=device)
        self.head = torch.zeros(seeds, buckets, dtype=torch.long, device=device)

    @classmethod
    def from_config(cls, cfg: Config, *, device: torch.device) -> ReplayBuffer | None:
        """The buffer a config asks for, or None when replay is off."""
        if not cfg.replay:
            return None
        buckets = cfg.diffusion_steps if cfg.replay_per_t else 1
        return cls(
            seeds=cfg.num_seeds,
            buckets=buckets,
            capacity=cfg.replay_capacity,
            dim=cfg.n**2,
            device=device,
        )

    @property
    def bucket_capacity(self) -> int:
        return self.states.shape[2]

    def bucket(self, t: torch.Tensor) -> torch.Tensor:
        """The bucket of each negative at steps t (S, B)."""
        return t if self.states.shape[1] > 1 else torch.zeros_like(t)

    def draw(
        self,
        start: torch.Tensor,
        t: torch.Tensor,
        *,
        prob: float,
        generators: list[torch.Generator],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Chain starts (S, B, d): a stored state with probability `prob`, else `start`; and the reuse mask."""
        use, pick = seed_rand(generators, (2, t.shape[1])).unbind(dim=1)
        bucket = self.bucket(t)
        fill = self.fill.gather(1, bucket)
        reuse = (use < prob) & (fill > 0)
        slot = (pick * fill).long().clamp(max=self.bucket_capacity - 1)
        seed = torch.arange(t.shape[0], device=t.device)[:, None].expand_as(t)
        stored = self.states[seed, bucket, slot]
        return torch.where(reuse[..., None], stored, start), reuse

    def push(self, states: torch.Tensor, t: torch.Tensor) -> None:
        """Append states (S, B, d) at steps t to their buckets, overwriting the oldest when full."""
        bucket = self.bucket(t)
        onehot = F.one_hot(bucket, self.states.shape[1])
        rank = (onehot.cumsum(dim=1) * onehot).sum(
            dim=-1
        ) - 1  # order of each state within its bucket
        count = onehot.sum(dim=1)  # (S, K)
        # older ones would be overwritten anyway
        keep = rank >= count.gather(1, bucket) - self.bucket_capacity
        slot = (self.head.gather(1, bucket) + rank) % self.bucket_capacity
        seed = torch.arange(t.shape[0], device=t.device)[:, None].expand_as(t)
        self.states[seed[keep], bucket[keep], slot[keep]] = states[keep].to(self.states.dtype)
        self.head = (self.head + count) % self.bucket_capacity
        self.fill = (self.fill + count).clamp(max=self.bucket_capacity)

    def fill_share(self) -> torch.Tensor:
        """Share of each seed's capacity in use, (S,)."""
        return self.fill.sum(dim=1) / (self.bucket_capacity * self.states.shape[1])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"states": self.states.clone(), "fill": self.fill.clone(), "head": self.head.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in ("states", "fill", "head"):
            getattr(self, name).copy_(state[name])
