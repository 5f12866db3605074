"""Per-seed divergence in a batched run: detect it, freeze the seed, let its siblings train on.

A seed diverges when its training loss is NaN, inf or above `diverge_loss` at any step, or
when an evaluation gives it a non-finite val/mse. Steps are checked on the device (no host
sync in the hot loop); the trainer learns of it at the next evaluation (`settle`), rolls
the seed back to its state at the previous evaluation (its last known-good state) and from
then on restores that state after every step (`restore_dead`), so the seed's parameters,
optimiser state and EMA no longer change. Seeds share no computation, so the others train
exactly as they would without it. A run ends as diverged only when every seed has.

A one-seed run keeps no snapshot: when its seed diverges the run ends at that evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tune_ired.record.catalogue import Mode, direction_of

NOT_DIVERGED = -1  # diverged_step of a seed that trains on


class SeedGuard:
    """Which seeds of a batched run still train, since when the others diverged, and their frozen state."""

    def __init__(self, num_seeds: int, *, diverge_loss: float, device: torch.device):
        self.num_seeds = num_seeds
        self.diverge_loss = diverge_loss
        # updated every step, on the device
        self.healthy = torch.ones(num_seeds, dtype=torch.bool, device=device)
        self.diverged_step = torch.full((num_seeds,), NOT_DIVERGED, dtype=torch.long, device=device)
        self.dead: list[int] = []  # seeds known (at evaluations) to have diverged, frozen
        self.snapshot: dict[
            str, torch.Tensor
        ] = {}  # every seed's state at the last evaluation (S > 1)

    def observe_step(self, loss: torch.Tensor, grad_norm: torch.Tensor, step: int) -> None:
        """Mark seeds whose loss (S,) at optimiser step `step` is non-finite or above diverge_loss,
        or whose gradient norm (S,) is non-finite."""
        ok = torch.isfinite(loss) & (loss <= self.diverge_loss) & torch.isfinite(grad_norm)
        self.mark(ok, step)

    def mark(self, ok: torch.Tensor, step: int) -> None:
        newly = self.healthy & ~ok
        self.diverged_step = torch.where(newly, step, self.diverged_step)
        self.healthy &= ok

    def settle(
        self, state: dict[str, torch.Tensor], *, val_mse: torch.Tensor, step: int
    ) -> list[int]:
        """At an evaluation: mark seeds with a non-finite val/mse, freeze the newly diverged ones.

        `state` maps names to the live per-seed tensors (leading axis S) that make up a seed's
        state. Newly diverged seeds are rolled back to the snapshot of the previous evaluation;
        then the snapshot is retaken. Returns the newly diverged seeds' indices.
        """
        self.mark(torch.isfinite(val_mse), step)
        healthy = self.healthy.tolist()  # the one host sync, at evaluations only
        newly = [s for s, ok in enumerate(healthy) if not ok and s not in self.dead]
        self.dead += newly
        if self.num_seeds > 1 and len(self.dead) < self.num_seeds:
            self.restore(state, newly)
            self.take_snapshot(state)
        return newly

    def restore_dead(self, state: Callable[[], dict[str, torch.Tensor]]) -> None:
        """After a step: put the frozen seeds' tensors (`state()`, built only then) back to their frozen values."""
        if self.dead and len(self.dead) < self.num_seeds:
            self.restore(state(), self.dead)

    def restore(self, state: dict[str, torch.Tensor], seeds: list[int]) -> None:
        """Copy the snapshot's slices of `seeds` into the live tensors (zeros for state the snapshot predates)."""
        if not seeds:
            return
        index = torch.tensor(seeds, device=self.healthy.device)
        with torch.no_grad():
            for name, tensor in state.items():
                frozen = self.snapshot.get(name)
                if frozen is None:
                    tensor.index_fill_(0, index, 0.0)
                else:
                    tensor.index_copy_(0, index, frozen.index_select(0, index))

    def take_snapshot(self, state: dict[str, torch.Tensor]) -> None:
        """Remember every seed's state (at the start of a run or after loading a checkpoint)."""
        if self.num_seeds > 1:
            self.snapshot = {name: tensor.detach().clone() for name, tensor in state.items()}

    def state_dict(self) -> dict[str, torch.Tensor | list[int]]:
        return {
            "healthy": self.healthy.clone(),
            "diverged_step": self.diverged_step.clone(),
            "dead": list(self.dead),
        }

    def load_state_dict(self, state: dict) -> None:
        self.healthy.copy_(state["healthy"])
        self.diverged_step.copy_(state["diverged_step"])
        self.dead = list(state["dead"])


def seed_mean(values: torch.Tensor, *, key: str, dead: list[int]) -> float:
    """The run's value of metric `key` from its seeds' values (S,): what the scheduler and searcher see.

    With some seeds diverged, a metric with a direction (val/mse, train/loss, ...) counts each
    diverged seed as the worst surviving seed, so the mean is never better than the survivors'
    own mean; other metrics average the surviving seeds. With none or every seed diverged it
    is the plain mean of the values as measured.
    """
    if not dead or len(dead) == len(values):
        return values.mean().item()
    alive = [s for s in range(len(values)) if s not in dead]
    direction = direction_of(key)
    if direction is None:
        return values[alive].mean().item()
    survivors = values[alive]
    worst = survivors.max() if direction is Mode.MIN else survivors.min()
    return values.index_fill(0, torch.tensor(dead), worst.item()).mean().item()
