"""The training step's speed options: a compiled loss (`compile`) and its arithmetic (`precision`).

    python -m tune_ired.train --budget quick --set compile=true --out runs/compiled
    python -m tune_ired.train --budget paper --set device=cuda --set compile=true --set precision=bf16 --out runs/p

`StepSpeed.from_config(cfg, device)` is built once by the Trainer, whose step calls
`speed.loss(...)` (the signature of `tune_ired.ired.loss.training_loss`) inside `speed.autocast()`.
`compile` and `compile_mode` change results only by float rounding, so a resume may turn them
on or off (`config.RUNTIME_KEYS`); `precision` changes the arithmetic and may not.

compile: `torch.compile` traces the step's whole loss (the conditioning, the hand-written
energy gradient, the mining chain, the energy term) into a few graphs, split only where a
seed's own `torch.Generator` draws numbers (dynamo does not trace those draws, so the random
streams are exactly the eager step's). Inductor fuses each graph's element-wise chains
(swish and its hand-written derivatives, FiLM, noising, square-sums, the descent's clamps and
selects), forward and backward, into C++ loops on a CPU or Triton kernels on a GPU; the
matmuls stay library calls. The result equals the eager step's up to float rounding
(tests/test_speed.py states the tolerances). Compilation happens in `warm_up`, called once
by the Trainer before its first step on throwaway copies of the model, the replay buffer and
the random generators (so the run itself is untouched); its wall time is `compile_s`
(reported as `perf/compile_s`, never counted in `perf/steps_per_s`). The graphs are
specialised to the run's shapes and to the knobs the loss reads (strategy, noise_scale,
opt_steps, energy_weight, ...); with an energy warm-up the step number becomes a symbol, so
the weight's ramp compiles once. Compiled graphs live on in the process: a later trainer
with the same graph-relevant config (another seed or learning rate), such as the next trial
of a Ray actor that Tune reuses, compiles nothing, one with another value compiles its own
(up to RECOMPILE_LIMIT per process), and inductor's on-disk caches (FX graph and
AOTAutograd caches under /tmp/torchinductor_$USER) save most of the work in a new process.
`compile_mode` = reduce-overhead also replays CUDA graphs (GPU only).

With compile, Adam also runs as one fused kernel (`fused=True`: the same update, rounded
differently) instead of torch's default multi-tensor loops.

precision: fp32 (default) computes in float32 throughout; tf32 keeps float32 tensors and
lets CUDA matmuls round their inputs to TF32 (`torch.set_float32_matmul_precision("high")`;
no effect on a CPU); bf16 runs the loss's forward under `torch.autocast(bfloat16)`: matmuls
on bfloat16 inputs (GPUs; CPUs with AVX512-BF16 or AMX), the backward in the forward's dtypes,
while parameters, Adam and the EMA stay float32. Evaluation always runs in float32 (tf32 on
a GPU leaves its matmul setting on for the process).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from tune_ired.ired.config import Config
from tune_ired.ired.data import Stream, draw_seed_batch, make_generator
from tune_ired.ired.diffusion import Schedule
from tune_ired.ired.loss import LossOptions, LossOutput, training_loss
from tune_ired.ired.mining import Miner
from tune_ired.ired.model import EnergyModel
from tune_ired.ired.replay import ReplayBuffer

WARM_UP_CALLS = (
    2  # the second call, one step later, compiles the step-dependent graph (energy warm-up) too
)
RECOMPILE_LIMIT = (
    64  # compiled versions kept per function: one per graph-relevant config a process trains
)
# torch.set_float32_matmul_precision
MATMUL_PRECISION = {"fp32": "highest", "tf32": "high", "bf16": "highest"}

LossFn = Callable[..., LossOutput]


@functools.cache
def compiled_loss(mode: str, *, dynamic: bool | None = False) -> LossFn:
    """`training_loss` compiled by torch.compile, one per process and options, so that trainers share its graphs.

    `dynamic` is torch.compile's: False specialises every graph to its shapes and integers
    (a run's shapes never change); None lets dynamo turn a changing integer (or shape) into a
    symbol after its second value, which the step needs when the energy weight warms up.
    """
    return torch.compile(training_loss, mode=mode, dynamic=dynamic)


@dataclass
class StepSpeed:
    """How a trainer's step runs: which loss function, under which autocast, and what compiling it cost."""

    loss: LossFn
    device: torch.device
    precision: str
    cudagraphs: bool
    compile_s: float = 0.0

    @classmethod
    def from_config(cls, cfg: Config, device: torch.device) -> StepSpeed:
        """The speed options of `cfg`; sets the process's float32 matmul precision for `cfg.precision`."""
        torch.set_float32_matmul_precision(MATMUL_PRECISION[cfg.precision])
        if not cfg.compile:
            return cls(loss=training_loss, device=device, precision=cfg.precision, cudagraphs=False)
        torch._dynamo.config.recompile_limit = max(
            torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT
        )
        cudagraphs = cfg.compile_mode == "reduce-overhead" and device.type == "cuda"
        loss = compiled_loss(cfg.compile_mode, dynamic=None if cfg.energy_warmup > 0 else False)
        return cls(loss=loss, device=device, precision=cfg.precision, cudagraphs=cudagraphs)

    @property
    def compiled(self) -> bool:
        return self.loss is not training_loss

    @property
    def fused_adam(self) -> bool | None:
        """Adam's `fused` option: with compile its one fused kernel (3-9x foreach's speed on a CPU), else default."""
        return True if self.compiled else None

    def autocast(self) -> AbstractContextManager:
        """The context the loss's forward runs in: bfloat16 autocast for precision bf16, else nothing."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def begin_step(self) -> None:
        """Mark a new training step for CUDA-graph replay (its outputs of the last step are consumed)."""
        if self.cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()

    def warm_up(
        self,
        model: EnergyModel,
        sched: Schedule,
        cfg: Config,
        *,
        options: LossOptions,
        miner: Miner,
        replay: ReplayBuffer | None,
        step: int,
    ) -> None:
        """Compile now: run the loss forward and backward on throwaway copies; sets `compile_s` (wall seconds).

        The copies (model, replay buffer, generators from Stream.WARM_UP) have the shapes and
        dtypes of the real ones, so the real steps find the compiled graphs; nothing the run
        uses is touched. A no-op without compile.
        """
        if not self.compiled:
            return
        start = time.perf_counter()
        shadow, shadow_replay = copy.deepcopy(model), copy.deepcopy(replay)
        data = [make_generator(self.device, seed, Stream.WARM_UP) for seed in cfg.seeds]
        noise = [make_generator(self.device, seed, Stream.WARM_UP, 1) for seed in cfg.seeds]
        for offset in range(WARM_UP_CALLS):
            problems = draw_seed_batch(cfg.batch_size, cfg.n, cfg.train_lambda, data)
            self.begin_step()
            with self.autocast():
                out = self.loss(
                    shadow,
                    sched,
                    problems,
                    generators=noise,
                    options=options,
                    miner=miner,
                    step=step + offset,
                    replay=shadow_replay,
                )
            out.loss.backward()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.compile_s = time.perf_counter() - start
